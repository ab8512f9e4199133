"""The durable metric store (per-second rows, roll-up, retention) and the CloudWatch
operations over it, with an injected clock (pure, no Ray)."""

from __future__ import annotations

import pytest

from serverless_ray.cloudwatch.service import CloudWatchService
from serverless_ray.errors import (
    InvalidNextToken,
    InvalidParameterCombinationException,
    InvalidParameterValueException,
    MissingRequiredParameterException,
)
from serverless_ray.observability import catalog
from serverless_ray.observability.metric_store import MetricStore
from serverless_ray.observability.recorder import MetricRecorder

DIMS = catalog.variant_dimensions("ep", "AllTraffic")
WIRE_DIMS = [{"Name": "EndpointName", "Value": "ep"}, {"Name": "VariantName", "Value": "AllTraffic"}]
T0 = 1_800_000_000  # a minute boundary


def record(store: MetricStore, kind, values_at: list[tuple[float, float]], dims=DIMS) -> None:
    recorder = MetricRecorder(lambda: 0.0)
    for at, value in values_at:
        recorder.record(kind, dims, value, at=at)
    store.add(recorder.drain())


@pytest.fixture
def store(tmp_path):
    s = MetricStore(tmp_path / "m.sqlite3", retention_days=1, high_resolution_s=3600)
    yield s
    s.close()


def stats(service, metric="Invocations", **extra):
    request = {"Namespace": "AWS/SageMaker", "MetricName": metric, "Dimensions": WIRE_DIMS,
               "StartTime": T0, "EndTime": T0 + 120, "Period": 60, "Statistics": ["Sum", "SampleCount"], **extra}
    return service.call("GetMetricStatistics", request)["Datapoints"]


def test_gateways_batches_of_one_second_merge_into_one_row(store):
    record(store, catalog.INVOCATIONS, [(T0 + 1.1, 1), (T0 + 1.9, 1)])
    record(store, catalog.INVOCATIONS, [(T0 + 1.5, 1), (T0 + 61, 1)])  # another gateway, same second
    service = CloudWatchService(store, clock=lambda: T0 + 100)
    points = stats(service)
    assert [(p["Timestamp"], p["Sum"], p["SampleCount"]) for p in points] == [(T0, 3, 3), (T0 + 60, 1, 1)]
    assert stats(service, Period=1, StartTime=T0 + 1, EndTime=T0 + 2)[0]["Sum"] == 3


def test_rolled_up_minutes_keep_counts_and_percentiles_and_expire(store):
    record(store, catalog.MODEL_LATENCY, [(T0 + i, 1000.0 * (i + 1)) for i in range(50)])
    store.compact(now=T0 + 3600 + 120)  # the seconds are older than the high-resolution window
    service = CloudWatchService(store)
    point = stats(service, "ModelLatency", Statistics=["SampleCount", "Maximum"], ExtendedStatistics=["p50"])[0]
    assert point["SampleCount"] == 50 and point["Maximum"] == 50_000
    assert point["ExtendedStatistics"]["p50"] == pytest.approx(25_000, rel=0.05)
    assert stats(service, "ModelLatency", Period=1) == []  # only minutes are left of that time
    store.compact(now=T0 + 2 * 86400)
    assert stats(service, "ModelLatency") == [] and store.series() == []


def test_units_and_dimensions_select_series(store):
    record(store, catalog.INVOCATIONS, [(T0, 1)])
    service = CloudWatchService(store)
    assert stats(service, Unit="Seconds") == []
    assert stats(service, Dimensions=WIRE_DIMS[:1]) == []  # an exact dimension set, as CloudWatch
    assert stats(service, Unit="None")[0]["Unit"] == "None"


