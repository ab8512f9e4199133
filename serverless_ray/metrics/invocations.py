"""Metrics an entry point records per invocation (SageMaker's endpoint metrics)."""

from __future__ import annotations

from typing import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

LABELS = ("endpoint_name", "variant_name")
# Microsecond buckets from 1 ms to 5 min: warm calls, cold starts and slow models alike.
# The limits an invocation can be throttled by (``quota.ledger.ShortOf``).
THROTTLE_REASONS = ("endpoint", "account", "recovering")
_BUCKETS = tuple(b * 1000.0 for b in (1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000))


class InvocationMetrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.invocations = Counter(
            "serverless_ray_invocations", "InvokeEndpoint requests sent to the variant.", LABELS, registry=r
        )
        self.errors_4xx = Counter(
            "serverless_ray_invocation_4xx_errors", "Invocations the model answered with a 4xx.", LABELS, registry=r
        )
        self.errors_5xx = Counter(
            "serverless_ray_invocation_5xx_errors", "Invocations the model answered with a 5xx (or not at all).",
            LABELS, registry=r,
        )
        self.model_latency = Histogram(
            "serverless_ray_model_latency_microseconds", "Time the model code took (ModelLatency).",
            LABELS, buckets=_BUCKETS, registry=r,
        )
        self.overhead_latency = Histogram(
            "serverless_ray_overhead_latency_microseconds",
            "Total time minus ModelLatency, cold starts included (OverheadLatency).",
            (*LABELS, "cold"), buckets=_BUCKETS, registry=r,
        )
        self.model_setup_time = Histogram(
            "serverless_ray_model_setup_time_microseconds",
            "Time a new replica took to fetch and load its model (ModelSetupTime).",
            LABELS, buckets=_BUCKETS, registry=r,
        )
        self.throttles = Counter(
            "serverless_ray_throttles",
            "Invocations throttled, by the limit they hit (endpoint MaxConcurrency or account pool).",
            (*LABELS, "reason"), registry=r,
        )
        self.pc_invocations = Counter(
            "serverless_ray_provisioned_concurrency_invocations",
            "Invocations served by provisioned concurrency (ServerlessProvisionedConcurrencyInvocations).",
            LABELS, registry=r,
        )
        self.pc_spillover = Counter(
            "serverless_ray_provisioned_concurrency_spillover_invocations",
            "Invocations beyond provisioned concurrency, served on demand "
            "(ServerlessProvisionedConcurrencySpilloverInvocations).",
            LABELS, registry=r,
        )
        self.pc_executions = Gauge(
            "serverless_ray_provisioned_concurrency_executions",
            "Concurrent executions handled by provisioned concurrency (ServerlessProvisionedConcurrencyExecutions).",
            LABELS, registry=r,
        )
        self.pc_utilization = Gauge(
            "serverless_ray_provisioned_concurrency_utilization",
            "Concurrent executions / provisioned concurrency (ServerlessProvisionedConcurrencyUtilization).",
            LABELS, registry=r,
        )
        self.time_to_first_byte = Histogram(
            "serverless_ray_time_to_first_byte_microseconds",
            "Streamed invocations: from the request to the first part handed to the client "
            "(ModelLatency of a stream is the model's time up to its last part).",
            LABELS, buckets=_BUCKETS, registry=r,
        )
        self.streamed_parts = Counter(
            "serverless_ray_streamed_parts", "Parts sent by streamed invocations (PayloadPart events).",
            LABELS, registry=r,
        )
        self.streamed_bytes = Counter(
            "serverless_ray_streamed_bytes", "Bytes sent in the parts of streamed invocations.", LABELS, registry=r,
        )
        self.standby_invocations = Counter(
            "serverless_ray_standby_invocations",
            "Cold invocations answered by a standby that adopted the model while Serve started replicas.",
            LABELS, registry=r,
        )
        self._standbys = Gauge(
            "serverless_ray_standby_replicas",
            "Standby replicas of this entry point's node: idle (no model) or in use (adopted a model).",
            ("state",), registry=r,
        )
        self._counting: set[tuple[str, str]] = set()

    def start_counting(self, labels: tuple[str, str]) -> None:
        """Start a variant's counters at 0 the first time it is invoked, so that every
        series exists from then on (rates and dashboards see no gaps, e.g. no errors yet)."""
        if labels in self._counting:
            return
        self._counting.add(labels)
        for counter in (self.invocations, self.errors_4xx, self.errors_5xx, self.standby_invocations):
            counter.labels(*labels)
        for reason in THROTTLE_REASONS:
            self.throttles.labels(*labels, reason)

    def watch_in_flight(self, counts: Callable[[], Mapping[tuple[str, str], int]]) -> None:
        """Report ``counts()`` (in flight by endpoint and variant) at each scrape: the
        gateway's one count, which demand reports read as well."""
        self.registry.register(_InFlightCollector(counts))

    def watch_standbys(self, idle, in_use) -> None:
        """Report the standby pool's size from ``idle()`` and ``in_use()`` at each scrape."""
        self._standbys.labels("idle").set_function(idle)
        self._standbys.labels("in_use").set_function(in_use)

    def observe_provisioned(
        self, labels: tuple[str, str], in_flight: int, provisioned: int, *, started: bool
    ) -> bool | None:
        """Provisioned-concurrency metrics of a variant with ``provisioned`` warm replicas.

        An invocation that starts while at most ``provisioned`` are in flight is served by
        provisioned concurrency (True is returned); beyond that it spills over to on-demand
        replicas (False). None: the variant has no provisioned concurrency.
        """
        if provisioned <= 0:
            return None
        served = in_flight <= provisioned
        (self.pc_spillover if served else self.pc_invocations).labels(*labels)  # the other series exists too
        if started:
            (self.pc_invocations if served else self.pc_spillover).labels(*labels).inc()
        self.pc_executions.labels(*labels).set(min(in_flight, provisioned))
        self.pc_utilization.labels(*labels).set(in_flight / provisioned)
        return served

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _InFlightCollector:
    def __init__(self, counts: Callable[[], Mapping[tuple[str, str], int]]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily("serverless_ray_in_flight", "Invocations in flight at this entry point.", labels=LABELS)
        for labels, count in sorted(self._counts().items()):
            family.add_metric(list(labels), count)
        yield family
