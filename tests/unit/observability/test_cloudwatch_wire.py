"""CloudWatch's protocols: what botocore sends in each is read back as the same payload,
and what we answer parses in botocore to what the service returned (pure, no Ray)."""

from __future__ import annotations

import datetime as dt

import pytest
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from serverless_ray.cloudwatch import wire
from serverless_ray.errors import InvalidParameterValueException

REQUEST = {
    "Namespace": "AWS/SageMaker", "MetricName": "ModelLatency",
    "Dimensions": [{"Name": "EndpointName", "Value": "ep"}, {"Name": "VariantName", "Value": "AllTraffic"}],
    "StartTime": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc),
    "EndTime": dt.datetime(2026, 1, 2, 4, 4, 5, tzinfo=dt.timezone.utc),
    "Period": 60, "Statistics": ["Sum", "Average"], "ExtendedStatistics": ["p99.9"], "Unit": "Microseconds",
}
EXPECTED = {**REQUEST, "StartTime": REQUEST["StartTime"].timestamp(), "EndTime": REQUEST["EndTime"].timestamp()}
REPLY = {"Label": "ModelLatency", "Datapoints": [
    {"Timestamp": 1767323040.0, "Sum": 12.5, "Average": 6.25, "Unit": "Microseconds",
     "ExtendedStatistics": {"p99.9": 10.0}}]}


def _serialize(protocol: str, operation: str, params: dict) -> dict:
    model = wire.service_model().operation_model(operation)
    return create_serializer(protocol).serialize_to_request(params, model)


def _parse(protocol: str, operation: str, body: bytes, status: int = 200, headers: dict | None = None) -> dict:
    model = wire.service_model().operation_model(operation)
    response = {"body": body, "status_code": status, "headers": headers or {}}
    return create_parser(protocol).parse(response, model.output_shape)


def test_json_requests_and_replies():
    request = _serialize("json", "GetMetricStatistics", REQUEST)
    assert wire.decode_json("GetMetricStatistics", request["body"]) == EXPECTED
    parsed = _parse("json", "GetMetricStatistics", wire.encode_json("GetMetricStatistics", REPLY))
    assert parsed["Datapoints"][0]["Timestamp"] == dt.datetime.fromtimestamp(1767323040, dt.timezone.utc)
    assert parsed["Datapoints"][0]["ExtendedStatistics"] == {"p99.9": 10.0}


def test_query_requests_and_xml_replies():
    request = _serialize("query", "GetMetricStatistics", REQUEST)
    body = request["body"] if isinstance(request["body"], bytes) else _form(request["body"])
    operation, payload = wire.decode_query(body)
    assert (operation, payload) == ("GetMetricStatistics", EXPECTED)
    xml = wire.encode_xml("GetMetricStatistics", REPLY, "req-1")
    parsed = _parse("query", "GetMetricStatistics", xml)
    point = parsed["Datapoints"][0]
    assert (point["Sum"], point["Average"], point["ExtendedStatistics"], point["Unit"]) == (
        12.5, 6.25, {"p99.9": 10.0}, "Microseconds")
    assert point["Timestamp"] == dt.datetime.fromtimestamp(1767323040, dt.timezone.utc)
    assert parsed["ResponseMetadata"]["RequestId"] == "req-1"


def test_get_metric_data_in_query_form():
    params = {"MetricDataQueries": [{"Id": "a", "MetricStat": {
        "Metric": {"Namespace": "AWS/SageMaker", "MetricName": "Invocations",
                   "Dimensions": [{"Name": "EndpointName", "Value": "ep"}]}, "Period": 60, "Stat": "Sum"},
        "ReturnData": False}], "StartTime": REQUEST["StartTime"], "EndTime": REQUEST["EndTime"],
        "ScanBy": "TimestampAscending", "MaxDatapoints": 10}
    request = _serialize("query", "GetMetricData", params)
    body = request["body"] if isinstance(request["body"], bytes) else _form(request["body"])
    _, payload = wire.decode_query(body)
    assert payload["MetricDataQueries"][0]["MetricStat"]["Metric"]["Dimensions"] == [
        {"Name": "EndpointName", "Value": "ep"}]
    assert payload["MetricDataQueries"][0]["ReturnData"] is False and payload["MaxDatapoints"] == 10
    reply = {"MetricDataResults": [{"Id": "a", "Label": "Invocations", "Timestamps": [60.0, 120.0],
                                    "Values": [1.0, 2.0], "StatusCode": "Complete", "Messages": []}],
             "Messages": []}
    parsed = _parse("query", "GetMetricData", wire.encode_xml("GetMetricData", reply, "r"))
    assert parsed["MetricDataResults"][0]["Values"] == [1.0, 2.0]


def test_cbor_requests_and_replies():
    request = _serialize("smithy-rpc-v2-cbor", "GetMetricStatistics", REQUEST)
    assert request["url_path"] == f"{wire.CBOR_PATH_PREFIX}GetMetricStatistics"
    assert wire.decode_cbor("GetMetricStatistics", request["body"]) == EXPECTED
    parsed = _parse("smithy-rpc-v2-cbor", "GetMetricStatistics", wire.encode_cbor("GetMetricStatistics", REPLY))
    assert parsed["Datapoints"][0]["Timestamp"] == dt.datetime.fromtimestamp(1767323040, dt.timezone.utc)


@pytest.mark.parametrize("protocol", ["json", "query", "smithy-rpc-v2-cbor"])
def test_errors_carry_the_query_code_clients_catch(protocol):
    error = InvalidParameterValueException("The parameter Period must be 1, 5, 10, 30 or a multiple of 60.")
    headers = {"x-amzn-requestid": "r", **wire.query_error_header(error)}
    body = {"json": lambda: wire.json_error(error), "query": lambda: wire.xml_error(error, "r"),
            "smithy-rpc-v2-cbor": lambda: wire.cbor_error(error)}[protocol]()
    parsed = _parse(protocol, "GetMetricStatistics", body, status=400, headers=headers)
    assert parsed["Error"]["Code"] == "InvalidParameterValue"
    assert "Period" in parsed["Error"]["Message"]


def test_bad_input_is_invalid_parameter_value():
    with pytest.raises(InvalidParameterValueException, match="not valid JSON"):
        wire.decode_json("ListMetrics", b"{")
    with pytest.raises(InvalidParameterValueException, match="not a valid timestamp"):
        wire.decode_json("GetMetricStatistics", b'{"StartTime": "yesterday"}')
    with pytest.raises(Exception, match="PutMetricAlarm is not supported"):
        wire.decode_query(b"Action=PutMetricAlarm&Version=2010-08-01")


def _form(params: dict) -> bytes:
    from urllib.parse import urlencode

    return urlencode(params).encode()


