"""`serverless-ray benchmark` on the real platform: a small sweep writes its three files
with every field, and an interrupted run leaves nothing behind."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys

import pytest
from support import wait_for

from serverless_ray.benchmark.analysis import FIELDS

REQUESTS = ('{"Body": "{\\"hello\\": 1}", "ContentType": "application/json"}\n'
            '{"Body": {"hello": 2}, "ContentType": "application/json"}\n')


def _benchmark(url: str, model_data: str, tmp_path, *extra: str) -> list[str]:
    requests = tmp_path / "requests.jsonl"
    requests.write_text(REQUESTS)
    return [sys.executable, "-m", "serverless_ray.cli", "benchmark", "--model-data", model_data,
            "--requests", str(requests), "--url", url, "--output", str(tmp_path / "out"), *extra]


def _left_behind(sm) -> list[str]:
    return ([e["EndpointName"] for e in sm.list_endpoints(NameContains="bench-")["Endpoints"]]
            + [c["EndpointConfigName"] for c in sm.list_endpoint_configs(NameContains="bench-")["EndpointConfigs"]]
            + [m["ModelName"] for m in sm.list_models(NameContains="bench-")["Models"]])


@pytest.mark.timeout(900)  # two endpoints, warm and cold rounds: minutes on a loaded machine
def test_a_small_sweep_writes_every_field(platform, model_urls, sm, tmp_path):
    command = _benchmark(platform.url, model_urls["echo"], tmp_path, "--memory-sizes", "1024,2048",
                         "--max-concurrency", "1", "--concurrency", "1", "--invocations", "5",
                         "--cold-starts", "1", "--slo-p99-ms", "10000")
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    assert "Recommended:" in done.stdout and "Traceback" not in done.stderr

    with (tmp_path / "out" / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == FIELDS
    assert [(r["memory_size_mb"], r["max_concurrency"], r["client_concurrency"]) for r in rows] == [
        ("1024", "1", "1"), ("2048", "1", "1")]
    measured = [f for f in FIELDS if f not in ("monthly_cost_with_pc_usd", "failure")]
    for row in rows:
        assert [f for f in measured if row[f] == ""] == [], row
        assert (row["invocations"], row["errors"], row["throttles"], row["cold_starts"]) == ("5", "0", "0", "1")
        assert int(row["model_setup_samples"]) >= 1
        assert float(row["cost_per_1m_invocations_usd"]) > 0 and float(row["billed_gb_seconds_per_invocation"]) > 0
    document = json.loads((tmp_path / "out" / "results.json").read_text())
    assert document["recommendation"] is not None and document["recommendation"]["recommended"] is True
    assert [len(r["samples"]["warm_latency_ms"]) for r in document["results"]] == [5, 5]
    assert all(len(r["samples"]["cold_start_latency_ms"]) == 1 for r in document["results"])
    html = (tmp_path / "out" / "report.html").read_text()
    # Self-contained: three inline charts and nothing to fetch (the platform's URL is named as text only).
    assert html.count("<svg") == 3
    assert [ref for ref in ("src=", "href=", "url(", "@import", "<link", "<script", "<img", "<iframe")
            if ref in html] == []
    assert _left_behind(sm) == []


@pytest.mark.timeout(900)
def test_an_interrupted_benchmark_deletes_what_it_created(platform, model_urls, sm, tmp_path):
    command = _benchmark(platform.url, model_urls["echo"], tmp_path, "--memory-sizes", "1024",
                         "--invocations", "1000000", "--cold-starts", "0")
    # Ctrl-C as a terminal sends it: with SIGINT's default disposition. A test run started
    # in the background (`make test &`, a CI runner) has SIGINT ignored, children inherit
    # that, and the benchmark would never see the interrupt.
    running = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        wait_for(lambda: any(e["EndpointStatus"] == "InService"
                             for e in sm.list_endpoints(NameContains="bench-")["Endpoints"]),
                 timeout_s=300, what="the benchmark's endpoint")
        running.send_signal(signal.SIGINT)
        try:
            # Deleting what it made waits for the endpoint to be gone (at most 120 s) and
            # for the calls in flight.
            _, err = running.communicate(timeout=300)
        except subprocess.TimeoutExpired as expired:
            raise AssertionError(f"the interrupted benchmark had not exited after 300 s; stderr so far: "
                                 f"{expired.stderr!r}; left behind: {_left_behind(sm)}") from None
    finally:
        running.kill()
    assert running.returncode == 130
    lines = err.strip().splitlines()
    assert lines[-1].startswith("serverless-ray: Interrupted: ") and "Traceback" not in err
    assert _left_behind(sm) == []
