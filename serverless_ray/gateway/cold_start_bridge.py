"""Cold starts answered by standbys while Serve starts an endpoint's own replicas.

An invocation of an endpoint whose Serve application has no running replica would wait
for Serve to start one: a new worker process, Ray and the runtime imported, the replica
registered, the model loaded. Here it waits in the endpoint's *lane* instead, and a
standby from this node's pool adopts the model (costing ``model_fn`` and little else)
and answers the lane's invocations one at a time, as a replica would. Meanwhile the
autoscaler, which saw the demand, has Serve start replicas as usual. The moment the
first one runs, invocations still waiting in the lane go to Serve and the standbys
are released once idle.

A framework container's model is adopted by a standby of its framework's environment
(see :mod:`serverless_ray.gateway.standby_pools`). When no standby is free, or the model
cannot run in one (it installs its own ``requirements.txt``), invocations go to Serve directly: the bridge only ever shortens
a cold start, it never stands in the way of one.

A streamed invocation waits in the lane like any other; when its turn comes it is lent
the standby (a :class:`Lease`) and streams from it directly, and the standby takes the
lane's next invocation once the stream is over.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Callable

from serverless_ray.gateway.standby_pool import Standby, StandbyPool
from serverless_ray.messages import NotAdoptable, ReplicaCall, ReplicaReply, ReplicaSpec, Route

log = logging.getLogger(__name__)

ReplicaCountFn = Callable[[str], "int | None"]
# The pool whose standbys can adopt a model (None: no standby on this node can).
PoolForFn = Callable[[ReplicaSpec], "StandbyPool | None"]
# A lease not returned this long after the invocation timeout is taken back (and the
# standby replaced): its stream can no longer be running legitimately.
LEASE_GRACE_S = 5.0


class Lease:
    """A standby lent to one streamed invocation; the lane gives it no other call until
    :meth:`release`. ``broken``: the standby failed or ran past the timeout (it is replaced)."""

    def __init__(self, standby: Standby) -> None:
        self.standby = standby
        self.broken = False
        self._released = asyncio.Event()

    def release(self, *, broken: bool = False) -> None:
        self.broken = self.broken or broken
        self._released.set()

    async def returned(self) -> None:
        await self._released.wait()


@dataclass(frozen=True)
class _Streamed:
    """A lane entry that wants a :class:`Lease` rather than a reply."""

    call: ReplicaCall


@dataclass(eq=False)
class _Worker:
    standby: Standby
    busy: bool = False
    idle_since: float = 0.0


@dataclass(eq=False)
class _Lane:
    """One endpoint application's waiting invocations and the standbys serving them."""

    app_name: str
    spec: ReplicaSpec
    pool: StandbyPool
    max_workers: int
    call_timeout_s: float
    waiting: deque[tuple[ReplicaCall | _Streamed, asyncio.Future]] = field(default_factory=deque)
    workers: list[_Worker] = field(default_factory=list)
    adopting: int = 0

    def pending(self) -> int:
        return sum(1 for _, future in self.waiting if not future.done())

    @property
    def empty(self) -> bool:
        return not self.waiting and not self.workers and not self.adopting


