"""Dispatch of a streamed invocation (no Ray cluster): from a lent standby when cold, from
Serve's stream when warm, under one timeout for the whole stream, and what a stream left
early or broken does to its source and its standby."""

from __future__ import annotations

import pytest
from ray.exceptions import RayActorError
from test_cold_start_bridge import APP, World, call, route, run, settle

from serverless_ray.errors import ModelError, ModelTimedOut
from serverless_ray.gateway.stream_dispatch import stream_reply
from serverless_ray.isolation.records import ExitRecord
from serverless_ray.messages import InvocationResult, ReplicaReply, StreamEnd


class ServeStream:
    """Stands for Serve's streaming response: ``items`` (an exception is raised there)."""

    def __init__(self, items) -> None:
        self.items = items
        self.closed = False

    async def read(self):
        try:
            for item in self.items:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self.closed = True


def _serve(items=()):
    head = ReplicaReply(InvocationResult(200, b"", "text/plain"), model_seconds=0.001)
    return ServeStream([head, *items, StreamEnd(model_seconds=0.002)])


async def _all(stream) -> list:
    return [item async for item in stream]


def test_a_cold_stream_comes_from_a_lent_standby_and_returns_it():
    async def scenario():
        world = await World().start()
        items = await _all(stream_reply(route(), call(1), bridge=world.bridge, from_serve=_unused, timeout_s=5))
        head, *parts, end = items
        assert head.standby and parts == [b"a", b"b"] and isinstance(end, StreamEnd)
        # Returned in good order: the same standby answers the lane's next call.
        standby = next(s for s in world.spawned if s.adopted)
        assert (await world.bridge.invoke(route(), call(2))).standby and standby.served == [b"1", b"2"]

    run(scenario())


def _unused():
    raise AssertionError("a cold call went to Serve")


def test_a_warm_stream_comes_from_serve_and_a_reader_that_stops_early_closes_it():
    async def scenario():
        world = await World().start()
        world.counts[APP] = 1
        serve = _serve([b"x", b"y"])
        stream = stream_reply(route(), call(), bridge=world.bridge, from_serve=serve.read, timeout_s=5)
        head = await anext(stream)
        assert not head.standby and await anext(stream) == b"x"
        await stream.aclose()
        assert serve.closed

    run(scenario())


def test_the_timeout_covers_the_whole_stream_and_breaks_the_lease():
    async def scenario():
        world = await World().start()
        stream = stream_reply(route(), call(), bridge=world.bridge, from_serve=_unused, timeout_s=0.2)
        assert (await anext(stream)).standby
        world.invoke_gate.clear()  # the model stops producing parts
        with pytest.raises(ModelTimedOut, match="timed out"):
            await _all(stream)
        await settle()
        standby = next(s for s in world.spawned if s.adopted)
        assert standby.killed  # a standby whose stream overran is replaced

    run(scenario())


def test_a_replica_that_dies_mid_stream_is_a_model_error():
    async def scenario():
        serve = _serve([b"x", RayActorError()])
        with pytest.raises(ModelError, match="The replica failed: RayActorError"):
            await _all(stream_reply(route(), call(), bridge=None, from_serve=serve.read, timeout_s=5))
        assert serve.closed

    run(scenario())


def test_a_replica_that_dies_of_a_limit_mid_stream_is_reported_by_that_limit():
    async def scenario():
        serve = _serve([b"x", RayActorError(actor_id="replica-1")])
        record = ExitRecord(cause="memory", message="The replica ran out of its 1024 MB of memory.", at=0.0)
        verdicts = {"replica-1": record}.get
        with pytest.raises(ModelError, match="ran out of its 1024 MB") as caught:
            await _all(stream_reply(route(), call(), bridge=None, from_serve=serve.read, timeout_s=5,
                                    verdicts=verdicts))
        assert caught.value.fields["OriginalMessage"] == record.message

    run(scenario())


def test_a_stream_still_waiting_for_its_standby_times_out():
    async def scenario():
        world = await World().start()
        world.adopt_gate.clear()  # the standby never finishes adopting
        with pytest.raises(ModelTimedOut):
            await _all(stream_reply(route(), call(), bridge=world.bridge, from_serve=_unused, timeout_s=0.1))

    run(scenario())
