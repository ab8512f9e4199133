"""This node's pool of standby replicas: started, model-less, waiting to adopt a model.

The pool is small and bounded (``warm_pool_size`` per node). A standby that adopted a
model is never returned: it is killed once the endpoint's own replicas run, and a fresh
one is started in its place, so the pool always holds clean processes. Idle standbys
reserve no Ray resources and use no CPU.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, AsyncIterator, Awaitable, Callable, Protocol

from serverless_ray import environments
from serverless_ray.messages import ReplicaCall, ReplicaReply, ReplicaSpec

log = logging.getLogger(__name__)

RESPAWN_BACKOFF_S = 5.0
# How often idle standbys are checked: one that died (killed, out of memory) is replaced
# rather than handed to a cold endpoint.
CHECK_INTERVAL_S = 2.0
STANDBY_PING_TIMEOUT_S = 10.0


class Standby(Protocol):
    async def alive(self) -> bool: ...
    async def adopt(self, spec: ReplicaSpec) -> float: ...
    async def invoke(self, call: ReplicaCall) -> ReplicaReply: ...
    def stream(self, call: ReplicaCall) -> AsyncIterator[Any]: ...
    def kill(self) -> None: ...


SpawnFn = Callable[[], Awaitable[Standby]]


class StandbyPool:
    def __init__(self, size: int, spawn: SpawnFn, *, check_interval_s: float = CHECK_INTERVAL_S) -> None:
        self._size = size
        self._spawn = spawn
        self._check_interval_s = check_interval_s
        self._checking: asyncio.Task | None = None
        self._idle: list[Standby] = []
        self._adopted: set[Standby] = set()  # taken, not yet released
        self._spawning: set[asyncio.Task] = set()
        self._stopped = False

    @property
    def idle(self) -> int:
        """Standbys ready to adopt a model now."""
        return len(self._idle)

    @property
    def in_use(self) -> int:
        return len(self._adopted)

    def idle_standbys(self) -> list[Standby]:
        """The standbys ready to adopt a model now (for fault-injection tests)."""
        return list(self._idle)

    def start(self) -> None:
        self._fill()
        self._checking = asyncio.get_running_loop().create_task(self._check_idle())

    async def check(self) -> int:
        """Drop idle standbys that died and start others in their place; how many died."""
        dead = [standby for standby in list(self._idle) if not await standby.alive()]
        for standby in dead:
            if standby in self._idle:
                self._idle.remove(standby)
        if dead:
            log.warning("%d idle standby replica(s) died; starting new ones", len(dead))
            self._fill()
        return len(dead)

    async def _check_idle(self) -> None:
        while not self._stopped:
            await asyncio.sleep(self._check_interval_s)
            try:
                await self.check()
            except Exception:
                log.warning("checking the standby replicas failed", exc_info=True)

    def take(self) -> Standby | None:
        """A ready standby, or None if none is ready (never waits)."""
        if not self._idle:
            return None
        standby = self._idle.pop()
        self._adopted.add(standby)
        return standby

    def release(self, standby: Standby) -> None:
        """Kill a standby that was taken and start a fresh one in its place."""
        self._adopted.discard(standby)
        standby.kill()
        self._fill()

    def stop(self) -> None:
        self._stopped = True
        if self._checking is not None:
            self._checking.cancel()
        for task in self._spawning:
            task.cancel()
        for standby in [*self._idle, *self._adopted]:
            standby.kill()
        self._idle.clear()
        self._adopted.clear()

    def _fill(self) -> None:
        if self._stopped:
            return
        # Taken standbys count against the bound until released: the pool never holds
        # more than ``size`` processes on this node.
        missing = self._size - len(self._idle) - len(self._adopted) - len(self._spawning)
        for _ in range(max(0, missing)):
            task = asyncio.get_running_loop().create_task(self._spawn_one())
            self._spawning.add(task)
            task.add_done_callback(self._spawning.discard)

    async def _spawn_one(self) -> None:
        try:
            standby = await self._spawn()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("starting a standby replica failed; retrying in %.0f s", RESPAWN_BACKOFF_S, exc_info=True)
            await asyncio.sleep(RESPAWN_BACKOFF_S)
            self._spawning.discard(asyncio.current_task())  # type: ignore[arg-type]
            self._fill()
            return
        if self._stopped:
            standby.kill()
        else:
            self._idle.append(standby)


class RayStandby:
    """A :class:`~serverless_ray.runtime.standby.StandbyReplica` actor on this node."""

    def __init__(self, handle) -> None:
        self._handle = handle

    async def adopt(self, spec: ReplicaSpec) -> float:
        return await self._handle.adopt.remote(spec)

    async def pid(self) -> int:
        return await self._handle.pid.remote()

    async def alive(self) -> bool:
        """False only if its process is gone (a busy standby is alive)."""
        import ray

        try:
            await asyncio.wait_for(self._handle.ready.remote(), STANDBY_PING_TIMEOUT_S)
        except ray.exceptions.RayActorError:
            return False
        except asyncio.TimeoutError:
            pass
        return True

    async def invoke(self, call: ReplicaCall) -> ReplicaReply:
        return await self._handle.invoke.remote(*call.args())

    def stream(self, call: ReplicaCall) -> AsyncIterator[Any]:
        from serverless_ray.gateway.replica_streams import actor_stream

        return actor_stream(self._handle.stream.options(num_returns="streaming").remote(*call.args()))

    def kill(self) -> None:
        import ray

        try:
            ray.kill(self._handle, no_restart=True)
        except Exception:  # already gone
            pass


def ray_spawner(
    node_id: str, preload: tuple[str, ...], scratch: tuple[str, int, bool] | None = None, *,
    environment: tuple[str, ...] = (), ready_timeout_s: float = 120.0,
) -> SpawnFn:
    """Start standbys on ``node_id`` (the entry point's node, where its cold starts land),
    each with its scratch disk ready (``scratch``: runtime directory, MB, enforced), in the
    runtime environment that installs ``environment`` (none: the platform's own)."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from serverless_ray.runtime.standby import StandbyReplica

    options: dict[str, Any] = {"scheduling_strategy": NodeAffinitySchedulingStrategy(node_id, soft=False)}
    if environment:
        # The same environment as the endpoints' replicas: built once per node.
        options["runtime_env"] = environments.runtime_env(environment)

    async def spawn() -> Standby:
        handle = StandbyReplica.options(**options).remote(preload, scratch, environment)
        standby = RayStandby(handle)
        try:
            await asyncio.wait_for(handle.ready.remote(), ready_timeout_s)
        except BaseException:
            standby.kill()
            raise
        return standby

    return spawn
