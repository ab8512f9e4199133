"""CloudWatch metrics and logs as SageMaker users read them: boto3 (its default JSON
protocol), the query and CBOR protocols of other SDKs, and the AWS CLI, against an
endpoint the test drove with known calls; again after it scaled to zero and after a
restart of the platform."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
import botocore.session
import pytest
from botocore.config import Config
from conftest import _client
from support import Background, Cli, Deployer, metric_value, replica_gauge, unique, wait_for

DASHBOARD = Path(__file__).parents[2] / "deployments" / "grafana" / "serverless-ray.json"
VARIANT = "AllTraffic"
SLEEP_S = 0.1
SLEEPY_CALLS = 7


def _dims(endpoint: str) -> list[dict]:
    return [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": VARIANT}]


class Traffic:
    """What the test did to its endpoint, and when."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.group = f"/aws/sagemaker/Endpoints/{endpoint}"
        self.tag = unique("tag")
        self.calls = 0
        self.errors_4xx = 0
        self.errors_5xx = 0
        self.started = time.time()
        self.sleepy: tuple[float, float] = (0.0, 0.0)
        self.error_stream: str | None = None
        self.error_request_id: str | None = None


def _invoke(runtime, traffic: Traffic, **request):
    traffic.calls += 1
    return runtime.invoke_endpoint(EndpointName=traffic.endpoint, ContentType="application/json",
                                   Body=json.dumps({"tag": traffic.tag, **request}))


@pytest.fixture(scope="module")
def traffic(platform, model_urls):
    sm, runtime = _client("sagemaker", platform.url), _client("sagemaker-runtime", platform.url)
    deployer = Deployer(sm)
    name = deployer.serverless(model_urls["chatty"], max_concurrency=2)
    t = Traffic(name)
    _invoke(runtime, t, print=True, log=True)
    begin = time.time()
    for _ in range(SLEEPY_CALLS):
        _invoke(runtime, t, sleep=SLEEP_S)
    t.sleepy = (begin, time.time())
    for _ in range(2):
        with pytest.raises(runtime.exceptions.ModelError):
            _invoke(runtime, t, fail=400)
        t.errors_4xx += 1
    with pytest.raises(runtime.exceptions.ModelError) as failed:
        _invoke(runtime, t, fail=500)
    t.errors_5xx += 1
    error = failed.value.response
    t.error_request_id = error["ResponseMetadata"]["RequestId"]
    arn = error["LogStreamArn"]
    assert arn.startswith(f"arn:aws:logs:us-east-1:123456789012:log-group:{t.group}:log-stream:{VARIANT}/")
    t.error_stream = arn.split(":log-stream:", 1)[1]
    # A cold start: once the endpoint scaled to zero, the next call waits for a replica.
    wait_for(lambda: replica_gauge(platform.url, name) == 0, timeout_s=120, what="scale to zero")
    _invoke(runtime, t)
    yield t
    deployer.sm = _client("sagemaker", platform.url)  # the platform may have restarted
    deployer.cleanup()


def _cloudwatch(url: str, session: boto3.Session | None = None):
    return (session or boto3).client(
        "cloudwatch", endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
        aws_secret_access_key="testing", config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))


def _logs(url: str):
    return _client("logs", url)


def _statistics(cloudwatch, traffic: Traffic, metric: str, **query) -> list[dict]:
    arguments = dict(Namespace="AWS/SageMaker", MetricName=metric, Dimensions=_dims(traffic.endpoint),
                     StartTime=dt.datetime.fromtimestamp(traffic.started - 120, dt.timezone.utc),
                     EndTime=dt.datetime.fromtimestamp(time.time() + 120, dt.timezone.utc), Period=60,
                     Statistics=["Sum", "SampleCount"])
    arguments.update(query)
    return cloudwatch.get_metric_statistics(**arguments)["Datapoints"]


def _sum(points: list[dict], statistic: str = "Sum") -> float:
    return sum(point[statistic] for point in points)


