"""Apply a declared endpoint's provisioned-concurrency scaling through the platform's
Application Auto Scaling API: its scalable target and scheduled actions."""

from __future__ import annotations

from typing import Any

from serverless_ray.declarative.clients import pages
from serverless_ray.declarative.plan import plan_scaling
from serverless_ray.declarative.schema import EndpointDeclaration
from serverless_ray.spec.autoscaling import PROVISIONED_CONCURRENCY, SERVICE_NAMESPACE


def _key(resource_id: str) -> dict[str, str]:
    return {"ServiceNamespace": SERVICE_NAMESPACE, "ResourceId": resource_id,
            "ScalableDimension": PROVISIONED_CONCURRENCY}


def apply_scaling(aas, endpoint: EndpointDeclaration) -> list[str]:
    """Bring the endpoint's scalable target and scheduled actions to its declaration
    (none declared: no target); returns what changed, for the log."""
    resource_id = f"endpoint/{endpoint.name}/variant/{endpoint.variant_name}"
    key = _key(resource_id)
    targets = aas.describe_scalable_targets(ServiceNamespace=SERVICE_NAMESPACE, ResourceIds=[resource_id],
                                            ScalableDimension=PROVISIONED_CONCURRENCY)["ScalableTargets"]
    target = targets[0] if targets else None
    actions = {a["ScheduledActionName"]: a for a in pages(
        aas.describe_scheduled_actions, "ScheduledActions", **key)} if target else {}
    plan = plan_scaling(endpoint.autoscaling, target, actions)
    changes = []
    if plan.deregister:
        aas.deregister_scalable_target(**key)
        changes.append("scalable target deregistered")
    if plan.register is not None:
        low, high = plan.register
        aas.register_scalable_target(**key, MinCapacity=low, MaxCapacity=high)
        changes.append(f"scalable target {low}-{high}")
    for name in plan.delete:
        aas.delete_scheduled_action(**key, ScheduledActionName=name)
        changes.append(f"scheduled action {name} deleted")
    for action in plan.put:
        request: dict[str, Any] = {"Schedule": action.schedule}
        if action.timezone:
            request["Timezone"] = action.timezone
        if action.start_time:
            request["StartTime"] = action.start_time
        if action.end_time:
            request["EndTime"] = action.end_time
        bounds = {k: v for k, v in (("MinCapacity", action.min_capacity), ("MaxCapacity", action.max_capacity))
                  if v is not None}
        aas.put_scheduled_action(**key, ScheduledActionName=action.name, ScalableTargetAction=bounds, **request)
        changes.append(f"scheduled action {action.name} set ({action.schedule})")
    return changes


def deregister_endpoint(aas, endpoint_name: str) -> None:
    """Remove the scalable targets (and so the policies and schedules) of an endpoint about to be deleted."""
    prefix = f"endpoint/{endpoint_name}/variant/"
    for target in pages(aas.describe_scalable_targets, "ScalableTargets", ServiceNamespace=SERVICE_NAMESPACE):
        if target["ResourceId"].lower().startswith(prefix.lower()):
            aas.deregister_scalable_target(**_key(target["ResourceId"]))
