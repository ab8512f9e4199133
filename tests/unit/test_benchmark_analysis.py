"""The benchmark's pure parts: request files, the sweep, summaries, costs, the
recommendation and the three result files."""

from __future__ import annotations

import csv
import json
import math

import pytest

from serverless_ray.benchmark.analysis import (
    FIELDS,
    SECONDS_PER_MONTH,
    Metered,
    ScenarioResult,
    invocation_cost,
    monthly_with_provisioned,
    recommend,
    result_row,
)
from serverless_ray.benchmark.plan import Scenario, sweep
from serverless_ray.benchmark.report import write_reports
from serverless_ray.benchmark.requests import RequestsFileError, load_requests
from serverless_ray.benchmark.stats import Call, CallSummary, LatencySummary, Outcome, percentile
from serverless_ray.billing.prices import GB, PriceTable

PRICES = PriceTable.load()
PC_PRICES = PRICES.model_copy(update={"provisioned_per_second": {1024: 0.0000048, 2048: 0.0000096},
                                      "provisioned_compute_per_second": {1024: 0.000014, 2048: 0.000028}})


def test_requests_files_in_the_toolkit_format(tmp_path):
    path = tmp_path / "requests.jsonl"
    path.write_text('{"Body": "{\\"inputs\\": 1}", "ContentType": "application/json"}\n\n'
                    '{"Body": {"inputs": [2]}, "ContentType": "application/json", "Accept": "text/csv"}\n'
                    '{"Body": "1,2", "ContentType": "text/csv"}\n')
    first, second, third = load_requests(path)
    assert (first.body, second.body, second.accept, third.content_type) == (
        b'{"inputs": 1}', b'{"inputs": [2]}', "text/csv", "text/csv")
    for text, message in [("not json", ":1: not a JSON object"), ('{"ContentType": "x"}', 'expected {"Body"'),
                          ("", "no requests")]:
        path.write_text(text)
        with pytest.raises(RequestsFileError, match=message):
            load_requests(path)


def test_the_sweep_covers_every_combination_and_the_provisioned_scenarios():
    scenarios = sweep([1024, 2048], [2], [1, 3], provisioned=[1])
    assert len(scenarios) == 2 * 1 * 2 + 2 * 2
    assert Scenario(2048, 2, 3, 1) in scenarios and Scenario(1024, 2, 1, 0) in scenarios
    assert sweep([1024], [1], [1], provisioned=[4]) == [Scenario(1024, 1, 1, 0), Scenario(1024, 4, 1, 4)]
    for bad in ([1000], [0]):
        with pytest.raises(ValueError):
            sweep(bad if bad == [1000] else [1024], [1] if bad == [1000] else bad, [1])


def test_percentiles_and_call_summaries():
    assert percentile([], 50) is None
    assert percentile([1, 2, 3, 4], 50) == 2.5 and percentile(list(range(101)), 99) == 99
    calls = [Call(0.0, 0.1, Outcome.OK), Call(0.0, 0.3, Outcome.OK), Call(0.1, 0.2, Outcome.THROTTLED, "T"),
             Call(0.2, 0.4, Outcome.ERROR, "ModelError")]
    summary = CallSummary.of(calls)
    assert summary.calls == 4 and summary.latency.count == 2
    assert summary.latency.max_ms == pytest.approx(300.0) and summary.latency.p50_ms == pytest.approx(200.0)
    assert (summary.error_rate, summary.throttle_rate) == (0.25, 0.25)
    assert summary.throughput_rps == pytest.approx(2 / 0.4)


