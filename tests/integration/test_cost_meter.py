"""The cost meter against the real platform: what known calls were billed, at what price,
provisioned concurrency over time, and all of it after a restart."""

from __future__ import annotations

import json
import urllib.request

import pytest
from conftest import _client
from support import metric_value, wait_for

from serverless_ray.admin_client import AdminClient
from serverless_ray.billing.prices import GB, PriceTable

PRICES = PriceTable.load()


def _metrics(url: str) -> str:
    return urllib.request.urlopen(f"{url}/metrics", timeout=10).read().decode()


def _metrics_when(url: str, ready) -> str | None:
    """/metrics once ``ready(text)`` holds, else None (for ``wait_for``)."""
    text = _metrics(url)
    return text if ready(text) else None


def _durations_s(text: str, labels: dict) -> float:
    """ModelLatency + OverheadLatency of every invocation so far, as /metrics has them."""
    model = metric_value(text, "serverless_ray_model_latency_microseconds_sum", **labels) or 0.0
    overhead = sum(metric_value(text, "serverless_ray_overhead_latency_microseconds_sum", **labels, cold=c) or 0.0
                   for c in ("true", "false"))
    return (model + overhead) / 1e6


def test_known_calls_are_billed_as_sagemaker_bills_them_and_survive_a_restart(platform, deployer, model_urls):
    name = deployer.serverless(model_urls["echo"], memory=2048, max_concurrency=2)
    runtime = _client("sagemaker-runtime", platform.url)
    processed = 0
    for i in range(4):
        body = json.dumps({"sleep": 0.3, "call": i}).encode()
        reply = runtime.invoke_endpoint(EndpointName=name, ContentType="application/json", Body=body)
        processed += len(body) + len(reply["Body"].read())
    labels = {"endpoint_name": name, "variant_name": "AllTraffic"}
    text = wait_for(
        lambda: _metrics_when(platform.url, lambda t: metric_value(
            t, "serverless_ray_processed_bytes_total", **labels) == processed),
        timeout_s=60, what="the usage of four calls in /metrics")

    billed = metric_value(text, "serverless_ray_billed_gb_seconds_total", **labels)
    # 2 GB x the invocations' durations (ModelLatency + OverheadLatency), each rounded up to the ms.
    assert billed == pytest.approx(2.0 * _durations_s(text, labels), rel=0.01)
    assert billed >= 2.0 * 4 * 0.3
    compute = metric_value(text, "serverless_ray_cost_usd_total", **labels, component="compute")
    data = metric_value(text, "serverless_ray_cost_usd_total", **labels, component="data_processing")
    assert compute == pytest.approx(billed * PRICES.on_demand_per_second[2048] / 2.0, rel=1e-9)
    assert data == pytest.approx(processed * PRICES.data_processing_per_gb / GB, rel=1e-9)
    # No published rate: provisioned concurrency is not shown as free.
    assert metric_value(text, "serverless_ray_cost_usd_total", **labels, component="provisioned_concurrency") is None
    report = AdminClient(platform.url).call("GetCostAndUsage", EndpointName=name)
    assert report["Total"]["Invocations"] == 4 and report["Total"]["BilledGbSeconds"] == pytest.approx(billed)

    platform.restart()
    deployer.sm = _client("sagemaker", platform.url)
    after = _metrics(platform.url)
    for metric, before in (("serverless_ray_billed_gb_seconds_total", billed),
                           ("serverless_ray_processed_bytes_total", processed)):
        assert metric_value(after, metric, **labels) == pytest.approx(before, rel=1e-12)
    assert metric_value(after, "serverless_ray_cost_usd_total", **labels, component="compute") == pytest.approx(
        compute, rel=1e-12)
    hour = AdminClient(platform.url).call("GetCostAndUsage", EndpointName=name, SinceSeconds=3600)
    assert hour["Usage"][0]["Invocations"] == 4


def test_provisioned_concurrency_is_metered_while_it_is_provisioned(platform, deployer, model_urls):
    name = deployer.serverless(model_urls["echo"], memory=1024, max_concurrency=2, provisioned=1)
    labels = {"endpoint_name": name, "variant_name": "AllTraffic"}

    def kept() -> float:
        return metric_value(_metrics(platform.url), "serverless_ray_provisioned_gb_seconds_total", **labels) or 0.0

    first = wait_for(kept, timeout_s=60, what="provisioned GB-seconds")
    wait_for(lambda: kept() > first, timeout_s=60, what="provisioned GB-seconds to grow")
    runtime = _client("sagemaker-runtime", platform.url)
    runtime.invoke_endpoint(EndpointName=name, ContentType="application/json", Body=b'{"sleep": 0.1}')
    text = wait_for(
        lambda: _metrics_when(platform.url, lambda t: bool(metric_value(
            t, "serverless_ray_billed_gb_seconds_total", **labels))),
        timeout_s=60, what="the call's usage")
    # One call, with nothing else in flight: served by the provisioned replica, billed at
    # that (here unpriced) rate rather than as on-demand compute.
    on_pc = metric_value(text, "serverless_ray_provisioned_compute_gb_seconds_total", **labels)
    assert on_pc == metric_value(text, "serverless_ray_billed_gb_seconds_total", **labels) > 0.1
    assert metric_value(text, "serverless_ray_cost_usd_total", **labels, component="compute") == 0.0
