"""Provisioned concurrency integrated over time: memory x units x seconds provisioned.

SageMaker bills provisioned concurrency for as long as it is configured, used or not.
The controller knows each variant's provisioned floor (scheduled actions and target
tracking move it) and reports it here on every housekeeping tick; a level holds from
the tick it was seen until the next one. Pure: time comes from the caller.
"""

from __future__ import annotations

from dataclasses import dataclass

from serverless_ray.billing.meter import provisioned_usage
from serverless_ray.billing.usage import Usage, UsageKey


@dataclass(frozen=True)
class Level:
    """A variant's provisioned concurrency as seen at one tick."""

    memory_mb: int
    units: int


class ProvisionedMeter:
    """Turns a series of observed levels into provisioned GB-seconds."""

    def __init__(self, *, max_step_s: float = 60.0) -> None:
        # A tick that comes much later than due (a stalled process) still bills the
        # time in between, but no more than ``max_step_s``: beyond that the platform was
        # likely not running, and nothing was kept warm.
        self._max_step_s = max_step_s
        self._levels: dict[tuple[str, str], Level] = {}
        self._seen_at: float | None = None

    def observe(self, levels: dict[tuple[str, str], Level], now: float) -> dict[UsageKey, Usage]:
        """Usage since the previous observation at the levels seen then; ``levels`` maps
        (endpoint, variant) to what is provisioned from ``now`` on."""
        used: dict[UsageKey, Usage] = {}
        if self._seen_at is not None:
            elapsed = min(max(0.0, now - self._seen_at), self._max_step_s)
            for (endpoint, variant), level in self._levels.items():
                if level.units > 0 and elapsed > 0:
                    used[UsageKey(endpoint, variant, level.memory_mb)] = provisioned_usage(
                        level.memory_mb, level.units, elapsed
                    )
        self._levels = {key: level for key, level in levels.items() if level.units > 0}
        self._seen_at = now
        return used
