"""Event-stream framing, read back by botocore's own parser (its message decoder and the
sagemaker-runtime event-stream shape boto3 uses)."""

from __future__ import annotations

import io
import json

import botocore.session
import pytest
from botocore.eventstream import EventStream, EventStreamBuffer
from botocore.exceptions import EventStreamError
from botocore.parsers import EventStreamJSONParser
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from serverless_ray.gateway.eventstream import encode_message, exception_event, payload_part

_NAMES = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=20).filter(
    lambda name: len(name.encode()) <= 255)


# Examples are checked, not timed: a loaded machine must not fail them.
UNTIMED = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _decode(data: bytes) -> list:
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    return list(buffer)


@UNTIMED
@given(headers=st.dictionaries(_NAMES, st.text(max_size=100), max_size=5), payload=st.binary(max_size=2000))
def test_any_message_reads_back_as_written(headers, payload):
    [message] = _decode(encode_message(headers, payload))
    assert message.headers == headers and message.payload == payload


@UNTIMED
@given(parts=st.lists(st.binary(min_size=1, max_size=300), max_size=8), cut=st.integers(1, 64))
def test_a_stream_of_parts_reads_back_in_any_chunking(parts, cut):
    data = b"".join(payload_part(part) for part in parts)
    buffer, messages = EventStreamBuffer(), []
    for start in range(0, len(data), cut):  # as a socket may deliver it
        buffer.add_data(data[start:start + cut])
        messages.extend(buffer)
    assert [m.payload for m in messages] == parts


def test_a_header_value_too_long_for_the_format_is_refused():
    with pytest.raises(ValueError, match="too long"):
        encode_message({"h": "x" * 70000}, b"")


class _Raw:
    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def stream(self):
        yield from iter(lambda: self._data.read(7), b"")

    def close(self) -> None:
        pass


def _boto3_events(data: bytes) -> EventStream:
    """What boto3's ``invoke_endpoint_with_response_stream`` makes of a body."""
    model = botocore.session.get_session().get_service_model("sagemaker-runtime")
    shape = model.operation_model("InvokeEndpointWithResponseStream").output_shape.members["Body"]
    return EventStream(_Raw(data), shape, EventStreamJSONParser(), "InvokeEndpointWithResponseStream")


def test_boto3_reads_payload_parts_then_a_model_stream_error():
    fields = {"Message": "The model raised ValueError: boom (after 2 parts).", "ErrorCode": "StreamBroken"}
    data = payload_part(b"one") + payload_part(b"\x00two") + exception_event("ModelStreamError", fields)
    events = iter(_boto3_events(data))
    assert [next(events), next(events)] == [{"PayloadPart": {"Bytes": b"one"}}, {"PayloadPart": {"Bytes": b"\x00two"}}]
    with pytest.raises(EventStreamError) as caught:
        next(events)
    assert caught.value.response["Error"] == {"Code": "ModelStreamError", "Message": fields["Message"]}
    # botocore keeps only Code and Message; the ErrorCode travels in the event's JSON payload.
    [message] = _decode(exception_event("ModelStreamError", fields))
    assert message.headers[":message-type"] == "exception" and json.loads(message.payload) == fields


def test_boto3_reads_an_internal_stream_failure():
    with pytest.raises(EventStreamError) as caught:
        list(_boto3_events(exception_event("InternalStreamFailure", {"Message": "broken"})))
    assert caught.value.response["Error"] == {"Code": "InternalStreamFailure", "Message": "broken"}
