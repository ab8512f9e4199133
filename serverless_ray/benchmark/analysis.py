"""From measurements to a decision: cost per invocation and per month, and the cheapest
configuration that meets a p99 latency objective (pure).

Costs come from what the platform's cost meter metered for each phase (billed
GB-seconds, bytes processed, how much ran on provisioned capacity), priced with a price
table. A month is 730 hours, as in AWS's pricing examples. The monthly cost with
provisioned concurrency assumes the traffic fits within it (no spillover).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from serverless_ray.benchmark.plan import Scenario
from serverless_ray.benchmark.stats import CallSummary, LatencySummary
from serverless_ray.billing.meter import gb
from serverless_ray.billing.prices import GB, PriceTable

SECONDS_PER_MONTH = 730 * 3600


@dataclass(frozen=True)
class Metered:
    """What the cost meter counted for one phase of a scenario."""

    invocations: int = 0
    gb_seconds: float = 0.0
    provisioned_compute_gb_seconds: float = 0.0
    processed_bytes: int = 0

    def minus(self, earlier: "Metered") -> "Metered":
        return Metered(
            self.invocations - earlier.invocations, self.gb_seconds - earlier.gb_seconds,
            self.provisioned_compute_gb_seconds - earlier.provisioned_compute_gb_seconds,
            self.processed_bytes - earlier.processed_bytes,
        )

    def per_invocation(self) -> tuple[float, float, float] | None:
        """(GB-seconds, of which on provisioned capacity, bytes) per invocation."""
        if self.invocations <= 0:
            return None
        n = self.invocations
        return self.gb_seconds / n, self.provisioned_compute_gb_seconds / n, self.processed_bytes / n


@dataclass(frozen=True)
class ScenarioResult:
    scenario: Scenario
    warm: CallSummary
    after_idle: CallSummary  # the first calls after the endpoint was scaled to zero (cold for on demand)
    model_setup: LatencySummary  # ModelSetupTime of the replicas those calls waited for, ms
    warm_meter: Metered
    after_idle_meter: Metered
    warm_latencies_ms: list[float] = field(default_factory=list)
    after_idle_latencies_ms: list[float] = field(default_factory=list)
    model_setup_ms: list[float] = field(default_factory=list)
    failure: str | None = None  # the scenario could not be measured (e.g. the endpoint failed)


def invocation_cost(meter: Metered, memory_mb: int, prices: PriceTable, *, on_demand: bool = False) -> float | None:
    """Cost of one invocation as metered (``on_demand``: as if none ran on provisioned
    capacity); None if the table has no rate for what it used."""
    per = meter.per_invocation()
    if per is None:
        return None
    gb_seconds, on_pc, processed = per
    data = prices.data_processing_per_gb * processed / GB
    od_rate = prices.compute_per_gb_second(memory_mb)
    if on_demand or on_pc == 0:
        return None if od_rate is None else gb_seconds * od_rate + data
    pc_rate = prices.compute_per_gb_second(memory_mb, provisioned=True)
    if pc_rate is None or (od_rate is None and gb_seconds > on_pc):
        return None
    return (gb_seconds - on_pc) * (od_rate or 0.0) + on_pc * pc_rate + data


def monthly_with_provisioned(
    meter: Metered, scenario: Scenario, prices: PriceTable, requests_per_month: int
) -> float | None:
    """A month of ``scenario.provisioned`` units kept, plus the traffic served on them."""
    per = meter.per_invocation()
    keep_rate = prices.provisioned_per_gb_second(scenario.memory_mb)
    compute_rate = prices.compute_per_gb_second(scenario.memory_mb, provisioned=True)
    if per is None or keep_rate is None or compute_rate is None or scenario.provisioned <= 0:
        return None
    gb_seconds, _, processed = per
    kept = scenario.provisioned * gb(scenario.memory_mb) * SECONDS_PER_MONTH * keep_rate
    served = requests_per_month * (gb_seconds * compute_rate + prices.data_processing_per_gb * processed / GB)
    return kept + served


# Columns of results.csv, in order; results.json rows have these and the raw samples.
FIELDS = (
    "memory_size_mb", "max_concurrency", "client_concurrency", "provisioned_concurrency",
    "invocations", "errors", "throttles", "error_rate", "throttle_rate",
    "p50_ms", "p90_ms", "p99_ms", "max_ms", "mean_ms", "throughput_rps",
    "cold_starts", "cold_p50_ms", "cold_p90_ms", "cold_p99_ms", "cold_max_ms",
    "model_setup_samples", "model_setup_p50_ms", "model_setup_p99_ms", "model_setup_max_ms",
    "billed_gb_seconds_per_invocation", "processed_bytes_per_invocation",
    "cost_per_invocation_usd", "cost_per_1m_invocations_usd", "cold_start_cost_per_invocation_usd",
    "requests_per_month", "monthly_cost_without_pc_usd", "monthly_cost_with_pc_usd", "monthly_cost_usd",
    "meets_slo", "recommended", "failure",
)


def result_row(result: ScenarioResult, prices: PriceTable, requests_per_month: int, slo_p99_ms: float | None
               ) -> dict[str, Any]:
    s, warm, idle = result.scenario, result.warm, result.after_idle
    per = result.warm_meter.per_invocation()
    cost = invocation_cost(result.warm_meter, s.memory_mb, prices)
    on_demand = invocation_cost(result.warm_meter, s.memory_mb, prices, on_demand=True)
    without_pc = None if on_demand is None else on_demand * requests_per_month
    with_pc = monthly_with_provisioned(result.warm_meter, s, prices, requests_per_month) if s.provisioned else None
    row = {
        "memory_size_mb": s.memory_mb, "max_concurrency": s.max_concurrency,
        "client_concurrency": s.client_concurrency, "provisioned_concurrency": s.provisioned,
        "invocations": warm.calls, "errors": round(warm.error_rate * warm.calls),
        "throttles": round(warm.throttle_rate * warm.calls), "error_rate": warm.error_rate,
        "throttle_rate": warm.throttle_rate,
        "p50_ms": warm.latency.p50_ms, "p90_ms": warm.latency.p90_ms, "p99_ms": warm.latency.p99_ms,
        "max_ms": warm.latency.max_ms, "mean_ms": warm.latency.mean_ms, "throughput_rps": warm.throughput_rps,
        "cold_starts": idle.calls, "cold_p50_ms": idle.latency.p50_ms, "cold_p90_ms": idle.latency.p90_ms,
        "cold_p99_ms": idle.latency.p99_ms, "cold_max_ms": idle.latency.max_ms,
        "model_setup_samples": result.model_setup.count, "model_setup_p50_ms": result.model_setup.p50_ms,
        "model_setup_p99_ms": result.model_setup.p99_ms, "model_setup_max_ms": result.model_setup.max_ms,
        "billed_gb_seconds_per_invocation": per[0] if per else None,
        "processed_bytes_per_invocation": per[2] if per else None,
        "cost_per_invocation_usd": cost, "cost_per_1m_invocations_usd": None if cost is None else cost * 1e6,
        "cold_start_cost_per_invocation_usd": invocation_cost(result.after_idle_meter, s.memory_mb, prices),
        "requests_per_month": requests_per_month, "monthly_cost_without_pc_usd": without_pc,
        "monthly_cost_with_pc_usd": with_pc, "monthly_cost_usd": with_pc if s.provisioned else without_pc,
        "failure": result.failure,
    }
    row["meets_slo"] = meets_slo(row, slo_p99_ms)
    row["recommended"] = False
    return row


def meets_slo(row: dict[str, Any], slo_p99_ms: float | None) -> bool:
    """Answered every call (no errors, no throttles) with a warm p99 within the objective."""
    if row["failure"] or row["p99_ms"] is None or row["errors"] or row["throttles"]:
        return False
    return slo_p99_ms is None or row["p99_ms"] <= slo_p99_ms


def recommend(rows: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The cheapest row a month (then per invocation, then by p99) that meets the
    objective; marks it ``recommended``. None if no priced row meets it."""
    candidates = [r for r in rows if r["meets_slo"] and r["monthly_cost_usd"] is not None]
    if not candidates:
        return None
    best = min(candidates, key=lambda r: (r["monthly_cost_usd"], r["cost_per_invocation_usd"] or 0.0, r["p99_ms"]))
    best["recommended"] = True
    return best
