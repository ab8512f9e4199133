"""The Application Auto Scaling operations (``AnyScaleFrontendService.*``) for SageMaker
provisioned concurrency: scalable targets, target-tracking policies, scheduled actions
and the record of scaling activities."""

from __future__ import annotations

import time
import uuid
from typing import Any, Awaitable, Callable

from serverless_ray.autoscaling.capacity import EndpointCapacity
from serverless_ray.autoscaling.records import (
    ActivityRecord,
    ScalableTargetRecord,
    ScalingPolicyRecord,
    ScalingTables,
    ScheduledActionRecord,
)
from serverless_ray.errors import ObjectNotFoundException, UnknownOperationException, ValidationException
from serverless_ray.spec import autoscaling as shapes
from serverless_ray.spec.autoscaling import ScalableTargetKey
from serverless_ray.spec.listing import page_body, paginate
from serverless_ray.spec.validation import parse

SERVICE_ROLE = (
    "arn:aws:iam::{account}:role/aws-service-role/sagemaker.application-autoscaling.amazonaws.com/"
    "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
)
OnChange = Callable[[ScalableTargetRecord, str], Awaitable[None]]


class ScalingService:
    def __init__(
        self,
        *,
        region: str,
        account_id: str,
        tables: ScalingTables,
        capacity: EndpointCapacity,
        on_target_change: OnChange,
        clock: Callable[[], float] = lambda: round(time.time(), 3),
    ) -> None:
        self._region = region
        self._account = account_id
        self._tables = tables
        self._capacity = capacity
        self._on_target_change = on_target_change
        self._clock = clock
        self.operations: dict[str, tuple[type, Callable[[Any], Awaitable[dict[str, Any]]]]] = {
            "RegisterScalableTarget": (shapes.RegisterScalableTargetInput, self.register_scalable_target),
            "DeregisterScalableTarget": (shapes.TargetKeyInput, self.deregister_scalable_target),
            "DescribeScalableTargets": (shapes.DescribeScalableTargetsInput, self.describe_scalable_targets),
            "PutScalingPolicy": (shapes.PutScalingPolicyInput, self.put_scaling_policy),
            "DeleteScalingPolicy": (shapes.PolicyNameInput, self.delete_scaling_policy),
            "DescribeScalingPolicies": (shapes.DescribeScalingPoliciesInput, self.describe_scaling_policies),
            "PutScheduledAction": (shapes.PutScheduledActionInput, self.put_scheduled_action),
            "DeleteScheduledAction": (shapes.ScheduledActionNameInput, self.delete_scheduled_action),
            "DescribeScheduledActions": (shapes.DescribeScheduledActionsInput, self.describe_scheduled_actions),
            "DescribeScalingActivities": (shapes.DescribeScalingActivitiesInput, self.describe_scaling_activities),
        }

    async def call(self, operation: str, payload: Any) -> dict[str, Any]:
        if operation not in self.operations:
            raise UnknownOperationException(
                f"Operation AnyScaleFrontendService.{operation} is not supported by this platform."
            )
        shape, handler = self.operations[operation]
        return await handler(parse(shape, payload))

    # --- scalable targets --------------------------------------------------------------

    async def register_scalable_target(self, req: shapes.RegisterScalableTargetInput) -> dict[str, Any]:
        capacity = self._capacity.get(req.endpoint_name, req.variant_name)
        existing = self._tables.targets.get(req.target.row)
        if existing is None and (req.MinCapacity is None or req.MaxCapacity is None):
            raise ValidationException("MinCapacity and MaxCapacity are required when registering a new scalable target.")
        low = req.MinCapacity if req.MinCapacity is not None else existing.min_capacity
        high = req.MaxCapacity if req.MaxCapacity is not None else existing.max_capacity
        if low < 1:
            raise ValidationException(f"MinCapacity '{low}' must be at least 1 for provisioned concurrency.")
        if low > high:
            raise ValidationException(f"MinCapacity '{low}' must not exceed MaxCapacity '{high}'.")
        if high > capacity.max_concurrency:
            raise ValidationException(
                f"MaxCapacity '{high}' must not exceed the variant's MaxConcurrency ({capacity.max_concurrency})."
            )
        suspended = req.SuspendedState or (existing.suspended if existing else shapes.SuspendedState())
        target = ScalableTargetRecord(
            target=req.target, min_capacity=low, max_capacity=high,
            role_arn=req.RoleARN or SERVICE_ROLE.format(account=self._account), suspended=suspended,
            created=existing.created if existing else self._clock(),
            arn=existing.arn if existing else (
                f"arn:aws:application-autoscaling:{self._region}:{self._account}:scalable-target/{uuid.uuid4().hex}"
            ),
        )
        self._tables.put_target(target)
        await self._on_target_change(target, "RegisterScalableTarget changed the capacity bounds")
        return {"ScalableTargetARN": target.arn}

    async def deregister_scalable_target(self, req: shapes.TargetKeyInput) -> dict[str, Any]:
        self._target(req)
        key = req.target
        for policy in self._tables.policies_of(key):
            self._tables.policies.delete(key.row_of(policy.name))
        for action in self._tables.actions_of(key):
            self._tables.actions.delete(key.row_of(action.name))
        self._tables.targets.delete(key.row)
        return {}

    async def describe_scalable_targets(self, req: shapes.DescribeScalableTargetsInput) -> dict[str, Any]:
        targets = [
            t for t in self._tables.targets.all()
            if t.target.namespace == req.ServiceNamespace
            and (not req.ResourceIds or t.target.resource_id in req.ResourceIds)
            and (req.ScalableDimension is None or t.target.dimension == req.ScalableDimension)
        ]
        targets.sort(key=lambda t: t.created)
        page, token = paginate(targets, req)
        return page_body("ScalableTargets", [_target_shape(t) for t in page], token)

    # --- scaling policies --------------------------------------------------------------

    async def put_scaling_policy(self, req: shapes.PutScalingPolicyInput) -> dict[str, Any]:
        self._target(req)
        existing = self._tables.policies.get(req.target.row_of(req.PolicyName))
        arn = existing.arn if existing else (
            f"arn:aws:autoscaling:{self._region}:{self._account}:scalingPolicy:{uuid.uuid4()}:"
            f"resource/{req.ServiceNamespace}/{req.ResourceId}:policyName/{req.PolicyName}"
        )
        assert req.TargetTrackingScalingPolicyConfiguration is not None
        policy = ScalingPolicyRecord(
            target=req.target, name=req.PolicyName, arn=arn, policy_type=req.PolicyType,
            configuration=req.TargetTrackingScalingPolicyConfiguration,
            created=existing.created if existing else self._clock(),
        )
        self._tables.put_policy(policy)
        # No CloudWatch alarms exist here: the platform evaluates the metric itself.
        return {"PolicyARN": arn, "Alarms": []}

    async def delete_scaling_policy(self, req: shapes.PolicyNameInput) -> dict[str, Any]:
        if not self._tables.policies.delete(req.target.row_of(req.PolicyName)):
            raise ObjectNotFoundException(
                f"No scaling policy found for service namespace: {req.ServiceNamespace}, resource ID: "
                f"{req.ResourceId}, scalable dimension: {req.ScalableDimension}, policy name: {req.PolicyName}"
            )
        return {}

    async def describe_scaling_policies(self, req: shapes.DescribeScalingPoliciesInput) -> dict[str, Any]:
        policies = _of_targets(self._tables.policies.all(), self._targets(), req, req.PolicyNames)
        page, token = paginate(policies, req)
        return page_body("ScalingPolicies", [_policy_shape(p) for p in page], token)

    # --- scheduled actions -------------------------------------------------------------

    async def put_scheduled_action(self, req: shapes.PutScheduledActionInput) -> dict[str, Any]:
        target = self._target(req)
        existing = self._tables.actions.get(req.target.row_of(req.ScheduledActionName))
        schedule = req.Schedule or (existing.schedule if existing else None)
        if schedule is None:
            raise ValidationException("Schedule is required when creating a scheduled action.")
        action = req.ScalableTargetAction
        high = action.MaxCapacity if action and action.MaxCapacity is not None else None
        capacity = self._capacity.get(req.endpoint_name, req.variant_name)
        if high is not None and high > capacity.max_concurrency:
            raise ValidationException(
                f"ScalableTargetAction MaxCapacity '{high}' must not exceed the variant's MaxConcurrency "
                f"({capacity.max_concurrency})."
            )
        now = self._clock()
        record = ScheduledActionRecord(
            target=target.target, name=req.ScheduledActionName,
            arn=existing.arn if existing else (
                f"arn:aws:autoscaling:{self._region}:{self._account}:scheduledAction:{uuid.uuid4()}:"
                f"resource/{req.ServiceNamespace}/{req.ResourceId}:scheduledActionName/{req.ScheduledActionName}"
            ),
            schedule=schedule,
            timezone=req.Timezone or (existing.timezone if existing else None),
            start=req.StartTime.timestamp() if req.StartTime else None,
            end=req.EndTime.timestamp() if req.EndTime else None,
            min_capacity=action.MinCapacity if action else None,
            max_capacity=high,
            created=existing.created if existing else now,
            # A changed schedule counts from now, like a new one.
            last_fired=None,
        )
        self._tables.put_action(record)
        return {}

    async def delete_scheduled_action(self, req: shapes.ScheduledActionNameInput) -> dict[str, Any]:
        if not self._tables.actions.delete(req.target.row_of(req.ScheduledActionName)):
            raise ObjectNotFoundException(
                f"No scheduled action found for service namespace: {req.ServiceNamespace}, resource ID: "
                f"{req.ResourceId}, scalable dimension: {req.ScalableDimension}, scheduled action name: "
                f"{req.ScheduledActionName}"
            )
        return {}

    async def describe_scheduled_actions(self, req: shapes.DescribeScheduledActionsInput) -> dict[str, Any]:
        actions = _of_targets(self._tables.actions.all(), self._targets(), req, req.ScheduledActionNames)
        page, token = paginate(actions, req)
        return page_body("ScheduledActions", [_action_shape(a) for a in page], token)

    # --- activities --------------------------------------------------------------------

    async def describe_scaling_activities(self, req: shapes.DescribeScalingActivitiesInput) -> dict[str, Any]:
        activities = [
            a for a in self._tables.activities.all()
            if a.target.namespace == req.ServiceNamespace
            and (req.ResourceId is None or a.target.resource_id == req.ResourceId)
            and (req.ScalableDimension is None or a.target.dimension == req.ScalableDimension)
        ]
        activities.sort(key=lambda a: a.start, reverse=True)
        page, token = paginate(activities, req)
        return page_body("ScalingActivities", [_activity_shape(a) for a in page], token)

    # --- helpers -----------------------------------------------------------------------

    def _targets(self) -> set[ScalableTargetKey]:
        return {t.target for t in self._tables.targets.all()}

    def _target(self, req: shapes.TargetKey) -> ScalableTargetRecord:
        target = self._tables.targets.get(req.target.row)
        if target is None:
            raise ObjectNotFoundException(
                f"No scalable target registered for service namespace: {req.ServiceNamespace}, resource ID: "
                f"{req.ResourceId}, scalable dimension: {req.ScalableDimension}"
            )
        return target


