"""False throttles at the limit: keep-alive clients as many as MaxConcurrency, and beyond it.

``wrk -t1 -c4`` in Python: N clients, each one keep-alive connection sending its next
invocation the moment the last reply arrived, so never more than N are in flight. Against
an endpoint with ``MaxConcurrency`` L (and ``ProvisionedConcurrency`` L, so nothing waits
for a cold start), in rounds of S seconds, through one gateway or spread over several.
With N <= L every throttle is a false one; with N > L, in flight counted inside the
replicas (the echo model reports when each call started and finished) must never exceed
L.

Then throttle latency while replicas and standbys start: a cold endpoint with
``MaxConcurrency`` 2 gets a burst of 2 + K calls at once (each on a connection opened
beforehand), just as another endpoint starts its provisioned replicas; the 2 admitted
calls wait for a standby or replica, the K others are throttled, and the time each
throttle took to come back is recorded, over B bursts.

Prints the figures; asserts nothing. Usage::

    .venv/bin/python bench/limit_exactness.py [--clients 4] [--limit 4] [--seconds 10] [--rounds 2] [--gateways 1]
        [--bursts 3] [--burst-extra 30]
"""

from __future__ import annotations

import argparse
import http.client
import json
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import ray

from serverless_ray.cluster_names import NAMESPACE
from serverless_ray.platform import Platform
from serverless_ray.settings import PlatformSettings

from bench_support import deploy, max_overlap, percentile

ROOT = Path(__file__).resolve().parents[1]
ECHO = ROOT / "tests/integration/models/echo"


def keep_alive_round(ports: list[int], endpoint: str, clients: int, seconds: float) -> dict:
    """``clients`` keep-alive connections (client i to ``ports[i % len(ports)]``) for ``seconds``."""
    outcomes: Counter[str] = Counter()
    spans: list[tuple[float, float]] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    body = json.dumps({"inputs": [[1, 2, 3]]})

    def client(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", ports[i % len(ports)], timeout=60)
        while time.monotonic() < stop:
            conn.request("POST", f"/endpoints/{endpoint}/invocations", body=body,
                         headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            data = response.read()
            with lock:
                if response.status == 200:
                    reply = json.loads(data)
                    outcomes["ok"] += 1
                    spans.append((reply["started"], reply["finished"]))
                else:
                    outcomes[response.headers.get("x-amzn-ErrorType", str(response.status))] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"outcomes": dict(outcomes), "max_in_flight": max_overlap(spans)}


def throttle_burst(port: int, endpoint: str, calls: int, start_others) -> tuple[list[float], Counter]:
    """``calls`` invocations of ``endpoint`` at once, right after ``start_others()``; the
    seconds each throttled one took, and every outcome."""
    connections = []
    for _ in range(calls):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        conn.connect()
        connections.append(conn)
    barrier = threading.Barrier(calls + 1)
    throttles: list[float] = []
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def call(conn: http.client.HTTPConnection) -> None:
        barrier.wait()
        started = time.perf_counter()
        conn.request("POST", f"/endpoints/{endpoint}/invocations", body=b"{}",
                     headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        elapsed = time.perf_counter() - started
        code = "ok" if response.status == 200 else response.headers.get("x-amzn-ErrorType", str(response.status))
        with lock:
            outcomes[code] += 1
            if code == "ThrottlingException":
                throttles.append(elapsed)
        conn.close()

    threads = [threading.Thread(target=call, args=(conn,)) for conn in connections]
    for thread in threads:
        thread.start()
    start_others()
    barrier.wait()
    for thread in threads:
        thread.join()
    return throttles, outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--limit", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--gateways", type=int, default=1, help="spread the clients over this many gateways")
    parser.add_argument("--bursts", type=int, default=3, help="throttle bursts while replicas and standbys start")
    parser.add_argument("--burst-extra", type=int, default=30, help="calls beyond MaxConcurrency 2 in each burst")
    args = parser.parse_args()
    import boto3

    ray.init(address="local", include_dashboard=False, namespace=NAMESPACE, log_to_driver=False)
    settings = PlatformSettings(port=0, state_dir=Path(tempfile.mkdtemp()), scale_to_zero_after_s=5)
    platform = Platform(settings).start()
    try:
        kw = dict(endpoint_url=platform.url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
        sm = boto3.client("sagemaker", **kw)
        deploy(sm, "exact", ECHO, args.limit, args.limit)
        ports = [platform.port] + [platform.add_gateway(f"bench-{i}", port=0)[1] for i in range(1, args.gateways)]
        keep_alive_round(ports, "exact", args.clients, 2.0)  # warm-up: connections, handles, tokens
        for n in range(1, args.rounds + 1):
            r = keep_alive_round(ports, "exact", args.clients, args.seconds)
            total = sum(r["outcomes"].values())
            throttled = r["outcomes"].get("ThrottlingException", 0)
            print(f"round {n}: {args.clients} keep-alive clients over {args.gateways} gateway(s), MaxConcurrency "
                  f"{args.limit}, {args.seconds:g} s: {total} requests, outcomes {r['outcomes']}, throttled "
                  f"{throttled} ({throttled / max(1, total):.2%}), max in flight inside the replicas "
                  f"{r['max_in_flight']}", flush=True)
        if args.bursts:
            # Its provisioned replicas would hold the CPUs the bursts' start-ups need.
            sm.delete_endpoint(EndpointName="exact")
            sm.get_waiter("endpoint_deleted").wait(EndpointName="exact", WaiterConfig={"Delay": 1, "MaxAttempts": 300})
            bursts(sm, platform, settings.warm_pool_size, args.bursts, args.burst_extra)
    finally:
        platform.stop()
        ray.shutdown()


def bursts(sm, platform: Platform, pool_size: int, count: int, extra: int) -> None:
    from cold_start import Endpoint  # this directory's cold-start benchmark

    deploy(sm, "burst", ECHO, 2)
    cold = Endpoint(platform.url, "burst")
    latencies: list[float] = []
    totals: Counter[str] = Counter()
    for n in range(1, count + 1):
        cold.wait_cold(pool_size)  # the admitted calls of the burst wait for a start-up

        def start_others(n: int = n) -> None:  # replicas of another endpoint start meanwhile
            deploy(sm, f"busy-{n}", ECHO, 2, 2, wait=False)

        throttles, outcomes = throttle_burst(platform.port, "burst", 2 + extra, start_others)
        latencies += throttles
        totals.update(outcomes)
        print(f"burst {n}: {2 + extra} calls at MaxConcurrency 2 while replicas and standbys start: {dict(outcomes)}, "
              f"throttle latency p50 {percentile(throttles, 0.5) * 1e3:.1f} ms, "
              f"max {max(throttles, default=float('nan')) * 1e3:.1f} ms", flush=True)
        sm.get_waiter("endpoint_in_service").wait(EndpointName=f"busy-{n}", WaiterConfig={"Delay": 1, "MaxAttempts": 300})
        sm.delete_endpoint(EndpointName=f"busy-{n}")
    print(f"throttle latency over {count} bursts ({len(latencies)} throttles, outcomes {dict(totals)}): "
          f"p50 {percentile(latencies, 0.5) * 1e3:.1f} ms, p99 {percentile(latencies, 0.99) * 1e3:.1f} ms, "
          f"max {max(latencies, default=float('nan')) * 1e3:.1f} ms", flush=True)


if __name__ == "__main__":
    main()
