"""Errors on the wire: status, x-amzn-ErrorType, JSON body; and errors crossing processes."""

import json
import pickle

import pytest

from serverless_ray import errors
from serverless_ray.gateway.wire import AWS_JSON, REST_JSON, error_response, json_response

CASES = [
    (errors.ValidationException, 400, "ValidationException"),
    (errors.ResourceLimitExceeded, 400, "ResourceLimitExceeded"),
    (errors.ResourceInUse, 400, "ResourceInUse"),
    (errors.ResourceNotFound, 400, "ResourceNotFound"),
    (errors.UnknownOperationException, 400, "UnknownOperationException"),
    (errors.SerializationException, 400, "SerializationException"),
    (errors.InternalFailure, 500, "InternalFailure"),
    (errors.RuntimeValidationError, 400, "ValidationError"),
    (errors.ModelError, 424, "ModelError"),
    (errors.ModelNotReadyException, 429, "ModelNotReadyException"),
    (errors.ThrottlingException, 400, "ThrottlingException"),
    (errors.ServiceUnavailable, 503, "ServiceUnavailable"),
    (errors.ServiceError, 500, "InternalFailure"),
]


@pytest.mark.parametrize("cls, status, code", CASES)
def test_error_response_status_header_and_body(cls, status, code):
    response = error_response(cls("it went wrong"), "req-123")
    assert response.status_code == status
    assert response.headers["x-amzn-ErrorType"] == code
    assert response.headers["x-amzn-RequestId"] == "req-123"
    assert response.headers["content-type"] == AWS_JSON
    assert json.loads(response.body) == {"__type": code, "message": "it went wrong"}


def test_error_response_carries_extra_fields():
    error = errors.ModelError(
        "Received server error (500) from model", OriginalStatusCode=500, OriginalMessage="boom",
        LogStreamArn="arn:aws:logs:us-east-1:123456789012:log-group:/x",
    )
    response = error_response(error, "rid", media_type=REST_JSON)
    assert response.status_code == 424
    assert response.headers["content-type"] == REST_JSON
    assert response.headers["x-amzn-ErrorType"] == "ModelError"
    assert json.loads(response.body) == {
        "__type": "ModelError",
        "message": "Received server error (500) from model",
        "OriginalStatusCode": 500,
        "OriginalMessage": "boom",
        "LogStreamArn": "arn:aws:logs:us-east-1:123456789012:log-group:/x",
    }


def test_json_response():
    response = json_response({"EndpointArn": "arn:x"}, "rid", status=200)
    assert response.status_code == 200
    assert response.headers["x-amzn-RequestId"] == "rid"
    assert "x-amzn-ErrorType" not in response.headers
    assert response.body == b'{"EndpointArn":"arn:x"}'


def test_error_message_and_str():
    error = errors.ResourceNotFound("Could not find endpoint \"e\".")
    assert error.message == 'Could not find endpoint "e".'
    assert str(error) == 'Could not find endpoint "e".'
    assert error.fields == {}


@pytest.mark.parametrize("cls, status, code", CASES)
def test_errors_survive_pickling_with_their_fields(cls, status, code):
    original = cls("message text", OriginalStatusCode=503, Extra={"nested": [1, 2]})
    restored = pickle.loads(pickle.dumps(original))
    assert type(restored) is cls
    assert restored.message == "message text"
    assert str(restored) == "message text"
    assert restored.fields == {"OriginalStatusCode": 503, "Extra": {"nested": [1, 2]}}
    assert (restored.code, restored.status) == (code, status)
    assert restored.body() == original.body()


def test_error_without_fields_pickles():
    restored = pickle.loads(pickle.dumps(errors.ThrottlingException("slow down")))
    assert isinstance(restored, errors.ThrottlingException)
    assert restored.body() == {"__type": "ThrottlingException", "message": "slow down"}
