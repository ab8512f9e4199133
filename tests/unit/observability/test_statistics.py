"""Sketches, statistic sets, statistics and per-second recording (pure, no Ray)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from serverless_ray.observability import catalog, statistics
from serverless_ray.observability.aggregate import Aggregate
from serverless_ray.observability.recorder import MetricRecorder
from serverless_ray.observability.sketch import RELATIVE_ACCURACY, Sketch, bin_index, bin_value


def exact_quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0.001, max_value=1e9), min_size=1, max_size=300),
       st.sampled_from([0.0, 0.25, 0.5, 0.9, 0.99, 1.0]))
def test_sketch_quantiles_are_within_the_relative_accuracy(values, q):
    sketch = Sketch()
    for v in values:
        sketch.add(v)
    assert sketch.quantile(q) == pytest.approx(exact_quantile(values, q), rel=RELATIVE_ACCURACY * 1.001)


def test_each_bin_reads_back_close_to_its_values():
    for v in (0.5, 1.0, 3.7, 1234.0, 9.9e8):
        assert bin_value(bin_index(v)) == pytest.approx(v, rel=RELATIVE_ACCURACY)
    assert bin_index(0.0) is None and bin_value(None) == 0.0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=1e6), max_size=100),
       st.lists(st.floats(min_value=0, max_value=1e6), max_size=100))
def test_merging_aggregates_is_aggregating_all_samples(left, right):
    merged = Aggregate.of(*left)
    merged.merge(Aggregate.of(*right))
    whole = Aggregate.of(*left, *right)
    assert (merged.count, merged.sketch) == (whole.count, whole.sketch)
    assert merged.total == pytest.approx(whole.total)
    if left or right:
        assert (merged.minimum, merged.maximum) == (whole.minimum, whole.maximum)


def test_aggregates_travel_as_data():
    aggregate = Aggregate.of(0, 1, 2.5, 1000)
    assert Aggregate.from_data(aggregate.to_data()) == aggregate


def test_the_standard_statistics_and_percentiles():
    aggregate = Aggregate.of(*range(1, 101))
    assert statistics.value(aggregate, "SampleCount") == 100
    assert statistics.value(aggregate, "Sum") == 5050
    assert statistics.value(aggregate, "Average") == 50.5
    assert (statistics.value(aggregate, "Minimum"), statistics.value(aggregate, "Maximum")) == (1, 100)
    assert statistics.value(aggregate, "p50") == pytest.approx(50, rel=0.01)
    assert statistics.value(aggregate, "p99.9") == pytest.approx(99, rel=0.01)
    assert statistics.value(aggregate, "p100") == 100  # clamped to the exact maximum
    assert statistics.value(Aggregate(), "Sum") is None


def test_percentiles_are_not_averages_of_percentiles():
    fast, slow = Aggregate.of(*[1.0] * 98), Aggregate.of(1000.0, 1000.0)
    fast.merge(slow)
    assert statistics.value(fast, "p99") == pytest.approx(1000, rel=0.01)
    assert statistics.value(fast, "p50") == pytest.approx(1, rel=0.01)


@pytest.mark.parametrize("name,ok", [("p50", True), ("p99.9", True), ("p0", True), ("p100", True),
                                     ("p100.5", False), ("p", False), ("tm99", False), ("P50", False),
                                     ("Sum", True), ("sum", False)])
def test_statistic_names(name, ok):
    assert statistics.is_statistic(name) is ok


@pytest.mark.parametrize("period,ok", [(1, True), (5, True), (10, True), (30, True), (60, True), (300, True),
                                       (0, False), (2, False), (45, False), (90, False)])
def test_periods(period, ok):
    assert statistics.valid_period(period) is ok


def test_the_recorder_aggregates_per_second_and_survives_a_failed_shipment():
    now = [100.2]
    recorder = MetricRecorder(lambda: now[0])
    dims = catalog.variant_dimensions("ep", "AllTraffic")
    for v in (1, 2, 3):
        recorder.record(catalog.MODEL_LATENCY, dims, v)
    now[0] = 101.7
    recorder.record(catalog.MODEL_LATENCY, dims, 10)
    batch = recorder.drain()
    assert recorder.pending == 0
    assert sorted((d.timestamp, Aggregate.from_data(d.aggregate).count) for d in batch) == [(100, 3), (101, 1)]
    recorder.put_back(batch)  # the controller was away
    recorder.record(catalog.MODEL_LATENCY, dims, 20)
    again = {d.timestamp: Aggregate.from_data(d.aggregate) for d in recorder.drain()}
    assert again[101].count == 2 and again[101].total == 30 and again[100].count == 3
    assert batch[0].namespace == "AWS/SageMaker" and batch[0].unit == "Microseconds"


def test_random_latencies_keep_their_median():
    rng = random.Random(7)
    values = [rng.lognormvariate(10, 1) for _ in range(5000)]
    assert statistics.value(Aggregate.of(*values), "p50") == pytest.approx(exact_quantile(values, 0.5), rel=0.011)
