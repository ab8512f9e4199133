"""The ledger as one Ray actor, restarted by Ray if it dies.

It is detached and named (``cluster_names.QUOTA_LEDGER_NAME``): it does not die with the
controller that started it, and a restarted controller finds it by name.

A restarted ledger knows nothing: for one recovery period it grants nothing while the
gateways learn from their next call that it forgot them and re-report what they hold, so
limits hold across the restart.
"""

from __future__ import annotations

import os

import ray

from serverless_ray.quota.desk import LedgerDesk
from serverless_ray.quota.ledger import POOL, Ledger, Reclaimed, Reply
from serverless_ray.quota.ledger_client import HEARTBEAT_S

LEASE_TTL_S = 5.0


@ray.remote(num_cpus=0, max_restarts=-1, max_concurrency=10_000)
class QuotaLedger:
    def __init__(self, pool: int) -> None:
        restarted = ray.get_runtime_context().was_current_actor_reconstructed
        ledger = Ledger(pool, lease_ttl_s=LEASE_TTL_S, recovery_s=2 * HEARTBEAT_S if restarted else 0.0)
        self._desk = LedgerDesk(ledger, ask_back=self._ask_back)
        self._gateways: dict[str, object] = {}

    async def ping(self) -> int:
        """This process's id: a watcher that sees it change knows the ledger was restarted."""
        return os.getpid()

    async def register(self, gateway: str, handle) -> None:
        """Where to reach ``gateway`` when others need its idle tokens."""
        self._gateways[gateway] = handle

    async def exchange(
        self, gateway: str, incarnation: int, wants: dict[str, int], limits: dict[str, int],
        returned: dict[str, int],
    ) -> Reply:
        return await self._desk.exchange(gateway, incarnation, wants, limits, returned)

    async def restore(
        self, gateway: str, tokens: dict[str, int], limits: dict[str, int], incarnation: int
    ) -> dict[str, int]:
        return self._desk.restore(gateway, tokens, limits, incarnation)

    async def set_pool(self, pool: int) -> None:
        self._desk.set_pool(pool)

    async def snapshot(self) -> dict:
        """Pool tokens held in total, every gateway's tokens by endpoint, and the process
        holding the books (a restart changes it)."""
        ledger = self._desk.ledger
        ledger.expire()
        return {
            "pid": os.getpid(),
            "pool": ledger.pool,
            "total": ledger.total,
            "gateways": {
                g: {k: n for k, n in ledger.holdings(g).items() if k != POOL} for g in ledger.gateways()
            },
        }

    async def _ask_back(self, gateway: str, keys: list[str]) -> Reclaimed | None:
        handle = self._gateways.get(gateway)
        if handle is None:
            return None
        return await handle.reclaim.remote(keys)
