"""CreateEndpoint / UpdateEndpoint / name-only endpoint requests (§2.4-§2.7)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from serverless_ray.spec.common import MAX_TAGS, Tag, WireModel
from serverless_ray.spec import names as n


class CreateEndpointInput(WireModel):
    EndpointName: n.EndpointName = Field(description="Unique (case-insensitive) endpoint name.")
    EndpointConfigName: n.EndpointConfigName = Field(description="The config to deploy.")
    DeploymentConfig: dict[str, Any] | None = None
    Tags: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS)


class UpdateEndpointInput(WireModel):
    EndpointName: n.EndpointName
    EndpointConfigName: n.EndpointConfigName
    RetainAllVariantProperties: bool = False
    ExcludeRetainedVariantProperties: list[dict[str, Any]] | None = None
    DeploymentConfig: dict[str, Any] | None = None
    RetainDeploymentConfig: bool = False


class EndpointNameInput(WireModel):
    EndpointName: n.EndpointName
