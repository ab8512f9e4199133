"""What one invocation, or provisioned concurrency over a span of time, uses and costs.

SageMaker bills serverless compute by the millisecond of inference duration at the
endpoint's memory size, and data processing by the bytes of request and response. The
duration metered here is the invocation's whole time at the entry point, from the
request received to the reply ready (ModelLatency + OverheadLatency), so the wait for a
cold start is included: the figure AWS's own benchmarking toolkit prices. Only
invocations that were sent to a replica are metered; one refused before that (an unknown
endpoint, a throttle, a bad request) used no compute.
"""

from __future__ import annotations

import math

from serverless_ray.billing.prices import GB, Component, PriceTable
from serverless_ray.billing.usage import Usage


def billed_seconds(duration_s: float) -> float:
    """``duration_s`` rounded up to the next whole millisecond."""
    # The epsilon keeps a duration that is a whole number of milliseconds in binary
    # floating point (0.1 s is 100.00000000000001 ms) from being rounded up a step.
    return math.ceil(duration_s * 1000.0 - 1e-6) / 1000.0 if duration_s > 0 else 0.0


def gb(memory_mb: int) -> float:
    return memory_mb / 1024.0


def invocation_usage(
    memory_mb: int, duration_s: float, processed_bytes: int, *, on_provisioned: bool = False
) -> Usage:
    """One invocation of ``duration_s`` at ``memory_mb`` that moved ``processed_bytes``;
    ``on_provisioned``: served by provisioned concurrency (billed at that compute rate)."""
    gb_seconds = gb(memory_mb) * billed_seconds(duration_s)
    return Usage(
        invocations=1, gb_seconds=gb_seconds,
        provisioned_compute_gb_seconds=gb_seconds if on_provisioned else 0.0,
        processed_bytes=processed_bytes,
    )


def provisioned_usage(memory_mb: int, units: int, seconds: float) -> Usage:
    """``units`` of provisioned concurrency at ``memory_mb`` kept for ``seconds``."""
    return Usage(provisioned_gb_seconds=gb(memory_mb) * units * max(0.0, seconds))


def price(usage: Usage, memory_mb: int, prices: PriceTable) -> Usage:
    """``usage`` with its cost at ``prices``; a component the table has no rate for
    costs nothing here and is reported as unpriced (``PriceTable.unpriced``)."""

    def at(rate: float | None, quantity: float) -> float:
        return 0.0 if rate is None else rate * quantity

    return usage.with_costs({
        Component.COMPUTE: at(prices.compute_per_gb_second(memory_mb), usage.on_demand_gb_seconds),
        Component.PROVISIONED_COMPUTE: at(
            prices.compute_per_gb_second(memory_mb, provisioned=True), usage.provisioned_compute_gb_seconds
        ),
        Component.DATA_PROCESSING: prices.data_processing_per_gb * usage.processed_bytes / GB,
        Component.PROVISIONED_CONCURRENCY: at(prices.provisioned_per_gb_second(memory_mb), usage.provisioned_gb_seconds),
    })
