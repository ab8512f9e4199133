"""Scale to zero, seen through /metrics; cold requests answered by standbys, then by Serve."""

from __future__ import annotations

import json
import threading
import time

from conftest import SCALE_TO_ZERO_AFTER_S
from support import metric_value, replica_gauge, wait_for


def test_scales_to_zero_and_a_standby_answers_the_cold_request(platform, runtime, deployer, model_urls):
    name = deployer.serverless(model_urls["echo"], max_concurrency=2)
    # A fresh endpoint has its first replica loaded, and releases it once idle.
    assert wait_for(lambda: replica_gauge(platform.url, name) == 1, timeout_s=10, what="a warm replica")
    idle_since = time.monotonic()
    wait_for(lambda: replica_gauge(platform.url, name) == 0, timeout_s=SCALE_TO_ZERO_AFTER_S + 15,
             what="scale to zero")
    assert time.monotonic() - idle_since >= SCALE_TO_ZERO_AFTER_S - 1.5
    labels = dict(endpoint_name=name, variant_name="AllTraffic")
    _wait_for_a_standby(platform.url)

    started = time.monotonic()
    reply = runtime.invoke_endpoint(EndpointName=name, ContentType="application/json", Body=json.dumps({"a": 1}))
    cold_s = time.monotonic() - started
    assert json.loads(reply["Body"].read())["greeting"] == "hello from model data"
    assert cold_s < 60  # an order of magnitude, not a benchmark
    metrics = _metrics(platform.url)
    # A standby of the pool adopted the model: one ModelSetupTime sample, one cold call.
    assert metric_value(metrics, "serverless_ray_standby_invocations_total", **labels) == 1
    assert metric_value(metrics, "serverless_ray_model_setup_time_microseconds_count", **labels) == 1
    assert metric_value(metrics, "serverless_ray_overhead_latency_microseconds_count", **labels, cold="true") == 1

    # The next call is warm, on whatever holds the model now: no new setup sample.
    runtime.invoke_endpoint(EndpointName=name, ContentType="application/json", Body=b"{}")
    metrics = _metrics(platform.url)
    assert metric_value(metrics, "serverless_ray_model_setup_time_microseconds_count", **labels) == 1
    assert metric_value(metrics, "serverless_ray_overhead_latency_microseconds_count", **labels, cold="false") == 1


def test_serve_scales_up_while_a_standby_serves_and_then_takes_over(platform, runtime, deployer, model_urls):
    name = deployer.serverless(model_urls["echo"], max_concurrency=2)
    wait_for(lambda: replica_gauge(platform.url, name) == 0, timeout_s=SCALE_TO_ZERO_AFTER_S + 20,
             what="scale to zero")
    _wait_for_a_standby(platform.url)
    slow = threading.Thread(target=runtime.invoke_endpoint, kwargs=dict(
        EndpointName=name, ContentType="application/json", Body=json.dumps({"sleep": 8})))
    slow.start()
    # The demand reached the autoscaler: Serve starts the endpoint's own replica meanwhile.
    assert wait_for(lambda: replica_gauge(platform.url, name) == 1, timeout_s=30, what="a Serve replica")
    slow.join()
    labels = dict(endpoint_name=name, variant_name="AllTraffic")
    assert metric_value(_metrics(platform.url), "serverless_ray_standby_invocations_total", **labels) == 1
    # Once idle, the standby goes (a fresh one replaces it) and calls go to Serve.
    wait_for(lambda: metric_value(_metrics(platform.url), "serverless_ray_standby_replicas", state="in_use") == 0,
             timeout_s=15, what="the standby released")
    reply = runtime.invoke_endpoint(EndpointName=name, ContentType="application/json", Body=b"{}")
    assert json.loads(reply["Body"].read())["greeting"] == "hello from model data"
    assert metric_value(_metrics(platform.url), "serverless_ray_standby_invocations_total", **labels) == 1


def test_concurrent_requests_each_get_a_replica(platform, runtime, deployer, model_urls):
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


def _wait_for_a_standby(url: str) -> None:
    """Other tests' cold starts may have used the pool; its standbys are replaced in seconds."""
    wait_for(lambda: (metric_value(_metrics(url), "serverless_ray_standby_replicas", state="idle") or 0) >= 1,
             timeout_s=60, what="an idle standby")


def _metrics(url: str) -> str:
    import urllib.request

    return urllib.request.urlopen(f"{url}/metrics", timeout=10).read().decode()
