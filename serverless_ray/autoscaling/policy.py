"""Pure replica-count policy for serverless endpoints (no Ray, injectable time).

One invocation runs per replica at a time, so an endpoint needs as many replicas as it
has invocations in flight. A replica that served traffic stays warm for the keep-warm
window after the last moment it was needed (SageMaker and Lambda keep idle compute for
a while too); then it is released, down to the provisioned floor, possibly zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class WarmWindow:
    """For each concurrency level k (1-based), when demand last reached k."""

    last_seen: list[float] = field(default_factory=list)

    def observe(self, demand: int, now: float) -> None:
        """Record that ``demand`` invocations were in flight at ``now``."""
        if demand <= 0:
            return
        if len(self.last_seen) < demand:
            self.last_seen.extend([now] * (demand - len(self.last_seen)))
        for level in range(demand):
            self.last_seen[level] = now

    def warm_level(self, now: float, keep_warm_s: float) -> int:
        """Highest level seen within the last ``keep_warm_s`` seconds (0 if none)."""
        for level in range(len(self.last_seen), 0, -1):
            if now - self.last_seen[level - 1] < keep_warm_s:
                return level
        return 0

    def forget_above(self, level: int) -> None:
        del self.last_seen[level:]


def desired_replicas(*, demand: int, warm_level: int, floor: int, cap: int) -> int:
    """Replicas an endpoint should have.

    ``demand`` is the in-flight count now, ``warm_level`` what the keep-warm window still
    holds, ``floor`` the provisioned concurrency and ``cap`` the MaxConcurrency.
    """
    return max(0, min(cap, max(floor, demand, warm_level)))
