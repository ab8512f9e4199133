"""Concurrency quotas: cost, admission rate and exactness. Prints figures; asserts nothing.

1. Throughput of one endpoint with quotas on and off: two gateways of one platform, one
   enforcing quotas and one not, in front of the same replicas, used in turn every second.
2. Admission path with many simulated entry points: each gateway is a Ray actor (its own
   process) running a real ``LocalAdmission`` against the real ledger actor, with many
   concurrent callers sharing endpoint limits and the pool (scenarios in ``SCENARIOS``).
   Every refusal is judged against the true cluster-wide in-flight count at that instant,
   merged afterwards from all gateways' timestamps (``inflight_timeline.py``).
3. Exactness: bursts of K concurrent invocations against MaxConcurrency L on the real
   platform; in-flight counted inside the replicas (each reports start and end times).

Usage::

    .venv/bin/python bench/admission.py [--seconds 8] [--bursts 5] [--scenarios spread,contended,previous]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import boto3
import ray
from botocore.config import Config
from botocore.exceptions import ClientError

from serverless_ray.cluster_names import CONTROLLER_NAME, GATEWAY_NAME_PREFIX, NAMESPACE, QUOTA_LEDGER_NAME
from serverless_ray.platform import Platform
from serverless_ray.quota.admission import LocalAdmission, Throttled
from serverless_ray.quota.ledger_actor import QuotaLedger
from serverless_ray.quota.ledger_client import HEARTBEAT_S, LedgerActorClient
from serverless_ray.settings import PlatformSettings

from bench_support import max_overlap
from inflight_timeline import judge

ROOT = Path(__file__).resolve().parents[1]
ECHO = ROOT / "tests/integration/models/echo"


def _clients(url: str):
    kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x",
              config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, max_pool_connections=64))
    return boto3.client("sagemaker", **kw), boto3.client("sagemaker-runtime", **kw)


def deploy_serverless(sm, name: str, model_data: Path, max_concurrency: int) -> None:
    """A serverless endpoint ``name`` of the model at ``model_data`` (1024 MB), InService on return."""
    sm.create_model(ModelName=name, PrimaryContainer={"Image": "bench", "ModelDataUrl": str(model_data)})
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": name,
        "ServerlessConfig": {"MemorySizeInMB": 1024, "MaxConcurrency": max_concurrency}}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    sm.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 1})


def _throughput_ab(ports: dict[bool, int], endpoint: str, clients: int, seconds: float, window_s: float) -> dict:
    """req/s through each port, switching all clients between them every ``window_s``."""
    import http.client

    body = json.dumps({"inputs": [[1, 2, 3]]})
    done = {key: 0 for key in ports}
    lock = threading.Lock()
    start = time.perf_counter() + 2  # warm-up first, through both
    stop = start + seconds

    def client() -> None:
        conns = {key: http.client.HTTPConnection("127.0.0.1", port, timeout=60) for key, port in ports.items()}
        sent = 0
        while (now := time.perf_counter()) < stop:
            # Warm-up: both in turn; then whole windows for each, the order swapped halfway.
            window = int((now - start) / window_s) + (now - start >= seconds / 2)
            key = sent % 2 == 0 if now < start else window % 2 == 0
            sent += 1
            conn = conns[key]
            conn.request("POST", f"/endpoints/{endpoint}/invocations", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            if now >= start and response.status == 200:
                with lock:
                    done[key] += 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {key: n / (seconds / 2) for key, n in done.items()}


def bench_throughput(seconds: float, window_s: float = 1.0) -> dict[bool, float]:
    """req/s with quotas on and off: two gateways started alike in front of the same
    replicas, one enforcing quotas and one not, used in turn every ``window_s`` so that
    the load of a shared machine weighs on both alike."""
    from serverless_ray.gateway.gateway_actor import Gateway

    settings = PlatformSettings(port=0, state_dir=Path(tempfile.mkdtemp()))
    platform = Platform(settings).start()
    gateways = {}
    controller = ray.get_actor(CONTROLLER_NAME, namespace=NAMESPACE)
    ledger = ray.get_actor(QUOTA_LEDGER_NAME, namespace=NAMESPACE)
    try:
        sm, _ = _clients(platform.url)
        deploy_serverless(sm, "tput", ROOT / "deployments/example/model", max_concurrency=4)
        for enforce in (True, False):
            name = f"quotas-{'on' if enforce else 'off'}"
            gateways[enforce] = Gateway.options(name=f"{GATEWAY_NAME_PREFIX}{name}", namespace=NAMESPACE).remote(
                settings.model_copy(update={"enforce_concurrency_limits": enforce}), name, controller, ledger)
        ports = {enforce: ray.get(gateway.start.remote()) for enforce, gateway in gateways.items()}
        return _throughput_ab(ports, "tput", clients=4, seconds=seconds, window_s=window_s)
    finally:
        for gateway in gateways.values():
            ray.get(gateway.stop.remote(), timeout=15)
            ray.kill(gateway)
        platform.stop()


@dataclass(frozen=True)
class Scenario:
    """Simulated entry points, each in its own process, sharing limits through the ledger."""

    name: str
    gateways: int
    callers: int  # concurrent callers per gateway
    limits: dict[str, int]  # MaxConcurrency per endpoint
    weights: tuple[float, ...]  # share of calls per endpoint
    pool: int
    hold_ms: tuple[float, float]  # invocation time, uniform
    backoff_ms: tuple[float, float]  # a throttled caller waits this long before its next call


SCENARIOS = {
    # One gateway per node on 16 nodes, a realistic mix well inside the limits.
    "spread": Scenario("spread", 16, 12, {f"ep{i}": 200 for i in range(8)}, (1,) * 8, 1000, (2, 10), (5, 10)),
    # A few nodes, endpoints busy up to about 80% of their MaxConcurrency on average.
    "busy": Scenario("busy", 4, 24, {f"ep{i}": 30 for i in range(4)}, (1,) * 4, 500, (2, 10), (5, 10)),
    # Demand beyond the pool and beyond one hot endpoint's MaxConcurrency.
    "contended": Scenario("contended", 8, 16, {"hot": 20, "ep1": 60, "ep2": 60, "ep3": 60}, (4, 2, 2, 2),
                          100, (2, 10), (2, 10)),
    # The parameters of the previous measurement: 16 x 6 callers, 8 x 20, pool 120, very short calls.
    "previous": Scenario("previous", 16, 6, {f"ep{i}": 20 for i in range(8)}, (1,) * 8, 120, (0, 2), (1, 1)),
}
WARM_UP_S = 1.0


class _TimedClient(LedgerActorClient):
    """Counts and times the gateway's calls to the ledger."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.round_trips: list[float] = []

    async def exchange(self, *args):
        started = time.monotonic()
        try:
            return await super().exchange(*args)
        finally:
            self.round_trips.append((time.monotonic() - started) * 1000)


