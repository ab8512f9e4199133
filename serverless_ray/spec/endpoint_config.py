"""CreateEndpointConfig: production variants, serverless and instance-based (§2.3).

Serverless configs have exactly one variant and none of the features AWS documents as
unavailable on serverless endpoints; each such feature is refused with a message that
names it. Rules that need the model as well are in :mod:`serverless_ray.spec.hosting_rules`.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from serverless_ray.spec import instance_types
from serverless_ray.spec.common import TagList, WireModel
from serverless_ray.spec import names as n

MEMORY_SIZES_MB = (1024, 2048, 3072, 4096, 5120, 6144)
MAX_CONCURRENCY_LIMIT = 200
DEFAULT_VARIANT_WEIGHT = 1.0


def _memory_tier(value: int) -> int:
    if value not in MEMORY_SIZES_MB:
        raise PydanticCustomError(
            "enum",
            "Member must satisfy enum value set: [{expected}]",
            {"expected": ", ".join(str(m) for m in MEMORY_SIZES_MB)},
        )
    return value


# MemorySizeInMB: one of the six tiers, refused with the list of allowed values otherwise.
MemorySize = Annotated[int, AfterValidator(_memory_tier)]


def _known_instance_type(value: str) -> str:
    if instance_types.lookup(value) is not None:
        return value
    if instance_types.family(value) in instance_types.NON_GPU_ACCELERATOR_FAMILIES:
        raise PydanticCustomError(
            "instance_accelerator",
            "Instance type '{value}' carries AWS Inferentia, Trainium or Gaudi accelerators, which "
            "this platform cannot schedule; use a CPU type (ml.m5, ml.c5, ...) or a GPU type (ml.g5, ...).",
            {"value": value},
        )
    raise PydanticCustomError(
        "enum",
        "Member must satisfy enum value set: [{expected}]",
        {"expected": ", ".join(instance_types.INSTANCE_TYPES)},
    )


class ServerlessConfig(WireModel):
    """``ProductionVariantServerlessConfig``: memory tier and concurrency limits."""

    MemorySizeInMB: MemorySize = Field(
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
KnownInstanceType = Annotated[str, AfterValidator(_known_instance_type)]


class ProductionVariant(WireModel):
    """One production variant: serverless (``ServerlessConfig``) or instance-based
    (``InstanceType`` + ``InitialInstanceCount``)."""

    VariantName: n.VariantName = Field(description="Name of the variant, e.g. AllTraffic.")
    ModelName: n.ModelName | None = Field(None, description="The model this variant hosts.")
    InitialVariantWeight: float | None = Field(
        None, ge=0, allow_inf_nan=False,
        description="Share of traffic: this weight over the sum of all weights (default 1.0).",
    )
    InstanceType: KnownInstanceType | None = Field(None, description="ml.* instance type of an instance-based variant.")
    InitialInstanceCount: int | None = Field(None, ge=1, description="Instances (replicas) of an instance-based variant.")
    ServerlessConfig: _Serverless | None = Field(None, description="Present for serverless variants.")
    AcceleratorType: str | None = Field(None, description="Elastic Inference accelerator (not offered here).")
    VolumeSizeInGB: int | None = Field(None, ge=1, le=512, description="Recorded; replicas use the node's disk.")
    ModelDataDownloadTimeoutInSeconds: int | None = Field(None, ge=60, le=3600)
    ContainerStartupHealthCheckTimeoutInSeconds: int | None = Field(None, ge=60, le=3600)
    ManagedInstanceScaling: dict[str, Any] | None = None
    RoutingConfig: dict[str, Any] | None = None
    InferenceAmiVersion: str | None = None

    @model_validator(mode="after")
    def _compute_kind(self):
        name = self.VariantName
        if self.ServerlessConfig is None and self.InstanceType is None:
            raise ValueError(
                f"Invalid Keys for ProductionVariant '{name}': received neither "
                "'InstanceType' nor 'ServerlessConfig' but expected it to contain one of "
                "['InstanceType', 'ServerlessConfig']"
            )
        if self.ServerlessConfig is not None:
            if self.InstanceType and instance_types.is_gpu(self.InstanceType):
                raise ValueError(
                    f"ProductionVariant '{name}' asks for GPU instance type '{self.InstanceType}': "
                    "GPU instance types are not supported for serverless endpoints."
                )
            if self.AcceleratorType:
                raise ValueError(
                    f"ProductionVariant '{name}' asks for accelerator '{self.AcceleratorType}': "
                    "GPU accelerators (AcceleratorType) are not supported for serverless endpoints."
                )
            if self.InstanceType or self.InitialInstanceCount:
                raise ValueError(
                    f"ProductionVariant '{name}' sets ServerlessConfig together with "
                    "InstanceType/InitialInstanceCount; a variant is either serverless or instance-based."
                )
        else:
            if self.InitialInstanceCount is None:
                raise ValueError(
                    f"ProductionVariant '{name}' sets InstanceType '{self.InstanceType}' but no "
                    "InitialInstanceCount; instance-based variants need both."
                )
            if self.AcceleratorType:
                raise ValueError(
                    f"ProductionVariant '{name}' asks for Elastic Inference accelerator "
                    f"'{self.AcceleratorType}': AcceleratorType is not supported by this platform; "
                    "use a GPU instance type instead."
                )
        if self.ModelName is None:
            raise ValueError(f"ProductionVariant '{name}' must name a ModelName.")
        return self

    @property
    def is_serverless(self) -> bool:
        return self.ServerlessConfig is not None

    @property
    def weight(self) -> float:
        """The variant's traffic weight (AWS's default is 1.0)."""
        return DEFAULT_VARIANT_WEIGHT if self.InitialVariantWeight is None else self.InitialVariantWeight


def _present(value: Any) -> bool:
    return value is not None and value != [] and value != {}


# Config-level features AWS documents as unavailable on serverless endpoints, and the
# wording that names each.
_SERVERLESS_EXCLUSIONS = (
    ("ShadowProductionVariants", "Shadow variants (ShadowProductionVariants)"),
    ("DataCaptureConfig", "Data capture (DataCaptureConfig)"),
    ("AsyncInferenceConfig", "Asynchronous inference (AsyncInferenceConfig)"),
    ("VpcConfig", "VPC configuration (VpcConfig)"),
)

# Features this platform does not offer on instance-based endpoints either.
_PLATFORM_EXCLUSIONS = (
    ("ShadowProductionVariants", "Shadow variants (ShadowProductionVariants)"),
    ("DataCaptureConfig", "Data capture (DataCaptureConfig)"),
    ("AsyncInferenceConfig", "Asynchronous inference (AsyncInferenceConfig)"),
)


class CreateEndpointConfigInput(WireModel):
    EndpointConfigName: n.EndpointConfigName = Field(description="Unique (case-insensitive) config name.")
    ProductionVariants: list[ProductionVariant] = Field(min_length=1, max_length=10)
    Tags: TagList = Field(default_factory=list, description="Tags of the new resource (up to 50).")
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
        if self.is_serverless:
            self._check_serverless()
        else:
            self._check_instance_based()
        return self

    def _check_serverless(self) -> None:
        if len(self.ProductionVariants) > 1:
            raise ValueError(
                f"Serverless endpoint configs must have exactly one production variant; "
                f"received {len(self.ProductionVariants)}. Multiple production variants are "
                "not supported for serverless endpoints."
            )
        for member, feature in _SERVERLESS_EXCLUSIONS:
            if _present(getattr(self, member)):
                raise ValueError(f"{feature} is not supported for serverless endpoints.")
        if self.EnableNetworkIsolation:
            raise ValueError("Network isolation (EnableNetworkIsolation) is not supported for serverless endpoints.")

    def _check_instance_based(self) -> None:
        for member, feature in _PLATFORM_EXCLUSIONS:
            if _present(getattr(self, member)):
                raise ValueError(f"{feature} is not supported by this platform.")
        if self.EnableNetworkIsolation:
            raise ValueError(
                "Network isolation (EnableNetworkIsolation) is not supported by this platform: "
                "replicas share the network of their Ray node."
            )
        if sum(v.weight for v in self.ProductionVariants) <= 0:
            raise ValueError(
                "The sum of InitialVariantWeight over all production variants must be greater than 0; "
                "received only weights of 0."
            )

    @property
    def is_serverless(self) -> bool:
        return any(v.is_serverless for v in self.ProductionVariants)


class EndpointConfigNameInput(WireModel):
    EndpointConfigName: n.EndpointConfigName
