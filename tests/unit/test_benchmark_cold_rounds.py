"""The benchmark's cold-start rounds wait only for what the next round needs: after the
last round nothing, and between rounds until Serve's replica took over or the
autoscaler gave it up (fakes of the platform's answers; no Ray, no HTTP)."""

from __future__ import annotations

import io
from itertools import count

from serverless_ray.benchmark.plan import Scenario
from serverless_ray.benchmark.requests import ExampleRequest
from serverless_ray.benchmark.runner import SETTLE_TIMEOUT_S, BenchmarkRunner, BenchmarkSpec

ENDPOINT = "bench-x-m1024-c1-k1-p0"


class Runtime:
    def __init__(self) -> None:
        self.calls = 0

    def invoke_endpoint(self, **_):
        self.calls += 1
        return {"Body": io.BytesIO(b"{}")}


class Admin:
    """ListEndpointCapacity answers from ``capacities`` in turn (the last one repeats)."""

    def __init__(self, capacities: list[tuple[int, int]]) -> None:
        self.capacities = capacities
        self.asked = 0

    def call(self, operation: str, **_):
        if operation == "ReleaseWarmCapacity":
            return {}
        running, target = self.capacities[min(self.asked, len(self.capacities) - 1)]
        self.asked += 1
        return {"Endpoints": [{"EndpointName": ENDPOINT, "RunningReplicas": running, "TargetReplicas": target}]}

    def metrics_text(self) -> str:
        return ""


def _rounds(admin: Admin, cold_starts: int) -> tuple[Runtime, float]:
    ticks = count()
    runtime = Runtime()
    # Each clock read is a second later: a wait that never ends runs out after
    # SETTLE_TIMEOUT_S reads instead of minutes.
    runner = BenchmarkRunner(None, runtime, admin, BenchmarkSpec(
        requests=[ExampleRequest(b"{}", "application/json")], cold_starts=cold_starts),
        clock=lambda: float(next(ticks)))
    runner._after_idle_rounds(ENDPOINT, Scenario(1024, 1, 1))
    return runtime, float(next(ticks))


def test_the_last_round_waits_for_no_takeover():
    admin = Admin([(0, 0)])
    runtime, _ = _rounds(admin, cold_starts=1)
    assert runtime.calls == 1
    assert admin.asked == 1  # the scale-to-zero check only


def test_a_replica_the_autoscaler_gave_up_ends_the_wait_between_rounds():
    # Round 1 settles at once; its cold call starts a replica (target 1) that the
    # keep-warm window ends before it runs (target 0): round 2 starts then.
    admin = Admin([(0, 0), (0, 1), (0, 1), (0, 0)])
    runtime, elapsed = _rounds(admin, cold_starts=2)
    assert runtime.calls == 2
    assert elapsed < SETTLE_TIMEOUT_S / 4