def _of_targets(records: list, targets: set[ScalableTargetKey], req: Any, names: list[str] | None) -> list:
    """Policies or scheduled actions of registered targets matching a Describe* request's
    filters, oldest first."""
    kept = []
    for record in records:
        target = record.target
        if (
            target in targets and target.namespace == req.ServiceNamespace
            and (not names or record.name in names)
            and (req.ResourceId is None or target.resource_id == req.ResourceId)
            and (req.ScalableDimension is None or target.dimension == req.ScalableDimension)
        ):
            kept.append(record)
    return sorted(kept, key=lambda r: r.created)


def _key_shape(key: ScalableTargetKey) -> dict[str, Any]:
    return {"ServiceNamespace": key.namespace, "ResourceId": key.resource_id, "ScalableDimension": key.dimension}


def _target_shape(t: ScalableTargetRecord) -> dict[str, Any]:
    return {
        **_key_shape(t.target),
        "MinCapacity": t.min_capacity, "MaxCapacity": t.max_capacity, "RoleARN": t.role_arn,
        "CreationTime": t.created, "SuspendedState": t.suspended.model_dump(), "ScalableTargetARN": t.arn,
    }


def _policy_shape(p: ScalingPolicyRecord) -> dict[str, Any]:
    return {
        "PolicyARN": p.arn, "PolicyName": p.name, **_key_shape(p.target), "PolicyType": p.policy_type,
        "TargetTrackingScalingPolicyConfiguration": p.configuration.model_dump(exclude_none=True),
        "Alarms": [], "CreationTime": p.created,
    }


def _action_shape(a: ScheduledActionRecord) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ScheduledActionName": a.name, "ScheduledActionARN": a.arn, **_key_shape(a.target),
        "Schedule": a.schedule,
        "CreationTime": a.created, "Timezone": a.timezone or "UTC",
    }
    if a.start is not None:
        body["StartTime"] = a.start
    if a.end is not None:
        body["EndTime"] = a.end
    action = {k: v for k, v in (("MinCapacity", a.min_capacity), ("MaxCapacity", a.max_capacity)) if v is not None}
    if action:
        body["ScalableTargetAction"] = action
    return body


def _activity_shape(a: ActivityRecord) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ActivityId": a.id, **_key_shape(a.target), "Description": a.description, "Cause": a.cause,
        "StartTime": a.start, "StatusCode": a.status,
    }
    if a.end is not None:
        body["EndTime"] = a.end
    if a.status_message:
        body["StatusMessage"] = a.status_message
    return body
