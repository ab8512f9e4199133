"""A gateway's admission: invocations use tokens the gateway holds; more come from the ledger.

The common case is local: a token freed by one invocation admits the next, with no
remote call. Pool tokens serve every endpoint of the gateway, so holding tokens of many
endpoints does not fragment the pool.

Talking to the ledger is batched: at most one *acquire* call is outstanding, carrying
what every admission that found no free token needs, plus the returns the ledger has not
acknowledged yet; returns that fall due while it is out go in at most one *return* call
of their own, so they never wait behind an acquire that the ledger holds. Returns are
cumulative totals (see :class:`~serverless_ray.quota.tokens.GatewayTokens`): a want
never finds its own gateway's returned tokens still counted against it. Under load
batches grow instead of calls multiplying.

An admission beyond what this gateway alone already has in use or waiting for
(``MaxConcurrency`` reached here) is throttled at once, without a remote call. Any other
admission that finds no free token waits for the reply to its batch: one round trip,
plus, when other gateways hold the tokens it needs, the time they take to say what they
have idle (bounded by the ledger). It is admitted if tokens arrive meanwhile (granted,
or freed here by an invocation that ended), and throttled otherwise. It never waits for
a slot beyond that.

If the ledger forgets this gateway (the ledger restarted, or the lease ran out), the
tokens held until then are *unregistered*: still usable, not counted by the ledger. They
are restored (counted again, as far as they still fit) or dropped; they are the first to
be given back, without a remote call, since the ledger does not count them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import AsyncIterator, Callable, Protocol

from serverless_ray.quota.ledger import POOL, Reclaimed, Reply, ShortOf
from serverless_ray.quota.tokens import GatewayTokens

log = logging.getLogger(__name__)

# Batches one admission may ride before it is throttled: its tokens can be used by an
# admission that was waiting longer, or a lowered limit can void them.
_ATTEMPTS = 3
# Under pressure, idle tokens not used again within about one round trip to the ledger go
# back: bounds of that time.
_KEEP_MIN_S = 0.002
_KEEP_MAX_S = 0.05


class LedgerClient(Protocol):
    async def exchange(
        self, gateway: str, incarnation: int, wants: dict[str, int], limits: dict[str, int],
        returned: dict[str, int],
    ) -> Reply: ...
    async def restore(
        self, gateway: str, tokens: dict[str, int], limits: dict[str, int], incarnation: int
    ) -> dict[str, int]: ...
    async def register(self, gateway: str) -> None: ...


class Throttled(Exception):
    """The invocation exceeds a concurrency limit; ``short_of`` says which, ``limit`` its value.

    ``decided_at``: when the refusal was decided, on the deciding process's monotonic clock.
    """

    def __init__(self, short_of: ShortOf, limit: int = 0, decided_at: float = 0.0) -> None:
        super().__init__(short_of)
        self.short_of = short_of
        self.limit = limit
        self.decided_at = decided_at


@dataclass(eq=False)
class _Waiter:
    endpoint: str
    future: asyncio.Future
    batch: int | None = None  # the acquire call that carries its want
    attempts: int = 0


@dataclass
class _Lanes:
    acquiring: asyncio.Task | None = None
    returning: asyncio.Task | None = None
    sweeping: asyncio.Task | None = None  # idle tokens under pressure
    background: set[asyncio.Task] = field(default_factory=set)


class LocalAdmission:
    """One gateway's admission (see the module docstring); ``slot()`` is the whole API."""

    def __init__(
        self,
        gateway_id: str,
        ledger: LedgerClient,
        *,
        linger_s: float = 1.0,
        heartbeat_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``linger_s``: idle tokens are kept this long for reuse (unless others need them)."""
        self._gateway_id = gateway_id
        self._ledger = ledger
        self._linger_s = linger_s
        self._heartbeat_s = heartbeat_s
        self._clock = clock
        self._tokens = GatewayTokens()
        self._waiters: deque[_Waiter] = deque()
        self._lanes = _Lanes()
        self._batches = 0
        self._incarnation = 0
        self._last_contact = 0.0
        self._round_trip_s = _KEEP_MIN_S
        self._renew_due = False  # the next return call renews the lease even if empty
        self._restoring: asyncio.Task | None = None
        self._task: asyncio.Task | None = None
        # Why the last call to the ledger failed (None: it answered), for health checks.
        self.unavailable: str | None = None

    def in_flight(self, endpoint: str) -> int:
        return self._tokens[endpoint].in_flight

    def held(self, endpoint: str) -> int:
        """Tokens of ``endpoint`` (or :data:`POOL`) here, counted by the ledger or not."""
        return self._tokens[endpoint].tokens

    # --- admission -------------------------------------------------------------------

    @asynccontextmanager
    async def slot(self, endpoint: str, limit: int) -> AsyncIterator[None]:
        """Hold one concurrency slot of ``endpoint`` for the ``async with`` block.

        Raises :class:`Throttled` if no slot is free, after at most the short wait for
        the ledger's answer described in the module docstring; never queues for a slot.
        """
        await self._admit(endpoint, limit)
        try:
            yield
        finally:
            self._release(endpoint)

    async def _admit(self, endpoint: str, limit: int) -> None:
        state = self._tokens[endpoint]
        state.limit = limit
        if self._tokens.take(endpoint):
            return
        if state.in_flight + state.waiting >= limit:
            # This gateway alone uses (or waits for) the whole MaxConcurrency: no need to
            # ask anyone, and no reason to make the client wait for the answer.
            raise Throttled("endpoint", limit, self._clock())
        waiter = _Waiter(endpoint, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        self._tokens.wait(endpoint, 1)
        self._start_acquiring()
        try:
            await waiter.future
        except asyncio.CancelledError:
            if waiter.future.done() and not waiter.future.cancelled() and waiter.future.exception() is None:
                self._release(endpoint)  # admitted just as the request went away
            else:
                self._forget_waiter(waiter)
            raise

    def _release(self, endpoint: str) -> None:
        if self._tokens.put(endpoint):
            self._start_returning()
        if self._waiters:
            self._serve_waiters()

    def _serve_waiters(self) -> None:
        """Admit waiting admissions, oldest first, with whatever tokens are free."""
        for waiter in list(self._waiters):
            if self._tokens.take(waiter.endpoint):
                self._forget_waiter(waiter)
                waiter.future.set_result(None)

    def _throttle(self, waiter: _Waiter, short_of: ShortOf, limit: int, decided_at: float | None = None) -> None:
        self._forget_waiter(waiter)
        if not waiter.future.done():
            waiter.future.set_exception(Throttled(short_of, limit, decided_at or self._clock()))

    def _forget_waiter(self, waiter: _Waiter) -> None:
        if waiter in self._waiters:
            self._waiters.remove(waiter)
            self._tokens.wait(waiter.endpoint, -1)

    # --- talking to the ledger ---------------------------------------------------------

    def _start_acquiring(self) -> None:
        if self._lanes.acquiring is None:
            # Started on the next turn of the loop: admissions arriving in this one share it.
            self._lanes.acquiring = asyncio.get_running_loop().create_task(self._acquire())

    def _start_returning(self) -> None:
        if self._lanes.returning is None:
            self._lanes.returning = asyncio.get_running_loop().create_task(self._return())

    def _start_sweeping(self) -> None:
        if self._lanes.sweeping is None:
            self._lanes.sweeping = asyncio.get_running_loop().create_task(self._sweep_pressured())

    async def _acquire(self) -> None:
        try:
            while True:
                batch = [w for w in self._waiters if w.batch is None]
                if not batch:
                    return
                self._batches += 1
                batch_id = self._batches
                for waiter in batch:
                    waiter.batch = batch_id
                wants, limits = self._tokens.wants()
                reply = await self._exchange(wants, limits)
                self._answer(batch_id, reply)
        finally:
            self._lanes.acquiring = None

    async def _return(self) -> None:
        try:
            while True:
                returned = self._tokens.returns()
                if not returned and not self._renew_due:
                    return
                self._renew_due = False
                if await self._exchange({}, {}, returned) is None:
                    return  # the ledger is unreachable: the heartbeat tries again
        finally:
            self._lanes.returning = None

    async def _sweep_pressured(self) -> None:
        try:
            while self._tokens.under_pressure():
                await asyncio.sleep(min(max(self._round_trip_s, _KEEP_MIN_S), _KEEP_MAX_S))
                self._tokens.sweep_pressured()
                self._start_returning()
        finally:
            self._lanes.sweeping = None

    async def _exchange(
        self, wants: dict[str, int], limits: dict[str, int], returned: dict[str, int] | None = None
    ) -> Reply | None:
        """One call: the returns not acknowledged yet go with it. None if the ledger could
        not be reached."""
        if returned is None:
            returned = self._tokens.returns()
        incarnation = self._incarnation
        sent = self._clock()
        try:
            reply = await self._ledger.exchange(self._gateway_id, incarnation, wants, limits, returned)
        except Exception as exc:
            # Returns not acknowledged go with the next call (they count once, whenever).
            self.unavailable = f"{type(exc).__name__}"
            log.warning("quota ledger unavailable", exc_info=True)
            return None
        self.unavailable = None
        self._last_contact = self._clock()
        self._round_trip_s += 0.2 * (self._last_contact - sent - self._round_trip_s)
        if reply.incarnation == incarnation:
            self._tokens.acknowledge(returned)
        self._learn(reply)
        return reply

    def _learn(self, reply: Reply) -> None:
        """Adopt what a reply says about our tokens."""
        self._adopt(reply.incarnation)
        counted = reply.incarnation == self._incarnation
        self._tokens.add(reply.granted, counted=counted)
        if not counted and reply.granted:
            self._schedule_restore()  # granted by a ledger that has since forgotten us
        if counted:
            self._tokens.set_pressure(reply.pressure, only=True)
            if reply.pressure:
                self._start_sweeping()
        if reply.granted and self._waiters:
            self._serve_waiters()

    def _answer(self, batch: int, reply: Reply | None) -> None:
        """Throttle the waiters of ``batch`` that the reply leaves short; the rest ask again."""
        for waiter in [w for w in self._waiters if w.batch == batch]:
            if reply is None:
                self._throttle(waiter, "recovering", 0)
                continue
            state = self._tokens[waiter.endpoint]
            short = reply.short.get(waiter.endpoint) or reply.short.get(POOL)
            waiter.attempts += 1
            if short is not None:
                self._throttle(waiter, *short, reply.answered_at)
            elif state.in_flight >= (state.limit or 0) or waiter.attempts >= _ATTEMPTS:
                self._throttle(waiter, "endpoint", state.limit or 0)
            else:
                waiter.batch = None
        if reply is not None and reply.short:
            # Tokens granted for admissions throttled for want of another key: where others
            # need them, they go straight back.
            self._tokens.give_back_unused(reply.granted)
            self._start_returning()

    # --- giving tokens back ------------------------------------------------------------

    def reclaim(self, keys: list[str] | None = None) -> Reclaimed:
        """The ledger asks for idle tokens of ``keys`` (all if None): another gateway waits.

        All idle ones are given up at once and travel back in the answer (as cumulative
        totals, like every return); from then on, until a reply says otherwise, these keys
        are under pressure.
        """
        chosen = [k for k, _ in self._tokens.items() if keys is None or k in keys]
        for key in chosen:
            self._tokens.give_back(key, self._tokens[key].idle)
        self._tokens.set_pressure(dict.fromkeys(chosen), only=False)
        self._start_sweeping()
        return Reclaimed(self._incarnation, self._tokens.returns())

    # --- lease and recovery ------------------------------------------------------------

    def _adopt(self, incarnation: int) -> None:
        """A newer incarnation means the ledger forgot what we held until now."""
        if incarnation <= self._incarnation:
            return
        self._incarnation = incarnation
        if self._tokens.unregister_all():
            self._schedule_restore()
        self._spawn(self._ledger.register(self._gateway_id))  # it may have lost our address

    def _schedule_restore(self) -> None:
        if self._restoring is None or self._restoring.done():
            self._restoring = asyncio.get_running_loop().create_task(self._restore())

    async def _restore(self) -> None:
        while True:
            tokens, limits = self._tokens.unregistered()
            if not tokens:
                return
            incarnation = self._incarnation
            try:
                accepted = await self._ledger.restore(self._gateway_id, tokens, limits, incarnation)
            except Exception:  # tried again from the heartbeat loop
                log.warning("restoring tokens failed", exc_info=True)
                return
            if incarnation != self._incarnation:
                continue  # forgotten again meanwhile: what it accepted is void
            self._tokens.restored(tokens, accepted)
            self._start_returning()
            return

    async def heartbeat(self) -> None:
        """Renew the lease (and learn whether the ledger still knows us)."""
        await self._exchange({}, {})

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._lanes.background.add(task)
        task.add_done_callback(self._lanes.background.discard)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def stop(self) -> None:
        lanes = self._lanes
        for task in (self._task, lanes.acquiring, lanes.returning, lanes.sweeping, self._restoring):
            if task is not None:
                task.cancel()

    async def _run(self) -> None:
        swept = self._clock()
        while True:
            await asyncio.sleep(min(self._heartbeat_s, self._linger_s) / 2)
            try:
                now = self._clock()
                if now - swept >= self._linger_s:
                    swept = now
                    self._tokens.sweep()
                    self._start_returning()
                if self._tokens.holding() and now - self._last_contact >= self._heartbeat_s:
                    self._renew_due = True  # only holders need a lease
                    self._start_returning()
                elif self._tokens.returning():
                    self._start_returning()  # returns a failed call did not deliver
                if self._tokens.unregistered()[0]:
                    self._schedule_restore()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("quota heartbeat failed", exc_info=True)