class ColdStartBridge:
    """Routes invocations of scaled-to-zero endpoints to adopted standbys."""

    def __init__(
        self,
        pool_for: PoolForFn,
        serve_replicas: ReplicaCountFn,
        *,
        adopt_timeout_s: float,
        call_timeout_s: float,
        release_idle_after_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pool_for = pool_for
        self._serve_replicas = serve_replicas
        self._adopt_timeout_s = adopt_timeout_s
        self._call_timeout_s = call_timeout_s
        self._release_idle_after_s = release_idle_after_s
        self._clock = clock
        self._lanes: dict[str, _Lane] = {}
        self._not_adoptable: set[str] = set()
        self._sweeper: asyncio.Task | None = None

    def lanes(self) -> dict[str, int]:
        """Standbys serving (or adopting for) each application, for metrics and tests."""
        return {app: len(lane.workers) + lane.adopting for app, lane in self._lanes.items()}

    async def invoke(self, route: Route, call: ReplicaCall) -> ReplicaReply | None:
        """Answer ``call`` on a standby if ``route`` is cold; None means: send it to Serve."""
        return await self._wait_in_lane(route, call)

    async def lease(self, route: Route, call: ReplicaCall) -> Lease | None:
        """A standby to stream ``call`` from if ``route`` is cold, held until the caller
        releases it; None means: send it to Serve."""
        future = self._wait_in_lane(route, _Streamed(call))
        try:
            return await future
        except asyncio.CancelledError:
            lent = _result_if_any(future)
            if isinstance(lent, Lease):  # granted just as its caller gave up
                lent.release()
            raise

    def _wait_in_lane(self, route: Route, call: ReplicaCall | _Streamed) -> asyncio.Future:
        done: asyncio.Future = asyncio.get_running_loop().create_future()
        done.set_result(None)
        app, spec = route.app_name, route.replica
        if app is None or spec is None or app in self._not_adoptable or self._serve_replicas(app) != 0:
            return done
        lane = self._lanes.get(app)
        if lane is None:
            pool = self._pool_for(spec)
            if pool is None or pool.idle == 0:
                return done
            lane = self._lanes[app] = _Lane(app, spec, pool, max_workers=max(1, route.max_concurrency),
                                            call_timeout_s=route.timeout_s(self._call_timeout_s))
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        lane.waiting.append((call, future))
        self._pump(lane)
        return future

    def on_serve_replicas(self, app_name: str, count: int) -> None:
        """Serve's replica count of ``app_name`` changed (called on this loop)."""
        lane = self._lanes.get(app_name)
        if lane is not None and count > 0:
            self._pump(lane)

    def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        for lane in self._lanes.values():
            self._hand_over(lane)
            for worker in lane.workers:
                lane.pool.release(worker.standby)
        self._lanes.clear()

    # --- the lane's state machine -----------------------------------------------------

    def _pump(self, lane: _Lane) -> None:
        if (self._serve_replicas(lane.app_name) or 0) > 0:
            # Serve has a replica now: nothing more waits for a standby.
            self._hand_over(lane)
            self._release_idle(lane, older_than_s=0.0)
            return
        waiting = lane.pending()
        idle = [w for w in lane.workers if not w.busy]
        for worker in idle[:waiting]:
            worker.busy = True  # now, not when the task first runs: a second pump must not pick it
            self._start(self._serve(lane, worker))
        free_soon = len(idle) + lane.adopting
        while waiting > free_soon and len(lane.workers) + lane.adopting < lane.max_workers:
            standby = lane.pool.take()
            if standby is None:
                break
            lane.adopting += 1
            free_soon += 1
            self._start(self._adopt(lane, standby))
        if not lane.workers and not lane.adopting:
            self._hand_over(lane)  # no standby to be had: Serve it is
        self._forget_if_empty(lane)

    async def _adopt(self, lane: _Lane, standby: Standby) -> None:
        try:
            await asyncio.wait_for(standby.adopt(lane.spec), self._adopt_timeout_s)
        except Exception as exc:
            lane.adopting -= 1
            lane.pool.release(standby)
            if _caused_by(exc, NotAdoptable):
                self._not_adoptable.add(lane.app_name)
            else:
                log.warning("a standby could not adopt %s: %s", lane.app_name, exc)
            # Whatever went wrong would go wrong again for these calls: Serve takes them
            # (later cold invocations try a fresh standby).
            self._hand_over(lane)
            self._forget_if_empty(lane)
            return
        lane.adopting -= 1
        worker = _Worker(standby, idle_since=self._clock())
        lane.workers.append(worker)
        self._ensure_sweeper()
        self._pump(lane)

    async def _serve(self, lane: _Lane, worker: _Worker) -> None:
        try:
            while lane.waiting and (self._serve_replicas(lane.app_name) or 0) == 0:
                call, future = lane.waiting.popleft()
                if future.done():
                    continue  # its caller gave up (timeout or disconnect)
                if isinstance(call, _Streamed):
                    if not await self._lend(lane, worker, future):
                        self._remove(lane, worker)
                        self._pump(lane)
                        return
                    continue
                try:
                    reply = await asyncio.wait_for(worker.standby.invoke(call), lane.call_timeout_s)
                except Exception as exc:
                    if not future.done():
                        future.set_exception(exc)
                    # A call that timed out or killed the process leaves the standby
                    # unusable: replace it rather than risk the next call.
                    self._remove(lane, worker)
                    self._pump(lane)
                    return
                if not future.done():
                    future.set_result(replace(reply, standby=True))
        finally:
            worker.busy = False
            worker.idle_since = self._clock()
        self._pump(lane)

    async def _lend(self, lane: _Lane, worker: _Worker, future: asyncio.Future) -> bool:
        """Lend ``worker`` to a streamed call until it is returned; False if it came back
        broken (or not in time) and must be replaced."""
        lease = Lease(worker.standby)
        future.set_result(lease)
        try:
            await asyncio.wait_for(lease.returned(), lane.call_timeout_s + LEASE_GRACE_S)
        except asyncio.TimeoutError:
            return False
        return not lease.broken

    def _hand_over(self, lane: _Lane) -> None:
        while lane.waiting:
            _, future = lane.waiting.popleft()
            if not future.done():
                future.set_result(None)

    def _release_idle(self, lane: _Lane, *, older_than_s: float) -> None:
        now = self._clock()
        for worker in [w for w in lane.workers if not w.busy and now - w.idle_since >= older_than_s]:
            self._remove(lane, worker)
        self._forget_if_empty(lane)

    def _remove(self, lane: _Lane, worker: _Worker) -> None:
        if worker in lane.workers:
            lane.workers.remove(worker)
            lane.pool.release(worker.standby)

    def _forget_if_empty(self, lane: _Lane) -> None:
        if lane.empty and self._lanes.get(lane.app_name) is lane:
            del self._lanes[lane.app_name]

    # --- background -------------------------------------------------------------------

    def _start(self, coro) -> None:
        asyncio.get_running_loop().create_task(coro)

    def _ensure_sweeper(self) -> None:
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def _sweep(self) -> None:
        """Release standbys left idle (Serve never came up, or traffic stopped); runs only
        while some lane holds a standby, so an idle entry point does no work."""
        while any(lane.workers for lane in self._lanes.values()):
            await asyncio.sleep(min(1.0, self._release_idle_after_s))
            for lane in list(self._lanes.values()):
                self._release_idle(lane, older_than_s=self._release_idle_after_s)


def _result_if_any(future: asyncio.Future):
    if future.done() and not future.cancelled() and future.exception() is None:
        return future.result()
    return None


def _caused_by(exc: BaseException, kind: type) -> bool:
    """True if ``exc`` is ``kind`` or a Ray task error whose cause is ``kind``."""
    if isinstance(exc, kind):
        return True
    cause = getattr(exc, "cause", None)
    return isinstance(cause, kind)
