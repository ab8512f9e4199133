"""The gateway's one authentication check, over fakes of the invocation service and the
controller: every refusal in AWS's shape, in the protocol of its path, before any
handler runs; probes stay open; local model data is fenced for outside callers."""

from __future__ import annotations

import datetime
import json

import pytest
from starlette.testclient import TestClient

from serverless_ray.auth.authenticator import Authenticator
from serverless_ray.auth.credentials import Credentials, internal_principal
from serverless_ray.gateway.app import build_app
from serverless_ray.gateway.wire import AWS_JSON, REST_JSON
from signed_requests import sign
from test_gateway_http import FakeControl, FakeInvocations

ACCOUNT = "123456789012"
ADMIN = ("AKIAADMIN00000000001", "admin-secret-0123456789abcdef")
INVOKER = ("AKIAINVOKER000000001", "invoker-secret-0123456789abcd")
CREDENTIALS = Credentials.model_validate({"principals": [
    {"name": "admin", "access_key_id": ADMIN[0], "secret_access_key": ADMIN[1],
     "policy": {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}},
    {"name": "invoker", "access_key_id": INVOKER[0], "secret_access_key": INVOKER[1],
     "policy": {"Statement": [{"Effect": "Allow", "Action": "sagemaker:InvokeEndpoint",
                               "Resource": "arn:aws:sagemaker:*:*:endpoint/prod-*"}]}},
]})
INTERNAL = internal_principal()


@pytest.fixture
def gateway(tmp_path):
    invocations, control = FakeInvocations(), FakeControl()
    authenticator = Authenticator.for_platform(
        CREDENTIALS, region="us-east-1", account_id=ACCOUNT, internal=INTERNAL, model_data_roots=[tmp_path])

    async def metrics_text() -> bytes:
        return b"gateway 1\n"

    app = build_app(invocations=invocations, control=control, metrics_text=metrics_text, ready=lambda: True,
                    authenticator=authenticator)
    return TestClient(app, raise_server_exceptions=False), invocations, control


def send(client, path: str, body: bytes = b"{}", *, keys=ADMIN, target: str | None = None, service="sagemaker",
         region="us-east-1", headers: dict | None = None, **sign_kwargs):
    headers = {"Content-Type": AWS_JSON if target else "application/json", **(headers or {})}
    if target:
        headers["X-Amz-Target"] = target
    signed = sign("POST", f"http://testserver{path}", headers=headers, body=body, key_id=keys[0], secret=keys[1],
                  service=service, region=region, at=datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None),
                  **sign_kwargs)
    return client.post(path, content=signed.body, headers=[(n, v) for n, v in signed.headers if n.lower() != "host"])


def error_of(response) -> tuple[int, str, str]:
    body = response.json()
    assert body["__type"] == response.headers["x-amzn-ErrorType"]
    return response.status_code, body["__type"], body["message"]


def create_model(client, name="m", url="s3://bucket/model.tar.gz", keys=ADMIN):
    body = json.dumps({"ModelName": name, "PrimaryContainer": {"Image": "i", "ModelDataUrl": url}}).encode()
    return send(client, "/", body, keys=keys, target="SageMaker.CreateModel")


def test_a_signed_allowed_request_reaches_the_controller(gateway):
    client, _, control = gateway
    response = create_model(client)
    assert response.status_code == 200
    assert control.calls == [("SageMaker", "CreateModel", {
        "ModelName": "m", "PrimaryContainer": {"Image": "i", "ModelDataUrl": "s3://bucket/model.tar.gz"}})]


def test_an_unsigned_request_is_missing_its_token_and_reaches_nothing(gateway):
    client, invocations, control = gateway
    response = client.post("/", content=b"{}", headers={"X-Amz-Target": "SageMaker.ListModels"})
    assert error_of(response) == (403, "MissingAuthenticationTokenException", "Missing Authentication Token")
    assert response.headers["content-type"].startswith(AWS_JSON)
    response = client.post("/endpoints/prod-a/invocations", content=b"[1]")
    assert error_of(response)[:2] == (403, "MissingAuthenticationTokenException")
    assert response.headers["content-type"].startswith(REST_JSON)  # the runtime's protocol
    assert control.calls == [] and invocations.requests == []


