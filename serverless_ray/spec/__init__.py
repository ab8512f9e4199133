"""Validated shapes of the SageMaker hosting API.

Requests are parsed at the edge with :func:`parse`, which turns every pydantic error into
a SageMaker-style ``ValidationException``; everything inward receives these models.
"""

from serverless_ray.spec.endpoint import CreateEndpointInput, EndpointNameInput, UpdateEndpointInput
from serverless_ray.spec.endpoint_config import (
    CreateEndpointConfigInput,
    EndpointConfigNameInput,
    ProductionVariant,
    ServerlessConfig,
)
from serverless_ray.spec.listing import ListInput, ListEndpointsInput
from serverless_ray.spec.model import ContainerDefinition, CreateModelInput, ModelNameInput
from serverless_ray.spec.validation import parse

__all__ = [
    "ContainerDefinition",
    "CreateEndpointConfigInput",
    "CreateEndpointInput",
    "CreateModelInput",
    "EndpointConfigNameInput",
    "EndpointNameInput",
    "ListEndpointsInput",
    "ListInput",
    "ModelNameInput",
    "ProductionVariant",
    "ServerlessConfig",
    "UpdateEndpointInput",
    "parse",
]