@ray.remote(num_cpus=0)
class SimulatedGateway:
    """One entry point in its own process: a real LocalAdmission against the real ledger actor."""

    def __init__(self) -> None:
        self._gate: LocalAdmission | None = None

    async def reclaim(self, keys=None):
        return self._gate.reclaim(keys) if self._gate is not None else None

    async def run(self, name: str, ledger, scenario: Scenario, start_at: float, stop_at: float, seed: int):
        me = ray.get_runtime_context().current_actor
        client = _TimedClient(ledger, me)
        gate = self._gate = LocalAdmission(name, client, heartbeat_s=HEARTBEAT_S)
        await ledger.register.remote(name, me)
        gate.start()
        rng = random.Random(seed)
        endpoints = list(scenario.limits)
        admitted, refused = [], []

        async def caller() -> None:
            while time.monotonic() < stop_at:
                endpoint = rng.choices(endpoints, scenario.weights)[0]
                asked = time.monotonic()
                try:
                    async with gate.slot(endpoint, scenario.limits[endpoint]):
                        started = time.monotonic()
                        await asyncio.sleep(rng.uniform(*scenario.hold_ms) / 1000)
                        admitted.append((endpoint, asked, started, time.monotonic()))
                except Throttled as throttled:
                    refused.append((endpoint, asked, throttled.decided_at, time.monotonic(), throttled.short_of))
                    await asyncio.sleep(rng.uniform(*scenario.backoff_ms) / 1000)

        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
        await asyncio.gather(*(caller() for _ in range(scenario.callers)))
        gate.stop()
        self._gate = None
        return admitted, refused, client.round_trips


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def bench_admission_rate(scenario: Scenario, gateways: list, seconds: float) -> dict:
    ledger = QuotaLedger.options(namespace=NAMESPACE).remote(scenario.pool)
    try:
        ray.get(ledger.snapshot.remote())
        start_at = time.monotonic() + 2.0  # every gateway starts at once
        stop_at = start_at + WARM_UP_S + seconds
        runs = ray.get([
            gateway.run.remote(f"{scenario.name}-{i}", ledger, scenario, start_at, stop_at, seed=i)
            for i, gateway in enumerate(gateways[:scenario.gateways])
        ])
    finally:
        ray.kill(ledger)
    admitted = [a for run in runs for a in run[0]]
    refused = [r for run in runs for r in run[1]]
    # Everything counts for the in-flight timeline; only what happened after the warm-up
    # (gateways start with no tokens) is counted and judged.
    measured_from = start_at + WARM_UP_S
    measured_refused = [r for r in refused if r[3] >= measured_from]
    judged = judge([(e, s, t) for e, _, s, t in admitted], [r[:4] for r in measured_refused],
                   scenario.limits, scenario.pool)
    waits = [(s - a) * 1000 for _, a, s, _ in admitted if s >= measured_from]
    refusal_waits = [(r - a) * 1000 for _, a, _, r, _ in measured_refused]
    counted_admitted, counted_refused = len(waits), len(measured_refused)
    requests = counted_admitted + counted_refused
    return {
        "admissions_per_s": counted_admitted / seconds,
        "throttles_per_s": counted_refused / seconds,
        "ledger_calls_per_s": sum(len(run[2]) for run in runs) / (WARM_UP_S + seconds),
        "round_trip_p50_ms": _percentile([t for run in runs for t in run[2]], 0.5),
        "round_trip_p99_ms": _percentile([t for run in runs for t in run[2]], 0.99),
        "requests": requests,
        "refused": counted_refused,
        "reasons": dict(Counter(r[4] for r in measured_refused)),
        "room_when_decided": judged.room_when_decided / max(1, judged.at_decision),
        "false": {"when decided": judged.at_decision, "when delivered": judged.at_delivery,
                  "during the whole wait": judged.throughout},
        "over": {e: p for e, p in judged.peaks.items() if p > scenario.limits[e]},
        "peaks": judged.peaks,
        "pool_peak": judged.pool_peak,
        "waited_share": sum(1 for w in waits if w > 0.2) / max(1, len(waits)),
        "wait_p99_ms": _percentile(waits, 0.99),
        "wait_max_ms": max(waits, default=0.0),
        "refusal_p50_ms": _percentile(refusal_waits, 0.5),
        "refusal_p99_ms": _percentile(refusal_waits, 0.99),
        "refusal_max_ms": max(refusal_waits, default=0.0),
    }


