"""What the store keeps: one pydantic record per resource, serialised as JSON.

Records are loaded back without the wire's rules (see :mod:`serverless_ray.store.loading`);
each carries the schema version of its layout.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from serverless_ray.spec import CreateEndpointConfigInput, CreateModelInput, ProductionVariant
from serverless_ray.spec.common import Tag
from serverless_ray.spec.endpoint import EndpointStatus
from serverless_ray.spec.registry import CreateModelPackageGroupInput, CreateModelPackageInput
from serverless_ray.store.loading import SCHEMA_VERSION


class StoredRecord(BaseModel):
    """Base of every record kept in a table of the store."""

    schema_version: int = Field(
        SCHEMA_VERSION, description="Layout the record was written in; older ones are migrated when loaded."
    )


class ModelRecord(StoredRecord):
    name: str
    arn: str
    created: float
    spec: CreateModelInput


class EndpointConfigRecord(StoredRecord):
    name: str
    arn: str
    created: float
    spec: CreateEndpointConfigInput


class Deployment(BaseModel):
    """A snapshot of what an endpoint runs.

    Models and configs may be deleted or replaced after an endpoint is created (AWS
    allows it); the endpoint keeps serving what it was given, so it owns a copy. The
    copy's variants carry the live weights, instance counts and serverless limits, which
    UpdateEndpointWeightsAndCapacities changes without a new endpoint config. Models
    created from a model package hold the package's containers here.
    """

    config_name: str
    config: CreateEndpointConfigInput
    models: dict[str, CreateModelInput] = Field(description="Model spec by variant name.")
    generation: int = Field(description="Increases with every deployment of this endpoint.")
    app_name: str = Field(description="The Ray Serve application (prefix) that serves this snapshot.")
    started: float = Field(description="When this deployment began.")

    @property
    def variants(self) -> list[ProductionVariant]:
        return list(self.config.ProductionVariants)

    @property
    def variant(self) -> ProductionVariant:
        """The first variant: the only one of a serverless endpoint."""
        return self.config.ProductionVariants[0]

    @property
    def model(self) -> CreateModelInput:
        return self.models[self.variant.VariantName]

    @property
    def is_serverless(self) -> bool:
        return self.config.is_serverless

    def model_for(self, variant_name: str) -> CreateModelInput:
        return self.models[variant_name]

    def find(self, variant_name: str) -> ProductionVariant | None:
        return next((v for v in self.variants if v.VariantName == variant_name), None)

    def app_for(self, variant_name: str) -> str:
        """Each variant is its own Serve application; a lone variant's is ``app_name`` itself."""
        if len(self.config.ProductionVariants) == 1:
            return self.app_name
        return f"{self.app_name}-{variant_name.lower()}"

    def apps(self) -> list[str]:
        return [self.app_for(v.VariantName) for v in self.variants]

    def with_variants(self, variants: list[ProductionVariant]) -> "Deployment":
        """The same deployment with changed live variant settings."""
        config = self.config.model_copy(update={"ProductionVariants": variants})
        return self.model_copy(update={"config": config})


class EndpointRecord(StoredRecord):
    name: str
    arn: str
    created: float
    modified: float
    status: EndpointStatus
    failure_reason: str | None = None
    current: Deployment | None = Field(None, description="What serves traffic now.")
    pending: Deployment | None = Field(None, description="What an update is rolling out.")
    next_generation: int = 1


class ModelPackageGroupRecord(StoredRecord):
    name: str
    arn: str
    created: float
    spec: CreateModelPackageGroupInput
    next_version: int = Field(1, description="Version numbers are never reused, even after a delete.")


class ModelPackageRecord(StoredRecord):
    """A model package: a version in a group, or an unversioned package."""

    key: str = Field(description="'group/version' or the unversioned package's name.")
    name: str = Field(description="ModelPackageName as described: the group's name for a version.")
    group: str | None = None
    version: int | None = None
    arn: str
    created: float
    modified: float
    spec: CreateModelPackageInput
    approval: str | None = Field(None, description="ModelApprovalStatus (versioned packages only).")
    approval_description: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict, description="CustomerMetadataProperties.")


class TagSet(StoredRecord):
    """The tags of one resource, keyed in the store by its ARN."""

    arn: str
    tags: list[Tag] = Field(default_factory=list)