def test_get_metric_statistics_refuses_what_cloudwatch_refuses(store):
    service = CloudWatchService(store)
    with pytest.raises(InvalidParameterValueException, match="Period must be 1, 5, 10, 30 or a multiple of 60"):
        stats(service, Period=7)
    with pytest.raises(InvalidParameterCombinationException, match="Statistics or ExtendedStatistics"):
        stats(service, Statistics=None)
    with pytest.raises(InvalidParameterValueException, match="p50x"):
        stats(service, ExtendedStatistics=["p50x"])
    with pytest.raises(InvalidParameterCombinationException, match="exceeds the limit of 1,440"):
        stats(service, Period=1, EndTime=T0 + 2000)
    with pytest.raises(InvalidParameterValueException, match="StartTime must be less than"):
        stats(service, EndTime=T0)
    with pytest.raises(MissingRequiredParameterException, match="The parameter Namespace is required"):
        service.call("GetMetricStatistics", {"MetricName": "x"})
    with pytest.raises(InvalidParameterValueException, match="enum value set"):
        stats(service, Unit="Parsecs")


def test_get_metric_data_pages_across_queries(store):
    record(store, catalog.INVOCATIONS, [(T0 + i, 1) for i in range(5)])
    record(store, catalog.ERRORS_5XX, [(T0 + i, i % 2) for i in range(5)])
    service = CloudWatchService(store)

    def query(token=None, **extra):
        request = {"MetricDataQueries": [
            {"Id": "calls", "MetricStat": {"Metric": {"Namespace": "AWS/SageMaker", "MetricName": "Invocations",
                                                      "Dimensions": WIRE_DIMS}, "Period": 1, "Stat": "Sum"}},
            {"Id": "errors", "MetricStat": {"Metric": {"Namespace": "AWS/SageMaker",
                                                       "MetricName": "Invocation5XXErrors", "Dimensions": WIRE_DIMS},
                                            "Period": 1, "Stat": "Average"}, "Label": "error rate"}],
            "StartTime": T0, "EndTime": T0 + 10, "MaxDatapoints": 4, "ScanBy": "TimestampAscending", **extra}
        if token:
            request["NextToken"] = token
        return service.call("GetMetricData", request)

    first = query()
    assert [r["Values"] for r in first["MetricDataResults"]] == [[1, 1, 1, 1], []]
    second = query(first["NextToken"])
    assert [r["Values"] for r in second["MetricDataResults"]] == [[1], [0, 1, 0]]
    third = query(second["NextToken"])
    assert [r["Values"] for r in third["MetricDataResults"]] == [[], [1, 0]] and "NextToken" not in third
    assert second["MetricDataResults"][1]["Label"] == "error rate"
    newest_first = query(MaxDatapoints=100, ScanBy="TimestampDescending")["MetricDataResults"][0]
    assert newest_first["Timestamps"] == [T0 + 4, T0 + 3, T0 + 2, T0 + 1, T0]
    with pytest.raises(InvalidNextToken):
        query("bogus")
    with pytest.raises(InvalidParameterValueException, match="not a valid statistic"):
        service.call("GetMetricData", {"MetricDataQueries": [{"Id": "a", "MetricStat": {
            "Metric": {"Namespace": "n", "MetricName": "m"}, "Period": 60, "Stat": "Median"}}],
            "StartTime": T0, "EndTime": T0 + 60})
    with pytest.raises(InvalidParameterValueException, match="Expressions are not supported"):
        service.call("GetMetricData", {"MetricDataQueries": [{"Id": "a", "Expression": "SUM(METRICS())"}],
                                       "StartTime": T0, "EndTime": T0 + 60})


def test_list_metrics_filters_and_pages(store):
    for endpoint in ("a", "b"):
        record(store, catalog.INVOCATIONS, [(T0, 1)], dims=catalog.variant_dimensions(endpoint, "AllTraffic"))
        record(store, catalog.MODEL_LATENCY, [(T0, 5)], dims=catalog.variant_dimensions(endpoint, "AllTraffic"))
    service = CloudWatchService(store, clock=lambda: T0 + 60)
    listed = service.call("ListMetrics", {"Dimensions": [{"Name": "EndpointName", "Value": "a"}]})["Metrics"]
    assert sorted(m["MetricName"] for m in listed) == ["Invocations", "ModelLatency"]
    assert len(service.call("ListMetrics", {"MetricName": "Invocations"})["Metrics"]) == 2
    assert service.call("ListMetrics", {"RecentlyActive": "PT3H"})["Metrics"]
    later = CloudWatchService(store, clock=lambda: T0 + 4 * 3600)
    assert later.call("ListMetrics", {"RecentlyActive": "PT3H"})["Metrics"] == []
