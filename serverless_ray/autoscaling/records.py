"""Durable Application Auto Scaling state: scalable targets, policies, scheduled actions
and scaling activities, in tables of the platform's SQLite store.

Schema version 2 names a record's target with a :class:`ScalableTargetKey`; version 1
wrote ``namespace|resource id|dimension`` strings (migrated when read).
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Callable

from pydantic import Field

from serverless_ray.spec.autoscaling import ScalableTargetKey, SuspendedState, TargetTrackingConfiguration
from serverless_ray.store import Store, StoredRecord, Table


class ScalableTargetRecord(StoredRecord):
    target: ScalableTargetKey
    min_capacity: int
    max_capacity: int
    role_arn: str
    suspended: SuspendedState
    created: float
    arn: str


class ScalingPolicyRecord(StoredRecord):
    target: ScalableTargetKey
    name: str
    arn: str
    policy_type: str
    configuration: TargetTrackingConfiguration = Field(description="The target-tracking configuration, as given.")
    created: float


class ScheduledActionRecord(StoredRecord):
    target: ScalableTargetKey
    name: str
    arn: str
    schedule: str
    timezone: str | None
    start: float | None
    end: float | None
    min_capacity: int | None
    max_capacity: int | None
    created: float
    last_fired: float | None = None


class ActivityRecord(StoredRecord):
    id: str
    target: ScalableTargetKey
    description: str
    cause: str
    start: float
    end: float | None
    status: str
    status_message: str = ""


def _v1_target(record: dict[str, Any]) -> dict[str, Any]:
    """Version 1 → 2 of a target: the key's parts move into ``target``."""
    record = dict(record)
    record["target"] = {
        "namespace": record.pop("namespace"), "resource_id": record.pop("resource_id"),
        "dimension": record.pop("dimension"),
    }
    record.pop("key", None)
    return record


def _v1_target_key(record: dict[str, Any]) -> dict[str, Any]:
    """Version 1 → 2 of a policy, scheduled action or activity: ``target_key`` → ``target``."""
    record = dict(record)
    record["target"] = ScalableTargetKey.from_row(record.pop("target_key")).model_dump()
    return record


class ScalingTables:
    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock  # when activities happened
        self.targets = Table(store, "scalable_targets", ScalableTargetRecord, migrations={1: _v1_target})
        self.policies = Table(store, "scaling_policies", ScalingPolicyRecord, migrations={1: _v1_target_key})
        self.actions = Table(store, "scheduled_actions", ScheduledActionRecord, migrations={1: _v1_target_key})
        self.activities = Table(store, "scaling_activities", ActivityRecord, migrations={1: _v1_target_key})

    def policies_of(self, target: ScalableTargetKey) -> list[ScalingPolicyRecord]:
        return [p for p in self.policies.all() if p.target == target]

    def actions_of(self, target: ScalableTargetKey) -> list[ScheduledActionRecord]:
        return [a for a in self.actions.all() if a.target == target]

    def put_target(self, record: ScalableTargetRecord) -> None:
        self.targets.put(record.target.row, record)

    def put_policy(self, record: ScalingPolicyRecord) -> None:
        self.policies.put(record.target.row_of(record.name), record)

    def put_action(self, record: ScheduledActionRecord) -> None:
        self.actions.put(record.target.row_of(record.name), record)

    def record_activity(
        self, target: ScalableTargetKey, *, description: str, cause: str, status: str, message: str = "",
        start: float | None = None,
    ) -> ActivityRecord:
        """Every change of provisioned concurrency, successful or not, is a scaling activity."""
        now = round(self._clock(), 3)
        activity = ActivityRecord(
            id=str(uuid.uuid4()), target=target, description=description, cause=cause,
            start=start or now, end=now, status=status, status_message=message,
        )
        self.activities.put(activity.id, activity)
        return activity
