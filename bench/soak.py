"""Soak: mixed traffic for a long run, then what grew and what leaked. Prints figures;
asserts nothing.

On an embedded local Ray, for ``--minutes`` (10 by default), at once:

- warm: two clients calling an endpoint with ProvisionedConcurrency 1 back to back;
- cold: one call to a second endpoint each time it has scaled to zero again;
- throttled: bursts of six concurrent slow calls at an endpoint with MaxConcurrency 1;
- model errors: calls the example model refuses (rows of the wrong width);
- control-plane churn: endpoints created, invoked once, listed, described and deleted.

Every ``--sample-s`` seconds it records the resident memory of each of the cluster's
processes (controller, gateways, ledger, standbys, Serve's controller, proxy and
replicas), named by their Ray process title. At the end it prints each process's memory
growth (first to last sample, for processes alive throughout), the concurrency tokens
the ledger still counts and the calls the gateways still count in flight (both 0 once
traffic stopped and the tokens' linger passed), and the outcomes of each kind of traffic
(expected ones apart from errors). Usage::

    .venv/bin/python bench/soak.py [--minutes 10] [--sample-s 30] [--scale-to-zero-s 20] [--ray-cpus 4]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import psutil
import ray
from botocore.config import Config
from botocore.exceptions import ClientError, WaiterError

from serverless_ray.cluster_names import NAMESPACE, QUOTA_LEDGER_NAME
from serverless_ray.platform import Platform
from serverless_ray.settings import PlatformSettings

from bench_support import deploy

ROOT = Path(__file__).resolve().parents[1]
ECHO = ROOT / "tests/integration/models/echo"
EXAMPLE = ROOT / "deployments/example/model"
# What each kind of traffic is expected to get besides a reply.
EXPECTED = {"throttled": {"ThrottlingException"}, "model errors": {"ModelError"}}


class Outcomes:
    """Thread-safe counts of outcomes per kind of traffic."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_kind: dict[str, Counter] = defaultdict(Counter)

    def record(self, kind: str, outcome: str) -> None:
        with self._lock:
            self.by_kind[kind][outcome] += 1

    def call(self, kind: str, fn, *args, **kwargs) -> bool:
        """Run ``fn`` and count its outcome: ``ok``, the AWS error code, or the exception's
        type; True if it was ``ok``."""
        try:
            fn(*args, **kwargs)
        except ClientError as error:
            self.record(kind, error.response["Error"]["Code"])
            return False
        except Exception as error:  # noqa: BLE001 - a connection error is an outcome too
            self.record(kind, type(error).__name__)
            return False
        self.record(kind, "ok")
        return True


def _clients(url: str):
    kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x",
              config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, max_pool_connections=32,
                            read_timeout=120))
    return boto3.client("sagemaker", **kw), boto3.client("sagemaker-runtime", **kw)


def _invoke(runtime, name: str, body: dict | str, content_type: str = "application/json") -> None:
    payload = body if isinstance(body, str) else json.dumps(body)
    runtime.invoke_endpoint(EndpointName=name, ContentType=content_type, Body=payload)["Body"].read()


def _replicas(url: str, name: str) -> float:
    """Serve replicas of ``name``; infinity while /metrics does not answer (a busy machine)."""
    try:
        text = urllib.request.urlopen(f"{url}/metrics", timeout=30).read().decode()
    except OSError:
        return float("inf")
    return _metric_sum(text, "serverless_ray_replicas", endpoint_name=name)


def _metric_sum(text: str, name: str, **labels: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    return sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
               if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()))


