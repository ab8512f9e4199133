"""The invocation service's streamed invocation without Ray: the fakes of
test_invocation_service (routes, dispatcher, admission, hooks); real demand tracking,
metrics and errors."""

from __future__ import annotations

import asyncio

import pytest
from test_invocation_service import Recorder, Setup

from serverless_ray.errors import (
    InternalStreamFailure,
    ModelError,
    ModelStreamError,
    ModelTimedOut,
    RuntimeValidationError,
    ServiceError,
    ThrottlingException,
)
from serverless_ray.gateway.invocation_types import InvocationRequest, StreamedReply
from serverless_ray.messages import InvocationResult, StreamEnd
from serverless_ray.quota.admission import Throttled


def _request(endpoint: str = "ep") -> InvocationRequest:
    return InvocationRequest(endpoint_name=endpoint, body=b"{}", request_id="req-1")


def stream(s: Setup, endpoint: str = "ep") -> tuple[StreamedReply, list[bytes], ServiceError | None]:
    """Stream to the end: the reply, the parts, and the error that ended it (if any)."""

    async def run():
        reply = await s.service.invoke_stream(_request(endpoint))
        received = []
        try:
            async for part in reply.parts:
                received.append(part)
        except ServiceError as error:
            return reply, received, error
        return reply, received, None

    return asyncio.run(run())


def refused(s: Setup, endpoint: str = "ep") -> ServiceError:
    async def run():
        await s.service.invoke_stream(_request(endpoint))

    with pytest.raises(ServiceError) as caught:
        asyncio.run(run())
    return caught.value


def test_parts_are_passed_on_and_the_slot_is_held_until_the_last():
    hook = Recorder()
    s = Setup(hooks=[hook])
    seen = {}

    async def run():
        reply = await s.service.invoke_stream(_request())
        seen["held"], seen["in_flight"] = s.admission.held, s.demand.in_flight("ep")
        parts = [part async for part in reply.parts]
        return reply, parts

    reply, parts = asyncio.run(run())
    assert parts == [b"one", b"two"]
    assert (reply.content_type, reply.variant_name, reply.request_id, reply.custom_attributes) == (
        "application/json", "AllTraffic", "req-1", "seen=1")
    assert seen == {"held": 1, "in_flight": 1}
    assert (s.admission.held, s.demand.in_flight("ep"), s.dispatcher.streams_closed) == (0, 0, 1)
    assert s.metric("serverless_ray_streamed_parts_total") == 2
    assert s.metric("serverless_ray_streamed_bytes_total") == 6
    assert s.metric("serverless_ray_time_to_first_byte_microseconds_count") == 1
    assert s.metric("serverless_ray_model_latency_microseconds_sum") == 750000  # the model's time to its last part
    assert s.metric("serverless_ray_standby_invocations_total") == 1
    [outcome] = hook.outcomes
    assert (outcome.error, outcome.parts, outcome.response_bytes, outcome.model_seconds) == (None, 2, 6, 0.75)
    assert isinstance(outcome.reply, StreamedReply) and outcome.streamed


def test_an_empty_stream_has_no_parts():
    s = Setup()
    s.dispatcher.stream_items = [StreamEnd(model_seconds=0.1)]
    _, parts, error = stream(s)
    assert (parts, error) == ([], None)
    assert s.metric("serverless_ray_time_to_first_byte_microseconds_count") is None


def test_failures_before_the_first_part_are_invoke_endpoints_errors():
    hook = Recorder()
    s = Setup(hooks=[hook])
    assert isinstance(refused(s, "nope"), RuntimeValidationError)
    s.admission.refuse = Throttled("endpoint", 2)
    assert isinstance(refused(s), ThrottlingException)
    s.admission.refuse = None
    s.dispatcher.result = InvocationResult(415, b"no such format", "text/plain")
    error = refused(s)
    assert isinstance(error, ModelError) and error.fields["ErrorCode"] == "CLIENT_ERROR_FROM_MODEL"
    s.dispatcher.result = InvocationResult(200, b"", "text/plain")
    s.dispatcher.stream_items = [b"y" * 65]
    assert "Received a response of 65 bytes" in refused(s).message
    s.dispatcher.error = ModelTimedOut("too slow")
    assert isinstance(refused(s), ModelTimedOut)
    assert (s.admission.held, s.demand.in_flight("ep")) == (0, 0)
    assert [type(o.error).__name__ for o in hook.outcomes] == [
        "RuntimeValidationError", "ThrottlingException", "ModelError", "ModelError", "ModelTimedOut"]
    assert s.metric("serverless_ray_invocation_4xx_errors_total") == 1
    assert s.metric("serverless_ray_invocation_5xx_errors_total") == 2


@pytest.mark.parametrize("failure, error_code, says", [
    (StreamEnd(model_seconds=0.5, error="ValueError: boom"), "StreamBroken", "The model raised ValueError: boom"),
    (ModelTimedOut("late", OriginalMessage="late"), "ModelInvocationTimeExceeded", "invocation timeout"),
    (ModelError("gone", OriginalMessage="The replica failed: RayActorError."), "StreamBroken", "RayActorError"),
    (b"y" * 65, "StreamBroken", "a part of 65 bytes"),
])
def test_a_failure_after_parts_ends_the_stream_with_a_model_stream_error(failure, error_code, says):
    hook = Recorder()
    s = Setup(hooks=[hook])
    s.dispatcher.stream_items = [b"one", b"two", failure]
    _, parts, error = stream(s)
    assert parts == [b"one", b"two"]
    assert isinstance(error, ModelStreamError) and error.fields == {"ErrorCode": error_code}
    assert says in error.message and "after 2 parts" in error.message
    assert s.metric("serverless_ray_invocation_5xx_errors_total") == 1
    assert (s.admission.held, s.dispatcher.streams_closed) == (0, 1)
    assert hook.outcomes[0].error is error and hook.outcomes[0].parts == 2


@pytest.mark.parametrize("failure", [KeyError("bug"), 42])
def test_a_bug_after_parts_is_an_internal_stream_failure(failure):
    s = Setup()
    s.dispatcher.stream_items = [b"one", failure]
    _, parts, error = stream(s)
    assert parts == [b"one"] and isinstance(error, InternalStreamFailure)
    assert s.admission.held == 0


def test_a_client_that_goes_away_ends_the_invocation():
    hook = Recorder()
    s = Setup(hooks=[hook])

    async def closed_after_the_first_part():
        reply = await s.service.invoke_stream(_request())
        assert await anext(reply.parts) == b"one"
        await reply.parts.aclose()

    asyncio.run(closed_after_the_first_part())
    assert (s.admission.held, s.demand.in_flight("ep"), s.dispatcher.streams_closed) == (0, 0, 1)
    error = hook.outcomes[0].error
    assert isinstance(error, ModelStreamError) and "The client closed the stream (after 1 part)" in error.message


def test_a_client_that_goes_away_while_a_part_is_awaited_ends_the_invocation():
    s = Setup()
    state = {}

    async def cancelled_while_waiting():
        never = asyncio.Event()
        s.dispatcher.stream_items = [b"one", never, b"two"]
        reply = await s.service.invoke_stream(_request())
        assert await anext(reply.parts) == b"one"
        waiting = asyncio.ensure_future(anext(reply.parts))
        for _ in range(5):
            await asyncio.sleep(0)
        state["held while waiting"] = s.admission.held
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)

    asyncio.run(cancelled_while_waiting())
    assert state == {"held while waiting": 1}
    assert (s.admission.held, s.dispatcher.streams_closed) == (0, 1)
