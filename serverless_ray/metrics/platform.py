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

    def render(self) -> bytes:
        return generate_latest(self.registry)
