"""This entry point's copy of the route board, kept fresh by long-polling the controller."""

from __future__ import annotations

import asyncio
import logging
from typing import Callable

from serverless_ray.control.routes import Route

log = logging.getLogger(__name__)


class RouteCache:
    def __init__(self, controller, on_change: Callable[[dict[str, Route]], None] | None = None) -> None:
        self._controller = controller
        self._on_change = on_change
        self._version = -1
        self._routes: dict[str, Route] = {}
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._set(*await self._controller.watch_routes.remote(-1, 0.0))
        self._task = asyncio.create_task(self._follow())

    def _set(self, version: int, routes: dict[str, Route]) -> None:
        changed = version != self._version
        self._version, self._routes = version, routes
        if changed and self._on_change is not None:
            try:
                self._on_change(routes)
            except Exception:
                log.warning("acting on new routes failed", exc_info=True)

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
                self._set(*await self._controller.watch_routes.remote(self._version, 30.0))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("route watch failed; retrying", exc_info=True)
                await asyncio.sleep(1.0)
