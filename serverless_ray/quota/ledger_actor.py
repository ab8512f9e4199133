"""The ledger as one Ray actor, restarted by Ray if it dies.

A restarted ledger knows nothing: for one recovery period it grants nothing while the
gateways' heartbeats re-report what they hold, so limits hold across the restart.
"""

from __future__ import annotations

import asyncio
import time

import ray

from serverless_ray.quota.ledger import Grant, Ledger

QUOTA_LEDGER_NAME = "serverless-ray-quota"
LEASE_TTL_S = 5.0
HEARTBEAT_S = 0.5
RECLAIM_EVERY_S = 0.01


@ray.remote(num_cpus=0, max_restarts=-1, max_concurrency=10_000)
class QuotaLedger:
    def __init__(self, pool: int) -> None:
        restarted = ray.get_runtime_context().was_current_actor_reconstructed
        self._ledger = Ledger(pool, lease_ttl_s=LEASE_TTL_S, recovery_s=3 * HEARTBEAT_S if restarted else 0.0)
        self._gateways: dict[str, object] = {}
        self._last_reclaim: dict[str, float] = {}

    async def register(self, gateway: str, handle) -> None:
        self._gateways[gateway] = handle

    async def acquire(self, gateway: str, endpoint: str, want: int, limit: int) -> Grant:
        grant = self._ledger.acquire(gateway, endpoint, want, limit)
        if grant.short_of in ("endpoint", "account"):
            self._ask_to_reclaim(gateway, endpoint if grant.short_of == "endpoint" else None)
        return grant

    async def release(self, gateway: str, returned: dict[str, int]) -> None:
        self._ledger.release(gateway, returned)

    async def renew(self, gateway: str, incarnation: int, handle=None) -> int:
        if handle is not None:  # a restarted ledger learns its gateways again from heartbeats
            self._gateways[gateway] = handle
        return self._ledger.renew(gateway, incarnation)

    async def restore(
        self, gateway: str, tokens: dict[str, int], limits: dict[str, int], incarnation: int
    ) -> dict[str, int]:
        return self._ledger.restore(gateway, tokens, limits, incarnation)

    async def set_pool(self, pool: int) -> None:
        self._ledger.pool = pool

    async def snapshot(self) -> dict:
        self._ledger.expire()
        return {
            "pool": self._ledger.pool,
            "total": self._ledger.total,
            "gateways": {g: self._ledger.holdings(g) for g in self._ledger.gateways()},
        }

    def _ask_to_reclaim(self, requester: str, endpoint: str | None) -> None:
        """Ask gateways that may hold idle tokens to return them (rate-limited)."""
        now = time.monotonic()
        for gateway in self._ledger.holders(endpoint):
            handle = self._gateways.get(gateway)
            if gateway == requester or handle is None:
                continue
            if now - self._last_reclaim.get(gateway, 0.0) < RECLAIM_EVERY_S:
                continue
            self._last_reclaim[gateway] = now
            handle.reclaim.remote([endpoint] if endpoint else None)


class LedgerActorClient:
    """:class:`~serverless_ray.quota.admission.LedgerClient` over the actor."""

    def __init__(self, handle, gateway_handle=None) -> None:
        self._handle = handle
        self._gateway_handle = gateway_handle

    async def acquire(self, gateway: str, endpoint: str, want: int, limit: int) -> Grant:
        return await self._handle.acquire.remote(gateway, endpoint, want, limit)

    async def release(self, gateway: str, returned: dict[str, int]) -> None:
        await self._handle.release.remote(gateway, returned)

    async def renew(self, gateway: str, incarnation: int) -> int:
        return await asyncio.wait_for(
            self._handle.renew.remote(gateway, incarnation, self._gateway_handle), timeout=5
        )

    async def restore(
        self, gateway: str, tokens: dict[str, int], limits: dict[str, int], incarnation: int
    ) -> dict[str, int]:
        return await self._handle.restore.remote(gateway, tokens, limits, incarnation)
