"""InvokeEndpointWithResponseStream through boto3: parts as the model yields them, the same
endpoint through InvokeEndpoint, errors before and after the first part, a cold endpoint,
a client that goes away, throttling; and the Python handles' ``stream``."""

from __future__ import annotations

import json
import time

import pytest
from botocore.exceptions import ClientError, EventStreamError
from conftest import MODELS, _client, make_tarball
from support import Background, Deployer, Latch, metric_value, replica_gauge, serve_replicas, wait_for

import serverless_ray


@pytest.fixture(scope="module")
def streamer_url(tmp_path_factory, ray_cluster) -> str:
    return f"file://{make_tarball(MODELS / 'streamer', tmp_path_factory.mktemp('streamer') / 'streamer.tar.gz')}"


@pytest.fixture(scope="module")
def streamer(platform, streamer_url):
    """An endpoint of the streaming test model at MaxConcurrency 1, kept warm by its
    provisioned concurrency: its calls go to its Serve replica, never to a standby."""
    deployer = Deployer(_client("sagemaker", platform.url))
    name = deployer.serverless(streamer_url, max_concurrency=1, provisioned=1)
    wait_for(lambda: replica_gauge(platform.url, name) == 1, timeout_s=90, what="the provisioned replica")
    yield name
    deployer.cleanup()


@pytest.fixture
def cold_streamer(platform, deployer, streamer_url):
    """A fresh endpoint of the streaming test model, scaled to zero, with a standby ready."""
    from conftest import SCALE_TO_ZERO_AFTER_S

    name = deployer.serverless(streamer_url, max_concurrency=1)
    wait_for(lambda: replica_gauge(platform.url, name) == 0, timeout_s=SCALE_TO_ZERO_AFTER_S + 30,
             what="scale to zero")
    wait_for(lambda: (metric_value(_metrics(platform.url), "serverless_ray_standby_replicas", state="idle") or 0) >= 1,
             timeout_s=60, what="an idle standby")
    return name


def _stream(runtime, name: str, controls: dict, **params):
    return runtime.invoke_endpoint_with_response_stream(
        EndpointName=name, ContentType="application/json", Body=json.dumps(controls), **params)


def _parts(response) -> list[bytes]:
    return [event["PayloadPart"]["Bytes"] for event in response["Body"]]


def _metrics(url: str) -> str:
    import urllib.request

    return urllib.request.urlopen(f"{url}/metrics", timeout=10).read().decode()


