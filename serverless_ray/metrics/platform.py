"""Metrics the control plane owns: replica counts, and the cluster's metered usage and cost."""

from __future__ import annotations

from typing import Callable, Collection, Iterator, Mapping

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric

from serverless_ray.billing.prices import Component
from serverless_ray.billing.usage import Usage, UsageKey, by_variant

LABELS = ("endpoint_name", "variant_name")


class PlatformMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.replicas = Gauge(
            "serverless_ray_replicas",
            "Running replicas of an endpoint variant (0 when scaled to zero).",
            LABELS,
            registry=self.registry,
        )
        self.utilization = Gauge(
            "serverless_ray_concurrent_executions_utilization",
            "Concurrent executions / MaxConcurrency (ServerlessConcurrentExecutionsUtilization).",
            LABELS,
            registry=self.registry,
        )
        self.provisioned_missing = Gauge(
            "serverless_ray_provisioned_replicas_missing",
            "Provisioned replicas of a serverless variant that are not running (its provisioned "
            "concurrency minus its running replicas; 0 when the floor is met).",
            LABELS,
            registry=self.registry,
        )
        self._known: set[tuple[str, str]] = set()
        self._known_floors: set[tuple[str, str]] = set()

    def set_endpoints(
        self,
        replicas: dict[tuple[str, str], int],
        utilization: dict[tuple[str, str], float],
        provisioned_missing: dict[tuple[str, str], int] | None = None,
    ) -> None:
        """Replace the per-endpoint gauges; endpoints that are gone are removed.
        ``provisioned_missing`` covers serverless variants only."""
        provisioned_missing = provisioned_missing or {}
        for labels in self._known - replicas.keys():
            self.replicas.remove(*labels)
            self.utilization.remove(*labels)
        for labels in self._known_floors - provisioned_missing.keys():
            self.provisioned_missing.remove(*labels)
        for labels, count in replicas.items():
            self.replicas.labels(*labels).set(count)
            self.utilization.labels(*labels).set(utilization.get(labels, 0.0))
        for labels, missing in provisioned_missing.items():
            self.provisioned_missing.labels(*labels).set(missing)
        self._known = set(replicas)
        self._known_floors = set(provisioned_missing)

    def watch_usage(
        self, totals: Callable[[], Mapping[UsageKey, Usage]], priced: Collection[Component]
    ) -> None:
        """Report the usage book's ``totals()`` at each scrape; costs only of the ``priced``
        components (a component the price table has no rate for is not shown as free)."""
        self.registry.register(_UsageCollector(totals, priced))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _UsageCollector:
    """Counters from the controller's usage book: durable, cluster-wide, never lower than
    what an earlier scrape showed (the book starts from the store)."""

    def __init__(self, totals: Callable[[], Mapping[UsageKey, Usage]], priced: Collection[Component]) -> None:
        self._totals = totals
        self._priced = [c for c in Component if c in priced]

    def collect(self) -> Iterator[Metric]:
        usage = sorted(by_variant(self._totals()).items())
        families = [
            (CounterMetricFamily(
                "serverless_ray_billed_gb_seconds",
                "Billed inference duration x MemorySizeInMB/1024 (milliseconds rounded up, cold starts included).",
                labels=LABELS), lambda u: u.gb_seconds),
            (CounterMetricFamily(
                "serverless_ray_provisioned_compute_gb_seconds",
                "The part of the billed GB-seconds that ran on provisioned concurrency.",
                labels=LABELS), lambda u: u.provisioned_compute_gb_seconds),
            (CounterMetricFamily(
                "serverless_ray_processed_bytes", "Request plus response bytes of metered invocations.",
                labels=LABELS), lambda u: u.processed_bytes),
            (CounterMetricFamily(
                "serverless_ray_provisioned_gb_seconds",
                "Provisioned concurrency kept: MemorySizeInMB/1024 x units x seconds provisioned.",
                labels=LABELS), lambda u: u.provisioned_gb_seconds),
        ]
        for family, value in families:
            for labels, total in usage:
                family.add_metric(list(labels), value(total))
            yield family
        cost = CounterMetricFamily(
            "serverless_ray_cost_usd", "Cost of the metered usage at the price table's rates, by bill component.",
            labels=(*LABELS, "component"),
        )
        for labels, total in usage:
            costs = total.costs()
            for component in self._priced:
                cost.add_metric([*labels, component.value], costs[component])
        yield cost
