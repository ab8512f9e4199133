"""Application Auto Scaling request shapes for SageMaker provisioned concurrency (§5)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from serverless_ray.spec.common import WireModel
from serverless_ray.spec.schedules import ScheduleExpression, TimeZoneName

SERVICE_NAMESPACE = "sagemaker"
PROVISIONED_CONCURRENCY = "sagemaker:variant:DesiredProvisionedConcurrency"
UTILIZATION_METRIC = "SageMakerVariantProvisionedConcurrencyUtilization"
_RESOURCE_ID = re.compile(r"^endpoint/([a-zA-Z0-9](?:-*[a-zA-Z0-9]){0,62})/variant/([a-zA-Z0-9](?:-*[a-zA-Z0-9]){0,62})$")
_NAME = r"^[^:/|\x00-\x1f\x7f]+$"

Dimension = Literal[
    "sagemaker:variant:DesiredProvisionedConcurrency",
    "sagemaker:variant:DesiredInstanceCount",
    "sagemaker:inference-component:DesiredCopyCount",
]
Namespace = Literal[
    "ecs", "elasticmapreduce", "ec2", "appstream", "dynamodb", "rds", "sagemaker", "custom-resource",
    "comprehend", "lambda", "cassandra", "kafka", "elasticache", "neptune", "workspaces",
]


def _supported(namespace: str, resource_id: str, dimension: str) -> tuple[str, str]:
    match = _RESOURCE_ID.match(resource_id)
    if namespace != SERVICE_NAMESPACE or dimension != PROVISIONED_CONCURRENCY or not match:
        raise ValueError(
            "Unsupported service namespace, resource type or scalable dimension: this platform scales "
            f"ServiceNamespace '{SERVICE_NAMESPACE}', ResourceId 'endpoint/<EndpointName>/variant/<VariantName>', "
            f"ScalableDimension '{PROVISIONED_CONCURRENCY}'; received '{namespace}', '{resource_id}', '{dimension}'."
        )
    return match.group(1), match.group(2)


class ScalableTargetKey(BaseModel):
    """What names a scalable target: service namespace, resource and dimension.

    Its policies, scheduled actions and activities refer to it; ``row`` is its key in the
    store (and, with a name, the key of a policy or an action).
    """

    model_config = ConfigDict(frozen=True)

    namespace: str = Field(description="ServiceNamespace, e.g. sagemaker.")
    resource_id: str = Field(description="ResourceId: endpoint/<EndpointName>/variant/<VariantName>.")
    dimension: str = Field(description="ScalableDimension, e.g. sagemaker:variant:DesiredProvisionedConcurrency.")

    @classmethod
    def from_row(cls, row: str) -> "ScalableTargetKey":
        """The key whose :attr:`row` is ``row``."""
        namespace, resource_id, dimension = row.split("|")
        return cls(namespace=namespace, resource_id=resource_id, dimension=dimension)

    @property
    def row(self) -> str:
        return f"{self.namespace}|{self.resource_id}|{self.dimension}"

    def row_of(self, name: str) -> str:
        """Store key of the target's policy or scheduled action ``name``."""
        return f"{self.row}|{name}"

    @property
    def endpoint_name(self) -> str:
        return _supported(self.namespace, self.resource_id, self.dimension)[0]

    @property
    def variant_name(self) -> str:
        return _supported(self.namespace, self.resource_id, self.dimension)[1]


class TargetKey(WireModel):
    ServiceNamespace: Namespace
    ResourceId: str = Field(min_length=1, max_length=1600, description="endpoint/<name>/variant/<variant>")
    ScalableDimension: Dimension

    @model_validator(mode="after")
    def _this_platform_scales_it(self):
        _supported(self.ServiceNamespace, self.ResourceId, self.ScalableDimension)
        return self

    @property
    def target(self) -> ScalableTargetKey:
        return ScalableTargetKey(namespace=self.ServiceNamespace, resource_id=self.ResourceId,
                                 dimension=self.ScalableDimension)

    @property
    def endpoint_name(self) -> str:
        return self.target.endpoint_name

    @property
    def variant_name(self) -> str:
        return self.target.variant_name


class SuspendedState(WireModel):
    DynamicScalingInSuspended: bool = False
    DynamicScalingOutSuspended: bool = False
    ScheduledScalingSuspended: bool = False


_Suspended = SuspendedState


class RegisterScalableTargetInput(TargetKey):
    MinCapacity: int | None = Field(None, ge=0, description="Lowest provisioned concurrency.")
    MaxCapacity: int | None = Field(None, ge=0, description="Highest provisioned concurrency.")
    RoleARN: str | None = Field(None, min_length=1, max_length=1600)
    SuspendedState: _Suspended | None = None
    Tags: dict[str, str] | None = None


class TargetKeyInput(TargetKey):
    pass


