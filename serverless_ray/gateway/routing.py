"""This entry point's copy of the route board, kept fresh by long-polling the controller."""

from __future__ import annotations

import asyncio
import logging

from serverless_ray.control.routes import Route

log = logging.getLogger(__name__)


class RouteCache:
    def __init__(self, controller) -> None:
        self._controller = controller
        self._version = -1
        self._routes: dict[str, Route] = {}
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._version, self._routes = await self._controller.watch_routes.remote(-1, 0.0)
        self._task = asyncio.create_task(self._follow())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def lookup(self, endpoint: str) -> Route | None:
        route = self._routes.get(endpoint.lower())
        if route is None or route.app_name is None:
            # A change may be on its way; ask rather than answer "not found" early.
            route = await self._controller.route.remote(endpoint)
        return route

    async def _follow(self) -> None:
        while True:
            try:
                self._version, self._routes = await self._controller.watch_routes.remote(self._version, 30.0)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("route watch failed; retrying", exc_info=True)
                await asyncio.sleep(1.0)
