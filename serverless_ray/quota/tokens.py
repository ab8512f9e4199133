"""A gateway's tokens: held, in use, idle; what to ask the ledger for and what to give back.

Pure bookkeeping (no asyncio, no Ray), one :class:`KeyTokens` per key: each endpoint and
:data:`~serverless_ray.quota.ledger.POOL`. An invocation of endpoint ``e`` uses one token of
``e`` and one of the pool, so the pool tokens of a gateway serve all of its endpoints.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Iterable

from serverless_ray.quota.ledger import POOL


@dataclass
class KeyTokens:
    held: int = 0  # tokens the ledger counts for this gateway
    unregistered: int = 0  # tokens from before the ledger forgot us
    in_flight: int = 0
    waiting: int = 0  # admissions waiting for a token of this key
    limit: int | None = None  # MaxConcurrency; None for the pool (only the ledger knows it)
    pressure: bool = False  # others may need our idle tokens: keep only what is used
    share: int | None = None  # under pressure: the most tokens to keep (None: no cap)
    peak: int = 0  # most tokens in use at once since the last sweep
    recent: int = 0  # most tokens in use at once since the last sweep under pressure

    @property
    def tokens(self) -> int:
        return self.held + self.unregistered

    @property
    def usable(self) -> int:
        return self.tokens if self.limit is None else min(self.tokens, self.limit)

    @property
    def idle(self) -> int:
        """Tokens neither in use nor needed by a waiting admission."""
        return max(0, self.tokens - self.in_flight - self.waiting)

    @property
    def surplus(self) -> int:
        """Tokens beyond a lowered MaxConcurrency that no invocation uses."""
        if self.limit is None:
            return 0
        return max(0, self.tokens - max(self.in_flight, self.limit))


class GatewayTokens:
    """Every key's tokens at one gateway, and counted ones on their way back to the ledger.

    Returns are *cumulative*: every call to the ledger carries, per key, how many tokens
    this gateway has given back in total under its current incarnation, until the ledger
    acknowledged that total. The ledger takes back the difference from what it applied
    before, so a return counts exactly once whichever call carries it first: a want that
    overtakes the return call it follows still finds the returned tokens free, and a
    return is never applied twice.
    """

    def __init__(self) -> None:
        self._keys: dict[str, KeyTokens] = {POOL: KeyTokens()}
        self._returning: Counter[str] = Counter()  # taken out of ``held``, not yet sent: reusable
        self._sent: Counter[str] = Counter()  # given back in total under this incarnation
        self._acked: Counter[str] = Counter()  # of which the ledger confirmed it applied

    def __getitem__(self, key: str) -> KeyTokens:
        state = self._keys.get(key)
        if state is None:
            state = self._keys[key] = KeyTokens()
        return state

    def items(self) -> Iterable[tuple[str, KeyTokens]]:
        return self._keys.items()

    def holding(self) -> bool:
        return any(s.tokens for s in self._keys.values())

    # --- admissions ------------------------------------------------------------------

    def take(self, endpoint: str) -> bool:
        """Use one token of ``endpoint`` and one of the pool, if both are free.

        A token set aside to go back but not sent yet is taken back first: demand came
        back before the return left, and sending it away to ask for it again would cost
        a round trip (and, while others wait for it, could lose it).
        """
        ep, pool = self[endpoint], self._keys[POOL]
        if not (self._reusable(endpoint, ep) and self._reusable(POOL, pool)):
            return False
        for state in (ep, pool):
            state.in_flight += 1
            state.peak = max(state.peak, state.in_flight)
            state.recent = max(state.recent, state.in_flight)
        return True

    def _reusable(self, key: str, state: KeyTokens) -> bool:
        if state.in_flight < state.usable:
            return True
        if self._returning[key] and (state.limit is None or state.tokens < state.limit):
            self._returning[key] -= 1
            state.held += 1
            return True
        return False

    def put(self, endpoint: str) -> bool:
        """An invocation ended; True if tokens should go back to the ledger now."""
        ep = self._keys[endpoint]
        ep.in_flight -= 1
        self._keys[POOL].in_flight -= 1
        return bool(ep.surplus)

    def wait(self, endpoint: str, n: int) -> None:
        """``n`` more (or fewer) admissions wait for tokens of ``endpoint``."""
        self[endpoint].waiting += n
        self._keys[POOL].waiting += n

    def wants(self) -> tuple[dict[str, int], dict[str, int]]:
        """Tokens to ask for (what waiting admissions need beyond what is held), and limits."""
        wants, limits = {}, {}
        for key, state in self._keys.items():
            if not state.waiting:
                continue
            need = state.in_flight + state.waiting - state.usable
            if state.limit is not None:
                limits[key] = state.limit
            if need > 0:
                wants[key] = need
        return wants, limits

    # --- tokens arriving -------------------------------------------------------------

    def add(self, granted: dict[str, int], *, counted: bool) -> None:
        """Tokens granted by the ledger; ``counted`` False if under an older incarnation."""
        for key, n in granted.items():
            if counted:
                self[key].held += n
            else:
                self[key].unregistered += n

    def set_pressure(self, shares: dict[str, int | None], *, only: bool) -> None:
        """Mark the keys of ``shares`` under pressure, with the most tokens to keep (None:
        no cap); with ``only``, every other key is not under pressure."""
        for key, state in self._keys.items():
            if key in shares:
                if not state.pressure:
                    state.recent = state.in_flight  # what was used before does not count
                state.pressure = True
                state.share = shares[key]
            elif only:
                state.pressure = False

    def under_pressure(self) -> bool:
        return any(s.pressure for s in self._keys.values())

    # --- tokens leaving --------------------------------------------------------------

    def give_back(self, key: str, n: int) -> int:
        """Stop holding ``n`` tokens of ``key``; counted ones are queued for the ledger."""
        state = self._keys[key]
        n = min(n, state.tokens)
        dropped = min(n, state.unregistered)  # the ledger does not count these: just drop them
        state.unregistered -= dropped
        state.held -= n - dropped
        self._returning[key] += n - dropped
        return n

    def give_back_unused(self, granted: dict[str, int]) -> None:
        """Of tokens just ``granted``, give back those idle where others need them."""
        for key, n in granted.items():
            state = self._keys[key]
            if state.pressure:
                self.give_back(key, min(n, state.idle))

    def sweep(self) -> None:
        """Give back tokens that stayed unused since the previous sweep."""
        for key, state in self._keys.items():
            keep = max(state.peak, state.in_flight) + state.waiting
            if state.tokens > keep:
                self.give_back(key, state.tokens - keep)
            state.peak = state.in_flight

    def sweep_pressured(self) -> None:
        """Give back tokens of keys under pressure unused since the previous such sweep.

        Called every few milliseconds while others need tokens: a token used again
        here within that time would otherwise have travelled to the ledger and back
        (and been unused meanwhile); one that is not goes where it is needed. Idle tokens
        beyond this gateway's share go back even if used recently.
        """
        for key, state in self._keys.items():
            if state.pressure:
                used = state.recent if state.share is None else min(state.recent, state.share)
                keep = max(used, state.in_flight) + state.waiting
                if state.tokens > keep:
                    self.give_back(key, state.tokens - keep)
                state.recent = state.in_flight

    def returns(self) -> dict[str, int]:
        """What the next call carries: per key, the cumulative total given back, for every
        key whose total the ledger has not acknowledged. Tokens set aside (swept, surplus
        beyond a lowered limit) count as sent from here on and can no longer be taken back."""
        for key, state in self._keys.items():
            n = min(state.surplus, state.idle)
            if n:
                self.give_back(key, n)
        self._sent.update(+self._returning)
        self._returning.clear()
        return {key: total for key, total in self._sent.items() if total > self._acked[key]}

    def acknowledge(self, sent: dict[str, int]) -> None:
        """The ledger applied the cumulative totals ``sent`` (under the current incarnation)."""
        for key, total in sent.items():
            self._acked[key] = max(self._acked[key], total)

    def returning(self) -> bool:
        """Whether tokens wait to be sent back, or were sent without an acknowledgement."""
        return bool(+self._returning) or any(t > self._acked[k] for k, t in self._sent.items())

    # --- the ledger forgot us --------------------------------------------------------

    def unregister_all(self) -> int:
        """Every held token becomes unregistered; queued returns are void (the new
        incarnation's totals start at zero, as the ledger's do). Returns how many."""
        self._returning.clear()
        self._sent.clear()
        self._acked.clear()
        moved = 0
        for state in self._keys.values():
            moved += state.held
            state.unregistered += state.held
            state.held = 0
        return moved

    def unregistered(self) -> tuple[dict[str, int], dict[str, int]]:
        """Tokens the ledger does not count, and the limits of their endpoints."""
        tokens = {k: s.unregistered for k, s in self._keys.items() if s.unregistered}
        limits = {k: s.limit for k in tokens if (s := self._keys[k]).limit is not None}
        return tokens, limits

    def restored(self, sent: dict[str, int], accepted: dict[str, int]) -> None:
        """The ledger counts ``accepted`` of the ``sent`` unregistered tokens again."""
        for key, n in sent.items():
            state = self._keys[key]
            counted = accepted.get(key, 0)
            # Some of what we sent may have been dropped meanwhile; the ledger now counts
            # those too, so hand them back.
            moved = min(counted, state.unregistered)
            state.unregistered -= moved
            state.held += moved
            self._returning[key] += counted - moved
            # What did not fit any more is given up (invocations using it finish normally).
            state.unregistered -= min(state.unregistered, n - counted)
