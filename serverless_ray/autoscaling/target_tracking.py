"""Target tracking on provisioned-concurrency utilization (pure, injectable time).

``SageMakerVariantProvisionedConcurrencyUtilization`` is concurrent executions divided by
provisioned concurrency. Keeping it at ``target_value`` means provisioned concurrency of
``ceil(executions / target_value)``. Like Application Auto Scaling, scale-out reacts to
the current load and may happen again once ``scale_out_cooldown_s`` has passed; scale-in
uses the peak over the last ``scale_in_cooldown_s`` (so a short lull does not shed warm
capacity), waits for ``scale_in_cooldown_s`` after any change, and never happens with
``disable_scale_in``.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TrackingPolicy:
    target_value: float
    scale_out_cooldown_s: float = 300.0
    scale_in_cooldown_s: float = 300.0
    disable_scale_in: bool = False


@dataclass
class TrackingState:
    """What the policy remembers between evaluations."""

    last_change: float | None = None
    last_scale_out: float | None = None
    samples: deque[tuple[float, int]] = field(default_factory=deque)


def decide(
    policy: TrackingPolicy,
    state: TrackingState,
    *,
    now: float,
    capacity: int,
    executions: int,
    min_capacity: int,
    max_capacity: int,
) -> int:
    """The provisioned concurrency the policy wants now (``capacity`` if no change)."""
    state.samples.append((now, executions))
    horizon = now - policy.scale_in_cooldown_s
    while state.samples and state.samples[0][0] < horizon:
        state.samples.popleft()

    def needed(load: int) -> int:
        return min(max_capacity, max(min_capacity, math.ceil(load / policy.target_value)))

    wanted_out = needed(executions)
    if wanted_out > capacity:
        if state.last_scale_out is None or now - state.last_scale_out >= policy.scale_out_cooldown_s:
            state.last_scale_out = state.last_change = now
            return wanted_out
        return capacity
    if policy.disable_scale_in:
        return max(capacity, min_capacity)
    wanted_in = needed(max(n for _, n in state.samples))
    if wanted_in < capacity and (state.last_change is None or now - state.last_change >= policy.scale_in_cooldown_s):
        state.last_change = now
        return wanted_in
    return capacity
