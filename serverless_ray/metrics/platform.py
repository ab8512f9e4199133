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
        self._known: set[tuple[str, str]] = set()

    def set_replicas(self, counts: dict[tuple[str, str], int]) -> None:
        """Replace the replica gauge with ``counts``; endpoints that are gone are removed."""
        for labels in self._known - counts.keys():
            self.replicas.remove(*labels)
        for labels, count in counts.items():
            self.replicas.labels(*labels).set(count)
        self._known = set(counts)

    def render(self) -> bytes:
        return generate_latest(self.registry)
