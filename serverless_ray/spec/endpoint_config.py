"""CreateEndpointConfig: production variants and their serverless settings (§2.3)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from serverless_ray.spec.common import MAX_TAGS, Tag, WireModel
from serverless_ray.spec import names as n

MEMORY_SIZES_MB = (1024, 2048, 3072, 4096, 5120, 6144)
MAX_CONCURRENCY_LIMIT = 200


def _memory_tier(value: int) -> int:
    if value not in MEMORY_SIZES_MB:
        raise PydanticCustomError(
            "enum",
            "Member must satisfy enum value set: [{expected}]",
            {"expected": ", ".join(str(m) for m in MEMORY_SIZES_MB)},
        )
    return value


class ServerlessConfig(WireModel):
    """``ProductionVariantServerlessConfig``: memory tier and concurrency limits."""

    MemorySizeInMB: Annotated[int, AfterValidator(_memory_tier)] = Field(
        description="Memory of each replica: 1024-6144 in steps of 1024; CPU follows memory."
    )
    MaxConcurrency: int = Field(
        ge=1, le=MAX_CONCURRENCY_LIMIT, description="Most invocations in flight at once (1-200)."
    )
    ProvisionedConcurrency: int | None = Field(
        None, ge=1, le=MAX_CONCURRENCY_LIMIT, description="Replicas kept warm at all times (<= MaxConcurrency)."
    )

    @model_validator(mode="after")
    def _provisioned_within_max(self):
        pc = self.ProvisionedConcurrency
        if pc is not None and pc > self.MaxConcurrency:
            raise ValueError(
                f"ProvisionedConcurrency '{pc}' must be less than or equal to "
                f"MaxConcurrency ({self.MaxConcurrency})"
            )
        return self


_Serverless = ServerlessConfig


class ProductionVariant(WireModel):
    VariantName: n.VariantName = Field(description="Name of the variant, e.g. AllTraffic.")
    ModelName: n.ModelName | None = Field(None, description="The model this variant hosts.")
    InitialVariantWeight: float | None = Field(None, ge=0, description="Share of traffic.")
    InstanceType: str | None = Field(None, description="Instance type of an instance-based variant.")
    InitialInstanceCount: int | None = Field(None, ge=1)
    ServerlessConfig: _Serverless | None = Field(None, description="Present for serverless variants.")
    AcceleratorType: str | None = None
    VolumeSizeInGB: int | None = None
    ModelDataDownloadTimeoutInSeconds: int | None = None
    ContainerStartupHealthCheckTimeoutInSeconds: int | None = None
    ManagedInstanceScaling: dict[str, Any] | None = None
    RoutingConfig: dict[str, Any] | None = None
    InferenceAmiVersion: str | None = None

    @model_validator(mode="after")
    def _compute_kind(self):
        if self.ServerlessConfig is None and self.InstanceType is None:
            raise ValueError(
                f"Invalid Keys for ProductionVariant '{self.VariantName}': received neither "
                "'InstanceType' nor 'ServerlessConfig' but expected it to contain one of "
                "['InstanceType', 'ServerlessConfig']"
            )
        if self.ServerlessConfig is not None and (self.InstanceType or self.InitialInstanceCount):
            raise ValueError(
                f"ProductionVariant '{self.VariantName}' sets ServerlessConfig together with "
                "InstanceType/InitialInstanceCount; a variant is either serverless or instance-based."
            )
        if self.ModelName is None:
            raise ValueError(f"ProductionVariant '{self.VariantName}' must name a ModelName.")
        return self

    @property
    def is_serverless(self) -> bool:
        return self.ServerlessConfig is not None


class CreateEndpointConfigInput(WireModel):
    EndpointConfigName: n.EndpointConfigName = Field(description="Unique (case-insensitive) config name.")
    ProductionVariants: list[ProductionVariant] = Field(min_length=1, max_length=10)
    Tags: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS)
    KmsKeyId: n.KmsKeyId | None = None
    DataCaptureConfig: dict[str, Any] | None = None
    AsyncInferenceConfig: dict[str, Any] | None = None
    ExplainerConfig: dict[str, Any] | None = None
    ShadowProductionVariants: list[dict[str, Any]] | None = None
    ExecutionRoleArn: str | None = None
    VpcConfig: dict[str, Any] | None = None
    EnableNetworkIsolation: bool | None = None
    MetricsConfig: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _variants(self):
        names = [v.VariantName.lower() for v in self.ProductionVariants]
        duplicates = sorted({x for x in names if names.count(x) > 1})
        if duplicates:
            raise ValueError(f"Variant names must be unique within an endpoint config; repeated: {duplicates}.")
        serverless = [v for v in self.ProductionVariants if v.is_serverless]
        if serverless and len(self.ProductionVariants) > 1:
            raise ValueError(
                f"Serverless endpoint configs must have exactly one production variant; "
                f"received {len(self.ProductionVariants)}. Multiple production variants are "
                "not supported for serverless endpoints."
            )
        if not serverless:
            kinds = ", ".join(f"'{v.VariantName}' ({v.InstanceType})" for v in self.ProductionVariants)
            raise ValueError(
                f"Instance-based production variants are not supported by this platform yet: {kinds}. "
                "Use ServerlessConfig {MemorySizeInMB, MaxConcurrency}."
            )
        return self

    @property
    def is_serverless(self) -> bool:
        return any(v.is_serverless for v in self.ProductionVariants)


class EndpointConfigNameInput(WireModel):
    EndpointConfigName: n.EndpointConfigName