def _check_metrics(url: str, traffic: Traffic) -> None:
    cloudwatch = _cloudwatch(url)
    # Datapoints reach the store within a second or two of the calls.
    wait_for(lambda: _sum(_statistics(cloudwatch, traffic, "Invocations")) == traffic.calls, timeout_s=30,
             what="Invocations to add up")
    assert _sum(_statistics(cloudwatch, traffic, "Invocation4XXErrors")) == traffic.errors_4xx
    assert _sum(_statistics(cloudwatch, traffic, "Invocation5XXErrors")) == traffic.errors_5xx
    # 1 or 0 per invocation, so SampleCount counts every call.
    assert _sum(_statistics(cloudwatch, traffic, "Invocation4XXErrors"), "SampleCount") == traffic.calls
    begin, end = traffic.sleepy
    latency = _statistics(cloudwatch, traffic, "ModelLatency", Period=1, Statistics=["Maximum"],
                          ExtendedStatistics=["p50"],
                          StartTime=dt.datetime.fromtimestamp(int(begin), dt.timezone.utc),
                          EndTime=dt.datetime.fromtimestamp(int(end) + 1, dt.timezone.utc))
    assert latency and all(point["Unit"] == "Microseconds" for point in latency)
    medians = [point["ExtendedStatistics"]["p50"] for point in latency]
    # The model sleeps 0.1 s = 100,000 µs: an order of magnitude, not a timing.
    assert any(SLEEP_S * 1e6 / 3 < m < SLEEP_S * 1e6 * 10 for m in medians), medians
    setup = _statistics(cloudwatch, traffic, "ModelSetupTime")
    prometheus = urllib.request.urlopen(f"{url}/metrics", timeout=10).read().decode()
    starts = metric_value(prometheus, "serverless_ray_model_setup_time_microseconds_count",
                          endpoint_name=traffic.endpoint, variant_name=VARIANT)
    assert _sum(setup, "SampleCount") == starts >= 1  # one sample per cold start, the same in both


def test_get_metric_statistics_counts_the_calls(platform, traffic):
    _check_metrics(platform.url, traffic)


def test_get_metric_data_pages_and_list_metrics_lists(platform, traffic):
    cloudwatch = _cloudwatch(platform.url)
    start = dt.datetime.fromtimestamp(traffic.started - 60, dt.timezone.utc)
    end = dt.datetime.fromtimestamp(time.time() + 60, dt.timezone.utc)
    stat = lambda metric, statistic: {"Metric": {"Namespace": "AWS/SageMaker", "MetricName": metric,  # noqa: E731
                                                 "Dimensions": _dims(traffic.endpoint)},
                                      "Period": 1, "Stat": statistic}
    queries = [{"Id": "calls", "MetricStat": stat("Invocations", "Sum")},
               {"Id": "slow", "MetricStat": stat("ModelLatency", "p99"), "ReturnData": False},
               {"Id": "errors", "MetricStat": stat("Invocation4XXErrors", "Sum"), "Label": "client errors"}]
    pages = list(cloudwatch.get_paginator("get_metric_data").paginate(
        MetricDataQueries=queries, StartTime=start, EndTime=end, ScanBy="TimestampAscending",
        PaginationConfig={"PageSize": 2}))
    assert len(pages) > 1  # two datapoints a page
    results: dict[str, list[float]] = {}
    for page in pages:
        for result in page["MetricDataResults"]:
            results.setdefault(result["Id"], []).extend(result["Values"])
            assert result["Label"] == {"calls": "Invocations", "errors": "client errors"}[result["Id"]]
    assert set(results) == {"calls", "errors"}
    assert sum(results["calls"]) == traffic.calls and sum(results["errors"]) == traffic.errors_4xx
    listed = cloudwatch.list_metrics(Namespace="AWS/SageMaker",
                                     Dimensions=[{"Name": "EndpointName", "Value": traffic.endpoint}])["Metrics"]
    names = {m["MetricName"] for m in listed}
    assert {"Invocations", "Invocation4XXErrors", "Invocation5XXErrors", "ModelLatency", "OverheadLatency",
            "ModelSetupTime"} <= names
    assert all(m["Dimensions"] == _dims(traffic.endpoint) for m in listed)


@pytest.fixture
def protocol_sessions(tmp_path):
    """boto3 sessions whose CloudWatch model speaks only the query protocol, or only CBOR
    (what older and newer SDKs send), from a copy of botocore's own model."""
    source = Path(botocore.__file__).parent / "data" / "cloudwatch" / "2010-08-01" / "service-2.json.gz"
    model = json.loads(gzip.decompress(source.read_bytes()))
    sessions = {}
    for protocol in ("query", "smithy-rpc-v2-cbor"):
        root = tmp_path / protocol
        folder = root / "cloudwatch" / "2010-08-01"
        folder.mkdir(parents=True)
        model["metadata"].update(protocol=protocol, protocols=[protocol])
        (folder / "service-2.json").write_text(json.dumps(model))
        shutil.copy(source.with_name("paginators-1.json"), folder)
        session = botocore.session.Session()
        session.get_component("data_loader").search_paths.insert(0, str(root))
        sessions[protocol] = boto3.Session(botocore_session=session)
    return sessions


