"""Concurrency quotas: cost, admission rate and exactness. Prints figures; asserts nothing.

1. Throughput of one endpoint with quotas on and off, same machine, same run.
2. Admission rate of the ledger path with many simulated entry points (gateways), each
   running many concurrent invocations against shared endpoint limits and pool.
3. Exactness: bursts of K concurrent invocations against MaxConcurrency L on the real
   platform; in-flight counted inside the replicas (each reports start and end times).

Usage::

    .venv/bin/python bench/admission.py [--seconds 8] [--gateways 16] [--bursts 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import ray
from botocore.config import Config
from botocore.exceptions import ClientError

from serverless_ray.control.actor import NAMESPACE
from serverless_ray.platform import Platform
from serverless_ray.quota.admission import LocalAdmission, Throttled
from serverless_ray.quota.ledger_actor import LedgerActorClient, QuotaLedger
from serverless_ray.settings import PlatformSettings

ROOT = Path(__file__).resolve().parents[1]
ECHO = ROOT / "tests/integration/models/echo"


def _clients(url: str):
    kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x",
              config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, max_pool_connections=64))
    return boto3.client("sagemaker", **kw), boto3.client("sagemaker-runtime", **kw)


def _deploy(sm, name: str, model_data: Path, max_concurrency: int) -> None:
    sm.create_model(ModelName=name, PrimaryContainer={"Image": "bench", "ModelDataUrl": str(model_data)})
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": name,
        "ServerlessConfig": {"MemorySizeInMB": 1024, "MaxConcurrency": max_concurrency}}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    sm.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 1})


def _throughput(url: str, endpoint: str, clients: int, seconds: float) -> float:
    import http.client

    host, port = url.removeprefix("http://").split(":")
    body = json.dumps({"inputs": [[1, 2, 3]]})
    done = [0] * clients
    start = time.perf_counter() + 2  # warm-up first
    stop = start + seconds

    def client(i: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        while (now := time.perf_counter()) < stop:
            conn.request("POST", f"/endpoints/{endpoint}/invocations", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            if now >= start and response.status == 200:
                done[i] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / seconds


def bench_throughput(seconds: float) -> tuple[float, float]:
    results = {}
    for enforce in (True, False):
        settings = PlatformSettings(port=0, state_dir=Path(tempfile.mkdtemp()), enforce_concurrency_limits=enforce)
        platform = Platform(settings).start()
        try:
            sm, _ = _clients(platform.url)
            _deploy(sm, "tput", ROOT / "deployments/example/model", max_concurrency=4)
            results[enforce] = _throughput(platform.url, "tput", clients=4, seconds=seconds)
        finally:
            platform.stop()
    return results[True], results[False]


async def _simulate(ledger, gateways: int, per_gateway: int, seconds: float, limits: dict[str, int], pool: int):
    """Simulated entry points in this process, each with its own LocalAdmission."""
    admissions = throttles = 0
    below = [0]  # throttled while the endpoint and the pool had room
    in_flight = {e: 0 for e in limits}
    peak = {e: 0 for e in limits}
    endpoints = list(limits)
    stop = time.perf_counter() + seconds

    async def worker(gate: LocalAdmission) -> None:
        nonlocal admissions, throttles
        while time.perf_counter() < stop:
            endpoint = random.choice(endpoints)
            try:
                async with gate.slot(endpoint, limits[endpoint]):
                    admissions += 1
                    in_flight[endpoint] += 1
                    peak[endpoint] = max(peak[endpoint], in_flight[endpoint])
                    await asyncio.sleep(random.random() * 0.002)
                    in_flight[endpoint] -= 1
            except Throttled:
                throttles += 1
                if in_flight[endpoint] < limits[endpoint] and sum(in_flight.values()) < pool:
                    below[0] += 1
                await asyncio.sleep(0.001)

    gates = [LocalAdmission(f"sim-{g}", LedgerActorClient(ledger), linger_s=0.2) for g in range(gateways)]
    for gate in gates:
        gate.start()
    started = time.perf_counter()
    await asyncio.gather(*(worker(gate) for gate in gates for _ in range(per_gateway)))
    elapsed = time.perf_counter() - started
    for gate in gates:
        gate.stop()
    return admissions / elapsed, throttles / elapsed, peak, below[0] / max(1, admissions + throttles)


def bench_admission_rate(gateways: int, callers: int, seconds: float):
    limits = {f"ep{i}": 20 for i in range(8)}
    pool = 120
    ledger = QuotaLedger.options(namespace=NAMESPACE).remote(pool)
    try:
        return asyncio.run(_simulate(ledger, gateways, callers, seconds, limits, pool)), limits
    finally:
        ray.kill(ledger)


def bench_exactness(bursts: int, k: int, limit: int) -> dict:
    settings = PlatformSettings(port=0, state_dir=Path(tempfile.mkdtemp()), scale_to_zero_after_s=30)
    platform = Platform(settings).start()
    try:
        sm, runtime = _clients(platform.url)
        _deploy(sm, "exact", ECHO, max_concurrency=limit)
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
            worst = max(worst, _max_overlap([(r["started"], r["finished"]) for r in ok]))
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


def _max_overlap(intervals):
    events = sorted([(s, 1) for s, _ in intervals] + [(f, -1) for _, f in intervals], key=lambda e: (e[0], e[1]))
    now = peak = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--gateways", type=int, default=16)
    parser.add_argument("--callers", type=int, default=6, help="concurrent callers per simulated gateway")
    parser.add_argument("--bursts", type=int, default=5)
    parser.add_argument("--burst-size", type=int, default=12)
    parser.add_argument("--limit", type=int, default=4)
    args = parser.parse_args()
    ray.init(address="local", include_dashboard=False, namespace=NAMESPACE, log_to_driver=False)
    try:
        on, off = bench_throughput(args.seconds)
        print(f"throughput, 4 clients, MaxConcurrency 4: quotas on {on:.0f} req/s, off {off:.0f} req/s, "
              f"ratio {on / off:.2f}")
        (rate, throttle_rate, peak, below), limits = bench_admission_rate(args.gateways, args.callers, args.seconds)
        over = {e: p for e, p in peak.items() if p > limits[e]}
        print(f"admission path, {args.gateways} simulated gateways x {args.callers} concurrent callers, 8 endpoints "
              f"of MaxConcurrency 20, pool 120: {rate:,.0f} admissions/s ({throttle_rate:,.0f} throttles/s, "
              f"{below:.1%} of calls throttled while there was room); peak in flight per endpoint "
              f"{max(peak.values())} (over limit: {over or 'none'})")
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
