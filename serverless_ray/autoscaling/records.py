"""Durable Application Auto Scaling state: scalable targets, policies, scheduled actions
and scaling activities, in tables of the platform's SQLite store."""

from __future__ import annotations

import time
import uuid
from typing import Any

from pydantic import BaseModel

from serverless_ray.store import Store, Table


class ScalableTargetRecord(BaseModel):
    key: str
    namespace: str
    resource_id: str
    dimension: str
    min_capacity: int
    max_capacity: int
    role_arn: str
    suspended: dict[str, bool]
    created: float
    arn: str


class ScalingPolicyRecord(BaseModel):
    target_key: str
    name: str
    arn: str
    policy_type: str
    configuration: dict[str, Any]
    created: float


class ScheduledActionRecord(BaseModel):
    target_key: str
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


class ActivityRecord(BaseModel):
    id: str
    target_key: str
    description: str
    cause: str
    start: float
    end: float | None
    status: str
    status_message: str = ""


class ScalingTables:
    def __init__(self, store: Store) -> None:
        self.targets = Table(store, "scalable_targets", ScalableTargetRecord)
        self.policies = Table(store, "scaling_policies", ScalingPolicyRecord)
        self.actions = Table(store, "scheduled_actions", ScheduledActionRecord)
        self.activities = Table(store, "scaling_activities", ActivityRecord)

    def policies_of(self, target_key: str) -> list[ScalingPolicyRecord]:
        return [p for p in self.policies.all() if p.target_key == target_key]

    def actions_of(self, target_key: str) -> list[ScheduledActionRecord]:
        return [a for a in self.actions.all() if a.target_key == target_key]

    def record_activity(
        self, target_key: str, *, description: str, cause: str, status: str, message: str = "",
        start: float | None = None,
    ) -> ActivityRecord:
        """Every change of provisioned concurrency, successful or not, is a scaling activity."""
        now = round(time.time(), 3)
        activity = ActivityRecord(
            id=str(uuid.uuid4()), target_key=target_key, description=description, cause=cause,
            start=start or now, end=now, status=status, status_message=message,
        )
        self.activities.put(activity.id, activity)
        return activity