class DescribeScalableTargetsInput(WireModel):
    ServiceNamespace: Namespace
    ResourceIds: list[str] | None = Field(None, max_length=50)
    ScalableDimension: Dimension | None = None
    MaxResults: int = Field(50, ge=1, le=50)
    NextToken: str | None = Field(None, max_length=2048)


class PredefinedMetricSpecification(WireModel):
    PredefinedMetricType: str
    ResourceLabel: str | None = None

    @field_validator("PredefinedMetricType")
    @classmethod
    def _supported_metric(cls, value: str) -> str:
        if value != UTILIZATION_METRIC:
            raise ValueError(
                f"PredefinedMetricType '{value}' is not supported for provisioned concurrency; use '{UTILIZATION_METRIC}'."
            )
        return value


_Predefined = PredefinedMetricSpecification


class TargetTrackingConfiguration(WireModel):
    TargetValue: float = Field(gt=0, description="Target utilization, e.g. 0.5.")
    PredefinedMetricSpecification: _Predefined | None = None
    CustomizedMetricSpecification: dict[str, Any] | None = None
    ScaleOutCooldown: int | None = Field(None, ge=0)
    ScaleInCooldown: int | None = Field(None, ge=0)
    DisableScaleIn: bool = False

    @model_validator(mode="after")
    def _metric(self):
        if self.CustomizedMetricSpecification is not None or self.PredefinedMetricSpecification is None:
            raise ValueError(
                "Target tracking here tracks PredefinedMetricSpecification "
                f"{{PredefinedMetricType: '{UTILIZATION_METRIC}'}}; customized metrics are not supported."
            )
        return self


class PutScalingPolicyInput(TargetKey):
    PolicyName: str = Field(min_length=1, max_length=256, pattern=r"^\S(.*\S)?$")
    PolicyType: Literal["StepScaling", "TargetTrackingScaling", "PredictiveScaling"] = "StepScaling"
    TargetTrackingScalingPolicyConfiguration: TargetTrackingConfiguration | None = None
    StepScalingPolicyConfiguration: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _target_tracking_only(self):
        if self.PolicyType != "TargetTrackingScaling":
            raise ValueError(
                f"PolicyType '{self.PolicyType}' is not supported for provisioned concurrency; use 'TargetTrackingScaling'."
            )
        if self.TargetTrackingScalingPolicyConfiguration is None:
            raise ValueError("TargetTrackingScalingPolicyConfiguration is required for PolicyType 'TargetTrackingScaling'.")
        return self


class PolicyNameInput(TargetKey):
    PolicyName: str = Field(min_length=1, max_length=256)


class DescribeScalingPoliciesInput(WireModel):
    ServiceNamespace: Namespace
    PolicyNames: list[str] | None = Field(None, max_length=50)
    ResourceId: str | None = None
    ScalableDimension: Dimension | None = None
    MaxResults: int = Field(10, ge=1, le=10)
    NextToken: str | None = Field(None, max_length=2048)


class ScalableTargetAction(WireModel):
    MinCapacity: int | None = Field(None, ge=0)
    MaxCapacity: int | None = Field(None, ge=0)


_Action = ScalableTargetAction


class PutScheduledActionInput(TargetKey):
    ScheduledActionName: str = Field(min_length=1, max_length=256, pattern=_NAME)
    Schedule: ScheduleExpression | None = Field(None, min_length=1, max_length=1600, description="at(...), rate(...) or cron(...)")
    Timezone: TimeZoneName | None = Field(None, min_length=1, max_length=1600, description="IANA time zone, default UTC")
    StartTime: datetime | None = None
    EndTime: datetime | None = None
    ScalableTargetAction: _Action | None = None

    @model_validator(mode="after")
    def _window(self):
        if self.StartTime and self.EndTime and self.EndTime <= self.StartTime:
            raise ValueError(f"EndTime '{self.EndTime.isoformat()}' must be later than StartTime '{self.StartTime.isoformat()}'.")
        action = self.ScalableTargetAction
        if action and action.MinCapacity is not None and action.MaxCapacity is not None and action.MinCapacity > action.MaxCapacity:
            raise ValueError(
                f"ScalableTargetAction MinCapacity '{action.MinCapacity}' must not exceed MaxCapacity '{action.MaxCapacity}'."
            )
        return self


class ScheduledActionNameInput(TargetKey):
    ScheduledActionName: str = Field(min_length=1, max_length=256)


class DescribeScheduledActionsInput(WireModel):
    ServiceNamespace: Namespace
    ScheduledActionNames: list[str] | None = Field(None, max_length=50)
    ResourceId: str | None = None
    ScalableDimension: Dimension | None = None
    MaxResults: int = Field(50, ge=1, le=50)
    NextToken: str | None = Field(None, max_length=2048)


class DescribeScalingActivitiesInput(WireModel):
    ServiceNamespace: Namespace
    ResourceId: str | None = None
    ScalableDimension: Dimension | None = None
    MaxResults: int = Field(50, ge=1, le=50)
    NextToken: str | None = Field(None, max_length=2048)
    IncludeNotScaledActivities: bool = False