def _describe(s: Scenario) -> str:
    limits = Counter(s.limits.values())
    endpoints = " + ".join(f"{n} x MaxConcurrency {limit}" for limit, n in limits.items())
    skew = "" if len(set(s.weights)) == 1 else f" (share of calls {'/'.join(str(w) for w in s.weights)})"
    return (f"{s.gateways} gateways x {s.callers} callers, {endpoints}{skew}, pool {s.pool}, "
            f"calls {s.hold_ms[0]:g}-{s.hold_ms[1]:g} ms, back-off after a throttle "
            f"{s.backoff_ms[0]:g}-{s.backoff_ms[1]:g} ms")


def print_admission_rate(s: Scenario, r: dict) -> None:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"admission path [{s.name}]: {_describe(s)} (load average after the run: {load} on {os.cpu_count()} cores)")
    print(f"  {r['admissions_per_s']:,.0f} admissions/s, {r['throttles_per_s']:,.0f} throttles/s "
          f"({r['refused']} of {r['requests']} requests, by reason {r['reasons'] or 'none'}), "
          f"{r['ledger_calls_per_s']:,.0f} ledger calls/s (round trip p50 {r['round_trip_p50_ms']:.1f} ms, "
          f"p99 {r['round_trip_p99_ms']:.1f} ms)")
    print("  throttled while the endpoint and the pool had room: " + "; ".join(
        f"{when} {n} ({n / max(1, r['requests']):.2%} of requests)" for when, n in r["false"].items())
        + f"; free endpoint slots at those decided with room: {r['room_when_decided']:.1f} on average")
    print(f"  peak in flight: pool {r['pool_peak']}/{s.pool}, per endpoint "
          f"{', '.join(f'{e} {p}/{s.limits[e]}' for e, p in r['peaks'].items())} "
          f"(over a limit: {r['over'] or 'none'})")
    print(f"  admitted after waiting for the ledger: {r['waited_share']:.1%}, wait p99 {r['wait_p99_ms']:.1f} ms, "
          f"max {r['wait_max_ms']:.1f} ms; throttle answered after p50 {r['refusal_p50_ms']:.1f} ms, "
          f"p99 {r['refusal_p99_ms']:.1f} ms, max {r['refusal_max_ms']:.1f} ms")


