"""The cluster-wide Prometheus view (counters summed over gateways that never go
backwards, across a gateway's and the platform's restarts; gauges of live gateways only)
and the gateway's shipments (utilization gauges become datapoints; a failed shipment is
kept for the next). Pure, no Ray."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge

from serverless_ray.gateway.telemetry_shipper import TelemetryShipper
from serverless_ray.observability import catalog
from serverless_ray.observability.federation import Federation, snapshot
from serverless_ray.observability.recorder import MetricRecorder

LABELS = (("endpoint_name", "ep"), ("variant_name", "AllTraffic"))


def _gateway(calls: float, in_flight: float):
    registry = CollectorRegistry()
    Counter("serverless_ray_invocations", "calls", ["endpoint_name", "variant_name"],
            registry=registry).labels("ep", "AllTraffic").inc(calls)
    Gauge("serverless_ray_in_flight", "in flight", ["endpoint_name", "variant_name"],
          registry=registry).labels("ep", "AllTraffic").set(in_flight)
    return snapshot(registry)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_counters_sum_over_gateways_and_never_go_backwards(tmp_path):
    clock = Clock()
    path = tmp_path / "totals.json"
    federation = Federation(path, gauge_ttl_s=30, clock=clock)
    federation.update("g1", _gateway(5, 1))
    federation.update("g2", _gateway(3, 2))
    totals = federation.totals()
    assert totals[("serverless_ray_invocations_total", LABELS)] == 8
    federation.update("g1", _gateway(1, 0))  # g1 restarted under the same id and counted one call
    assert federation.totals()[("serverless_ray_invocations_total", LABELS)] == 9
    gauges = {s.name: s.value for f in federation.collect() for s in f.samples if f.type == "gauge"}
    assert gauges["serverless_ray_in_flight"] == 2
    clock.now = 31  # g2 went silent: its in-flight calls are not in flight any more
    federation.update("g1", _gateway(2, 0))
    gauges = {s.name: s.value for f in federation.collect() for s in f.samples if f.type == "gauge"}
    assert gauges["serverless_ray_in_flight"] == 0
    federation.save()
    restarted = Federation(path, clock=clock)  # the whole platform restarted
    restarted.update("g1", _gateway(1, 0))
    assert restarted.totals()[("serverless_ray_invocations_total", LABELS)] == 10 + 1


def _utilization_registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    gauge = Gauge("serverless_ray_memory_utilization", "memory", ["endpoint_name", "variant_name"], registry=registry)
    gauge.labels("ep", "AllTraffic").set(42.0)
    return registry


def test_shipments_carry_utilization_datapoints_and_survive_a_failure():
    shipped: list = []
    fail = [True]

    async def ship(batch, rows) -> None:
        if fail[0]:
            fail[0] = False
            raise ConnectionError("controller away")
        shipped.append((batch, rows))

    recorder = MetricRecorder(lambda: 1000.0)
    recorder.record(catalog.INVOCATIONS, catalog.variant_dimensions("ep", "AllTraffic"), 1)
    shipper = TelemetryShipper(recorder, _utilization_registry(), ship, sample_utilization=True)
    with pytest.raises(ConnectionError):
        asyncio.run(shipper.flush())
    asyncio.run(shipper.flush())
    (batch, rows), = shipped
    by_name = {datum.name: datum for datum in batch}
    assert set(by_name) == {"Invocations", "MemoryUtilization"}
    memory = by_name["MemoryUtilization"]
    assert (memory.namespace, memory.unit, memory.dimensions) == (
        "/aws/sagemaker/Endpoints", "Percent", catalog.variant_dimensions("ep", "AllTraffic"))
    assert any(row[3] == "serverless_ray_memory_utilization" for row in rows)
    quiet = TelemetryShipper(MetricRecorder(), _utilization_registry(), ship)  # observability off
    asyncio.run(quiet.flush())
    assert shipped[-1][0] == []
