"""The routing table the controller publishes to every gateway, versioned for long polls."""

from __future__ import annotations

import asyncio

from serverless_ray.messages import Route


class RouteBoard:
    """Versioned routes with long-poll waits, so entry points learn changes at once."""

    def __init__(self, first_version: int = 0) -> None:
        """Gateways wait while their version equals the board's: the board of a restarted
        controller starts at a ``first_version`` past any version the one before it handed
        out, so that no gateway takes its routes for ones it already has."""
        self._routes: dict[str, Route] = {}
        self._version = first_version
        self._changed = asyncio.Event()

    @property
    def version(self) -> int:
        return self._version

    def get(self, endpoint: str) -> Route | None:
        return self._routes.get(endpoint.lower())

    def publish(self, routes: dict[str, Route]) -> None:
        if routes == self._routes:
            return
        self._routes = dict(routes)
        self._version += 1
        self._changed.set()
        self._changed = asyncio.Event()

    def snapshot(self) -> tuple[int, dict[str, Route]]:
        return self._version, dict(self._routes)

    async def wait_newer(self, version: int, timeout_s: float) -> tuple[int, dict[str, Route]]:
        """Return the routes once their version differs from ``version`` (or on timeout)."""
        if version == self._version:
            try:
                await asyncio.wait_for(self._changed.wait(), timeout_s)
            except asyncio.TimeoutError:
                pass
        return self.snapshot()
