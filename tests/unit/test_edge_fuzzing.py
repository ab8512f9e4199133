"""Fuzzing at the edge: whatever arrives over HTTP (any JSON shape, wrong types, odd and
huge unicode, missing and extra fields, bodies that are not JSON at all, any headers),
every SageMaker and Application Auto Scaling operation and InvokeEndpoint answer with a
success or an AWS-shaped client error, never a 500, and a refused call leaves the store
exactly as it was.

The real app, the real control plane and scaling service over a real SQLite store, the
real invocation service over a fake replica: no Ray, so the examples are many and quick.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st
from plane_harness import Harness
from starlette.testclient import TestClient
from test_invocation_service import SERVERLESS, Dispatcher, Routes
from test_spec_properties import VOCABULARY

from serverless_ray.control.operations import run_operation
from serverless_ray.gateway.app import build_app
from serverless_ray.gateway.demand import DemandTracker
from serverless_ray.gateway.invocations import InvocationService
from serverless_ray.metrics.invocations import InvocationMetrics
from serverless_ray.settings import PlatformSettings
from serverless_ray.spec.services import APPLICATION_AUTOSCALING, SAGEMAKER

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Odd unicode: lone surrogates (JSON can carry them escaped), controls, right-to-left
# marks, astral characters, and strings far beyond any field's limit.
odd_text = (
    st.text(st.characters(codec=None, categories=None), max_size=40)
    | st.sampled_from(["\ud800", "a\udfffb", "\u202eevil", "\x00", "e\u0301", "\U0001f600" * 3, "ＡＬＬ", "\ufeff"])
    | st.builds(lambda c, n: c * n, st.sampled_from(["x", "é", "\U0001f600"]), st.integers(300, 70_000))
)
names = st.sampled_from(["fz-model", "fz-config", "fz-endpoint", "AllTraffic", "missing", "FZ-ENDPOINT"])
scalars = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | odd_text | names
           | st.sampled_from(["endpoint/fz-endpoint/variant/AllTraffic", "sagemaker",
                              "sagemaker:variant:DesiredProvisionedConcurrency", "cron(0 * * * ? *)"]))
FIELDS = sorted(set(VOCABULARY) | {
    "ServiceNamespace", "ResourceId", "ScalableDimension", "MinCapacity", "MaxCapacity", "PolicyName",
    "PolicyType", "TargetTrackingScalingPolicyConfiguration", "TargetValue", "PredefinedMetricSpecification",
    "PredefinedMetricType", "ScheduledActionName", "Schedule", "ScalableTargetAction", "ResourceIds",
    "MaxResults", "NextToken", "EndpointName", "EndpointConfigName", "ModelName", "Tags", "ResourceArn",
})
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(FIELDS) | odd_text, inner, max_size=6),
    max_leaves=25,
)


class InProcessControl:
    """The controller's ``call`` over the harness's services, with the controller's own
    error mapping (:func:`run_operation`)."""

    def __init__(self, harness: Harness) -> None:
        self._services = {SAGEMAKER: harness.plane.call, APPLICATION_AUTOSCALING: harness.scaling.call}

    async def call(self, service, operation, payload):
        return await run_operation(self._services, service, operation, payload)


class Edge:
    """The app over a store holding one of everything, and the operations it serves."""

    def __init__(self) -> None:
        directory = Path(tempfile.mkdtemp(prefix="edge-fuzz-"))
        h = self.harness = Harness(directory)
        h.finish(h.endpoint("fz-endpoint", h.serverless_config("fz-config", h.model("fz-model"))))
        h.call("AddTags", {"ResourceArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/fz-endpoint",
                           "Tags": [{"Key": "team", "Value": "edge"}]})
        self.operations = [(SAGEMAKER, op) for op in sorted(h.plane.operations)] + [
            (APPLICATION_AUTOSCALING, op) for op in sorted(h.scaling.operations)]
        settings_ = PlatformSettings(state_dir=directory, artifact_cache_dir=directory / "cache")

        async def report(_reports) -> None:
            return None

        invocations = InvocationService(settings_, routes=Routes(SERVERLESS), dispatcher=Dispatcher(),
                                        demand=DemandTracker(report), metrics=InvocationMetrics())

        async def metrics_text() -> bytes:
            return b""

        app = build_app(invocations=invocations, control=InProcessControl(h), metrics_text=metrics_text,
                        ready=lambda: True)
        self.client = TestClient(app, raise_server_exceptions=False)
        self._database = directory / "state.sqlite3"

    def contents(self) -> list[str]:
        """Every row of the store, read through a connection of its own."""
        with sqlite3.connect(self._database) as db:
            return list(db.iterdump())


_EDGE: list[Edge] = []


@pytest.fixture(scope="module")
def edge() -> Edge:
    if not _EDGE:
        _EDGE.append(Edge())
    return _EDGE[0]


def _assert_aws_answer(response) -> None:
    """A success, or an AWS-shaped client error that SDKs read the code of."""
    if response.status_code == 200:
        return
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:500])
    body = response.json()
    assert isinstance(body, dict) and set(body) >= {"__type", "message"}, body
    assert body["__type"] == response.headers["x-amzn-ErrorType"]
    assert isinstance(body["message"], str) and body["message"]
    assert response.headers["x-amzn-RequestId"]


def _post_operation(edge: Edge, target: str, body: bytes) -> None:
    before = edge.contents()
    response = edge.client.post("/", content=body, headers={"X-Amz-Target": target,
                                                            "Content-Type": "application/x-amz-json-1.1"})
    _assert_aws_answer(response)
    if response.status_code != 200:
        assert edge.contents() == before, f"{target} was refused ({response.json()}) but changed the store"


@FUZZ
@given(st.data())
def test_any_json_to_any_operation_is_answered_or_refused_cleanly(edge, data):
    service, operation = data.draw(st.sampled_from(edge.operations))
    payload = data.draw(json_values)
    _post_operation(edge, f"{service}.{operation}", json.dumps(payload).encode())


@FUZZ
@given(st.data())
def test_a_valid_looking_request_with_one_field_broken_is_refused_cleanly(edge, data):
    """Objects whose keys are the shapes' own field names reach the deep validators."""
    service, operation = data.draw(st.sampled_from(edge.operations))
    payload = data.draw(st.dictionaries(st.sampled_from(FIELDS), json_values, min_size=1, max_size=8))
    _post_operation(edge, f"{service}.{operation}", json.dumps(payload).encode())


