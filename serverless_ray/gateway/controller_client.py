"""The controller as a gateway talks to it: async methods over its actor handle.

The controller's methods return a ``ServiceError`` as a value rather than raising it, so
that its wire identity crosses the process boundary intact; callers raise it.

The controller may die and be restarted by Ray. A call that finds it gone marks it down
in the gateway's :class:`~serverless_ray.gateway.platform_health.PlatformHealth`; until a
ping answers again every call fails at once with ``ServiceUnavailable`` (a control-plane
call answers it to the client, who retries), instead of waiting in Ray's queue for the
restart. Nothing on an invocation's path waits for the controller.
"""

from __future__ import annotations

from typing import Any

from ray.exceptions import RayActorError

from serverless_ray.billing.usage import UsageRow
from serverless_ray.errors import ServiceError, ServiceUnavailable
from serverless_ray.gateway.platform_health import PlatformHealth
from serverless_ray.messages import MetricDatum, Route

CONTROLLER = "controller"
"""The controller's name in :class:`PlatformHealth`."""


def controller_unavailable() -> ServiceUnavailable:
    return ServiceUnavailable(
        "The control plane is unavailable (it is restarting); try again shortly. "
        "Invocations of running endpoints are not affected."
    )


class ControllerClient:
    def __init__(self, handle: Any, health: PlatformHealth | None = None) -> None:
        self._handle = handle  # ActorHandle of serverless_ray.controller.PlatformController
        self._health = health if health is not None else PlatformHealth({})

    async def ping(self) -> int:
        """The controller's process id, once it is up and serving (waits while it restarts)."""
        return await self._handle.ping.remote()

    async def call(self, service: str, operation: str, payload: Any) -> dict[str, Any] | ServiceError:
        """An awsJson operation of ``service`` (see :mod:`serverless_ray.spec.services`)."""
        try:
            return await self._remote("call", service, operation, payload)
        except ServiceUnavailable as error:
            return error

    async def metrics(self, gateway_id: str | None = None, snapshot: list | None = None) -> bytes:
        """Prometheus text of the whole cluster (``snapshot``: this gateway's own series, now)."""
        return await self._remote("metrics", gateway_id, snapshot)

    async def ingest(self, gateway_id: str, batch: list[MetricDatum], snapshot: list | None) -> None:
        """This gateway's datapoints and Prometheus series, for the controller to keep."""
        await self._remote("ingest", gateway_id, batch, snapshot)

    async def record_usage(self, rows: list[UsageRow]) -> None:
        """Metered usage, for the controller to price and keep."""
        await self._remote("record_usage", rows)

    async def report_demand(self, gateway_id: str, reports: dict[str, tuple[int, int]]) -> None:
        await self._remote("report_demand", gateway_id, reports)

    async def watch_routes(self, version: int, timeout_s: float) -> tuple[int, dict[str, Route]]:
        return await self._remote("watch_routes", version, timeout_s)

    async def route(self, endpoint: str) -> Route | None:
        return await self._remote("route", endpoint)

    async def _remote(self, method: str, *args: Any) -> Any:
        """Call ``method``; ``ServiceUnavailable`` at once while the controller is down."""
        if self._health.is_down(CONTROLLER):
            raise controller_unavailable()
        try:
            return await getattr(self._handle, method).remote(*args)
        except RayActorError as exc:
            self._health.mark_down(CONTROLLER, type(exc).__name__)
            raise controller_unavailable() from None
