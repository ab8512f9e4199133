"""What the store keeps: one pydantic record per resource, serialised as JSON."""

from __future__ import annotations

from pydantic import BaseModel, Field

from serverless_ray.spec import CreateEndpointConfigInput, CreateModelInput, ProductionVariant


class ModelRecord(BaseModel):
    name: str
    arn: str
    created: float
    spec: CreateModelInput


class EndpointConfigRecord(BaseModel):
    name: str
    arn: str
    created: float
    spec: CreateEndpointConfigInput


class Deployment(BaseModel):
    """A snapshot of what an endpoint runs.

    Models and configs may be deleted or replaced after an endpoint is created (AWS
    allows it); the endpoint keeps serving what it was given, so it owns a copy.
    """

    config_name: str
    config: CreateEndpointConfigInput
    models: dict[str, CreateModelInput] = Field(description="Model spec by variant name.")
    generation: int = Field(description="Increases with every deployment of this endpoint.")
    app_name: str = Field(description="The Ray Serve application that serves this snapshot.")
    started: float = Field(description="When this deployment began.")

    @property
    def variant(self) -> ProductionVariant:
        return self.config.ProductionVariants[0]

    @property
    def model(self) -> CreateModelInput:
        return self.models[self.variant.VariantName]


class EndpointRecord(BaseModel):
    name: str
    arn: str
    created: float
    modified: float
    status: str
    failure_reason: str | None = None
    current: Deployment | None = Field(None, description="What serves traffic now.")
    pending: Deployment | None = Field(None, description="What an update is rolling out.")
    next_generation: int = 1
