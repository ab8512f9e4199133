"""Metrics the control plane owns: replica counts."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge, generate_latest

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
        self._known: set[tuple[str, str]] = set()

    def set_endpoints(self, replicas: dict[tuple[str, str], int], utilization: dict[tuple[str, str], float]) -> None:
        """Replace the per-endpoint gauges; endpoints that are gone are removed."""
        for labels in self._known - replicas.keys():
            self.replicas.remove(*labels)
            self.utilization.remove(*labels)
        for labels, count in replicas.items():
            self.replicas.labels(*labels).set(count)
            self.utilization.labels(*labels).set(utilization.get(labels, 0.0))
        self._known = set(replicas)

    def render(self) -> bytes:
        return generate_latest(self.registry)
