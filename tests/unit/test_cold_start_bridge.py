"""ColdStartBridge and StandbyPool: cold invocations answered by adopted standbys (no Ray)."""

from __future__ import annotations

import asyncio

import pytest

from serverless_ray.gateway.cold_start_bridge import ColdStartBridge
from serverless_ray.gateway.standby_pool import StandbyPool
from serverless_ray.messages import (
    InvocationResult,
    NotAdoptable,
    ReplicaCall,
    ReplicaReply,
    ReplicaSpec,
    Route,
    StreamEnd,
)

APP = "sr-ep-g1"
SPEC = ReplicaSpec("ep", "AllTraffic", "file:///model", "/tmp/cache")


def route(max_concurrency: int = 8, replica: ReplicaSpec | None = SPEC) -> Route:
    return Route("ep", "AllTraffic", APP, max_concurrency, replica=replica)


def call(n: int = 0) -> ReplicaCall:
    return ReplicaCall(str(n).encode(), "text/plain", None, None, f"req-{n}", 0.0)


class FakeStandby:
    def __init__(self, world: "World") -> None:
        self.world = world
        self.adopted: ReplicaSpec | None = None
        self.killed = False
        self.died = False  # its process is gone (the pool has not killed it)
        self.served: list[bytes] = []

    async def alive(self) -> bool:
        return not self.died

    async def adopt(self, spec: ReplicaSpec) -> float:
        await self.world.adopt_gate.wait()
        if self.world.adopt_error is not None:
            raise self.world.adopt_error
        self.adopted = spec
        return 0.05

    async def invoke(self, call: ReplicaCall) -> ReplicaReply:
        assert self.adopted is not None and not self.killed
        await self.world.invoke_gate.wait()
        if self.world.invoke_error is not None:
            raise self.world.invoke_error
        self.served.append(call.body)
        return ReplicaReply(InvocationResult(200, call.body, "text/plain"), model_seconds=0.001)

    async def stream(self, call: ReplicaCall):
        assert self.adopted is not None and not self.killed
        self.served.append(call.body)
        yield ReplicaReply(InvocationResult(200, b"", "text/plain"), model_seconds=0.001)
        for part in self.world.stream_parts:
            await self.world.invoke_gate.wait()
            yield part
        yield StreamEnd(model_seconds=0.002)

    def kill(self) -> None:
        self.killed = True


class World:
    """A pool of fake standbys and Serve's replica counts, both under the test's control."""

    def __init__(self, pool_size: int = 2, release_idle_after_s: float = 60.0) -> None:
        self.spawned: list[FakeStandby] = []
        self.counts: dict[str, int] = {APP: 0}
        self.adopt_gate = asyncio.Event()
        self.adopt_gate.set()
        self.invoke_gate = asyncio.Event()
        self.invoke_gate.set()
        self.adopt_error: Exception | None = None
        self.invoke_error: Exception | None = None
        self.stream_parts: list[bytes] = [b"a", b"b"]
        self.pool = StandbyPool(pool_size, self._spawn)
        self.bridge = ColdStartBridge(
            lambda spec: self.pool, self.counts.get, adopt_timeout_s=5, call_timeout_s=5,
            release_idle_after_s=release_idle_after_s,
        )

    async def _spawn(self) -> FakeStandby:
        standby = FakeStandby(self)
        self.spawned.append(standby)
        return standby

    async def start(self) -> "World":
        self.pool.start()
        await settle()
        return self

    def serve_replicas(self, count: int) -> None:
        self.counts[APP] = count
        self.bridge.on_serve_replicas(APP, count)


async def settle(rounds: int = 20) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 10))


def test_a_cold_invocation_is_answered_by_an_adopted_standby():
    async def scenario():
        world = await World().start()
        assert world.pool.idle == 2
        reply = await world.bridge.invoke(route(), call(1))
        assert reply is not None and reply.standby and reply.result.body == b"1"
        adopted = [s for s in world.spawned if s.adopted]
        assert len(adopted) == 1 and adopted[0].adopted == SPEC
        assert world.pool.idle == 1 and world.pool.in_use == 1
        assert world.bridge.lanes() == {APP: 1}

    run(scenario())


