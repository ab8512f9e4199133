"""Scale to zero, seen through /metrics; cold requests answered by standbys, then by Serve."""

from __future__ import annotations

import json
import time

from conftest import SCALE_TO_ZERO_AFTER_S
from support import Background, Latch, metric_value, replica_gauge, serve_replicas, wait_for


def test_scales_to_zero_and_a_standby_answers_the_cold_request(platform, runtime, deployer, model_urls, tmp_path):
    name = deployer.serverless(model_urls["echo"], max_concurrency=2)
    labels = dict(endpoint_name=name, variant_name="AllTraffic")
    # While a call is in flight the endpoint has a Serve replica, whatever answers the call.
    with Background() as background, Latch(tmp_path) as latch:
        held = background.submit(_invoke, runtime, name, latch.body())
        wait_for(lambda: latch.started() and replica_gauge(platform.url, name) == 1, timeout_s=60,
                 what="the call in the model and a Serve replica")
        latch.release()
        held.result(timeout=60)
    # Then the replica stays for the keep-warm window after the call, and goes.
    idle_since = time.monotonic()
    wait_for(lambda: replica_gauge(platform.url, name) == 0, timeout_s=SCALE_TO_ZERO_AFTER_S + 30,
             what="scale to zero")
    # A lower bound only: the gauge can be late, never early.
    assert time.monotonic() - idle_since >= SCALE_TO_ZERO_AFTER_S - 0.5
    _wait_for_a_standby(platform.url)
    before = _counts(platform.url, labels)

    started = time.monotonic()
    reply = runtime.invoke_endpoint(EndpointName=name, ContentType="application/json", Body=json.dumps({"a": 1}))
    cold_s = time.monotonic() - started
    assert json.loads(reply["Body"].read())["greeting"] == "hello from model data"
    assert cold_s < 60  # an order of magnitude, not a benchmark
    # A standby of the pool adopted the model: one ModelSetupTime sample, one cold call.
    assert _counts(platform.url, labels) == _plus(before, standby=1, setup=1, cold=1)

    # The next call is warm, on whatever holds the model now (the standby or Serve's
    # replica): no new setup sample.
    runtime.invoke_endpoint(EndpointName=name, ContentType="application/json", Body=b"{}")
    after = _counts(platform.url, labels)
    assert {k: after[k] for k in ("setup", "cold", "warm")} == {
        k: v for k, v in _plus(before, setup=1, cold=1, warm=1).items() if k != "standby"}


def _counts(url: str, labels: dict) -> dict[str, float]:
    metrics = _metrics(url)
    return {
        "standby": metric_value(metrics, "serverless_ray_standby_invocations_total", **labels) or 0,
        "setup": metric_value(metrics, "serverless_ray_model_setup_time_microseconds_count", **labels) or 0,
        "cold": metric_value(metrics, "serverless_ray_overhead_latency_microseconds_count", **labels,
                             cold="true") or 0,
        "warm": metric_value(metrics, "serverless_ray_overhead_latency_microseconds_count", **labels,
                             cold="false") or 0,
    }


def _plus(counts: dict[str, float], **more: int) -> dict[str, float]:
    return {key: value + more.get(key, 0) for key, value in counts.items()}


def _invoke(runtime, name: str, body: dict) -> dict:
    reply = runtime.invoke_endpoint(EndpointName=name, ContentType="application/json", Body=json.dumps(body))
    return json.loads(reply["Body"].read())


def test_serve_scales_up_while_a_standby_serves_and_then_takes_over(
    platform, runtime, deployer, model_urls, tmp_path
):
    name = deployer.serverless(model_urls["echo"], max_concurrency=2)
    wait_for(lambda: replica_gauge(platform.url, name) == 0, timeout_s=SCALE_TO_ZERO_AFTER_S + 30,
             what="scale to zero")
    _wait_for_a_standby(platform.url)
    labels = dict(endpoint_name=name, variant_name="AllTraffic")
    with Background() as background, Latch(tmp_path) as latch:
        # A cold call that a standby adopts and holds until the test lets it go.
        held = background.submit(_invoke, runtime, name, latch.body())
        wait_for(lambda: latch.started(), timeout_s=60, what="the cold call in a standby")
        assert metric_value(_metrics(platform.url), "serverless_ray_standby_replicas", state="in_use") == 1
        # The demand reached the autoscaler: Serve starts the endpoint's own replica meanwhile.
        assert wait_for(lambda: replica_gauge(platform.url, name) == 1, timeout_s=60, what="a Serve replica")
        serve_pids = {r["pid"] for r in serve_replicas(name) if r["state"] == "RUNNING"}
        assert latch.started()[0] not in serve_pids
        # Once this entry point has heard of the Serve replica (Serve pushes it to the
        # handles), calls go to Serve, not to a standby.
        wait_for(lambda: _invoke(runtime, name, {})["pid"] in serve_pids, timeout_s=30,
                 what="a call answered by the Serve replica")
        latch.release()
        assert held.result(timeout=60)["pid"] == latch.started()[0]
    assert metric_value(_metrics(platform.url), "serverless_ray_standby_invocations_total", **labels) >= 1
    # Once idle, the standby goes (a fresh one replaces it).
    wait_for(lambda: metric_value(_metrics(platform.url), "serverless_ray_standby_replicas", state="in_use") == 0,
             timeout_s=30, what="the standby released")


def test_concurrent_requests_each_get_a_replica(platform, runtime, deployer, model_urls, tmp_path):
    name = deployer.serverless(model_urls["echo"], max_concurrency=3)
    with Background() as background, Latch(tmp_path) as latch:
        for _ in range(3):
            background.submit(_invoke, runtime, name, latch.body())
        # One invocation at a time per replica: three in flight scale the endpoint out to three.
        assert wait_for(lambda: replica_gauge(platform.url, name) == 3, timeout_s=90, what="three replicas")
        latch.release()
        replies = background.results()
    assert len(replies) == 3 and all(r["greeting"] == "hello from model data" for r in replies)


def _wait_for_a_standby(url: str) -> None:
    """Other tests' cold starts may have used the pool; its standbys are replaced in seconds."""
    wait_for(lambda: (metric_value(_metrics(url), "serverless_ray_standby_replicas", state="idle") or 0) >= 1,
             timeout_s=60, what="an idle standby")


def _metrics(url: str) -> str:
    import urllib.request

    return urllib.request.urlopen(f"{url}/metrics", timeout=10).read().decode()
