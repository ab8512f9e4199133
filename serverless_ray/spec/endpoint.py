"""CreateEndpoint / UpdateEndpoint / UpdateEndpointWeightsAndCapacities / name-only
endpoint requests (§2.4-§2.7)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, model_validator

from serverless_ray.spec.common import TagList, WireModel
from serverless_ray.spec.endpoint_config import MAX_CONCURRENCY_LIMIT
from serverless_ray.spec import names as n


class EndpointStatus(StrEnum):
    """``EndpointStatus`` as DescribeEndpoint reports it (and ListEndpoints filters by it)."""

    OUT_OF_SERVICE = "OutOfService"
    CREATING = "Creating"
    UPDATING = "Updating"
    SYSTEM_UPDATING = "SystemUpdating"
    ROLLING_BACK = "RollingBack"
    IN_SERVICE = "InService"
    DELETING = "Deleting"
    FAILED = "Failed"
    UPDATE_ROLLBACK_FAILED = "UpdateRollbackFailed"


class CreateEndpointInput(WireModel):
    EndpointName: n.EndpointName = Field(description="Unique (case-insensitive) endpoint name.")
    EndpointConfigName: n.EndpointConfigName = Field(description="The config to deploy.")
    DeploymentConfig: dict[str, Any] | None = None
    Tags: TagList = Field(default_factory=list, description="Tags of the new resource (up to 50).")


class VariantProperty(WireModel):
    VariantPropertyType: Literal["DesiredInstanceCount", "DesiredWeight", "DataCaptureConfig"] = Field(
        description="A variant property that the new endpoint config sets despite RetainAllVariantProperties."
    )


class UpdateEndpointInput(WireModel):
    EndpointName: n.EndpointName
    EndpointConfigName: n.EndpointConfigName
    RetainAllVariantProperties: bool = Field(
        False, description="Keep each variant's current weight and instance count instead of the new config's."
    )
    ExcludeRetainedVariantProperties: list[VariantProperty] = Field(
        default_factory=list, max_length=3, description="Properties taken from the new config even when retaining."
    )
    DeploymentConfig: dict[str, Any] | None = None
    RetainDeploymentConfig: bool = False


class ServerlessUpdate(WireModel):
    """``ProductionVariantServerlessUpdateConfig``: new concurrency limits of a serverless variant."""

    MaxConcurrency: int | None = Field(None, ge=1, le=MAX_CONCURRENCY_LIMIT, description="New MaxConcurrency.")
    ProvisionedConcurrency: int | None = Field(
        None, ge=1, le=MAX_CONCURRENCY_LIMIT, description="New ProvisionedConcurrency."
    )


class DesiredWeightAndCapacity(WireModel):
    VariantName: n.VariantName = Field(description="The variant to change.")
    DesiredWeight: float | None = Field(None, ge=0, allow_inf_nan=False, description="New traffic weight.")
    DesiredInstanceCount: int | None = Field(None, ge=0, description="New instance count (instance-based variants).")
    ServerlessUpdateConfig: ServerlessUpdate | None = Field(
        None, description="New concurrency limits (serverless variants)."
    )

    @model_validator(mode="after")
    def _something_to_change(self):
        if self.DesiredWeight is None and self.DesiredInstanceCount is None and self.ServerlessUpdateConfig is None:
            raise ValueError(
                f"DesiredWeightAndCapacity for variant '{self.VariantName}' changes nothing; set "
                "DesiredWeight, DesiredInstanceCount or ServerlessUpdateConfig."
            )
        return self


class UpdateEndpointWeightsAndCapacitiesInput(WireModel):
    EndpointName: n.EndpointName
    DesiredWeightsAndCapacities: list[DesiredWeightAndCapacity] = Field(min_length=1, max_length=10)

    @model_validator(mode="after")
    def _each_variant_once(self):
        names = [d.VariantName for d in self.DesiredWeightsAndCapacities]
        repeated = sorted({x for x in names if names.count(x) > 1})
        if repeated:
            raise ValueError(f"Each variant may appear once in DesiredWeightsAndCapacities; repeated: {repeated}.")
        return self


class EndpointNameInput(WireModel):
    EndpointName: n.EndpointName
