"""Who holds how many concurrency tokens: pure bookkeeping with leases (no Ray).

Tokens are counted per *key*: each endpoint name (its ``MaxConcurrency``) and
:data:`POOL` (the account's serverless pool). An invocation holds one token of its
endpoint and one of the pool, so pool tokens at a gateway serve any endpoint there.

Invariants, for every key ``k``: ``sum(held[g][k] for g) <= limit(k)`` at the time of
each grant. A gateway's tokens are bound to its lease; a gateway that stops renewing (it
died) loses them after ``lease_ttl_s``.

Gateways talk to the ledger with :meth:`Ledger.exchange`: one call carries what they
have returned and every token they want. Returns are cumulative per key and incarnation
(the total a gateway has given back so far), so that whichever of a gateway's calls
arrives first applies them, and none applies them twice. A want that cannot be met at
once may be *parked* while idle holders are asked for their tokens: tokens that come
back meanwhile (returned, reclaimed, freed by an expired lease) go to parked wants
first, oldest first.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Literal

ShortOf = Literal["endpoint", "account", "recovering"]

POOL = "*"  # the account pool's key; endpoint names never contain "*"


@dataclass(frozen=True)
class Reply:
    """What a gateway learns from one exchange."""

    # Grows each time the ledger (re)learns a gateway: after the ledger restarted, or after
    # the gateway's lease ran out. Tokens a gateway got under an older incarnation are not
    # counted by the ledger any more and must be restored.
    incarnation: int
    granted: dict[str, int] = field(default_factory=dict)
    # Keys whose want could not be met in full: why, and the limit that fell short.
    short: dict[str, tuple[ShortOf, int]] = field(default_factory=dict)
    # Keys held by this gateway that others may need soon, each with this gateway's share:
    # how many tokens (in use or idle) it may keep for reuse.
    pressure: dict[str, int] = field(default_factory=dict)
    # The ledger's clock when it answered (monotonic: comparable on one host only), so that
    # a refusal can be judged against what was in flight when it was decided.
    answered_at: float = 0.0


@dataclass(frozen=True)
class Reclaimed:
    """A gateway's answer to a reclaim: its incarnation and cumulative returned totals
    (the idle tokens it just gave up included)."""

    incarnation: int
    returned: dict[str, int] = field(default_factory=dict)


@dataclass
class _Parked:
    gateway: str
    incarnation: int
    missing: Counter[str]
    granted: Counter[str] = field(default_factory=Counter)


class Ledger:
    """Every gateway's tokens, leases and parked wants; see the module docstring."""

    def __init__(
        self,
        pool: int,
        *,
        lease_ttl_s: float = 5.0,
        recovery_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``recovery_s`` > 0 after a restart: grant nothing until gateways re-reported."""
        self.pool = pool
        self._lease_ttl_s = lease_ttl_s
        self._clock = clock
        self._held: dict[str, Counter[str]] = {}
        self._lease_until: dict[str, float] = {}
        self._incarnation: dict[str, int] = {}
        # Start above any incarnation a previous ledger process handed out.
        self._incarnations = itertools.count(time.time_ns())
        self._totals: Counter[str] = Counter()
        self._limits: dict[str, int] = {}
        self._recovering_until = clock() + recovery_s
        self._parked: dict[int, _Parked] = {}  # insertion order is arrival order
        self._parked_missing: Counter[str] = Counter()
        self._tickets = itertools.count(1)
        self._completed: list[int] = []
        # Per gateway: the cumulative returned totals applied so far (this incarnation).
        self._returned: dict[str, Counter[str]] = {}

    # --- reading ---------------------------------------------------------------------

    @property
    def total(self) -> int:
        """Pool tokens held by all gateways (an upper bound of invocations in flight)."""
        return self._totals[POOL]

    def held_for(self, key: str) -> int:
        return self._totals[key]

    def holdings(self, gateway: str) -> dict[str, int]:
        return dict(self._held.get(gateway, {}))

    def gateways(self) -> list[str]:
        return list(self._held)

    def holders(self, key: str) -> list[str]:
        return [g for g, held in self._held.items() if held[key]]

    def limit(self, key: str) -> int:
        return self.pool if key == POOL else self._limits.get(key, 0)

    def free(self, key: str) -> int:
        return max(0, self.limit(key) - self._totals[key])

    @property
    def recovering(self) -> bool:
        return self._clock() < self._recovering_until

    # --- exchanging tokens -----------------------------------------------------------

    def exchange(
        self,
        gateway: str,
        incarnation: int,
        wants: dict[str, int] | None = None,
        limits: dict[str, int] | None = None,
        returned: dict[str, int] | None = None,
        *,
        park: bool = False,
    ) -> tuple[Reply, int | None]:
        """Take back what ``returned`` adds to the gateway's returns, then grant what fits of
        ``wants``; renews the lease.

        ``returned``: per key, the total the gateway has given back under ``incarnation``;
        only the part not applied yet is taken back. ``limits`` are the current
        ``MaxConcurrency`` of the endpoints wanted. Returns are ignored unless sent under
        the gateway's current incarnation (otherwise the ledger does not count those
        tokens any more). With ``park``, a want that does not fit is queued and the second
        value is its ticket: see :meth:`unpark`.
        """
        now = self._clock()
        self.expire(now)
        self._renew(gateway, now)
        current = self._incarnation[gateway]
        wants = {k: n for k, n in (wants or {}).items() if n > 0}
        if now < self._recovering_until:
            return Reply(current, short={k: ("recovering", 0) for k in wants}, answered_at=now), None
        if returned and incarnation == current:
            self._apply_returned(gateway, returned)
        for key, limit in (limits or {}).items():
            self._set_limit(key, limit)
        self._serve_parked()
        granted: Counter[str] = Counter()
        missing: Counter[str] = Counter()
        for key, n in wants.items():
            # Wants parked before this one come first.
            fits = 0 if self._parked_missing[key] else min(n, self.free(key))
            self._add(gateway, key, fits)
            granted[key] += fits
            if fits < n:
                missing[key] = n - fits
        if missing and park:
            ticket = next(self._tickets)
            self._parked[ticket] = _Parked(gateway, current, missing)
            self._parked_missing.update(missing)
            return self._reply(gateway, current, granted, {}), ticket
        return self._reply(gateway, current, granted, missing), None

    def unpark(self, ticket: int) -> Reply:
        """End a parked want (served or timed out): what it got, and what is still short."""
        entry = self._parked.pop(ticket, None)
        if entry is None:
            return Reply(0)
        self._parked_missing.subtract(entry.missing)
        current = self._incarnation.get(entry.gateway)
        if current != entry.incarnation:  # the gateway was forgotten meanwhile
            return Reply(0)
        return self._reply(entry.gateway, current, entry.granted, +entry.missing)

    def cancel(self, ticket: int) -> None:
        """End a parked want whose answer will never reach its gateway: take back its grants."""
        entry = self._parked.get(ticket)
        reply = self.unpark(ticket)
        if entry is not None and reply.incarnation:
            self._take_back(entry.gateway, reply.granted)
            self._serve_parked()

    def completed(self) -> list[int]:
        """Tickets of parked wants met in full since the last call."""
        done, self._completed = self._completed, []
        return done

    def reclaim_targets(self, ticket: int) -> dict[str, list[str]]:
        """Gateways to ask for idle tokens the parked want ``ticket`` needs: every other
        holder of a key it misses. A holder's answer (:meth:`take_returned`) says what it
        had idle, so once all have answered the want can be refused without waiting longer.
        """
        entry = self._parked.get(ticket)
        if entry is None:
            return {}
        targets: dict[str, list[str]] = {}
        for key in +entry.missing:
            for gateway in self.holders(key):
                if gateway != entry.gateway:
                    targets.setdefault(gateway, []).append(key)
        return targets

    def take_returned(self, gateway: str, answer: Reclaimed) -> None:
        """A holder's answer to a reclaim: take back what its totals add."""
        if answer.returned and self._incarnation.get(gateway) == answer.incarnation:
            self._apply_returned(gateway, answer.returned)
            self._serve_parked()

    def restore(
        self, gateway: str, tokens: dict[str, int], limits: dict[str, int], incarnation: int
    ) -> dict[str, int]:
        """Count tokens a gateway got under an older incarnation; returns how many fit.

        Only tokens the ledger does not count are sent, so adding never counts twice.
        """
        now = self._clock()
        self.expire(now)
        if self._incarnation.get(gateway) != incarnation:
            return {}
        self._renew(gateway, now)
        for key, limit in limits.items():
            self._set_limit(key, limit)
        accepted = {}
        for key, n in tokens.items():
            fits = min(n, self.free(key))
            self._add(gateway, key, fits)
            accepted[key] = fits
        return accepted

    def set_pool(self, pool: int) -> None:
        self.pool = pool
        self._serve_parked()

    # --- leases ----------------------------------------------------------------------

    def forget(self, gateway: str) -> None:
        for key, n in list(self._held.get(gateway, {}).items()):
            self._add(gateway, key, -n)
        self._held.pop(gateway, None)
        self._lease_until.pop(gateway, None)
        self._incarnation.pop(gateway, None)
        self._returned.pop(gateway, None)

    def expire(self, now: float | None = None) -> list[str]:
        now = self._clock() if now is None else now
        dead = [g for g, until in self._lease_until.items() if until < now]
        for gateway in dead:
            self.forget(gateway)
        if dead:
            self._serve_parked()
        return dead

    # --- internals -------------------------------------------------------------------

    def _renew(self, gateway: str, now: float) -> None:
        if gateway not in self._held:
            self._held[gateway] = Counter()
            self._returned[gateway] = Counter()
            self._incarnation[gateway] = next(self._incarnations)
        self._lease_until[gateway] = now + self._lease_ttl_s

    def _set_limit(self, key: str, limit: int) -> None:
        if key == POOL:
            return
        raised = limit > self._limits.get(key, 0)
        self._limits[key] = limit
        if raised:
            self._serve_parked()

    def _apply_returned(self, gateway: str, returned: dict[str, int]) -> None:
        applied = self._returned[gateway]
        new = {}
        for key, total in returned.items():
            if total > applied[key]:
                new[key] = total - applied[key]
                applied[key] = total
        self._take_back(gateway, new)

    def _take_back(self, gateway: str, returns: dict[str, int]) -> None:
        held = self._held[gateway]
        for key, n in returns.items():
            self._add(gateway, key, -min(n, held[key]))

    def _serve_parked(self) -> None:
        """Hand freed tokens to parked wants, oldest first."""
        for ticket, entry in self._parked.items():
            if self._incarnation.get(entry.gateway) != entry.incarnation or not +entry.missing:
                continue
            for key in list(entry.missing):
                fits = min(entry.missing[key], self.free(key))
                if fits:
                    self._add(entry.gateway, key, fits)
                    entry.granted[key] += fits
                    entry.missing[key] -= fits
                    self._parked_missing[key] -= fits
            if not +entry.missing:
                self._completed.append(ticket)

    def _reply(self, gateway: str, incarnation: int, granted: Counter[str], missing: Counter[str]) -> Reply:
        short = {k: self._why_short(k) for k, n in missing.items() if n > 0}
        pressure = self._pressure(gateway)
        granted = {k: n for k, n in granted.items() if n}
        return Reply(incarnation, granted, short, pressure, self._clock())

    def _why_short(self, key: str) -> tuple[ShortOf, int]:
        return ("account", self.pool) if key == POOL else ("endpoint", self.limit(key))

    def _pressure(self, gateway: str) -> dict[str, int]:
        """Keys held by ``gateway`` that others may need (little is left, or someone waits),
        with an equal share of the limit among the gateways holding or waiting for it.

        Keeping idle tokens only hurts when another gateway shares the limit.
        """
        pressure = {}
        for key, n in self._held[gateway].items():
            if self._parked_missing[key] <= 0:
                reserve = self.limit(key) // (10 if key == POOL else 4)
                if n >= self._totals[key] or self.free(key) > reserve:
                    continue  # nobody else holds any, or there is room
            sharing = set(self.holders(key))
            sharing.update(e.gateway for e in self._parked.values() if e.missing[key] > 0)
            pressure[key] = max(1, self.limit(key) // len(sharing))
        return pressure

    def _add(self, gateway: str, key: str, n: int) -> None:
        if n == 0:
            return
        held = self._held[gateway]
        held[key] += n
        self._totals[key] += n
        if held[key] <= 0:
            del held[key]
        if self._totals[key] <= 0:
            del self._totals[key]
