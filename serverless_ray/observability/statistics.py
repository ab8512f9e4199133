"""CloudWatch statistics over statistic sets: the five standard ones and percentiles.

``SampleCount``, ``Average``, ``Sum``, ``Minimum``, ``Maximum`` are exact; ``pNN`` and
``pNN.NN`` (``p50``, ``p99.9``) come from the merged sketch of every sample of the
period (within its relative accuracy, and never outside the exact minimum and maximum).
"""

from __future__ import annotations

import re

from serverless_ray.observability.aggregate import Aggregate

STANDARD = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
HIGH_RESOLUTION_PERIODS = (1, 5, 10, 30)
_PERCENTILE = re.compile(r"^p(\d{1,2}(\.\d{1,10})?|100(\.0+)?)$")


def is_percentile(statistic: str) -> bool:
    return bool(_PERCENTILE.match(statistic))


def percentile_of(statistic: str) -> float:
    """``p99.9`` → 99.9 (the caller checked ``is_percentile``)."""
    return float(statistic[1:])


def is_statistic(statistic: str) -> bool:
    return statistic in STANDARD or is_percentile(statistic)


def value(aggregate: Aggregate, statistic: str) -> float | None:
    """``statistic`` of ``aggregate`` (None if it has no samples)."""
    if aggregate.count == 0:
        return None
    if statistic == "SampleCount":
        return float(aggregate.count)
    if statistic == "Average":
        return aggregate.average
    if statistic == "Sum":
        return aggregate.total
    if statistic == "Minimum":
        return aggregate.minimum
    if statistic == "Maximum":
        return aggregate.maximum
    if is_percentile(statistic):
        return aggregate.percentile(percentile_of(statistic))
    raise ValueError(f"unknown statistic {statistic!r}")


def valid_period(period: int) -> bool:
    """1, 5, 10, 30 (high resolution) or any multiple of 60 seconds."""
    return period in HIGH_RESOLUTION_PERIODS or (period >= 60 and period % 60 == 0)