@pytest.mark.parametrize("count", [1, None])
def test_warm_or_unknown_endpoints_go_to_serve(count):
    async def scenario():
        world = await World().start()
        world.counts[APP] = count
        assert await world.bridge.invoke(route(), call()) is None
        assert not any(s.adopted for s in world.spawned) and world.pool.idle == 2

    run(scenario())


def test_without_a_standby_or_a_spec_the_invocation_goes_to_serve():
    async def scenario():
        world = await World(pool_size=0).start()
        assert await world.bridge.invoke(route(), call()) is None
        world = await World().start()
        assert await world.bridge.invoke(route(replica=None), call()) is None

    run(scenario())


def test_a_burst_is_shared_by_the_standbys_it_can_get():
    async def scenario():
        world = await World(pool_size=2).start()
        world.adopt_gate.clear()
        calls = [asyncio.create_task(world.bridge.invoke(route(), call(i))) for i in range(6)]
        await settle()
        assert world.bridge.lanes() == {APP: 2}  # both standbys adopting, none left
        world.adopt_gate.set()
        replies = await asyncio.gather(*calls)
        assert sorted(r.result.body for r in replies) == [str(i).encode() for i in range(6)]
        assert all(r.standby for r in replies)
        served = sorted(len(s.served) for s in world.spawned)
        assert sum(served) == 6 and served[0] > 0  # both did work, one call at a time each

    run(scenario())


def test_adoption_is_capped_by_max_concurrency():
    async def scenario():
        world = await World(pool_size=4).start()
        world.adopt_gate.clear()
        calls = [asyncio.create_task(world.bridge.invoke(route(max_concurrency=1), call(i))) for i in range(3)]
        await settle()
        assert world.bridge.lanes() == {APP: 1} and world.pool.idle == 3
        world.adopt_gate.set()
        assert len(await asyncio.gather(*calls)) == 3

    run(scenario())


def test_waiting_calls_go_to_serve_once_it_has_a_replica_and_standbys_are_released():
    async def scenario():
        world = await World(pool_size=2).start()
        world.adopt_gate.clear()
        calls = [asyncio.create_task(world.bridge.invoke(route(), call(i))) for i in range(3)]
        await settle()
        world.serve_replicas(1)
        assert await asyncio.gather(*calls) == [None, None, None]
        world.adopt_gate.set()
        await settle()
        taken = [s for s in world.spawned[:2]]
        assert all(s.killed for s in taken)  # adopted meanwhile, released at once
        assert world.bridge.lanes() == {}
        assert world.pool.idle == 2 and len(world.spawned) == 4  # fresh standbys replaced them

    run(scenario())


def test_an_idle_standby_is_released_when_serve_has_replicas():
    async def scenario():
        world = await World().start()
        assert (await world.bridge.invoke(route(), call())).standby
        standby = next(s for s in world.spawned if s.adopted)
        world.serve_replicas(1)
        await settle()
        assert standby.killed and world.bridge.lanes() == {}
        assert await world.bridge.invoke(route(), call()) is None

    run(scenario())


def test_an_idle_standby_is_released_after_the_keep_warm_time_even_without_serve():
    async def scenario():
        world = await World(release_idle_after_s=0.05).start()
        assert (await world.bridge.invoke(route(), call())).standby
        standby = next(s for s in world.spawned if s.adopted)
        for _ in range(100):
            if standby.killed:
                break
            await asyncio.sleep(0.02)
        assert standby.killed and world.bridge.lanes() == {}

    run(scenario())


def test_a_model_that_cannot_be_adopted_goes_to_serve_from_then_on():
    async def scenario():
        world = await World().start()
        world.adopt_error = NotAdoptable("installs requirements")
        assert await world.bridge.invoke(route(), call()) is None
        assert world.spawned[0].killed or world.spawned[1].killed
        world.adopt_error = None
        assert await world.bridge.invoke(route(), call()) is None  # remembered
        assert not any(s.adopted for s in world.spawned)

    run(scenario())


def test_a_failed_adoption_hands_the_calls_to_serve():
    async def scenario():
        world = await World(pool_size=1).start()
        world.adopt_error = RuntimeError("model_fn raised")
        assert await world.bridge.invoke(route(), call()) is None
        await settle()
        world.adopt_error = None
        assert (await world.bridge.invoke(route(), call())).standby  # tried again with a fresh standby

    run(scenario())


