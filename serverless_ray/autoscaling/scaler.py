"""Applies the replica policy to every endpoint, driven by demand reports and a tick.

Entry points report an endpoint's in-flight count the moment it rises (so a request to a
scaled-to-zero endpoint starts a replica at once) and a summary every second while busy.
A once-a-second tick releases replicas whose keep-warm window ran out. Nothing polls
while idle, so idle endpoints cost nothing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from serverless_ray.autoscaling.policy import WarmWindow, desired_replicas

log = logging.getLogger(__name__)

ApplyFn = Callable[[str, int], Awaitable[None]]


@dataclass
class DemandReport:
    """One entry point's view of one endpoint: in flight now and the peak since its last report."""

    in_flight: int
    peak: int


@dataclass
class _Tracked:
    app_name: str
    floor: int
    cap: int
    target: int | None
    window: WarmWindow = field(default_factory=WarmWindow)
    # gateway id -> (in-flight, monotonic time of the report)
    reports: dict[str, tuple[int, float]] = field(default_factory=dict)


class Autoscaler:
    """Owns the replica target of every live endpoint."""

    def __init__(
        self,
        apply: ApplyFn,
        *,
        keep_warm_s: float,
        report_ttl_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._apply = apply
        self._keep_warm_s = keep_warm_s
        self._report_ttl_s = report_ttl_s
        self._clock = clock
        self._endpoints: dict[str, _Tracked] = {}
        # Grows with every demand report and target change: lets observers (the replica
        # gauge) do nothing while nothing happens.
        self.changes = 0

    def track(self, endpoint: str, *, app_name: str, floor: int, cap: int, running: int) -> None:
        """Start managing ``endpoint`` served by ``app_name`` that now runs ``running`` replicas.

        Replicas that are already running count as just used, so a freshly created
        endpoint stays warm for one keep-warm window like a freshly used one.
        """
        key = endpoint.lower()
        previous = self._endpoints.get(key)
        tracked = _Tracked(app_name=app_name, floor=floor, cap=cap, target=running)
        if previous is not None:
            tracked.window = previous.window
            tracked.reports = previous.reports
        tracked.window.observe(running, self._clock())
        self._endpoints[key] = tracked
        self.changes += 1

    def untrack(self, endpoint: str) -> None:
        self._endpoints.pop(endpoint.lower(), None)
        self.changes += 1

    def set_limits(self, endpoint: str, *, floor: int | None = None, cap: int | None = None) -> None:
        tracked = self._endpoints.get(endpoint.lower())
        if tracked is None:
            return
        if floor is not None:
            tracked.floor = floor
        if cap is not None:
            tracked.cap = cap
            tracked.window.forget_above(cap)

    async def release_warm(self, endpoint: str) -> int | None:
        """End ``endpoint``'s keep-warm window now, as if it had run out: replicas not
        needed by invocations in flight are released, down to the provisioned floor.
        Returns the new target (None if the endpoint is not tracked)."""
        key = endpoint.lower()
        tracked = self._endpoints.get(key)
        if tracked is None:
            return None
        tracked.window = WarmWindow()
        self.changes += 1
        await self._evaluate(key, tracked, self._clock())
        return tracked.target

    def demand(self, endpoint: str) -> int:
        tracked = self._endpoints.get(endpoint.lower())
        return self._live_demand(tracked, self._clock()) if tracked else 0

    def floor(self, endpoint: str) -> int:
        """The provisioned floor ``endpoint``'s replicas are kept at (0 if untracked)."""
        tracked = self._endpoints.get(endpoint.lower())
        return tracked.floor if tracked else 0

    def target(self, endpoint: str) -> int | None:
        tracked = self._endpoints.get(endpoint.lower())
        return tracked.target if tracked else None

    def targets(self) -> dict[str, int | None]:
        """Replica target of every tracked endpoint, by application name."""
        return {tracked.app_name: tracked.target for tracked in self._endpoints.values()}

    async def report(self, gateway_id: str, reports: dict[str, DemandReport]) -> None:
        """Take an entry point's demand reports and scale up at once where needed."""
        now = self._clock()
        self.changes += 1
        for endpoint, report in reports.items():
            tracked = self._endpoints.get(endpoint.lower())
            if tracked is None:
                continue
            others = self._live_demand(tracked, now, excluding=gateway_id)
            tracked.reports[gateway_id] = (report.in_flight, now)
            tracked.window.observe(min(tracked.cap, others + report.peak), now)
            await self._evaluate(endpoint.lower(), tracked, now)

    async def tick(self) -> None:
        """Re-evaluate every endpoint; releases replicas whose window expired."""
        now = self._clock()
        for key, tracked in list(self._endpoints.items()):
            await self._evaluate(key, tracked, now)

    async def _evaluate(self, key: str, tracked: _Tracked, now: float) -> None:
        demand = self._live_demand(tracked, now)
        tracked.window.observe(demand, now)
        desired = desired_replicas(
            demand=demand,
            warm_level=tracked.window.warm_level(now, self._keep_warm_s),
            floor=tracked.floor,
            cap=tracked.cap,
        )
        if desired == tracked.target:
            return
        previous, tracked.target = tracked.target, desired
        self.changes += 1
        try:
            await self._apply(tracked.app_name, desired)
        except Exception:  # the next tick retries
            log.exception("scaling %s to %d replicas failed", key, desired)
            if self._endpoints.get(key) is tracked:
                tracked.target = previous if previous != desired else None

    def _live_demand(self, tracked: _Tracked, now: float, excluding: str | None = None) -> int:
        # A report older than the TTL is from an entry point that stopped reporting (it
        # died or went idle without a final report); its in-flight count no longer holds.
        total = 0
        for gateway_id, (in_flight, at) in list(tracked.reports.items()):
            if now - at > self._report_ttl_s:
                del tracked.reports[gateway_id]
            elif gateway_id != excluding:
                total += in_flight
        return total
