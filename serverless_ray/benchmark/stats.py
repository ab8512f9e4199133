"""Latency and rate summaries of a set of calls (pure)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Sequence


class Outcome(str, Enum):
    OK = "ok"
    THROTTLED = "throttled"  # ThrottlingException: over MaxConcurrency or the account pool
    ERROR = "error"  # ModelError, a timeout, anything else


@dataclass(frozen=True)
class Call:
    """One invocation as the client saw it (times from one monotonic clock, in seconds)."""

    started: float
    finished: float
    outcome: Outcome
    error_code: str | None = None

    @property
    def latency_ms(self) -> float:
        return (self.finished - self.started) * 1000.0


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) by linear interpolation between closest ranks
    (numpy's default); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class LatencySummary:
    count: int
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    mean_ms: float | None

    @classmethod
    def of(cls, latencies_ms: Sequence[float]) -> "LatencySummary":
        return cls(
            count=len(latencies_ms), p50_ms=percentile(latencies_ms, 50), p90_ms=percentile(latencies_ms, 90),
            p99_ms=percentile(latencies_ms, 99), max_ms=max(latencies_ms) if latencies_ms else None,
            mean_ms=sum(latencies_ms) / len(latencies_ms) if latencies_ms else None,
        )


@dataclass(frozen=True)
class CallSummary:
    """Latency of the calls that succeeded, and what share of all calls failed how."""

    calls: int
    latency: LatencySummary
    throughput_rps: float | None  # successful calls per second over the span of all calls
    error_rate: float
    throttle_rate: float

    @classmethod
    def of(cls, calls: Sequence[Call]) -> "CallSummary":
        ok = [c for c in calls if c.outcome is Outcome.OK]
        span = (max(c.finished for c in calls) - min(c.started for c in calls)) if calls else 0.0
        count = len(calls) or 1
        return cls(
            calls=len(calls), latency=LatencySummary.of([c.latency_ms for c in ok]),
            throughput_rps=len(ok) / span if span > 0 else None,
            error_rate=sum(c.outcome is Outcome.ERROR for c in calls) / count,
            throttle_rate=sum(c.outcome is Outcome.THROTTLED for c in calls) / count,
        )
