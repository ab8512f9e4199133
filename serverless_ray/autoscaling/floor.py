"""Which endpoint variants run fewer replicas than their provisioned floor, and since when.

The autoscaler keeps every variant's replica target at or above its provisioned
concurrency, and Serve restores replicas that die (a lost node, a crashed process) as
soon as the cluster has room for them. Until then the floor is not met, and users must
be able to see that: ``DescribeEndpoint`` reports it as a variant status and
``/metrics`` as the number of provisioned replicas missing. Pure bookkeeping (no Ray).
"""

from __future__ import annotations

from dataclasses import dataclass

VariantKey = tuple[str, str]  # (endpoint name, variant name)


@dataclass(frozen=True)
class Shortfall:
    """A variant below its provisioned floor."""

    floor: int
    running: int
    since: float  # wall-clock time (seconds) when it was first seen below the floor
    reason: str = ""  # what Serve says about the replicas it could not start, if anything

    @property
    def missing(self) -> int:
        return self.floor - self.running

    def message(self) -> str:
        text = (
            f"{self.running} of {self.floor} provisioned replicas are running; "
            f"the platform is starting the other {self.missing} and they start as soon as "
            f"the cluster has room for them."
        )
        return f"{text} {self.reason}" if self.reason else text


class FloorWatch:
    """Updated from each reading of Serve's replica counts; read by DescribeEndpoint."""

    def __init__(self) -> None:
        self._short: dict[VariantKey, Shortfall] = {}

    def observe(
        self, readings: dict[VariantKey, tuple[int, int]], now: float, reasons: dict[VariantKey, str] | None = None
    ) -> None:
        """``readings`` maps every live variant to (floor, running replicas)."""
        reasons = reasons or {}
        short: dict[VariantKey, Shortfall] = {}
        for key, (floor, running) in readings.items():
            if running >= floor:
                continue
            previous = self._short.get(_lower(key))
            since = previous.since if previous is not None else now
            short[_lower(key)] = Shortfall(floor=floor, running=running, since=since, reason=reasons.get(key, ""))
        self._short = short

    def shortfall(self, endpoint: str, variant: str) -> Shortfall | None:
        return self._short.get(_lower((endpoint, variant)))

    def missing(self, key: VariantKey) -> int:
        found = self._short.get(_lower(key))
        return found.missing if found is not None else 0


def _lower(key: VariantKey) -> VariantKey:
    # Endpoint names are case-insensitive in SageMaker; variant names are not.
    return key[0].lower(), key[1]
