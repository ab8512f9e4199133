"""The gateway's HTTP layer over a fake invocation service and a fake controller:
requests become InvocationRequests, replies responses, and every error (typed, unknown
path, or a bug) an AWS-shaped answer, rendered in one place."""

from __future__ import annotations

import json

import pytest
from botocore.eventstream import EventStreamBuffer
from starlette.testclient import TestClient

from serverless_ray.errors import ModelError, ModelStreamError, ThrottlingException, ValidationException
from serverless_ray.gateway.app import build_app
from serverless_ray.gateway.invocation_types import InvocationReply, InvocationRequest, StreamedReply
from serverless_ray.gateway.wire import AWS_JSON, REST_JSON


class FakeInvocations:
    def __init__(self) -> None:
        self.requests: list[InvocationRequest] = []
        self.answer: object = None
        self.stream_parts: list = [b"to", b"kens"]  # an exception among them is raised there
        self.streams_closed = 0

    def clock(self) -> float:
        return 7.0

    async def invoke(self, request: InvocationRequest) -> InvocationReply:
        self.requests.append(request)
        if isinstance(self.answer, Exception):
            raise self.answer
        return InvocationReply(b"4.75", "text/csv", "AllTraffic", request.request_id, custom_attributes="echo=1")

    async def invoke_stream(self, request: InvocationRequest) -> StreamedReply:
        self.requests.append(request)
        if isinstance(self.answer, Exception):
            raise self.answer

        async def parts():
            try:
                for item in self.stream_parts:
                    if isinstance(item, Exception):
                        raise item
                    yield item
            finally:
                self.streams_closed += 1

        return StreamedReply("text/plain", "AllTraffic", request.request_id, "echo=1", parts())


class FakeControl:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, object]] = []
        self.answer: object = {"EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/e"}

    async def call(self, service, operation, payload):
        self.calls.append((service, operation, payload))
        return self.answer


@pytest.fixture
def parts():
    invocations, control, state = FakeInvocations(), FakeControl(), {"ready": False}

    async def metrics_text() -> bytes:
        return b"controller 1\n" + b"gateway 2\n"

    app = build_app(invocations=invocations, control=control, metrics_text=metrics_text,
                    ready=lambda: state["ready"])
    return TestClient(app, raise_server_exceptions=False), invocations, control, state


def _error(response) -> tuple[int, str, str, str]:
    body = response.json()
    assert body["__type"] == response.headers["x-amzn-ErrorType"]
    assert response.headers["x-amzn-RequestId"]
    return response.status_code, response.headers["content-type"], body["__type"], body["message"]


def test_an_invocation_is_handed_to_the_service_and_its_reply_sent_back(parts):
    client, invocations, _, _ = parts
    response = client.post("/endpoints/ep/invocations", content=b"1,2,3", headers={
        "Content-Type": "text/csv", "Accept": "text/csv", "X-Amzn-SageMaker-Custom-Attributes": "a=1",
        "X-Amzn-SageMaker-Target-Variant": "AllTraffic"})
    assert response.status_code == 200 and response.content == b"4.75"
    assert response.headers["content-type"] == "text/csv"  # exactly as the model gave it
    assert response.headers["x-Amzn-Invoked-Production-Variant"] == "AllTraffic"
    assert response.headers["X-Amzn-SageMaker-Custom-Attributes"] == "echo=1"
    [request] = invocations.requests
    assert (request.endpoint_name, request.body, request.content_type, request.accept, request.custom_attributes,
            request.target_variant, request.received_at) == ("ep", b"1,2,3", "text/csv", "text/csv", "a=1",
                                                             "AllTraffic", 7.0)
    assert response.headers["x-amzn-RequestId"] == request.request_id


def test_a_service_error_is_rendered_in_rest_json_with_its_fields(parts):
    client, invocations, _, _ = parts
    invocations.answer = ThrottlingException("slow down")
    assert _error(client.post("/endpoints/ep/invocations", content=b"{}")) == (
        400, REST_JSON, "ThrottlingException", "slow down")
    invocations.answer = ModelError("boom", OriginalStatusCode=500, OriginalMessage="trace")
    response = client.post("/endpoints/ep/invocations", content=b"{}")
    assert response.status_code == 424 and response.json()["OriginalStatusCode"] == 500


def _events(body: bytes) -> list:
    buffer = EventStreamBuffer()
    buffer.add_data(body)
    return list(buffer)