@pytest.mark.parametrize("authorization, says", [
    ("AWS4-HMAC-SHA256 Credential=AKIAADMIN00000000001/20240101/us-east-1/sagemaker/aws4_request",
     "requires 'SignedHeaders' parameter"),
    ("Bearer abc", "only AWS4-HMAC-SHA256"),
])
def test_a_malformed_authorization_header_is_an_incomplete_signature(gateway, authorization, says):
    client, _, control = gateway
    response = client.post("/", content=b"{}", headers={"Authorization": authorization, "X-Amz-Date": "20240101T000000Z",
                                                        "X-Amz-Target": "SageMaker.ListModels"})
    status, code, message = error_of(response)
    assert (status, code) == (403, "IncompleteSignatureException") and says in message
    assert control.calls == []


def test_an_unknown_access_key_is_an_unrecognized_client(gateway):
    client, _, control = gateway
    response = send(client, "/", keys=("AKIANOBODY0000000001", "whatever-secret-0123456789"),
                    target="SageMaker.ListModels")
    assert error_of(response) == (403, "UnrecognizedClientException",
                                  "The security token included in the request is invalid.")
    assert control.calls == []


def test_a_wrong_secret_is_an_invalid_signature(gateway):
    client, _, control = gateway
    response = send(client, "/", keys=(ADMIN[0], "not-the-secret-0123456789"), target="SageMaker.ListModels")
    status, code, message = error_of(response)
    assert (status, code) == (403, "InvalidSignatureException")
    assert message.startswith("The request signature we calculated does not match")
    assert control.calls == []


def test_a_body_changed_after_signing_is_refused(gateway):
    client, _, control = gateway
    signed = sign("POST", "http://testserver/", headers={"X-Amz-Target": "SageMaker.ListModels"}, body=b"{}",
                  key_id=ADMIN[0], secret=ADMIN[1],
                  at=datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None))
    response = client.post("/", content=b'{"MaxResults": 1}',
                           headers=[(n, v) for n, v in signed.headers if n.lower() != "host"])
    assert error_of(response)[:2] == (403, "InvalidSignatureException")
    assert control.calls == []


def test_signatures_from_outside_the_clock_window_are_refused(gateway):
    client, _, control = gateway
    old = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(minutes=10)
    signed = sign("POST", "http://testserver/", headers={"X-Amz-Target": "SageMaker.ListModels"}, body=b"{}",
                  key_id=ADMIN[0], secret=ADMIN[1], at=old)
    response = client.post("/", content=signed.body, headers=[(n, v) for n, v in signed.headers if n.lower() != "host"])
    status, code, message = error_of(response)
    assert (status, code) == (403, "InvalidSignatureException") and message.startswith("Signature expired")
    assert control.calls == []


def test_the_credential_scope_names_the_service_and_region_of_the_operation(gateway):
    client, _, _ = gateway
    response = send(client, "/", target="SageMaker.ListModels", service="application-autoscaling")
    assert error_of(response) == (403, "InvalidSignatureException",
                                  "Credential should be scoped to correct service: 'sagemaker'.")
    response = send(client, "/", target="SageMaker.ListModels", region="eu-west-1")
    status, code, message = error_of(response)
    assert code == "InvalidSignatureException" and "'eu-west-1'" in message and "'us-east-1'" in message
    assert send(client, "/", target="AnyScaleFrontendService.DescribeScalableTargets",
                service="application-autoscaling").status_code == 200


def test_access_denied_names_the_user_action_and_resource_as_aws_does(gateway):
    client, invocations, control = gateway
    response = create_model(client, keys=INVOKER)
    assert error_of(response) == (400, "AccessDeniedException", (
        f"User: arn:aws:iam::{ACCOUNT}:user/invoker is not authorized to perform: sagemaker:CreateModel on "
        f"resource: arn:aws:sagemaker:us-east-1:{ACCOUNT}:model/m because no identity-based policy allows the "
        "sagemaker:CreateModel action"))
    response = send(client, "/endpoints/dev-a/invocations", b"[1]", keys=INVOKER)
    status, code, message = error_of(response)
    assert (status, code) == (400, "AccessDeniedException")
    assert f"on resource: arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint/dev-a" in message
    assert response.headers["content-type"].startswith(REST_JSON)
    response = send(client, "/endpoints/prod-a/invocations", b"[1]", keys=INVOKER)
    assert response.status_code == 200
    assert [r.endpoint_name for r in invocations.requests] == ["prod-a"]
    assert control.calls == []


