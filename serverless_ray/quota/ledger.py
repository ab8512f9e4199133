"""Who holds how many concurrency tokens: pure bookkeeping with leases (no Ray).

Invariants, for every endpoint ``e``: ``sum(held[g][e] for g) <= limit(e)`` at the time
of each grant, and ``sum(held) <= pool``. A gateway's tokens are bound to its lease; a
gateway that stops renewing (it died) loses them after ``lease_ttl_s``.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Literal

ShortOf = Literal["endpoint", "account", "recovering"]


@dataclass(frozen=True)
class Grant:
    granted: int
    short_of: ShortOf | None = None
    limit: int = 0  # the limit that fell short (MaxConcurrency or the pool), for messages
    # Grows each time the ledger (re)learns a gateway: after the ledger restarted, or after
    # the gateway's lease ran out. Tokens a gateway got under an older incarnation are not
    # counted by the ledger any more and must be restored.
    incarnation: int = 0
    # Little is left of the limit or the pool: gateways should hand back idle tokens at
    # once instead of keeping them for reuse, so that others are not refused.
    pressure: bool = False


class Ledger:
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
        self._per_endpoint: Counter[str] = Counter()
        self._total = 0
        self._recovering_until = clock() + recovery_s

    @property
    def total(self) -> int:
        return self._total

    def held_for(self, endpoint: str) -> int:
        return self._per_endpoint[endpoint]

    def holdings(self, gateway: str) -> dict[str, int]:
        return dict(self._held.get(gateway, {}))

    def gateways(self) -> list[str]:
        return list(self._held)

    def holders(self, endpoint: str | None = None) -> list[str]:
        """Gateways holding tokens (of ``endpoint``, or of anything)."""
        return [g for g, held in self._held.items() if (held[endpoint] if endpoint else sum(held.values()))]

    def acquire(self, gateway: str, endpoint: str, want: int, limit: int) -> Grant:
        """Grant up to ``want`` tokens of ``endpoint`` (whose MaxConcurrency is ``limit``)."""
        now = self._clock()
        self.expire(now)
        if now < self._recovering_until:
            return Grant(0, "recovering", incarnation=self._incarnation.get(gateway, 0))
        self._renew(gateway, now)
        incarnation = self._incarnation[gateway]
        free_endpoint = max(0, limit - self._per_endpoint[endpoint])
        free_pool = max(0, self.pool - self._total)
        granted = max(0, min(want, free_endpoint, free_pool))
        self._add(gateway, endpoint, granted)
        # Keeping idle tokens only hurts when another gateway may need them.
        shared_endpoint = any(g != gateway and held[endpoint] for g, held in self._held.items())
        shared_pool = any(g != gateway and sum(held.values()) for g, held in self._held.items())
        pressure = (shared_endpoint and free_endpoint - granted <= limit // 4) or (
            shared_pool and free_pool - granted <= self.pool // 10
        )
        if granted == want:
            return Grant(granted, incarnation=incarnation, pressure=pressure)
        if free_endpoint <= free_pool:
            return Grant(granted, "endpoint", limit, incarnation, True)
        return Grant(granted, "account", self.pool, incarnation, True)

    def release(self, gateway: str, returned: dict[str, int]) -> None:
        held = self._held.get(gateway)
        if held is None:
            return
        for endpoint, n in returned.items():
            n = min(n, held[endpoint])
            self._add(gateway, endpoint, -n)

    def renew(self, gateway: str, incarnation: int) -> int:
        """Heartbeat: extend the gateway's lease; returns its current incarnation.

        A different answer than ``incarnation`` tells the gateway the ledger forgot it, so
        it must :meth:`restore` what it holds.
        """
        now = self._clock()
        self.expire(now)
        self._renew(gateway, now)
        return self._incarnation[gateway]

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
        accepted = {}
        for endpoint, n in tokens.items():
            fits = min(
                n,
                max(0, limits.get(endpoint, n) - self._per_endpoint[endpoint]),
                max(0, self.pool - self._total),
            )
            self._add(gateway, endpoint, fits)
            accepted[endpoint] = fits
        return accepted

    def forget(self, gateway: str) -> None:
        for endpoint, n in list(self._held.get(gateway, {}).items()):
            self._add(gateway, endpoint, -n)
        self._held.pop(gateway, None)
        self._lease_until.pop(gateway, None)
        self._incarnation.pop(gateway, None)

    def expire(self, now: float | None = None) -> list[str]:
        now = self._clock() if now is None else now
        dead = [g for g, until in self._lease_until.items() if until < now]
        for gateway in dead:
            self.forget(gateway)
        return dead

    def _renew(self, gateway: str, now: float) -> None:
        if gateway not in self._held:
            self._held[gateway] = Counter()
            self._incarnation[gateway] = next(self._incarnations)
        self._lease_until[gateway] = now + self._lease_ttl_s

    def _add(self, gateway: str, endpoint: str, n: int) -> None:
        if n == 0:
            return
        held = self._held[gateway]
        held[endpoint] += n
        self._per_endpoint[endpoint] += n
        self._total += n
        if held[endpoint] <= 0:
            del held[endpoint]
        if self._per_endpoint[endpoint] <= 0:
            del self._per_endpoint[endpoint]
