"""Response streaming: time to first byte, cold and warm, and streamed parts per second.

Starts the platform on an embedded Ray (like ``serverless-ray up``), deploys the example
text generator (deployments/text-generator, one letter per part, its per-letter delay
off) and reads InvokeEndpointWithResponseStream through boto3, as a client would. Cold:
the endpoint at zero replicas with a standby ready. Prints figures; asserts nothing.
Usage::

    .venv/bin/python bench/stream_latency.py [--cold 3] [--warm 50] [--parts 5000] [--streams 4]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import boto3
from botocore.config import Config

from serverless_ray.platform import Platform
from serverless_ray.settings import PlatformSettings

ROOT = Path(__file__).resolve().parents[1]
NAME = "stream-bench"


def _metric(url: str, name: str, **labels: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    text = urllib.request.urlopen(f"{url}/metrics", timeout=10).read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def _wait(predicate, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the platform did not reach the state the benchmark waits for")
        time.sleep(0.2)


def _stream(runtime, chars: int) -> tuple[float, float, int]:
    """(seconds to the first part, seconds to the last, parts) of one streamed call."""
    started = time.perf_counter()
    response = runtime.invoke_endpoint_with_response_stream(
        EndpointName=NAME, ContentType="application/json", Body=json.dumps({"max_new_chars": chars, "seed": 1}))
    first = last = None
    parts = 0
    for event in response["Body"]:
        last = time.perf_counter()
        first = first or last
        assert event["PayloadPart"]["Bytes"]
        parts += 1
    assert first is not None and last is not None
    return first - started, last - started, parts


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cold", type=int, default=3, help="cold streams to time")
    parser.add_argument("--warm", type=int, default=50, help="sequential warm streams to time")
    parser.add_argument("--parts", type=int, default=5000, help="parts of the throughput stream")
    parser.add_argument("--streams", type=int, default=4, help="concurrent streams in the throughput run")
    args = parser.parse_args()

    settings = PlatformSettings(port=0, state_dir=Path(tempfile.mkdtemp()) / "state", scale_to_zero_after_s=2.0)
    platform = Platform(settings).start()
    try:
        url = platform.url
        kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
        sm = boto3.client("sagemaker", **kw)
        runtime = boto3.client("sagemaker-runtime", config=Config(max_pool_connections=32, read_timeout=120), **kw)
        sm.create_model(ModelName=NAME, PrimaryContainer={
            "Image": "bench", "ModelDataUrl": str(ROOT / "deployments/text-generator/model"),
            "Environment": {"TOKEN_DELAY_S": "0"}})
        sm.create_endpoint_config(EndpointConfigName=NAME, ProductionVariants=[{
            "VariantName": "AllTraffic", "ModelName": NAME,
            "ServerlessConfig": {"MemorySizeInMB": 1024, "MaxConcurrency": max(4, args.streams)}}])
        sm.create_endpoint(EndpointName=NAME, EndpointConfigName=NAME)
        sm.get_waiter("endpoint_in_service").wait(EndpointName=NAME, WaiterConfig={"Delay": 1})

        cold = []
        for _ in range(args.cold):
            _wait(lambda: _metric(url, "serverless_ray_replicas", endpoint_name=NAME) == 0)
            _wait(lambda: _metric(url, "serverless_ray_standby_replicas", state="idle") >= 1)
            _wait(lambda: _metric(url, "serverless_ray_standby_replicas", state="in_use") == 0)
            cold.append(_stream(runtime, 20)[0])

        _wait(lambda: _metric(url, "serverless_ray_replicas", endpoint_name=NAME) >= 1)
        for _ in range(5):
            _stream(runtime, 20)
        warm = [_stream(runtime, 20)[0] for _ in range(args.warm)]

        _, _, _ = _stream(runtime, args.parts)  # the replicas warm for long streams
        first, last, parts = _stream(runtime, args.parts)
        single = (parts - 1) / (last - first)

        results: list[tuple[float, float, int]] = []
        started = time.perf_counter()
        threads = [threading.Thread(target=lambda: results.append(_stream(runtime, args.parts)))
                   for _ in range(args.streams)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        concurrent = sum(p for _, _, p in results) / (time.perf_counter() - started)

        ms = lambda s: f"{s * 1000:.1f} ms"  # noqa: E731
        print(f"time to first byte, cold (standby, n={len(cold)}): median {ms(statistics.median(cold))}, "
              f"min {ms(min(cold))}, max {ms(max(cold))}")
        print(f"time to first byte, warm (n={len(warm)}, one client): p50 {ms(_pct(warm, 0.5))}, "
              f"p99 {ms(_pct(warm, 0.99))}")
        print(f"streamed parts/s, one stream of {parts} parts: {single:.0f}")
        print(f"streamed parts/s, {args.streams} concurrent streams: {concurrent:.0f} in total")
    finally:
        platform.stop()


if __name__ == "__main__":
    main()
