"""Scale to zero, seen through /metrics, and a cold request that is answered."""

from __future__ import annotations

import json
import time

from conftest import SCALE_TO_ZERO_AFTER_S
from support import replica_gauge, wait_for


def test_scales_to_zero_and_answers_a_cold_request(platform, runtime, deployer, model_urls):
    name = deployer.serverless(model_urls["echo"], max_concurrency=2)
    # A fresh endpoint has its first replica loaded, and releases it once idle.
    assert wait_for(lambda: replica_gauge(platform.url, name) == 1, timeout_s=10, what="a warm replica")
    idle_since = time.monotonic()
    wait_for(lambda: replica_gauge(platform.url, name) == 0, timeout_s=SCALE_TO_ZERO_AFTER_S + 15,
             what="scale to zero")
    assert time.monotonic() - idle_since >= SCALE_TO_ZERO_AFTER_S - 1.5

    started = time.monotonic()
    reply = runtime.invoke_endpoint(EndpointName=name, ContentType="application/json", Body=json.dumps({"a": 1}))
    cold_s = time.monotonic() - started
    assert json.loads(reply["Body"].read())["greeting"] == "hello from model data"
    assert cold_s < 60  # an order of magnitude, not a benchmark
    assert wait_for(lambda: replica_gauge(platform.url, name) == 1, timeout_s=5, what="replica after cold start")

    metrics = _metrics(platform.url)
    assert f'serverless_ray_model_setup_time_microseconds_count{{endpoint_name="{name}",variant_name="AllTraffic"}} 1.0' in metrics


def test_concurrent_requests_each_get_a_replica(platform, runtime, deployer, model_urls):
    import threading

    name = deployer.serverless(model_urls["echo"], max_concurrency=3)
    body = json.dumps({"sleep": 8})
    replies = []
    threads = [threading.Thread(target=lambda: replies.append(json.loads(runtime.invoke_endpoint(
        EndpointName=name, ContentType="application/json", Body=body)["Body"].read()))) for _ in range(3)]
    for t in threads:
        t.start()
    # One invocation at a time per replica: three in flight scale the endpoint out to three.
    assert wait_for(lambda: replica_gauge(platform.url, name) == 3, timeout_s=30, what="three replicas")
    for t in threads:
        t.join()
    assert len(replies) == 3


def _metrics(url: str) -> str:
    import urllib.request

    return urllib.request.urlopen(f"{url}/metrics", timeout=10).read().decode()