def test_a_streamed_invocation_is_sent_as_an_event_stream(parts):
    client, invocations, _, _ = parts
    response = client.post("/endpoints/ep/invocations-response-stream", content=b"hi", headers={
        "Content-Type": "text/plain", "X-Amzn-SageMaker-Accept": "text/plain", "Accept": "ignored/here",
        "X-Amzn-SageMaker-Custom-Attributes": "a=1", "X-Amzn-SageMaker-Inference-Id": "mine-1"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.amazon.eventstream"
    assert (response.headers["X-Amzn-SageMaker-Content-Type"], response.headers["x-Amzn-Invoked-Production-Variant"],
            response.headers["X-Amzn-SageMaker-Custom-Attributes"]) == ("text/plain", "AllTraffic", "echo=1")
    events = _events(response.content)
    assert [(e.headers[":event-type"], e.payload) for e in events] == [("PayloadPart", b"to"), ("PayloadPart", b"kens")]
    [request] = invocations.requests
    assert (request.body, request.accept, request.custom_attributes, request.inference_id) == (
        b"hi", "text/plain", "a=1", "mine-1")
    assert response.headers["x-amzn-RequestId"] == request.request_id
    assert invocations.streams_closed == 1


def test_a_stream_that_fails_after_parts_ends_with_an_exception_event(parts):
    client, invocations, _, _ = parts
    invocations.stream_parts = [b"to", ModelStreamError("it broke", ErrorCode="StreamBroken")]
    response = client.post("/endpoints/ep/invocations-response-stream", content=b"{}")
    part, failure = _events(response.content)
    assert (response.status_code, part.payload) == (200, b"to")
    assert (failure.headers[":message-type"], failure.headers[":exception-type"]) == ("exception", "ModelStreamError")
    assert json.loads(failure.payload) == {"Message": "it broke", "ErrorCode": "StreamBroken"}


def test_a_stream_refused_before_its_first_part_is_an_ordinary_error(parts):
    client, invocations, _, _ = parts
    invocations.answer = ThrottlingException("slow down")
    assert _error(client.post("/endpoints/ep/invocations-response-stream", content=b"{}")) == (
        400, REST_JSON, "ThrottlingException", "slow down")


def test_a_bug_is_an_internal_failure_in_the_aws_shape(parts):
    client, invocations, control, _ = parts
    invocations.answer = RuntimeError("bug")
    assert _error(client.post("/endpoints/ep/invocations", content=b"{}")) == (
        500, REST_JSON, "InternalFailure", "Internal error while handling POST /endpoints/ep/invocations: RuntimeError")
    control.answer = KeyError("bug")  # not a ServiceError: raised by the route, caught by the app
    control.call = _raising(KeyError("bug"))
    status, media, code, _ = _error(client.post("/", json={}, headers={"X-Amz-Target": "SageMaker.ListModels"}))
    assert (status, media, code) == (500, AWS_JSON, "InternalFailure")


def _raising(exc):
    async def call(*args):
        raise exc

    return call


def test_aws_json_operations_go_to_the_controller(parts):
    client, _, control, _ = parts
    response = client.post("/", content=b'{"EndpointName": "e"}', headers={"X-Amz-Target": "SageMaker.DescribeEndpoint"})
    assert response.status_code == 200 and response.headers["content-type"] == AWS_JSON
    assert response.json() == control.answer
    client.post("/", content=b"", headers={"X-Amz-Target": "AnyScaleFrontendService.DescribeScalableTargets"})
    assert control.calls == [("SageMaker", "DescribeEndpoint", {"EndpointName": "e"}),
                             ("AnyScaleFrontendService", "DescribeScalableTargets", {})]
    control.answer = ValidationException("Could not find endpoint")
    assert _error(client.post("/", content=b"{}", headers={"X-Amz-Target": "SageMaker.DescribeEndpoint"})) == (
        400, AWS_JSON, "ValidationException", "Could not find endpoint")


def test_unknown_targets_and_bad_json_are_refused_before_the_controller(parts):
    client, _, control, _ = parts
    status, _, code, message = _error(client.post("/", content=b"{}", headers={"X-Amz-Target": "Lambda.Invoke"}))
    assert (status, code) == (400, "UnknownOperationException")
    assert "'SageMaker.<Operation>', 'AnyScaleFrontendService.<Operation>'" in message
    status, _, code, _ = _error(client.post("/", content=b"{nope", headers={"X-Amz-Target": "SageMaker.ListModels"}))
    assert (status, code) == (400, "SerializationException")
    assert control.calls == []


def test_unknown_paths_are_unknown_operations_in_the_aws_shape(parts):
    client, _, _, _ = parts
    status, media, code, message = _error(client.post("/endpoints/ep/async-invocations", content=b"{}"))
    assert (status, media, code) == (404, REST_JSON, "UnknownOperationException")
    assert message.startswith("Operation InvokeEndpointAsync is not supported by this platform")
    status, media, code, message = _error(client.post("/no/such/path"))
    assert (status, media, code) == (404, AWS_JSON, "UnknownOperationException")
    assert "No operation is served at POST /no/such/path" in message
    status, _, code, _ = _error(client.get("/endpoints/ep/invocations"))
    assert (status, code) == (405, "UnknownOperationException")


def test_health_and_metrics(parts):
    client, _, _, state = parts
    assert client.get("/healthz").status_code == 503
    state["ready"] = True
    assert client.get("/healthz").json() == {"status": "ok"}
    response = client.get("/metrics")
    assert response.text == "controller 1\ngateway 2\n"
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")


def test_every_error_answer_carries_the_request_id_it_was_given(parts):
    client, invocations, _, _ = parts
    invocations.answer = ThrottlingException("slow down")
    response = client.post("/endpoints/ep/invocations", content=b"{}")
    assert response.headers["x-amzn-RequestId"] == invocations.requests[0].request_id
    assert json.loads(response.content)["message"] == "slow down"
