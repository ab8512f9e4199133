"""A gateway's client of the quota ledger actor (see ``ledger_actor.py``)."""

from __future__ import annotations

from serverless_ray.quota.ledger import Reply

HEARTBEAT_S = 1.0  # gateways holding tokens call the ledger at least this often
LEDGER = "ledger"
"""The ledger's name in a gateway's view of the platform's health."""


class LedgerActorClient:
    """:class:`~serverless_ray.quota.admission.LedgerClient` over the actor."""

    def __init__(self, handle, gateway_handle=None) -> None:
        self._handle = handle
        self._gateway_handle = gateway_handle

    async def exchange(
        self, gateway: str, incarnation: int, wants: dict[str, int], limits: dict[str, int],
        returned: dict[str, int],
    ) -> Reply:
        return await self._handle.exchange.remote(gateway, incarnation, wants, limits, returned)

    async def restore(
        self, gateway: str, tokens: dict[str, int], limits: dict[str, int], incarnation: int
    ) -> dict[str, int]:
        return await self._handle.restore.remote(gateway, tokens, limits, incarnation)

    async def register(self, gateway: str) -> None:
        if self._gateway_handle is not None:
            await self._handle.register.remote(gateway, self._gateway_handle)
