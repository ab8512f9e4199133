"""Which IAM action and resource each API's requests are authorized as, from requests
botocore itself builds (whatever protocol the installed botocore picks) and from the
query protocol's form bodies."""

from __future__ import annotations

from urllib.parse import urlsplit

import boto3
import pytest

from serverless_ray.auth.catalog import platform_operations
from serverless_ray.auth.operations import Arns, RequestView

ARNS = Arns("us-east-1", "123456789012")


class _Sent(Exception):
    def __init__(self, request) -> None:
        self.request = request


def _built_by(service: str, operation: str, **params) -> RequestView:
    client = boto3.client(service, endpoint_url="http://127.0.0.1:9", region_name="us-east-1",
                          aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key="example-secret")

    def stop(request, **_):
        raise _Sent(request)

    client.meta.events.register("before-send", stop)
    with pytest.raises(_Sent) as sent:
        getattr(client, operation)(**params)
    request = sent.value.request
    body = request.body or b""
    return RequestView(
        method=request.method, path=urlsplit(request.url).path or "/",
        headers={name.lower(): value.decode() if isinstance(value, bytes) else value
                 for name, value in request.headers.items()},
        body=body if isinstance(body, bytes) else body.encode(),
    )


def _identify(view: RequestView):
    operation = platform_operations().identify(view, ARNS)
    assert operation is not None, f"no recognizer knows {view.method} {view.path} {dict(view.headers)}"
    return operation


@pytest.mark.parametrize("operation, params, action", [
    ("get_metric_statistics", {"Namespace": "AWS/SageMaker", "MetricName": "Invocations", "StartTime": 0,
                               "EndTime": 60, "Period": 60, "Statistics": ["Sum"]}, "cloudwatch:GetMetricStatistics"),
    ("list_metrics", {"Namespace": "AWS/SageMaker"}, "cloudwatch:ListMetrics"),
])
def test_cloudwatch_calls_are_cloudwatch_actions_on_every_resource(operation, params, action):
    found = _identify(_built_by("cloudwatch", operation, **params))
    assert (found.signing_name, found.action, found.resource) == ("monitoring", action, "*")


def test_cloudwatch_query_protocol_form_bodies_are_recognized():
    view = RequestView("POST", "/", {"content-type": "application/x-www-form-urlencoded; charset=utf-8"},
                       b"Action=GetMetricData&Version=2010-08-01&StartTime=2026-01-01T00%3A00%3A00Z")
    found = _identify(view)
    assert (found.signing_name, found.action, found.resource) == ("monitoring", "cloudwatch:GetMetricData", "*")


def test_cloudwatch_cbor_paths_are_recognized():
    view = RequestView("POST", "/service/GraniteServiceVersion20100801/operation/ListMetrics",
                       {"content-type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"}, b"\xa0")
    assert _identify(view).action == "cloudwatch:ListMetrics"


def test_logs_calls_name_their_log_group():
    found = _identify(_built_by("logs", "get_log_events", logGroupName="/aws/sagemaker/Endpoints/prod-a",
                                logStreamName="AllTraffic/r1"))
    assert (found.signing_name, found.action) == ("logs", "logs:GetLogEvents")
    assert found.resource == "arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/Endpoints/prod-a:*"


def test_logs_calls_without_a_group_are_on_every_resource():
    found = _identify(_built_by("logs", "describe_log_groups"))
    assert (found.action, found.resource) == ("logs:DescribeLogGroups", "*")


def test_the_platforms_own_operations_are_serverless_ray_actions_signed_as_sagemaker():
    def view(operation: str, payload: bytes) -> RequestView:
        return RequestView("POST", "/", {"x-amz-target": f"ServerlessRay.{operation}",
                                         "content-type": "application/x-amz-json-1.1"}, payload)

    found = _identify(view("GetCostAndUsage", b'{"EndpointName": "prod-a"}'))
    assert (found.signing_name, found.action) == ("sagemaker", "serverless-ray:GetCostAndUsage")
    assert found.resource == "arn:aws:sagemaker:us-east-1:123456789012:endpoint/prod-a"
    assert _identify(view("GetCostAndUsage", b"{}")).resource == "*"
    assert _identify(view("ListEndpointCapacity", b"{}")).action == "serverless-ray:ListEndpointCapacity"