def test_a_failed_call_fails_its_caller_and_replaces_the_standby():
    async def scenario():
        world = await World(pool_size=1).start()
        world.invoke_error = ConnectionError("the standby died")
        with pytest.raises(ConnectionError):
            await world.bridge.invoke(route(), call())
        await settle()
        assert world.spawned[0].killed and world.pool.idle == 1 and world.bridge.lanes() == {}

    run(scenario())


def test_a_model_with_a_shorter_server_timeout_has_its_standby_call_cut_there():
    from dataclasses import replace

    async def scenario():
        world = await World(pool_size=1).start()
        world.invoke_gate.clear()  # the model never answers
        started = asyncio.get_running_loop().time()
        with pytest.raises(asyncio.TimeoutError):
            await world.bridge.invoke(replace(route(), model_timeout_s=0.2), call())
        assert asyncio.get_running_loop().time() - started < 2  # not the platform's 5 s
        await settle()
        assert world.spawned[0].killed  # a call cut short leaves the standby unusable

    run(scenario())


def test_an_invocation_gets_the_shorter_of_the_platform_and_model_timeouts():
    from dataclasses import replace

    assert route().timeout_s(60) == 60
    assert replace(route(), model_timeout_s=5).timeout_s(60) == 5
    assert replace(route(), model_timeout_s=600).timeout_s(60) == 60


def test_a_caller_that_gave_up_is_skipped():
    async def scenario():
        world = await World(pool_size=1).start()
        world.invoke_gate.clear()
        first = asyncio.create_task(world.bridge.invoke(route(), call(1)))
        second = asyncio.create_task(world.bridge.invoke(route(), call(2)))
        await settle()
        second.cancel()
        world.invoke_gate.set()
        assert (await first).result.body == b"1"
        await settle()
        assert world.spawned[0].served == [b"1"]

    run(scenario())


def test_the_pool_stays_bounded_and_stop_kills_everything():
    async def scenario():
        world = await World(pool_size=2).start()
        a, _ = world.pool.take(), world.pool.take()
        assert world.pool.take() is None and world.pool.idle == 0
        world.pool.release(a)
        await settle()
        assert world.pool.idle == 1 and len(world.spawned) == 3
        world.pool.stop()
        assert all(s.killed for s in world.spawned)

    run(scenario())


def test_a_cold_stream_is_lent_a_standby_which_serves_the_lane_again_once_returned():
    async def scenario():
        world = await World(pool_size=2).start()
        lease = await world.bridge.lease(route(max_concurrency=1), call(1))
        assert lease is not None and lease.standby.adopted == SPEC
        # One standby at MaxConcurrency 1: the next call waits for the lease to come back.
        waiting = asyncio.create_task(world.bridge.invoke(route(max_concurrency=1), call(2)))
        await settle()
        assert not waiting.done()
        lease.release()
        reply = await waiting
        assert reply.standby and reply.result.body == b"2"
        assert lease.standby.served == [b"2"] and not lease.standby.killed

    run(scenario())


def test_a_broken_lease_replaces_its_standby():
    async def scenario():
        world = await World(pool_size=2).start()
        lease = await world.bridge.lease(route(), call(1))
        lease.release(broken=True)
        await settle()
        assert lease.standby.killed and world.bridge.lanes() == {}
        assert world.pool.idle == 2  # a fresh one took its place

    run(scenario())


def test_a_warm_endpoints_stream_goes_to_serve():
    async def scenario():
        world = await World().start()
        world.counts[APP] = 1
        assert await world.bridge.lease(route(), call()) is None

    run(scenario())


def test_an_idle_standby_that_died_is_replaced_not_handed_out():
    async def scenario():
        world = await World(pool_size=2).start()
        idle = world.pool.idle_standbys()
        assert len(idle) == 2
        idle[0].died = True
        assert await world.pool.check() == 1
        await settle()
        assert world.pool.idle == 2
        assert idle[0] not in world.pool.idle_standbys()
        world.pool.stop()

    run(scenario())
