"""The gateway's cost meter as an invocation hook, over the real invocation service with
fakes around it: what it meters, what it leaves out, how it sends."""

from __future__ import annotations

import asyncio

import pytest
from test_invocation_service import INSTANCES, SERVERLESS, Setup

from serverless_ray.errors import RuntimeValidationError, ThrottlingException
from serverless_ray.gateway.metering import MeteringHook
from serverless_ray.messages import Route
from serverless_ray.quota.admission import Throttled

SIZED = Route("ep", "AllTraffic", "sr-ep-g1", max_concurrency=2, provisioned_concurrency=1, memory_size_mb=2048)
BIG = Route("big", "Blue", "sr-big-g1-blue", 0, serverless=False, variants=INSTANCES.variants)


def test_served_invocations_are_metered_refused_ones_are_not():
    sent: list = []

    async def send(rows):
        sent.append(rows)

    hook = MeteringHook(send, wall_clock=lambda: 125.0)
    s = Setup(SIZED, BIG, hooks=[hook])
    s.clock.now = 100.0

    original = s.dispatcher.invoke

    async def slow(route, call):
        s.clock.advance(0.25)  # the invocation takes 250 ms
        return await original(route, call)

    s.dispatcher.invoke = slow
    s.invoke(body=b"1234")  # provisioned concurrency 1, nothing else in flight: served on it
    with pytest.raises(RuntimeValidationError):
        s.invoke("nope")  # no compute ran
    s.admission.refuse = Throttled("endpoint", 2)
    with pytest.raises(ThrottlingException):
        s.invoke()  # throttled before any compute
    s.admission.refuse = None
    s.invoke("big")  # instance-based: billed by the hour, not metered here
    assert asyncio.run(hook.flush())
    [[row]] = sent
    assert (row.bucket, row.key.endpoint_name, row.key.variant_name, row.key.memory_mb) == (120, "ep", "AllTraffic", 2048)
    usage = row.usage
    assert (usage.invocations, usage.gb_seconds, usage.provisioned_compute_gb_seconds) == (1, 0.5, 0.5)
    assert usage.processed_bytes == 4 + len(b'{"ok": true}')


def test_the_outcome_tells_whether_compute_ran_and_on_what_capacity():
    from test_invocation_service import Recorder

    hook = Recorder()
    s = Setup(hooks=[hook])
    s.invoke()
    with pytest.raises(RuntimeValidationError):
        s.invoke("nope")
    served, unknown = hook.outcomes
    assert (served.dispatched, served.provisioned, served.route) == (True, True, SERVERLESS)
    assert (unknown.dispatched, unknown.provisioned, unknown.route) == (False, None, None)


def test_a_streamed_invocation_is_metered_to_its_last_part():
    from test_invocation_streaming import stream

    sent: list = []

    async def send(rows):
        sent.append(rows)

    hook = MeteringHook(send, wall_clock=lambda: 125.0)
    s = Setup(SIZED, hooks=[hook])
    s.clock.now = 100.0
    s.dispatcher.stream_items = _Ticking(s.dispatcher.stream_items, s.clock)  # b"one", b"two", the end
    _, received, error = stream(s)
    assert (received, error) == ([b"one", b"two"], None)
    assert asyncio.run(hook.flush())
    [[row]] = sent
    usage = row.usage
    assert (usage.invocations, usage.gb_seconds) == (1, 1.5)  # 2 GB x 0.75 s, to the end of the stream
    assert usage.processed_bytes == 2 + len(b"onetwo")  # request plus every part


def test_a_batch_the_controller_could_not_take_is_sent_again():
    attempts: list = []

    async def send(rows):
        attempts.append(rows)
        if len(attempts) == 1:
            raise ConnectionError("the controller is restarting")

    async def run():
        hook = MeteringHook(send, flush_interval_s=0.01, wall_clock=lambda: 60.0)
        s = Setup(SIZED, hooks=[hook])
        hook.on_finish(_outcome(s))
        hook.start()
        while len(attempts) < 2:
            await asyncio.sleep(0.01)
        await hook.stop()
        return attempts

    first, second = asyncio.run(run())
    assert first == second and first[0].usage.invocations == 1


class _Ticking(list):
    """Stream items, each (and the end) a quarter second after the one before."""

    def __init__(self, items, clock) -> None:
        super().__init__(items)
        self._clock = clock

    def __iter__(self):
        for item in super().__iter__():
            self._clock.advance(0.25)
            yield item


def _outcome(_setup):
    from serverless_ray.gateway.invocation_types import InvocationOutcome, InvocationRequest

    return InvocationOutcome(request=InvocationRequest("ep", b"ab"), variant_name="AllTraffic", duration_s=1.0,
                             route=SIZED, dispatched=True)