class Traffic:
    """The five kinds of traffic, each on its own threads, until ``stop`` is set."""

    def __init__(self, url: str, outcomes: Outcomes, scale_to_zero_s: float) -> None:
        self.url = url
        self.sm, self.runtime = _clients(url)
        self.outcomes = outcomes
        self.scale_to_zero_s = scale_to_zero_s
        self.stop = threading.Event()
        self.cold_latencies: list[float] = []

    def warm(self) -> None:
        while not self.stop.is_set():
            self.outcomes.call("warm", _invoke, self.runtime, "soak-warm", {"n": 1})

    def cold(self) -> None:
        while not self.stop.is_set():
            deadline = time.monotonic() + self.scale_to_zero_s * 4 + 60
            while _replicas(self.url, "soak-cold") > 0 and time.monotonic() < deadline and not self.stop.is_set():
                self.stop.wait(1.0)
            if self.stop.is_set():
                return
            started = time.perf_counter()
            if self.outcomes.call("cold", _invoke, self.runtime, "soak-cold", {"n": 1}):
                self.cold_latencies.append(time.perf_counter() - started)
            # Idle past the scale-to-zero time: a standby may have answered while Serve's
            # replica was still starting, and that replica must idle out too.
            self.stop.wait(self.scale_to_zero_s + 2)

    def throttled(self) -> None:
        with ThreadPoolExecutor(6) as pool:
            while not self.stop.is_set():
                futures = [pool.submit(self.outcomes.call, "throttled", _invoke, self.runtime, "soak-tight",
                                       {"sleep": 0.2}) for _ in range(6)]
                for future in futures:
                    future.result()
                self.stop.wait(5.0)

    def model_errors(self) -> None:
        while not self.stop.is_set():
            self.outcomes.call("model errors", _invoke, self.runtime, "soak-errors", "1,2", "text/csv")
            self.stop.wait(0.5)

    def churn(self) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            name = f"soak-churn-{n}"
            call = self.outcomes.call
            if not call("churn", deploy, self.sm, name, ECHO, 2, wait=False):
                self.stop.wait(1.0)
                continue
            try:
                self.sm.get_waiter("endpoint_in_service").wait(
                    EndpointName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
                self.outcomes.record("churn", "ok")
            except WaiterError as error:
                self.outcomes.record("churn", f"waiter: {error.last_response.get('FailureReason', error)}")
            call("churn", _invoke, self.runtime, name, {"n": n})
            call("churn", self.sm.list_endpoints, MaxResults=100)
            call("churn", self.sm.describe_endpoint, EndpointName=name)
            call("churn", self.sm.delete_endpoint, EndpointName=name)
            call("churn", self.sm.delete_endpoint_config, EndpointConfigName=name)
            call("churn", self.sm.delete_model, ModelName=name)


def _cluster_processes() -> dict[int, str]:
    """This Ray cluster's worker processes (pid → Ray process title), idle workers left out."""
    node = ray._private.worker._global_node
    raylet = psutil.Process(node.all_processes["raylet"][0].process.pid)
    found = {}
    for process in raylet.children(recursive=True):
        try:
            title = process.cmdline()[0] if process.cmdline() else ""
        except psutil.Error:
            continue
        if title.startswith("ray::") and title != "ray::IDLE":
            found[process.pid] = title.split(" ")[0].split(".")[0]  # "ray::Class.method" while in a call
    return found


def _sample(samples: dict[int, list[tuple[str, int]]]) -> None:
    for pid, title in _cluster_processes().items():
        try:
            samples[pid].append((title, psutil.Process(pid).memory_info().rss))
        except psutil.Error:
            pass


def _memory_report(samples: dict[int, list[tuple[str, int]]], sample_count: int) -> None:
    print("memory (resident, MiB), processes alive at the first and last sample:")
    rows = []
    for pid, series in samples.items():
        if len(series) == sample_count:
            title = series[-1][0]
            first, last = series[0][1] / 2**20, series[-1][1] / 2**20
            rows.append((title, pid, first, last))
    for title, pid, first, last in sorted(rows):
        print(f"  {title:<48} pid {pid:<7} {first:8.1f} -> {last:8.1f}  ({last - first:+.1f}, "
              f"{(last - first) / first:+.1%})")
    came_and_went = sum(1 for series in samples.values() if len(series) < sample_count)
    print(f"  (and {came_and_went} processes seen in only some samples: replicas and standbys of endpoints that "
          f"scaled or were deleted)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the mixed traffic runs")
    parser.add_argument("--sample-s", type=float, default=30.0, help="seconds between memory samples")
    parser.add_argument("--ray-cpus", type=int, default=4, help="logical CPUs of the embedded Ray")
    parser.add_argument("--scale-to-zero-s", type=float, default=20.0, help="the platform's idle time to zero")
    args = parser.parse_args()

    # Ray's logical CPUs, not the machine's: the soak's endpoints (0.5 CPU each at 1024 MB)
    # hold 2.5 CPUs at its busiest, more than a 2-core machine has, and a churn create
    # that finds no room waits for it and then fails (the platform's right answer on a
    # full cluster, its FailureReason naming the room it needed); the soak measures growth
    # and leaks, so every endpoint gets room.
    ray.init(address="local", num_cpus=args.ray_cpus, include_dashboard=False, namespace=NAMESPACE,
             log_to_driver=False)
    settings = PlatformSettings(port=0, state_dir=Path(tempfile.mkdtemp()), scale_to_zero_after_s=args.scale_to_zero_s)
    platform = Platform(settings).start()
    try:
        sm, _ = _clients(platform.url)
        deploy(sm, "soak-warm", ECHO, 4, 1)
        deploy(sm, "soak-cold", ECHO, 2)
        deploy(sm, "soak-tight", ECHO, 1)
        deploy(sm, "soak-errors", EXAMPLE, 2)
        outcomes = Outcomes()
        traffic = Traffic(platform.url, outcomes, args.scale_to_zero_s)
        threads = [threading.Thread(target=fn, name=fn.__name__) for fn in
                   (traffic.warm, traffic.warm, traffic.cold, traffic.throttled, traffic.model_errors, traffic.churn)]
        samples: dict[int, list[tuple[str, int]]] = defaultdict(list)
        started = time.monotonic()
        for thread in threads:
            thread.start()
        time.sleep(min(10.0, args.sample_s))  # the first sample once every process of the traffic runs
        _sample(samples)
        count = 1
        while time.monotonic() - started < args.minutes * 60:
            time.sleep(min(args.sample_s, max(0.0, args.minutes * 60 - (time.monotonic() - started))))
            _sample(samples)
            count += 1
            print(f"{(time.monotonic() - started) / 60:5.1f} min: "
                  f"{sum(sum(c.values()) for c in outcomes.by_kind.values())} calls", flush=True)
        traffic.stop.set()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started

        _memory_report(samples, count)
        ledger = ray.get_actor(QUOTA_LEDGER_NAME, namespace=NAMESPACE)
        in_flight = lambda: _metric_sum(  # noqa: E731
            urllib.request.urlopen(f"{platform.url}/metrics", timeout=10).read().decode(), "serverless_ray_in_flight")
        print(f"slots right after the traffic stopped: ledger {ray.get(ledger.snapshot.remote())['total']} tokens, "
              f"gateways {in_flight():.0f} calls in flight")
        settle_until = time.monotonic() + 60
        while ray.get(ledger.snapshot.remote())["total"] and time.monotonic() < settle_until:
            time.sleep(1.0)
        print(f"slots after the tokens' linger: ledger {ray.get(ledger.snapshot.remote())['total']} tokens "
              f"(the provisioned endpoint may keep its own), gateways {in_flight():.0f} calls in flight")
        print(f"outcomes over {elapsed / 60:.1f} min:")
        unexpected = 0
        for kind, counts in sorted(outcomes.by_kind.items()):
            errors = {k: v for k, v in counts.items() if k != "ok" and k not in EXPECTED.get(kind, set())}
            unexpected += sum(errors.values())
            print(f"  {kind:<13} {dict(counts)}; unexpected: {errors or 0}")
        if traffic.cold_latencies:
            ordered = sorted(traffic.cold_latencies)
            print(f"  cold calls: {len(ordered)}, median {ordered[len(ordered) // 2] * 1e3:.0f} ms, "
                  f"max {ordered[-1] * 1e3:.0f} ms")
        print(f"unexpected errors in all: {unexpected}")
    finally:
        platform.stop()
        ray.shutdown()


if __name__ == "__main__":
    main()
