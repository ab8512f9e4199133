"""False throttles at the limit: keep-alive clients as many as MaxConcurrency, and beyond it.

``wrk -t1 -c4`` in Python: N clients, each one keep-alive connection sending its next
invocation the moment the last reply arrived, so never more than N are in flight. Against
an endpoint with ``MaxConcurrency`` L (and ``ProvisionedConcurrency`` L, so nothing waits
for a cold start), in rounds of S seconds, through one gateway or spread over several.
With N <= L every throttle is a false one; with N > L, in flight counted inside the
replicas (the echo model reports when each call started and finished) must never exceed
L. Prints the figures; asserts nothing. Usage::

    .venv/bin/python bench/limit_exactness.py [--clients 4] [--limit 4] [--seconds 10] [--rounds 2] [--gateways 1]
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

ROOT = Path(__file__).resolve().parents[1]
ECHO = ROOT / "tests/integration/models/echo"


def deploy(sm, name: str, limit: int) -> None:
    sm.create_model(ModelName=name, PrimaryContainer={"Image": "bench", "ModelDataUrl": str(ECHO)})
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": name,
        "ServerlessConfig": {"MemorySizeInMB": 1024, "MaxConcurrency": limit, "ProvisionedConcurrency": limit}}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    sm.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 300})


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


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in intervals] + [(f, -1) for _, f in intervals], key=lambda e: (e[0], e[1]))
    now = peak = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--limit", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--gateways", type=int, default=1, help="spread the clients over this many gateways")
    args = parser.parse_args()
    import boto3

    ray.init(address="local", include_dashboard=False, namespace=NAMESPACE, log_to_driver=False)
    platform = Platform(PlatformSettings(port=0, state_dir=Path(tempfile.mkdtemp()), scale_to_zero_after_s=60)).start()
    try:
        kw = dict(endpoint_url=platform.url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
        deploy(boto3.client("sagemaker", **kw), "exact", args.limit)
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
    finally:
        platform.stop()
        ray.shutdown()


if __name__ == "__main__":
    main()
