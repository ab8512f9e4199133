"""InvokeEndpoint semantics: payloads, headers, model data sources and errors."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError


@pytest.fixture(scope="module")
def echo_endpoint(platform, model_urls):
    from conftest import _client
    from support import Deployer

    deployer = Deployer(_client("sagemaker", platform.url))
    name = deployer.endpoint(deployer.config(
        deployer.model(model_urls["echo_s3"], environment={"COLOR": "teal"}), max_concurrency=2
    ))
    yield name
    deployer.cleanup()


def test_json_body_headers_and_environment(runtime, echo_endpoint):
    reply = runtime.invoke_endpoint(
        EndpointName=echo_endpoint, ContentType="application/json", Accept="application/json",
        CustomAttributes="trace=1", Body=json.dumps({"x": 1}),
    )
    body = json.loads(reply["Body"].read())
    assert body["greeting"] == "hello from model data"  # model_fn read the unpacked s3:// model
    assert body["content_type"] == "application/json"
    assert body["accept"] == "application/json"
    assert json.loads(body["body"]) == {"x": 1}
    assert body["custom_attributes"] == "trace=1"
    assert body["env_color"] == "teal"
    assert reply["CustomAttributes"] == "echo=trace=1"
    assert reply["InvokedProductionVariant"] == "AllTraffic"


def test_binary_body_and_default_accept(runtime, echo_endpoint):
    reply = runtime.invoke_endpoint(
        EndpointName=echo_endpoint, ContentType="application/octet-stream", Body=bytes([0, 1, 2, 255]),
    )
    body = json.loads(reply["Body"].read())
    assert body["body"].encode("latin-1") == bytes([0, 1, 2, 255])
    assert body["accept"] == "application/json"  # missing Accept → SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT


def test_model_error_carries_original_status_and_message(runtime, deployer, model_urls):
    name = deployer.serverless(model_urls["linear"])
    with pytest.raises(ClientError) as caught:
        runtime.invoke_endpoint(EndpointName=name, ContentType="text/csv", Body="1,2")
    error = caught.value.response
    assert error["Error"]["Code"] == "ModelError"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert error["OriginalStatusCode"] == 500
    assert "expected rows of 3 features" in error["OriginalMessage"]
    # The stream of the replica that answered, in the endpoint's log group.
    assert f":log-group:/aws/sagemaker/Endpoints/{name}:log-stream:AllTraffic/" in error["LogStreamArn"]
    # An unsupported content type is the client's fault: the model answered 4xx? No, the
    # example's input_fn raises ValueError, which the handler contract maps to 500.
    with pytest.raises(ClientError) as unsupported:
        runtime.invoke_endpoint(EndpointName=name, ContentType="application/x-unknown", Body=b"?")
    assert unsupported.value.response["OriginalStatusCode"] == 500


def test_unknown_endpoint_is_a_validation_error(runtime):
    with pytest.raises(ClientError) as caught:
        runtime.invoke_endpoint(EndpointName="no-such-endpoint", Body=b"{}", ContentType="application/json")
    assert caught.value.response["Error"]["Code"] == "ValidationError"
    assert caught.value.response["Error"]["Message"] == "Endpoint no-such-endpoint of account 123456789012 not found."


def test_oversize_body_is_rejected_before_the_model(runtime, echo_endpoint):
    with pytest.raises(ClientError) as caught:
        runtime.invoke_endpoint(EndpointName=echo_endpoint, Body=b"x" * (4 * 1024 * 1024 + 1))
    assert caught.value.response["Error"]["Code"] == "ValidationError"
    assert "has oversize body" in caught.value.response["Error"]["Message"]
