"""Moves each endpoint variant's provisioned concurrency as its scalable target says:
bounds (Min/MaxCapacity), scheduled actions and target tracking.

Evaluated once a second by the controller. A scheduled action fires when a fire time of
its schedule passed since it last fired; the same rule after a restart applies the
action that should be in force now (the latest one that fired while the platform was
down). Capacity outside the bounds is clamped, as the service clamps it.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from typing import Callable

from serverless_ray.autoscaling.capacity import EndpointCapacity
from serverless_ray.autoscaling.records import ScalableTargetRecord, ScalingTables, ScheduledActionRecord
from serverless_ray.autoscaling.target_tracking import TrackingPolicy, TrackingState, decide
from serverless_ray.errors import ValidationException
from serverless_ray.spec.autoscaling import ScalableTargetKey, TargetTrackingConfiguration
from serverless_ray.spec.schedules import Window, last_fire, parse_schedule, zone

log = logging.getLogger(__name__)


class ProvisionedScaler:
    def __init__(
        self,
        tables: ScalingTables,
        capacity: EndpointCapacity,
        demand: Callable[[str], int],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._tables = tables
        self._capacity = capacity
        self._demand = demand
        self._clock = clock  # wall-clock time: schedules fire by the calendar
        self._tracking: dict[tuple[ScalableTargetKey, str], TrackingState] = {}

    async def tick(self) -> None:
        now = self._clock()
        for target in self._tables.targets.all():
            try:
                current = self._capacity.get(target.target.endpoint_name, target.target.variant_name)
            except (ValidationException, ValueError):
                continue  # the endpoint is gone or not deployed: nothing to scale
            if not current.in_service:
                continue  # changes go through UpdateEndpointWeightsAndCapacities: wait for InService
            try:
                target = await self._run_schedules(target, now)
                await self._clamp(target, cause="the capacity was outside the scalable target's bounds")
                await self._run_tracking(target, now)
            except Exception:  # one bad target must not stop the others
                log.exception("scaling target %s failed", target.target.row)

    async def on_target_change(self, target: ScalableTargetRecord, cause: str) -> None:
        """New bounds: clamp the current capacity into them."""
        await self._clamp(target, cause=cause)

    # --- scheduled actions -------------------------------------------------------------

    async def _run_schedules(self, target: ScalableTargetRecord, now: float) -> ScalableTargetRecord:
        fired: list[tuple[float, ScheduledActionRecord]] = []
        moment = datetime.fromtimestamp(now, timezone.utc)
        for action in self._tables.actions_of(target.target):
            fire = last_fire(parse_schedule(action.schedule), _window(action), moment)
            if fire is not None and (action.last_fired is None or fire.timestamp() > action.last_fired):
                fired.append((fire.timestamp(), action))
        if not fired:
            return target
        fired.sort(key=lambda f: f[0])
        for fire_time, action in fired:
            self._tables.put_action(action.model_copy(update={"last_fired": fire_time}))
        if target.suspended.ScheduledScalingSuspended:
            return target
        _, action = fired[-1]  # the one in force now
        low = action.min_capacity if action.min_capacity is not None else target.min_capacity
        high = action.max_capacity if action.max_capacity is not None else target.max_capacity
        if action.max_capacity is None and low > high:
            high = low
        if action.min_capacity is None and high < low:
            low = high
        target = target.model_copy(update={"min_capacity": low, "max_capacity": high})
        self._tables.put_target(target)
        await self._clamp(target, cause=f"scheduled action name {action.name} was triggered")
        return target

    async def _clamp(self, target: ScalableTargetRecord, *, cause: str) -> None:
        key = target.target
        current = self._capacity.get(key.endpoint_name, key.variant_name)
        wanted = min(target.max_capacity, max(target.min_capacity, current.provisioned))
        if wanted != current.provisioned and current.in_service:
            await self._change(target, current.provisioned, wanted, cause=cause)

    # --- target tracking ---------------------------------------------------------------

    async def _run_tracking(self, target: ScalableTargetRecord, now: float) -> None:
        key = target.target
        for policy in self._tables.policies_of(key):
            tracking = tracking_policy(policy.configuration)
            state = self._tracking.setdefault((key, policy.name), TrackingState())
            current = self._capacity.get(key.endpoint_name, key.variant_name)
            if not current.in_service:
                continue
            wanted = decide(
                tracking, state, now=now, capacity=current.provisioned,
                executions=self._demand(key.endpoint_name),
                min_capacity=target.min_capacity, max_capacity=target.max_capacity,
            )
            if wanted > current.provisioned and target.suspended.DynamicScalingOutSuspended:
                continue
            if wanted < current.provisioned and target.suspended.DynamicScalingInSuspended:
                continue
            if wanted != current.provisioned:
                await self._change(
                    target, current.provisioned, wanted,
                    cause=f"monitor alarm TargetTracking-{key.resource_id} triggered policy {policy.name}",
                )

    async def _change(self, target: ScalableTargetRecord, old: int, new: int, *, cause: str) -> None:
        key = target.target
        started = round(self._clock(), 3)
        description = f"Setting desired provisioned concurrency to {new}."
        try:
            await self._capacity.set(key.endpoint_name, key.variant_name, new)
        except Exception as exc:
            self._tables.record_activity(
                key, description=description, cause=cause, status="Failed",
                message=f"Failed to set desired provisioned concurrency from {old} to {new}: {exc}",
                start=started,
            )
            raise
        self._tables.record_activity(
            key, description=description, cause=cause, status="Successful",
            message=f"Successfully set desired provisioned concurrency to {new}. Change from {old}.",
            start=started,
        )


def tracking_policy(config: TargetTrackingConfiguration) -> TrackingPolicy:
    """The policy maths' view of a target-tracking configuration (AWS's cooldowns default to 300 s)."""
    return TrackingPolicy(
        target_value=float(config.TargetValue),
        scale_out_cooldown_s=float(300 if config.ScaleOutCooldown is None else config.ScaleOutCooldown),
        scale_in_cooldown_s=float(300 if config.ScaleInCooldown is None else config.ScaleInCooldown),
        disable_scale_in=bool(config.DisableScaleIn),
    )


def _window(action: ScheduledActionRecord) -> Window:
    as_utc = lambda t: datetime.fromtimestamp(t, timezone.utc) if t is not None else None  # noqa: E731
    return Window(tz=zone(action.timezone), created=as_utc(action.created), start=as_utc(action.start),
                  end=as_utc(action.end))