def test_cost_per_invocation_and_per_month():
    meter = Metered(invocations=10, gb_seconds=2.0, processed_bytes=10 * 1024)
    per = invocation_cost(meter, 2048, PRICES)
    assert per == pytest.approx(0.2 * 0.00002 + 1024 * 0.016 / GB)
    on_pc = Metered(invocations=10, gb_seconds=2.0, provisioned_compute_gb_seconds=2.0, processed_bytes=0)
    assert invocation_cost(on_pc, 2048, PRICES) is None  # no rate for compute on provisioned capacity
    assert invocation_cost(on_pc, 2048, PRICES, on_demand=True) == pytest.approx(0.2 * 0.00002)
    assert invocation_cost(on_pc, 2048, PC_PRICES) == pytest.approx(0.2 * 0.000014)
    assert invocation_cost(Metered(), 2048, PRICES) is None
    monthly = monthly_with_provisioned(on_pc, Scenario(2048, 2, 1, 2), PC_PRICES, 1_000_000)
    assert monthly == pytest.approx(2 * 2 * SECONDS_PER_MONTH * 0.0000048 + 1_000_000 * 0.2 * 0.000014)
    assert monthly_with_provisioned(on_pc, Scenario(2048, 2, 1, 2), PRICES, 1_000_000) is None


def _result(memory: int, p99: float, gb_per_call: float, provisioned: int = 0, errors: int = 0) -> ScenarioResult:
    calls = [Call(0.0, p99 / 1000.0, Outcome.OK)] * 100 + [Call(0.0, 0.1, Outcome.ERROR, "ModelError")] * errors
    meter = Metered(100, gb_per_call * 100, gb_per_call * 100 if provisioned else 0.0, 100 * 100)
    return ScenarioResult(
        Scenario(memory, 2, 1, provisioned), CallSummary.of(calls), CallSummary.of([Call(0.0, 2.0, Outcome.OK)]),
        LatencySummary.of([1500.0]), meter, Metered(1, gb_per_call * 20, 0.0, 100),
        warm_latencies_ms=[p99] * 100, after_idle_latencies_ms=[2000.0], model_setup_ms=[1500.0],
    )


def test_the_recommendation_is_the_cheapest_configuration_within_the_objective():
    results = [_result(1024, 300.0, 0.3), _result(2048, 120.0, 0.24), _result(3072, 80.0, 0.3),
               _result(4096, 50.0, 0.2, errors=1), _result(2048, 110.0, 0.22, provisioned=1)]
    rows = [result_row(r, PC_PRICES, 1_000_000, slo_p99_ms=150.0) for r in results]
    assert [r["meets_slo"] for r in rows] == [False, True, True, False, True]
    best = recommend(rows)
    assert (best["memory_size_mb"], best["provisioned_concurrency"]) == (2048, 0)  # PC costs a month of warmth
    assert best["recommended"] and sum(r["recommended"] for r in rows) == 1
    assert best["monthly_cost_usd"] == pytest.approx(1_000_000 * best["cost_per_invocation_usd"])
    assert rows[4]["monthly_cost_with_pc_usd"] > rows[4]["monthly_cost_without_pc_usd"]
    assert rows[0]["monthly_cost_with_pc_usd"] is None
    assert recommend([result_row(r, PC_PRICES, 1_000_000, slo_p99_ms=10.0) for r in results]) is None
    assert rows[0]["cold_start_cost_per_invocation_usd"] == pytest.approx(6.0 * 0.00002 + 100 * 0.016 / GB)


def test_the_three_files_have_every_field_and_the_page_fetches_nothing(tmp_path):
    results = [_result(1024, 300.0, 0.3), _result(2048, 120.0, 0.24), _result(2048, 110.0, 0.22, provisioned=1)]
    rows = [result_row(r, PRICES, 1000, slo_p99_ms=200.0) for r in results]
    best = recommend(rows)
    paths = write_reports(tmp_path, rows, results, best, prices=PRICES,
                          run={"run_id": "abc", "slo_p99_ms": 200.0, "requests_per_month": 1000})
    with paths["results.csv"].open() as f:
        table = list(csv.DictReader(f))
    assert tuple(table[0]) == FIELDS and len(table) == 3
    document = json.loads(paths["results.json"].read_text())
    assert document["recommendation"]["memory_size_mb"] == 2048
    assert set(FIELDS) <= set(document["results"][0])
    assert document["results"][0]["samples"]["cold_start_latency_ms"] == [2000.0]
    html = paths["report.html"].read_text()
    assert html.count("<svg") == 3 and "http://" not in html and "https://" not in html
    assert "<script" not in html and "<link" not in html and "src=" not in html
    assert "Recommended" in html and math.isfinite(best["p99_ms"])
