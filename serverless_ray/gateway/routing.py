"""This entry point's copy of the route board, kept fresh by long-polling the controller.

A name the controller does not know is remembered as unknown for a moment, so that a
client looping on a bad name does not reach the head node on every call; any change of
the routes forgets those names at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable, Protocol

from serverless_ray.errors import ServiceError
from serverless_ray.messages import Route

log = logging.getLogger(__name__)

UNKNOWN_NAME_TTL_S = 1.0
_MAX_UNKNOWN_NAMES = 4096


class RouteSource(Protocol):
    async def watch_routes(self, version: int, timeout_s: float) -> tuple[int, dict[str, Route]]: ...
    async def route(self, endpoint: str) -> Route | None: ...


class RouteCache:
    def __init__(
        self,
        source: RouteSource,
        on_change: Callable[[dict[str, Route]], None] | None = None,
        *,
        unknown_ttl_s: float = UNKNOWN_NAME_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._on_change = on_change
        self._unknown_ttl_s = unknown_ttl_s
        self._clock = clock
        self._version = -1
        self._routes: dict[str, Route] = {}
        self._unknown: dict[str, float] = {}  # lower-cased name → until when it counts as unknown
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._set(*await self._source.watch_routes(-1, 0.0))
        self._task = asyncio.create_task(self._follow())

    def _set(self, version: int, routes: dict[str, Route]) -> None:
        changed = version != self._version
        self._version, self._routes = version, routes
        if changed:
            self._unknown.clear()
        if changed and self._on_change is not None:
            try:
                self._on_change(routes)
            except Exception:
                log.warning("acting on new routes failed", exc_info=True)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def lookup(self, endpoint: str) -> Route | None:
        key = endpoint.lower()
        route = self._routes.get(key)
        if route is not None and route.app_name is not None:
            return route
        if route is None and self._clock() < self._unknown.get(key, float("-inf")):
            return None
        # A change may be on its way; ask rather than answer "not found" early.
        route = await self._source.route(endpoint)
        if route is None:
            self._remember_unknown(key)
        return route

    def _remember_unknown(self, key: str) -> None:
        now = self._clock()
        if len(self._unknown) >= _MAX_UNKNOWN_NAMES:
            self._unknown = {k: until for k, until in self._unknown.items() if until > now}
            if len(self._unknown) >= _MAX_UNKNOWN_NAMES:
                self._unknown.clear()
        self._unknown[key] = now + self._unknown_ttl_s

    async def _follow(self) -> None:
        while True:
            try:
                self._set(*await self._source.watch_routes(self._version, 30.0))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # The controller restarting is expected: one line, no traceback.
                log.warning("route watch failed; retrying: %s", exc, exc_info=not isinstance(exc, ServiceError))
                await asyncio.sleep(1.0)
