"""Cold and warm invocation latency and warm throughput of one endpoint.

Starts the platform on an embedded Ray (like ``serverless-ray up``), deploys the example
model and prints figures; asserts nothing. Usage::

    .venv/bin/python bench/invoke_latency.py [--cold 5] [--warm 1000] [--seconds 10] [--clients 8]
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

import boto3

from serverless_ray.platform import Platform
from serverless_ray.settings import PlatformSettings

ROOT = Path(__file__).resolve().parents[1]
BODY = json.dumps({"inputs": [[1, 2, 3]]})
HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


def _replicas(url: str, endpoint: str) -> float:
    import urllib.request

    for line in urllib.request.urlopen(f"{url}/metrics").read().decode().splitlines():
        if line.startswith("serverless_ray_replicas{") and f'"{endpoint}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return -1


def _invoke(conn: http.client.HTTPConnection, path: str, body: str = BODY) -> None:
    conn.request("POST", path, body, HEADERS)
    response = conn.getresponse()
    response.read()
    if response.status != 200:
        raise RuntimeError(f"HTTP {response.status}")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def deploy(url: str, model_data_url: str, max_concurrency: int) -> tuple[str, int, str]:
    """Endpoint "bench" of the model at ``model_data_url``, InService; its (host, port, path)."""
    sm = boto3.client("sagemaker", endpoint_url=url, region_name="us-east-1",
                      aws_access_key_id="x", aws_secret_access_key="x")
    sm.create_model(ModelName="bench", PrimaryContainer={"Image": "bench", "ModelDataUrl": model_data_url})
    sm.create_endpoint_config(EndpointConfigName="bench", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": "bench",
        "ServerlessConfig": {"MemorySizeInMB": 1024, "MaxConcurrency": max_concurrency}}])
    sm.create_endpoint(EndpointName="bench", EndpointConfigName="bench")
    sm.get_waiter("endpoint_in_service").wait(EndpointName="bench", WaiterConfig={"Delay": 1})
    host, port = url.removeprefix("http://").split(":")
    return host, int(port), "/endpoints/bench/invocations"


def run_clients(host: str, port: int, path: str, *, clients: int, seconds: float, ramp_s: float = 0.0,
                body: str = BODY) -> int:
    """Calls ``clients`` concurrent clients completed in ``seconds`` (after ``ramp_s``)."""
    done = [0] * clients
    errors: list[Exception] = []
    stop_at = time.perf_counter() + ramp_s + seconds
    measure_from = time.perf_counter() + ramp_s

    def client(i: int) -> None:
        c = http.client.HTTPConnection(host, port, timeout=60)
        try:
            while (now := time.perf_counter()) < stop_at:
                _invoke(c, path, body)
                if now >= measure_from:
                    done[i] += 1
        except Exception as exc:  # a client that stopped early would make the figure a lie
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"{len(errors)} of {clients} clients failed: {errors[0]}")
    return sum(done)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cold", type=int, default=5, help="cold invocations to time")
    parser.add_argument("--warm", type=int, default=1000, help="sequential warm invocations")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of the throughput run")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients in the throughput run")
    parser.add_argument("--max-concurrency", type=int, default=4)
    args = parser.parse_args()

    settings = PlatformSettings(port=0, state_dir=Path(tempfile.mkdtemp()) / "state", scale_to_zero_after_s=2.0)
    platform = Platform(settings).start()
    try:
        url = platform.url
        host, port, path = deploy(url, str(ROOT / "deployments/example/model"), args.max_concurrency)

        cold = []
        for _ in range(args.cold):
            # The gauge refreshes once a second: see the replica up, then gone.
            while _replicas(url, "bench") < 1 and not cold:
                time.sleep(0.2)
            while _replicas(url, "bench") != 0:
                time.sleep(0.2)
            conn = http.client.HTTPConnection(host, port, timeout=120)
            started = time.perf_counter()
            _invoke(conn, path)
            cold.append(time.perf_counter() - started)
            conn.close()
            while _replicas(url, "bench") < 1:
                time.sleep(0.2)

        conn = http.client.HTTPConnection(host, port, timeout=60)
        for _ in range(20):
            _invoke(conn, path)
        warm = []
        for _ in range(args.warm):
            started = time.perf_counter()
            _invoke(conn, path)
            warm.append(time.perf_counter() - started)

        # Throughput: clients > MaxConcurrency replicas, all warm first.
        throughput = run_clients(host, port, path, clients=args.clients, seconds=args.seconds, ramp_s=3) / args.seconds

        ms = lambda s: f"{s * 1000:.1f} ms"  # noqa: E731
        print(f"cold invoke (n={len(cold)}): median {ms(statistics.median(cold))}, "
              f"min {ms(min(cold))}, max {ms(max(cold))}")
        print(f"warm invoke (n={len(warm)}, one client): p50 {ms(_pct(warm, 0.5))}, p99 {ms(_pct(warm, 0.99))}")
        print(f"throughput ({args.clients} clients, MaxConcurrency {args.max_concurrency}, "
              f"{args.seconds:.0f} s): {throughput:.0f} req/s")
    finally:
        platform.stop()


if __name__ == "__main__":
    main()
