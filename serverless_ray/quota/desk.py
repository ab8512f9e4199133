"""The ledger's front desk: parked wants wait a few milliseconds for tokens (asyncio, no Ray).

When a gateway wants tokens that are all held elsewhere, refusing at once would throttle
invocations while tokens are on their way back: returned by a gateway whose invocation
just ended, or idle at a gateway that has not heard that others need them. The desk
parks such a want for at most ``park_s``, asks idle holders to give their tokens back,
and answers as soon as the want is met (or when the time is up, with what it got).
"""

from __future__ import annotations

import asyncio
from typing import Callable

from serverless_ray.quota.ledger import Ledger, Reply

PARK_S = 0.005


class LedgerDesk:
    """A :class:`Ledger` whose exchanges may wait (briefly) for tokens to come back."""

    def __init__(
        self, ledger: Ledger, *, park_s: float = PARK_S, ask_back: Callable[[str, list[str]], None] | None = None
    ) -> None:
        """``ask_back(gateway, keys)`` asks a gateway to return its idle tokens of ``keys``."""
        self.ledger = ledger
        self._park_s = park_s
        self._ask_back = ask_back
        self._parked: dict[int, asyncio.Future] = {}

    async def exchange(
        self, gateway: str, incarnation: int, wants: dict[str, int], limits: dict[str, int],
        returns: dict[str, int],
    ) -> Reply:
        """:meth:`Ledger.exchange`, parking what cannot be granted at once."""
        reply, ticket = self.ledger.exchange(
            gateway, incarnation, wants, limits, returns, park=self._park_s > 0
        )
        self._wake()
        if ticket is None:
            return reply
        if self._ask_back is not None:
            for holder, keys in self.ledger.reclaim_targets(ticket).items():
                self._ask_back(holder, keys)
        parked = self._parked[ticket] = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(parked, self._park_s)
        except asyncio.TimeoutError:
            pass
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
