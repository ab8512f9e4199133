"""A gateway's admission: invocations use tokens the gateway holds; more come from the ledger.

The common case is local: a token freed by one invocation admits the next, with no
remote call. A gateway asks the ledger only when it needs more tokens than it holds,
returns tokens that stayed idle for ``linger_s`` (or at once when another gateway needs
them), and renews its lease with a heartbeat while it holds any.

If the ledger forgets this gateway (the ledger restarted, or the lease ran out), the
tokens held until then are *unregistered*: still usable, not counted by the ledger. They
are restored (counted again, as far as they still fit) or dropped; they are the first to
be given back, without a remote call, since the ledger does not count them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import AsyncIterator, Callable, Protocol

from serverless_ray.quota.ledger import Grant, ShortOf

log = logging.getLogger(__name__)

# Remote acquires one admission may make: a grant can be taken by a request that arrived
# meanwhile, and our idle tokens of other endpoints may be returned once.
_ATTEMPTS = 4


class LedgerClient(Protocol):
    async def acquire(self, gateway: str, endpoint: str, want: int, limit: int) -> Grant: ...
    async def release(self, gateway: str, returned: dict[str, int]) -> None: ...
    async def renew(self, gateway: str, incarnation: int) -> int: ...
    async def restore(
        self, gateway: str, tokens: dict[str, int], limits: dict[str, int], incarnation: int
    ) -> dict[str, int]: ...


class Throttled(Exception):
    """The invocation exceeds a concurrency limit; ``short_of`` says which, ``limit`` its value."""

    def __init__(self, short_of: ShortOf, limit: int = 0) -> None:
        super().__init__(short_of)
        self.short_of = short_of
        self.limit = limit


@dataclass
class _Endpoint:
    held: int = 0  # tokens the ledger counts for this gateway
    unregistered: int = 0  # tokens from before the ledger forgot us
    in_flight: int = 0
    limit: int = 0
    last_busy: float = 0.0
    pressure: bool = False  # others may need our idle tokens: do not keep them

    @property
    def usable(self) -> int:
        return min(self.held + self.unregistered, self.limit)

    @property
    def idle(self) -> int:
        return max(0, self.held + self.unregistered - self.in_flight)


class LocalAdmission:
    def __init__(
        self,
        gateway_id: str,
        ledger: LedgerClient,
        *,
        linger_s: float = 1.0,
        heartbeat_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._gateway_id = gateway_id
        self._ledger = ledger
        self._linger_s = linger_s
        self._heartbeat_s = heartbeat_s
        self._clock = clock
        self._endpoints: dict[str, _Endpoint] = {}
        self._returns: Counter[str] = Counter()
        self._returning: asyncio.Task | None = None
        self._restoring: asyncio.Task | None = None
        self._task: asyncio.Task | None = None
        self._incarnation = 0

    def in_flight(self, endpoint: str) -> int:
        state = self._endpoints.get(endpoint)
        return state.in_flight if state else 0

    def held(self, endpoint: str) -> int:
        """Tokens of ``endpoint`` at this gateway, counted by the ledger or not."""
        state = self._endpoints.get(endpoint)
        return state.held + state.unregistered if state else 0

    # --- admission -------------------------------------------------------------------

    @asynccontextmanager
    async def slot(self, endpoint: str, limit: int) -> AsyncIterator[None]:
        """Hold one concurrency slot of ``endpoint`` for the ``async with`` block.

        Raises :class:`Throttled` at once if no slot is free; never waits for one.
        """
        await self._admit(endpoint, limit)
        try:
            yield
        finally:
            self._release(endpoint)

    async def _admit(self, endpoint: str, limit: int) -> None:
        state = self._endpoints.setdefault(endpoint, _Endpoint())
        state.limit = limit
        if self._take(state):
            return
        returned_idle = False
        for _ in range(_ATTEMPTS):
            # Shielded: if this request is cancelled meanwhile, a grant still lands here
            # instead of leaking at the ledger.
            grant = await asyncio.shield(self._acquire(endpoint, limit))
            if self._take(state):
                return
            if grant.short_of is None:
                continue  # granted, but a request that arrived meanwhile took the token: ask again
            if grant.short_of == "account" and not returned_idle and self._return_idle(exclude=endpoint):
                returned_idle = True
                continue  # our own idle tokens of other endpoints went back to the pool
            raise Throttled(grant.short_of, grant.limit or limit)
        raise Throttled("endpoint", limit)

    def _take(self, state: _Endpoint) -> bool:
        if state.in_flight < state.usable:
            state.in_flight += 1
            state.last_busy = self._clock()
            return True
        return False

    async def _acquire(self, endpoint: str, limit: int) -> Grant:
        try:
            grant = await self._ledger.acquire(self._gateway_id, endpoint, 1, limit)
        except Exception:
            log.warning("quota ledger unavailable", exc_info=True)
            return Grant(0, "recovering")
        self._adopt(grant.incarnation)
        state = self._endpoints[endpoint]
        state.pressure = grant.pressure
        if grant.incarnation < self._incarnation:
            state.unregistered += grant.granted  # granted by a ledger that has since forgotten us
            self._schedule_restore()
        else:
            state.held += grant.granted
        return grant

    def _release(self, endpoint: str) -> None:
        state = self._endpoints[endpoint]
        state.in_flight -= 1
        state.last_busy = self._clock()
        if state.pressure:
            self._give_back(endpoint, state.idle)
            return
        surplus = state.held + state.unregistered - max(state.in_flight, state.limit)
        if surplus > 0:  # MaxConcurrency went down: give back what is now too much
            self._give_back(endpoint, surplus)

    # --- giving tokens back ------------------------------------------------------------

    def reclaim(self, endpoints: list[str] | None = None) -> int:
        """Return idle tokens now (another gateway is short of them)."""
        returned = 0
        for endpoint, state in self._endpoints.items():
            if endpoints is None or endpoint in endpoints:
                state.pressure = True  # until a grant says there is room again
                returned += self._give_back(endpoint, state.idle)
        return returned

    def _return_idle(self, *, exclude: str | None = None, older_than_s: float = 0.0) -> int:
        now = self._clock()
        returned = 0
        for endpoint, state in self._endpoints.items():
            if endpoint != exclude and now - state.last_busy >= older_than_s:
                returned += self._give_back(endpoint, state.idle)
        return returned

    def _give_back(self, endpoint: str, n: int) -> int:
        state = self._endpoints[endpoint]
        n = min(n, state.held + state.unregistered)
        if n <= 0:
            return 0
        dropped = min(n, state.unregistered)  # the ledger does not count these: just drop them
        state.unregistered -= dropped
        counted = n - dropped
        if counted:
            state.held -= counted
            self._send_back(endpoint, counted)
        return n

    def _send_back(self, endpoint: str, n: int) -> None:
        self._returns[endpoint] += n
        if self._returning is None or self._returning.done():
            self._returning = asyncio.get_running_loop().create_task(self._flush_returns())

    async def _flush_returns(self) -> None:
        while self._returns:
            returned, self._returns = dict(self._returns), Counter()
            try:
                await self._ledger.release(self._gateway_id, returned)
            except Exception:  # the lease runs out and the ledger reclaims them anyway
                log.warning("returning tokens failed", exc_info=True)

    # --- lease and recovery ------------------------------------------------------------

    def _adopt(self, incarnation: int) -> None:
        """A newer incarnation means the ledger forgot what we held until now."""
        if incarnation <= self._incarnation:
            return
        self._incarnation = incarnation
        moved = 0
        for state in self._endpoints.values():
            state.unregistered += state.held
            moved += state.held
            state.held = 0
        if moved:
            self._schedule_restore()

    def _schedule_restore(self) -> None:
        if self._restoring is None or self._restoring.done():
            self._restoring = asyncio.get_running_loop().create_task(self._restore())

    async def _restore(self) -> None:
        while True:
            tokens = {e: s.unregistered for e, s in self._endpoints.items() if s.unregistered}
            if not tokens:
                return
            limits = {e: self._endpoints[e].limit for e in tokens}
            incarnation = self._incarnation
            accepted = await self._ledger.restore(self._gateway_id, tokens, limits, incarnation)
            excess: dict[str, int] = {}
            for endpoint, sent in tokens.items():
                state = self._endpoints[endpoint]
                counted = accepted.get(endpoint, 0)
                # Some of what we sent may have been dropped meanwhile; the ledger now
                # counts those too, so hand them back.
                moved = min(counted, state.unregistered)
                state.unregistered -= moved
                state.held += moved
                if counted > moved:
                    excess[endpoint] = counted - moved
                # What did not fit any more is given up (calls using it finish normally).
                state.unregistered -= min(state.unregistered, sent - counted)
            for endpoint, n in excess.items():
                self._send_back(endpoint, n)
            if incarnation == self._incarnation:
                return

    async def heartbeat(self) -> None:
        self._adopt(await self._ledger.renew(self._gateway_id, self._incarnation))

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(min(self._heartbeat_s, self._linger_s / 2))
            try:
                self._return_idle(older_than_s=self._linger_s)
                if any(s.held or s.unregistered for s in self._endpoints.values()):
                    await self.heartbeat()  # only holders need a lease
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("quota heartbeat failed", exc_info=True)