def test_query_and_cbor_clients_read_the_same(platform, traffic, protocol_sessions):
    expected = _statistics(_cloudwatch(platform.url), traffic, "Invocations")
    for protocol, session in protocol_sessions.items():
        client = _cloudwatch(platform.url, session)
        assert client.meta.service_model.protocol == protocol
        assert _statistics(client, traffic, "Invocations") == expected, protocol
        listed = client.list_metrics(Namespace="AWS/SageMaker", MetricName="ModelLatency",
                                     Dimensions=[{"Name": "EndpointName", "Value": traffic.endpoint}])
        assert listed["Metrics"] == [{"Namespace": "AWS/SageMaker", "MetricName": "ModelLatency",
                                      "Dimensions": _dims(traffic.endpoint)}], protocol
        with pytest.raises(client.exceptions.ClientError) as bad:
            _statistics(client, traffic, "Invocations", Period=7)
        assert bad.value.response["Error"]["Code"] == "InvalidParameterValue", protocol
        assert "Period" in bad.value.response["Error"]["Message"]
    with pytest.raises(Exception) as bad:  # the default (JSON) client reads the query-compatible code
        _statistics(_cloudwatch(platform.url), traffic, "Invocations", Statistics=[], ExtendedStatistics=[])
    assert getattr(bad.value, "response", {}).get("Error", {}).get("Code") in ("InvalidParameterCombination",
                                                                               None)


def _events(logs, traffic: Traffic, pattern: str) -> list[dict]:
    return [e for page in logs.get_paginator("filter_log_events").paginate(
        logGroupName=traffic.group, filterPattern=pattern) for e in page["events"]]


def _check_logs(url: str, traffic: Traffic) -> None:
    logs = _logs(url)
    tag = traffic.tag
    printed = wait_for(lambda: _events(logs, traffic, f'"printed {tag}"'), timeout_s=30, what="the print")
    assert printed[0]["logStreamName"].startswith(f"{VARIANT}/")
    logged = wait_for(lambda: _events(logs, traffic, f'"logged {tag}"'), timeout_s=30, what="the logging line")
    assert "WARNING chatty" in logged[0]["message"]
    # ?alternatives and -exclusions: both lines, then the print alone.
    both = _events(logs, traffic, f'?"printed {tag}" ?"logged {tag}"')
    assert {e["eventId"] for e in both} == {printed[0]["eventId"], logged[0]["eventId"]}
    assert [e["eventId"] for e in _events(logs, traffic, f'{tag} -logged -broke -bad')] == [printed[0]["eventId"]]
    # The stream ModelError named holds the traceback, with the request id.
    stream = traffic.error_stream
    assert stream in {s["logStreamName"] for s in logs.describe_log_streams(logGroupName=traffic.group)["logStreams"]}

    def traceback():
        events = logs.get_log_events(logGroupName=traffic.group, logStreamName=stream, startFromHead=True)["events"]
        return [e for e in events if traffic.error_request_id in e["message"]]

    found = wait_for(traceback, timeout_s=30, what="the traceback")[0]["message"]
    assert "Traceback (most recent call last)" in found and f"RuntimeError: model broke {tag}" in found
    groups = logs.describe_log_groups(logGroupNamePrefix=traffic.group)["logGroups"]
    assert [g["logGroupName"] for g in groups] == [traffic.group]
    lifecycle = logs.get_log_events(logGroupName=traffic.group, logStreamName="platform/lifecycle",
                                    startFromHead=True)["events"]
    assert any("InService" in e["message"] for e in lifecycle)


def test_logs_hold_the_print_the_logging_line_and_the_traceback(platform, traffic):
    _check_logs(platform.url, traffic)