def bench_exactness(bursts: int, k: int, limit: int) -> dict:
    settings = PlatformSettings(port=0, state_dir=Path(tempfile.mkdtemp()), scale_to_zero_after_s=30)
    platform = Platform(settings).start()
    try:
        sm, runtime = _clients(platform.url)
        deploy_serverless(sm, "exact", ECHO, max_concurrency=limit)
        served = throttled = throttled_below = 0
        worst = 0
        for _ in range(bursts):
            def call(_):
                sent = time.time()
                try:
                    reply = runtime.invoke_endpoint(EndpointName="exact", ContentType="application/json",
                                                    Body=json.dumps({"sleep": 0.3}))
                    return "ok", {**json.loads(reply["Body"].read()), "sent": sent, "received": time.time()}
                except ClientError as exc:
                    return exc.response["Error"]["Code"], {"sent": sent, "received": time.time()}
            with ThreadPoolExecutor(k) as pool:
                results = list(pool.map(call, range(k)))
            ok = [r[1] for r in results if r[0] == "ok"]
            served += len(ok)
            # Inside the replicas: never more than L at once.
            worst = max(worst, max_overlap([(r["started"], r["finished"]) for r in ok]))
            for code, info in results:
                if code == "ThrottlingException":
                    throttled += 1
                    # In flight while this one was refused: served calls whose client-side
                    # span (a little wider than admission to release) covers its span.
                    running = sum(1 for r in ok if r["sent"] <= info["received"] and r["received"] >= info["sent"])
                    throttled_below += running < limit
            time.sleep(1.5)
        return {"served": served, "throttled": throttled, "max_in_flight": worst,
                "throttled_below_limit": throttled_below, "requests": bursts * k}
    finally:
        platform.stop()



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="admission-path scenarios to run")
    parser.add_argument("--parts", default="throughput,admission,exactness")
    parser.add_argument("--bursts", type=int, default=5)
    parser.add_argument("--burst-size", type=int, default=12)
    parser.add_argument("--limit", type=int, default=4)
    args = parser.parse_args()
    parts = args.parts.split(",")
    # address="local": always a cluster of our own, never one found on this machine.
    ray.init(address="local", include_dashboard=False, namespace=NAMESPACE, log_to_driver=False)
    try:
        if "throughput" in parts:
            rates = bench_throughput(2 * args.seconds)
            print(f"throughput, 4 clients, MaxConcurrency 4, gateways with and without quotas in turn every second "
                  f"for {2 * args.seconds:g} s: quotas on {rates[True]:.0f} req/s, off {rates[False]:.0f} req/s, "
                  f"ratio {rates[True] / rates[False]:.2f}")
        if "admission" in parts:
            scenarios = [SCENARIOS[name] for name in args.scenarios.split(",")]
            gateways = [SimulatedGateway.remote() for _ in range(max(s.gateways for s in scenarios))]
            ray.get([g.reclaim.remote() for g in gateways])  # every process up before timing
            for scenario in scenarios:
                print_admission_rate(scenario, bench_admission_rate(scenario, gateways, args.seconds))
            for gateway in gateways:
                ray.kill(gateway)
        if "exactness" in parts:
            exact = bench_exactness(args.bursts, args.burst_size, args.limit)
            share = exact["throttled_below_limit"] / max(1, exact["requests"])
            print(f"exactness, {args.bursts} bursts of {args.burst_size} against MaxConcurrency {args.limit}: "
                  f"max in flight inside replicas {exact['max_in_flight']}, served {exact['served']}, "
                  f"throttled {exact['throttled']}, throttled while below the limit "
                  f"{exact['throttled_below_limit']} ({share:.1%} of requests)")
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
