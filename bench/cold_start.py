"""Cold starts: serverless-ray against bare Ray Serve defaults, same machine, same run.

Measures, on one trivial model:
* bare Ray Serve: a plain deployment with ``min_replicas=0`` and default autoscaling
  settings, deployed at zero replicas and called through a deployment handle;
* serverless-ray: an endpoint scaled to zero (no replica, no standby holding its model),
  called over HTTP through the gateway; ``--warm-pool-size 0`` measures the path without
  standbys (Serve starts a replica while the request waits);
* a burst of N concurrent requests to a scaled-to-zero endpoint;
* warm latency p50/p99 of both;
* optionally (``--idle-endpoints 50``) the CPU that many idle, scaled-to-zero endpoints
  cost this Ray cluster's processes over a minute, and which processes spend it.

Prints the figures and one summary line; asserts nothing. Usage::

    .venv/bin/python bench/cold_start.py [--runs 5] [--burst 8] [--idle-endpoints 0] [--warm-pool-size 2]
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import boto3
import psutil
import ray
from botocore.config import Config
from ray import serve

from serverless_ray.platform import Platform
from serverless_ray.settings import PlatformSettings

from bench_support import deploy

TRIVIAL = Path(tempfile.mkdtemp()) / "trivial"
(TRIVIAL / "code").mkdir(parents=True)
(TRIVIAL / "code" / "inference.py").write_text(
    "def model_fn(model_dir):\n    return 'ok'\n"
    "def transform_fn(model, body, content_type, accept):\n    return model, 'text/plain'\n"
)


# Serve's defaults except the delay before scaling to zero (600 s by default), so that the
# benchmark can see it at zero within a minute; the scale-up path is untouched.
@serve.deployment(autoscaling_config={"min_replicas": 0, "max_replicas": 8, "downscale_to_zero_delay_s": 1},
                  ray_actor_options={"num_cpus": 0.5})
class Bare:
    def __call__(self, body: bytes) -> str:
        return "ok"


def _pct(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bare_serve(runs: int, warm: int) -> tuple[list[float], list[float]]:
    """Cold starts of a deployment that scaled to zero after being used, through one handle."""
    handle = serve.run(Bare.bind(), name="bare", route_prefix=None, blocking=False)
    handle.remote(b"x").result()
    cold = []
    for _ in range(runs):
        while serve.status().applications["bare"].deployments["Bare"].replica_states.get("RUNNING", 0):
            time.sleep(0.5)
        time.sleep(1)
        started = time.perf_counter()
        handle.remote(b"x").result(timeout_s=300)
        cold.append(time.perf_counter() - started)
    warm_times = []
    for _ in range(warm):
        started = time.perf_counter()
        handle.remote(b"x").result()
        warm_times.append(time.perf_counter() - started)
    serve.delete("bare")
    return cold, warm_times


class Endpoint:
    def __init__(self, url: str, name: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.host, self.port, self.name, self.url = host, int(port), name, url

    def invoke(self, conn: http.client.HTTPConnection | None = None) -> float:
        own = conn is None
        conn = conn or http.client.HTTPConnection(self.host, self.port, timeout=300)
        started = time.perf_counter()
        conn.request("POST", f"/endpoints/{self.name}/invocations", b"x", {"Content-Type": "text/plain"})
        response = conn.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - started
        if own:
            conn.close()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {body[:300]!r}")
        return elapsed

    def metrics(self) -> str:
        import urllib.request

        return urllib.request.urlopen(f"{self.url}/metrics").read().decode()

    def replicas(self) -> float:
        for line in self.metrics().splitlines():
            if line.startswith("serverless_ray_replicas{") and f'"{self.name}"' in line:
                return float(line.rsplit(" ", 1)[1])
        return -1

    def standbys(self, state: str) -> float:
        for line in self.metrics().splitlines():
            if line.startswith(f'serverless_ray_standby_replicas{{state="{state}"}}'):
                return float(line.rsplit(" ", 1)[1])
        return 0

    def wait_replicas(self, predicate) -> None:
        while not predicate(self.replicas()):
            time.sleep(0.2)

    def wait_cold(self, pool_size: int) -> None:
        """Until nothing holds the model: no replica, and every standby back to idle."""
        while not (self.replicas() == 0 and self.standbys("in_use") == 0 and self.standbys("idle") >= pool_size):
            time.sleep(0.2)
        time.sleep(1)

    def setup_seconds(self) -> list[float]:
        """ModelSetupTime samples (sum/count) from /metrics."""
        text = self.metrics()
        total = count = 0.0
        for line in text.splitlines():
            if f'endpoint_name="{self.name}"' not in line:
                continue
            if line.startswith("serverless_ray_model_setup_time_microseconds_sum"):
                total = float(line.rsplit(" ", 1)[1])
            if line.startswith("serverless_ray_model_setup_time_microseconds_count"):
                count = float(line.rsplit(" ", 1)[1])
        return [total / count / 1e6] if count else []


def _deploy(sm, name: str, max_concurrency: int, provisioned: int | None = None) -> None:
    deploy(sm, name, TRIVIAL, max_concurrency, provisioned, wait=False)


def _burst(endpoint: "Endpoint", n: int) -> list[float]:
    results: list[float] = []
    threads = [threading.Thread(target=lambda: results.append(endpoint.invoke())) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def ours(platform: Platform, runs: int, warm: int, burst: int):
    sm = boto3.client("sagemaker", endpoint_url=platform.url, region_name="us-east-1",
                      aws_access_key_id="x", aws_secret_access_key="x", config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))
    _deploy(sm, "cold", max_concurrency=burst)
    sm.get_waiter("endpoint_in_service").wait(EndpointName="cold", WaiterConfig={"Delay": 1})
    endpoint = Endpoint(platform.url, "cold")
    pool_size = platform.settings.warm_pool_size
    cold = []
    for _ in range(runs):
        endpoint.wait_cold(pool_size)
        cold.append(endpoint.invoke())
    setup = endpoint.setup_seconds()
    # Warm: keep calling until Serve's own replica runs, then measure on it.
    conn = http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=60)
    while endpoint.replicas() < 1:
        endpoint.invoke(conn)
        time.sleep(0.2)
    warm_times = [endpoint.invoke(conn) for _ in range(warm)]
    endpoint.wait_cold(pool_size)
    cold_burst = _burst(endpoint, burst)
    # The floor for comparison: the same burst on as many warm replicas as there are
    # standbys (provisioned concurrency keeps them warm).
    warm_burst: list[float] = []
    if pool_size:
        _deploy(sm, "warm-ref", max_concurrency=burst, provisioned=pool_size)
        sm.get_waiter("endpoint_in_service").wait(EndpointName="warm-ref", WaiterConfig={"Delay": 1})
        reference = Endpoint(platform.url, "warm-ref")
        reference.wait_replicas(lambda n: n == pool_size)
        warm_burst = _burst(reference, burst)
        sm.delete_endpoint(EndpointName="warm-ref")  # its warm replicas are not idle cost
        sm.get_waiter("endpoint_deleted").wait(EndpointName="warm-ref", WaiterConfig={"Delay": 1})
    return cold, warm_times, cold_burst, warm_burst, setup


# The platform's own processes and Serve's controller, which works on its behalf; the
# rest (raylet, GCS, log monitor, dashboard agent) are Ray's daemons.
PLATFORM_PROCESSES = ("ray::PlatformController", "ray::Gateway", "ray::QuotaLedger", "ray::ServeController",
                      "ray::StandbyReplica")


@ray.remote(num_cpus=0)
class EmptyActor:
    """Does nothing: what any idle Ray worker process costs, measured alongside."""

    def pid(self) -> int:
        return os.getpid()


@dataclass
class IdleCost:
    """Cores used over the measurement by each kind of process (``ray::Gateway``, ...)."""

    used: dict[str, float]
    processes: dict[str, int]  # how many of each kind
    floor: float  # one empty, idle Ray worker process

    @property
    def platform(self) -> float:
        return sum(v for k, v in self.used.items() if k.startswith(PLATFORM_PROCESSES))

    @property
    def platform_processes(self) -> int:
        return sum(n for k, n in self.processes.items() if k.startswith(PLATFORM_PROCESSES))

    @property
    def total(self) -> float:
        return sum(self.used.values())


def idle_cost(platform: Platform, endpoints: int, seconds: float = 60.0) -> IdleCost:
    """CPU this Ray cluster's processes use while ``endpoints`` endpoints sit at zero,
    next to an empty actor's, which is the floor every Ray worker process pays."""
    sm = boto3.client("sagemaker", endpoint_url=platform.url, region_name="us-east-1",
                      aws_access_key_id="x", aws_secret_access_key="x")
    batch = 8  # creating loads each model once: not all at once on a small machine
    for first in range(0, endpoints, batch):
        names = [f"idle-{i}" for i in range(first, min(endpoints, first + batch))]
        for name in names:
            _deploy(sm, name, max_concurrency=1)
        for name in names:
            try:
                sm.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 2, "MaxAttempts": 300})
            except Exception:
                reason = sm.describe_endpoint(EndpointName=name).get("FailureReason")
                raise RuntimeError(f"endpoint {name} failed: {reason}") from None
    for i in range(endpoints):
        Endpoint(platform.url, f"idle-{i}").wait_replicas(lambda n: n == 0)
    empty = EmptyActor.remote()
    empty_pid = ray.get(empty.pid.remote())
    time.sleep(5)
    procs = [p for p in _cluster_processes() if p.pid != empty_pid] + [psutil.Process(empty_pid)]
    print(f"measuring the idle cost of {endpoints} endpoints for {seconds:.0f} s", flush=True)
    before = {p.pid: _cpu(p) for p in procs}
    time.sleep(seconds)
    used: dict[str, float] = {}
    counts: dict[str, int] = {}
    floor = 0.0
    for p in procs:
        now = _cpu(p)
        if now is None or before[p.pid] is None:
            continue
        share = (now - before[p.pid]) / seconds
        if p.pid == empty_pid:
            floor = share
            continue
        name = _name(p)
        used[name] = used.get(name, 0.0) + share
        counts[name] = counts.get(name, 0) + 1
    ray.kill(empty)
    return IdleCost(used, counts, floor)


