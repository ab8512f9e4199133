"""The ledger's front desk: a want that does not fit waits briefly for tokens to come back
(asyncio, no Ray).

When a gateway wants tokens that are all held elsewhere, refusing at once would throttle
invocations while tokens sit idle at another gateway (one whose clients moved, or whose
invocation just ended) or are on their way back. The desk parks such a want, asks every
other holder of the keys it misses for its idle tokens (the holder answers with what it
gave up, in the reply itself), and answers as soon as the want is met, or once every
holder has answered (what was idle came back; the rest is in use, so the refusal is
right), or when ``reclaim_wait_s`` is up (a holder too slow to answer). A want that no
other gateway could help with waits only ``park_s``, for wants parked before it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

from serverless_ray.quota.ledger import Ledger, Reclaimed, Reply

log = logging.getLogger(__name__)

PARK_S = 0.005
RECLAIM_WAIT_S = 0.25

AskBack = Callable[[str, list[str]], Awaitable["Reclaimed | None"]]


class LedgerDesk:
    """A :class:`Ledger` whose exchanges may wait (briefly) for tokens to come back."""

    def __init__(
        self, ledger: Ledger, *, park_s: float = PARK_S, reclaim_wait_s: float = RECLAIM_WAIT_S,
        ask_back: AskBack | None = None,
    ) -> None:
        """``ask_back(gateway, keys)`` asks a gateway to give up its idle tokens of ``keys``
        and returns its answer (None if it could not be asked)."""
        self.ledger = ledger
        self._park_s = park_s
        self._reclaim_wait_s = reclaim_wait_s
        self._ask_back = ask_back
        self._parked: dict[int, asyncio.Future] = {}
        # One reclaim call per holder at a time; parked wants share it.
        self._asking: dict[str, tuple[frozenset[str], asyncio.Task]] = {}

    async def exchange(
        self, gateway: str, incarnation: int, wants: dict[str, int], limits: dict[str, int],
        returned: dict[str, int],
    ) -> Reply:
        """:meth:`Ledger.exchange`, parking what cannot be granted at once."""
        reply, ticket = self.ledger.exchange(
            gateway, incarnation, wants, limits, returned, park=self._park_s > 0
        )
        self._wake()
        if ticket is None:
            return reply
        parked = self._parked[ticket] = asyncio.get_running_loop().create_future()
        asks = []
        if self._ask_back is not None:
            asks = [self._ask(holder, keys) for holder, keys in self.ledger.reclaim_targets(ticket).items()]
        try:
            await self._wait_for_tokens(parked, asks)
        except asyncio.CancelledError:
            self.ledger.cancel(ticket)  # nobody will receive these grants
            self._wake()
            raise
        finally:
            self._parked.pop(ticket, None)
        late = self.ledger.unpark(ticket)
        if late.incarnation != reply.incarnation:  # forgotten meanwhile: nothing late counts
            return reply
        granted = dict(reply.granted)
        for key, n in late.granted.items():
            granted[key] = granted.get(key, 0) + n
        return Reply(reply.incarnation, granted, late.short, late.pressure, late.answered_at)

    async def _wait_for_tokens(self, parked: asyncio.Future, asks: list[asyncio.Task]) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self._reclaim_wait_s if asks else self._park_s)
        pending = set(asks)
        while not parked.done():
            remaining = deadline - loop.time()
            if remaining <= 0 or (asks and not pending):
                return  # time is up, or every holder answered: what was idle came back
            done, _ = await asyncio.wait({parked, *pending}, timeout=remaining,
                                         return_when=asyncio.FIRST_COMPLETED)
            pending -= done

    def _ask(self, holder: str, keys: list[str]) -> asyncio.Task:
        asking = self._asking.get(holder)
        if asking is not None and not asking[1].done() and asking[0] >= set(keys):
            return asking[1]
        task = asyncio.get_running_loop().create_task(self._reclaim(holder, keys))
        self._asking[holder] = (frozenset(keys), task)
        return task

    async def _reclaim(self, holder: str, keys: list[str]) -> None:
        assert self._ask_back is not None
        try:
            answer = await self._ask_back(holder, keys)
        except Exception as exc:  # a gateway that died: its tokens return when its lease ends
            log.debug("reclaiming tokens from %s failed: %s", holder, exc)
            return
        finally:
            asking = self._asking.get(holder)
            if asking is not None and asking[1] is asyncio.current_task():
                del self._asking[holder]
        if answer is not None:
            self.ledger.take_returned(holder, answer)
            self._wake()

    def restore(
        self, gateway: str, tokens: dict[str, int], limits: dict[str, int], incarnation: int
    ) -> dict[str, int]:
        accepted = self.ledger.restore(gateway, tokens, limits, incarnation)
        self._wake()
        return accepted

    def set_pool(self, pool: int) -> None:
        self.ledger.set_pool(pool)
        self._wake()

    def _wake(self) -> None:
        for ticket in self.ledger.completed():
            parked = self._parked.get(ticket)
            if parked is not None and not parked.done():
                parked.set_result(None)
