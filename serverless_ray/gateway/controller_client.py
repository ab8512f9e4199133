"""The controller as a gateway talks to it: async methods over its actor handle.

The controller's methods return a ``ServiceError`` as a value rather than raising it, so
that its wire identity crosses the process boundary intact; callers raise it.
"""

from __future__ import annotations

from typing import Any

from serverless_ray.billing.usage import UsageRow
from serverless_ray.errors import ServiceError
from serverless_ray.messages import MetricDatum, Route


class ControllerClient:
    def __init__(self, handle: Any) -> None:
        self._handle = handle  # ActorHandle of serverless_ray.controller.PlatformController

    async def call(self, service: str, operation: str, payload: Any) -> dict[str, Any] | ServiceError:
        """An awsJson operation of ``service`` (see :mod:`serverless_ray.spec.services`)."""
        return await self._handle.call.remote(service, operation, payload)

    async def metrics(self, gateway_id: str | None = None, snapshot: list | None = None) -> bytes:
        """Prometheus text of the whole cluster (``snapshot``: this gateway's own series, now)."""
        return await self._handle.metrics.remote(gateway_id, snapshot)

    async def ingest(self, gateway_id: str, batch: list[MetricDatum], snapshot: list | None) -> None:
        """This gateway's datapoints and Prometheus series, for the controller to keep."""
        await self._handle.ingest.remote(gateway_id, batch, snapshot)

    async def record_usage(self, rows: list[UsageRow]) -> None:
        """Metered usage, for the controller to price and keep."""
        await self._handle.record_usage.remote(rows)

    async def report_demand(self, gateway_id: str, reports: dict[str, tuple[int, int]]) -> None:
        await self._handle.report_demand.remote(gateway_id, reports)

    async def watch_routes(self, version: int, timeout_s: float) -> tuple[int, dict[str, Route]]:
        return await self._handle.watch_routes.remote(version, timeout_s)

    async def route(self, endpoint: str) -> Route | None:
        return await self._handle.route.remote(endpoint)