def _cluster_processes() -> list[psutil.Process]:
    """The processes of the Ray cluster this script started (not other clusters on the host)."""
    node = ray._private.worker._global_node
    roots = [psutil.Process(info.process.pid) for infos in node.all_processes.values() for info in infos]
    procs = {p.pid: p for p in roots}
    for root in roots:
        for child in root.children(recursive=True):
            procs[child.pid] = child
    return list(procs.values())


def _cpu(process: psutil.Process) -> float | None:
    try:
        times = process.cpu_times()
    except psutil.NoSuchProcess:
        return None
    return times.user + times.system


def _name(process: psutil.Process) -> str:
    try:
        cmd = process.cmdline()
    except psutil.NoSuchProcess:
        return "?"
    if cmd and cmd[0].startswith("ray::"):
        return cmd[0].split(".")[0]
    scripts = [part for part in cmd if part.endswith(".py")]
    return Path(scripts[0] if scripts else cmd[0]).name if cmd else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warm", type=int, default=300)
    parser.add_argument("--burst", type=int, default=8)
    parser.add_argument("--idle-endpoints", type=int, default=0)
    parser.add_argument("--warm-pool-size", type=int, default=PlatformSettings().warm_pool_size)
    parser.add_argument("--skip-bare", action="store_true", help="do not measure bare Ray Serve")
    args = parser.parse_args()
    # The platform starts its embedded Ray as `serverless-ray up` does.
    settings = PlatformSettings(port=0, state_dir=Path(tempfile.mkdtemp()), scale_to_zero_after_s=2, num_cpus=16,
                                warm_pool_size=args.warm_pool_size,
                                max_endpoints=max(50, args.idle_endpoints + 2))  # the idle ones, "cold", "warm-ref"
    platform = Platform(settings).start()
    s = lambda x: f"{x * 1000:.0f} ms"  # noqa: E731
    try:
        bare_cold, bare_warm = ([], []) if args.skip_bare else bare_serve(args.runs, args.warm)
        if bare_cold:
            print(f"bare Ray Serve defaults: cold median {s(statistics.median(bare_cold))} "
                  f"(min {s(min(bare_cold))}, max {s(max(bare_cold))}); warm p50 {s(_pct(bare_warm, .5))}, "
                  f"p99 {s(_pct(bare_warm, .99))} (handle from the driver)", flush=True)
        cold, warm, burst, warm_burst, setup = ours(platform, args.runs, args.warm, args.burst)
        model_load = statistics.mean(setup) if setup else 0.0
        print(f"serverless-ray (warm pool {args.warm_pool_size}): cold median {s(statistics.median(cold))} "
              f"(min {s(min(cold))}, max {s(max(cold))}); ModelSetupTime mean {s(model_load)}; "
              f"cold minus ModelSetupTime {s(statistics.median(cold) - model_load)}; "
              f"warm p50 {s(_pct(warm, .5))}, p99 {s(_pct(warm, .99))} (HTTP through the gateway)", flush=True)
        print(f"burst of {args.burst} concurrent cold requests: all answered, p100 {s(max(burst))} "
              f"= {max(burst) / statistics.median(cold):.1f} x a single cold start", flush=True)
        if warm_burst:
            print(f"the same burst on {args.warm_pool_size} warm replicas (provisioned concurrency): "
                  f"p100 {s(max(warm_burst))}", flush=True)
        idle = ""
        if args.idle_endpoints:
            cost = idle_cost(platform, args.idle_endpoints)
            pct = lambda x: f"{x * 100:.1f}%"  # noqa: E731
            top = sorted(cost.used.items(), key=lambda kv: -kv[1])[:6]
            idle = (f"; {args.idle_endpoints} idle endpoints cost {pct(cost.platform)} of one core in the platform "
                    f"({pct(cost.total)} with Ray's daemons)")
            print(f"idle cost: {args.idle_endpoints} endpoints scaled to zero, over 60 s: platform processes "
                  f"(controller, entry point, quota ledger, Serve controller, standbys) {pct(cost.platform)} of one core; "
                  f"every process of this Ray cluster {pct(cost.total)}; most: "
                  + ", ".join(f"{name} {pct(share)} ({cost.processes[name]})" for name, share in top), flush=True)
            print(f"Ray's floor: an empty idle actor costs {pct(cost.floor)}; the platform's "
                  f"{cost.platform_processes} processes x that floor = {pct(cost.platform_processes * cost.floor)}, "
                  f"the rest ({pct(cost.platform - cost.platform_processes * cost.floor)}) is their work", flush=True)
        ratio = f" vs bare Serve {s(statistics.median(bare_cold))} (ratio {statistics.median(cold) / statistics.median(bare_cold):.3f})" if bare_cold else ""
        print(f"SUMMARY cold median {s(statistics.median(cold))}{ratio}; cold minus model load "
              f"{s(statistics.median(cold) - model_load)}; warm p50 {s(_pct(warm, .5))}; "
              f"burst {args.burst} p100 {s(max(burst))} ({max(burst) / statistics.median(cold):.1f} x cold){idle}")
    finally:
        platform.stop()


if __name__ == "__main__":
    main()