def test_the_aws_cli_reads_metrics_and_logs(platform, traffic, tmp_path, s3_server):
    aws = Cli(tmp_path, platform.url, s3_server)
    _check_metrics(platform.url, traffic)  # everything has landed
    iso = lambda t: dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    points = aws("cloudwatch", "get-metric-statistics", "--namespace", "AWS/SageMaker", "--metric-name",
                 "Invocations", "--dimensions", f"Name=EndpointName,Value={traffic.endpoint}",
                 f"Name=VariantName,Value={VARIANT}", "--start-time", iso(traffic.started - 120), "--end-time",
                 iso(time.time() + 120), "--period", "60", "--statistics", "Sum")["Datapoints"]
    assert sum(p["Sum"] for p in points) == traffic.calls
    listed = aws("cloudwatch", "list-metrics", "--namespace", "AWS/SageMaker", "--dimensions",
                 f"Name=EndpointName,Value={traffic.endpoint}")["Metrics"]
    assert "ModelLatency" in {m["MetricName"] for m in listed}
    found = aws("logs", "filter-log-events", "--log-group-name", traffic.group, "--filter-pattern",
                f'"printed {traffic.tag}"')["events"]
    assert [e["message"] for e in found] == [f"printed {traffic.tag}"]
    events = aws("logs", "get-log-events", "--log-group-name", traffic.group, "--log-stream-name",
                 traffic.error_stream, "--start-from-head")["events"]
    assert any(traffic.error_request_id in e["message"] for e in events)
    # serverless-ray logs prints the same group.
    printed = subprocess.run(
        [sys.executable, "-m", "serverless_ray.cli", "logs", traffic.endpoint, "--url", platform.url, "--since", "1h",
         "--filter", f'?"printed {traffic.tag}" ?"logged {traffic.tag}"'],
        capture_output=True, text=True, timeout=60, check=True).stdout.splitlines()
    assert len(printed) == 2 and printed[0].endswith(f"printed {traffic.tag}"), printed
    assert all(line.split(" ", 2)[1].startswith(f"{VARIANT}/") for line in printed)


def test_everything_is_there_after_scale_to_zero_and_a_restart(platform, traffic):
    wait_for(lambda: replica_gauge(platform.url, traffic.endpoint) == 0, timeout_s=120, what="scale to zero")
    _check_logs(platform.url, traffic)
    _check_metrics(platform.url, traffic)
    platform.restart()
    _check_metrics(platform.url, traffic)
    _check_logs(platform.url, traffic)
    # Retention is honoured and reported; a deleted group is gone.
    logs = _logs(platform.url)
    logs.put_retention_policy(logGroupName=traffic.group, retentionInDays=7)
    assert logs.describe_log_groups(logGroupNamePrefix=traffic.group)["logGroups"][0]["retentionInDays"] == 7
    with pytest.raises(logs.exceptions.InvalidParameterException):
        logs.put_retention_policy(logGroupName=traffic.group, retentionInDays=8)
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.get_log_events(logGroupName="/aws/sagemaker/Endpoints/nope", logStreamName="x")


def dashboard_series() -> set[str]:
    """The series every query of the Grafana dashboard reads."""
    import re

    doc = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in doc["panels"] for t in p["targets"]]
    return {name for e in exprs for name in re.findall(r"\bserverless_ray_[a-z0-9_]+", e)}


def test_every_dashboard_query_reads_a_series_of_metrics(platform, model_urls, traffic):
    """After the traffic above (cold starts included), a provisioned endpoint that is
    throttled while a call runs gives every family a sample: then each series the
    dashboard reads is in the cluster's /metrics."""
    sm, runtime = _client("sagemaker", platform.url), _client("sagemaker-runtime", platform.url)
    deployer = Deployer(sm)
    try:
        name = deployer.serverless(model_urls["chatty"], max_concurrency=1, provisioned=1)
        runtime.invoke_endpoint(EndpointName=name, Body=b"{}", ContentType="application/json")
        text = lambda: urllib.request.urlopen(f"{platform.url}/metrics", timeout=10).read().decode()  # noqa: E731
        with Background() as background:
            background.submit(runtime.invoke_endpoint, EndpointName=name, ContentType="application/json",
                              Body=json.dumps({"sleep": 15}))  # long enough to be seen in flight
            wait_for(lambda: metric_value(text(), "serverless_ray_in_flight", endpoint_name=name,
                                          variant_name=VARIANT) == 1, timeout_s=30, what="a call in flight")
            with pytest.raises(runtime.exceptions.ClientError) as throttled:
                runtime.invoke_endpoint(EndpointName=name, Body=b"{}", ContentType="application/json")
            assert throttled.value.response["Error"]["Code"] == "ThrottlingException"
            background.results()

        def missing() -> set[str]:
            from prometheus_client.parser import text_string_to_metric_families

            present = {s.name for f in text_string_to_metric_families(text()) for s in f.samples}
            return dashboard_series() - present

        try:
            wait_for(lambda: not missing(), timeout_s=30, what="every dashboard series")
        except AssertionError:
            assert missing() == set()  # names what is missing
        assert len(dashboard_series()) >= 15
    finally:
        deployer.cleanup()