@FUZZ
@given(st.sampled_from([f"{s}." for s in (SAGEMAKER, APPLICATION_AUTOSCALING)]) | st.just(""),
       odd_text.filter(lambda t: t.isascii() and "\x00" not in t) | st.sampled_from(["ListModels", "DescribeEndpoint"]),
       st.binary(max_size=200) | st.sampled_from([b"", b"null", b"[]", b'"x"', b"1e999", b"{" * 2000, b"\xff\xfe{}",
                                                            b"[" * 100_000 + b"]" * 100_000, b'{"A":' * 5000 + b"1" + b"}" * 5000]))
def test_any_target_and_body_bytes_are_answered_or_refused_cleanly(edge, prefix, operation, body):
    _post_operation(edge, prefix + operation, body)


HEADER_NAMES = ["Content-Type", "Accept", "X-Amzn-SageMaker-Custom-Attributes", "X-Amzn-SageMaker-Target-Variant",
                "X-Amzn-SageMaker-Target-Model", "X-Amzn-SageMaker-Inference-Id", "X-Amzn-SageMaker-Session-Id",
                "Content-Length-Extra", "X-Amz-Target", "Authorization"]


@FUZZ
@given(st.sampled_from(["ep", "EP", "missing", "new"]) | odd_text,
       st.binary(max_size=300) | st.sampled_from([b"", b"{}", b"x" * 6_300_000]),
       st.lists(st.tuples(st.sampled_from(HEADER_NAMES) | st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,20}", fullmatch=True),
                          st.binary(max_size=80).filter(lambda b: b"\r" not in b and b"\n" not in b)
                          | st.sampled_from([b"AllTraffic", b"Other", b"application/json", b"\xe2\x82\xac" * 400])),
                max_size=6))
def test_any_invocation_is_answered_or_refused_cleanly(edge, name, body, headers):
    path = "/endpoints/" + quote(name.encode("utf-8", "surrogatepass"), safe="") + "/invocations"
    # The client refuses URLs over 64 KiB (httpx's limit) before anything is sent.
    assume(len(path) < 60_000)
    response = edge.client.post(path, content=body, headers=[(k.encode(), v) for k, v in headers])
    _assert_aws_answer(response)


@pytest.mark.parametrize("body", [b"\x80{}", b"[" * 100_000 + b"]" * 100_000, b'{"A":' * 100_000 + b"1" + b"}" * 100_000],
                         ids=["not utf-8", "deep array", "deep object"])
def test_bodies_json_cannot_read_are_serialization_errors(edge, body):
    before = edge.contents()
    response = edge.client.post("/", content=body, headers={"X-Amz-Target": "SageMaker.CreateModel"})
    assert (response.status_code, response.json()["__type"]) == (400, "SerializationException")
    assert edge.contents() == before
