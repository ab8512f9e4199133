"""What applying a set of declared endpoints changes (pure: no API calls).

An applier with an ``owner`` tags what it creates with ``serverless-ray:owner``, refuses
to take over endpoints it did not create, and with ``prune`` deletes the endpoints it owns
that are no longer declared. Endpoints anyone else made are never touched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from serverless_ray.declarative.schema import EndpointDeclaration, ProvisionedScalingDeclaration, ScheduledActionDeclaration

OWNER_TAG = "serverless-ray:owner"
# Model and config names are at most 63 characters: the endpoint's name, "-" and 8 hex digits.
NAME_ROOM = 63 - 9


class NotOwnedError(ValueError):
    """A declared endpoint exists but was not created by this applier."""


@dataclass(frozen=True)
class ExistingEndpoint:
    name: str
    status: str
    config_name: str
    owner: str | None


@dataclass
class EndpointPlan:
    create: list[EndpointDeclaration] = field(default_factory=list)
    update: list[EndpointDeclaration] = field(default_factory=list)
    # Failed endpoints whose declaration changed: a failed endpoint cannot be updated.
    recreate: list[EndpointDeclaration] = field(default_factory=list)
    unchanged: list[EndpointDeclaration] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)


def model_name_for(endpoint: EndpointDeclaration) -> str:
    """Models are named after their content, so a declaration whose model did not change
    keeps its model, and an update of its concurrency keeps the running replicas."""
    return f"{endpoint.name[:NAME_ROOM]}-{endpoint.model_digest()}"


def config_name_for(endpoint: EndpointDeclaration) -> str:
    """Endpoint configs are named after their content: a changed declaration is a new config."""
    return f"{endpoint.name[:NAME_ROOM]}-{endpoint.config_digest()}"


def plan_endpoints(
    declared: list[EndpointDeclaration],
    existing: dict[str, ExistingEndpoint],
    *,
    owner: str | None,
    prune: bool,
) -> EndpointPlan:
    """Sort ``declared`` into create/update/recreate/unchanged and pick what to prune.

    ``existing`` maps lower-cased names to the endpoints that exist now (settled, not
    ``Creating``/``Updating``/``Deleting``)."""
    plan = EndpointPlan()
    for endpoint in declared:
        current = existing.get(endpoint.name.lower())
        if current is None:
            plan.create.append(endpoint)
            continue
        if owner is not None and current.owner != owner:
            whose = f"by '{current.owner}'" if current.owner else "outside this file (no ownership tag)"
            raise NotOwnedError(
                f"endpoint '{current.name}' already exists and was created {whose}, not by '{owner}': "
                f"delete it or rename the declared endpoint"
            )
        if current.config_name == config_name_for(endpoint):
            plan.unchanged.append(endpoint)
        elif current.status == "Failed":
            plan.recreate.append(endpoint)
        else:
            plan.update.append(endpoint)
    if prune and owner is not None:
        wanted = {e.name.lower() for e in declared}
        plan.delete = sorted(e.name for key, e in existing.items() if e.owner == owner and key not in wanted)
    return plan


@dataclass
class ScalingPlan:
    register: tuple[int, int] | None = None  # (MinCapacity, MaxCapacity)
    deregister: bool = False
    put: list[ScheduledActionDeclaration] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)


def plan_scaling(
    declared: ProvisionedScalingDeclaration | None,
    target: dict[str, Any] | None,
    actions: dict[str, dict[str, Any]],
) -> ScalingPlan:
    """Changes that bring a scalable target (``DescribeScalableTargets`` entry, or None) and
    its scheduled actions (``DescribeScheduledActions`` entries by name) to ``declared``.

    Unchanged actions are not put again: putting an action restarts its ``rate(...)`` clock."""
    if declared is None:
        return ScalingPlan(deregister=target is not None)
    plan = ScalingPlan()
    bounds = (declared.min_capacity, declared.max_capacity)
    if target is None or (target["MinCapacity"], target["MaxCapacity"]) != bounds:
        plan.register = bounds
    wanted = {a.name for a in declared.scheduled_actions}
    plan.delete = sorted(set(actions) - wanted)
    plan.put = [a for a in declared.scheduled_actions if not action_matches(a, actions.get(a.name))]
    return plan


def action_matches(declared: ScheduledActionDeclaration, described: dict[str, Any] | None) -> bool:
    """Whether a described scheduled action already is what ``declared`` says."""
    if described is None:
        return False
    bounds = described.get("ScalableTargetAction") or {}
    return (
        described.get("Schedule") == declared.schedule
        and (described.get("Timezone") or "UTC") == (declared.timezone or "UTC")
        and _instant(described.get("StartTime")) == _instant(declared.start_time)
        and _instant(described.get("EndTime")) == _instant(declared.end_time)
        and bounds.get("MinCapacity") == declared.min_capacity
        and bounds.get("MaxCapacity") == declared.max_capacity
    )


def _instant(value: datetime | None) -> float | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return round(value.timestamp(), 3)