def test_an_operation_no_recognizer_knows_needs_every_action_of_its_service(gateway):
    client, _, _ = gateway
    response = send(client, "/no/such/path", keys=INVOKER)
    status, code, message = error_of(response)
    assert (code, status) == ("AccessDeniedException", 400) and "perform: sagemaker:* on resource: *" in message
    assert send(client, "/no/such/path").status_code == 404  # allowed everything: the router answers


def test_probes_and_scrapers_need_no_signature(gateway):
    client, _, _ = gateway
    assert client.get("/healthz").status_code == 200
    assert client.get("/metrics").text == "gateway 1\n"


def test_local_model_data_outside_the_roots_is_refused_naming_them(gateway, tmp_path):
    client, _, control = gateway
    inside = tmp_path / "models" / "m.tar.gz"
    assert create_model(client, "a", f"file://{inside}").status_code == 200
    assert create_model(client, "b", str(inside)).status_code == 200
    for url in ("file:///etc/passwd", "/etc", f"{tmp_path}/../elsewhere", "relative/model.tar.gz"):
        status, code, message = error_of(create_model(client, "c", url))
        assert (status, code) == (400, "ValidationException")
        assert str(tmp_path) in message and url in message
    assert [c[2]["ModelName"] for c in control.calls] == ["a", "b"]


def test_code_shipped_apart_from_the_model_data_is_fenced_too(gateway, tmp_path):
    client, _, control = gateway

    def with_source(name: str, source: str):
        body = json.dumps({"ModelName": name, "PrimaryContainer": {
            "Image": "i", "ModelDataUrl": "s3://bucket/model.tar.gz",
            "Environment": {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": source}}}).encode()
        return send(client, "/", body, keys=ADMIN, target="SageMaker.CreateModel")

    assert with_source("a", f"file://{tmp_path}/code/sourcedir.tar.gz").status_code == 200
    assert with_source("b", "s3://bucket/code/sourcedir.tar.gz").status_code == 200
    assert with_source("c", "/opt/ml/model/code").status_code == 200  # inside the model data
    status, code, message = error_of(with_source("d", "file:///etc/sourcedir.tar.gz"))
    assert (status, code) == (400, "ValidationException")
    assert message.startswith("Environment.SAGEMAKER_SUBMIT_DIRECTORY 'file:///etc/sourcedir.tar.gz'")
    assert str(tmp_path) in message
    assert [c[2]["ModelName"] for c in control.calls] == ["a", "b", "c"]


def test_a_local_hugging_face_model_directory_is_fenced_too(gateway, tmp_path):
    client, _, control = gateway

    def with_model_id(name: str, model_id: str):
        body = json.dumps({"ModelName": name, "PrimaryContainer": {
            "Image": "i", "Environment": {"HF_TASK": "fill-mask", "HF_MODEL_ID": model_id}}}).encode()
        return send(client, "/", body, keys=ADMIN, target="SageMaker.CreateModel")

    assert with_model_id("a", f"{tmp_path}/bert").status_code == 200
    assert with_model_id("b", "distilbert/distilbert-base-uncased").status_code == 200  # a Hub id reads no path
    status, code, message = error_of(with_model_id("c", "file:///etc"))
    assert (status, code) == (400, "ValidationException")
    assert message.startswith("Environment.HF_MODEL_ID 'file:///etc'") and str(tmp_path) in message
    assert [c[2]["ModelName"] for c in control.calls] == ["a", "b"]


def test_in_cluster_callers_are_not_fenced(gateway):
    client, _, control = gateway
    keys = (INTERNAL.access_key_id, INTERNAL.secret())
    assert create_model(client, "mine", "/anywhere/model", keys=keys).status_code == 200
    assert [c[2]["ModelName"] for c in control.calls] == ["mine"]