def test_parts_arrive_as_the_model_yields_them(platform, runtime, streamer):
    response = _stream(runtime, streamer, {"parts": 5, "interval": 0.3}, Accept="text/plain",
                       CustomAttributes="trace=1", InferenceId="my-request-1")
    assert response["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/vnd.amazon.eventstream"
    assert (response["ContentType"], response["InvokedProductionVariant"]) == ("text/plain", "AllTraffic")
    arrivals = []
    for event in response["Body"]:
        assert set(event) == {"PayloadPart"}
        arrivals.append((time.monotonic(), event["PayloadPart"]["Bytes"]))
    assert [part for _, part in arrivals] == [f"part-{i};".encode() for i in range(5)]
    # Four 0.3 s pauses between the first part and the last: they were not sent together.
    assert arrivals[-1][0] - arrivals[0][0] >= 1.0
    labels = dict(endpoint_name=streamer, variant_name="AllTraffic")
    metrics = _metrics(platform.url)
    assert metric_value(metrics, "serverless_ray_streamed_parts_total", **labels) >= 5
    assert metric_value(metrics, "serverless_ray_streamed_bytes_total", **labels) >= 35
    assert metric_value(metrics, "serverless_ray_time_to_first_byte_microseconds_count", **labels) >= 1


def test_invoke_endpoint_joins_the_parts(runtime, streamer):
    reply = runtime.invoke_endpoint(EndpointName=streamer, ContentType="application/json",
                                    Body=json.dumps({"parts": 3}))
    assert (reply["Body"].read(), reply["ContentType"]) == (b"part-0;part-1;part-2;", "text/plain")


def test_a_model_that_raises_after_two_parts_ends_the_stream_with_model_stream_error(runtime, streamer):
    response = _stream(runtime, streamer, {"parts": 5, "fail_after": 2})
    received = []
    with pytest.raises(EventStreamError) as caught:
        for event in response["Body"]:
            received.append(event["PayloadPart"]["Bytes"])
    assert received == [b"part-0;", b"part-1;"]
    assert caught.value.response["Error"]["Code"] == "ModelStreamError"
    assert "ValueError: failed after 2 parts" in caught.value.response["Error"]["Message"]


def test_errors_before_the_first_part_are_invoke_endpoints(runtime, streamer):
    with pytest.raises(ClientError) as caught:
        _stream(runtime, streamer, {"parts": 5, "fail_after": 0})
    error = caught.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == ("ModelError", 424)
    assert (error["OriginalStatusCode"], error["OriginalMessage"]) == (500, "failed after 0 parts")
    with pytest.raises(ClientError) as unknown:
        _stream(runtime, "no-such-endpoint", {})
    assert unknown.value.response["Error"]["Code"] == "ValidationError"


def test_a_client_that_stops_reading_frees_the_slot_and_the_generator_is_closed(platform, streamer, tmp_path):
    announce = tmp_path / "announce"
    produced = _read_one_part_and_go(platform, streamer, tmp_path, announce=str(announce))
    assert 1 <= produced < 100
    # The stream ran in the endpoint's Serve replica (Serve's streaming handle was cancelled).
    assert int(announce.read_text()) in {r["pid"] for r in serve_replicas(streamer) if r["state"] == "RUNNING"}
    _assert_admitted(platform, streamer)


def test_a_cold_stream_whose_client_goes_away_frees_its_standby_and_slot(platform, cold_streamer, tmp_path):
    produced = _read_one_part_and_go(platform, cold_streamer, tmp_path)
    assert 1 <= produced < 100
    # A standby answered (Ray's streaming generator call was cancelled).
    labels = dict(endpoint_name=cold_streamer, variant_name="AllTraffic")
    assert metric_value(_metrics(platform.url), "serverless_ray_standby_invocations_total", **labels) == 1
    _assert_admitted(platform, cold_streamer)


def _read_one_part_and_go(platform, name: str, tmp_path, **controls) -> int:
    """Stream 100 parts, read the first, close the connection; how many parts the model
    produced before its generator's ``finally`` ran."""
    runtime = _client("sagemaker-runtime", platform.url)  # its own connection, closed below
    cleanup = tmp_path / "cleanup"
    response = _stream(runtime, name, {"parts": 100, "interval": 0.2, "cleanup": str(cleanup), **controls})
    assert next(iter(response["Body"]))["PayloadPart"]["Bytes"] == b"part-0;"
    response["Body"].close()
    return int(wait_for(lambda: cleanup.exists() and cleanup.read_text(), timeout_s=60,
                        what="the generator's finally"))


def _assert_admitted(platform, name: str) -> None:
    """At MaxConcurrency 1, a call is admitted: the closed stream's slot is free again."""
    reply = _client("sagemaker-runtime", platform.url).invoke_endpoint(
        EndpointName=name, ContentType="application/json", Body=json.dumps({"parts": 2}))
    assert reply["Body"].read() == b"part-0;part-1;"


def test_streams_are_throttled_like_invocations(runtime, streamer, tmp_path):
    with Background() as background, Latch(tmp_path) as latch:
        held = background.submit(lambda: _parts(_stream(runtime, streamer, latch.body(parts=2))))
        wait_for(latch.started, timeout_s=60, what="the first stream in the model")
        # MaxConcurrency 1, taken by the held stream: refused before any part, as InvokeEndpoint is.
        with pytest.raises(ClientError) as caught:
            _stream(runtime, streamer, {"parts": 1})
        assert caught.value.response["Error"]["Code"] == "ThrottlingException"
        latch.release()
        assert held.result(timeout=60) == [b"part-0;", b"part-1;"]


def test_a_cold_endpoint_streams_from_a_standby(platform, runtime, cold_streamer):
    assert _parts(_stream(runtime, cold_streamer, {"parts": 3, "interval": 0.1})) == [
        b"part-0;", b"part-1;", b"part-2;"]
    labels = dict(endpoint_name=cold_streamer, variant_name="AllTraffic")
    metrics = _metrics(platform.url)
    assert metric_value(metrics, "serverless_ray_standby_invocations_total", **labels) == 1
    assert metric_value(metrics, "serverless_ray_streamed_parts_total", **labels) == 3
    assert metric_value(metrics, "serverless_ray_overhead_latency_microseconds_count", **labels, cold="true") == 1


def test_python_handles_stream(platform, tmp_path_factory):
    from python_models import count

    handle = serverless_ray.run(count, platform=platform.platform,
                                code_root=tmp_path_factory.mktemp("python-streaming"))
    try:
        assert list(handle.stream(json.dumps({"to": 3}))) == [b"0;", b"1;", b"2;"]
        assert handle.invoke(json.dumps({"to": 4})) == b"0;1;2;3;"
    finally:
        sm = _client("sagemaker", platform.url)
        sm.delete_endpoint(EndpointName="py-count")
        sm.get_waiter("endpoint_deleted").wait(EndpointName="py-count", WaiterConfig={"Delay": 1, "MaxAttempts": 60})
