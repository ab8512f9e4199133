"""The routing table the control plane publishes to every entry point."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from serverless_ray.runtime.replica import ReplicaSpec


@dataclass(frozen=True)
class VariantRoute:
    """One production variant of an instance-based endpoint and its share of traffic."""

    variant_name: str
    app_name: str
    weight: float


@dataclass(frozen=True)
class Route:
    """Where invocations of one endpoint go.

    ``app_name`` is None while the endpoint is still being created: its invocations are
    answered with ModelNotReadyException rather than queued. ``serverless`` is False for
    instance-based endpoints, which do not draw on the serverless concurrency pool; their
    ``variants`` split traffic by weight (``variant_name``/``app_name`` name the first).
    """

    endpoint_name: str
    variant_name: str
    app_name: str | None
    max_concurrency: int
    provisioned_concurrency: int = 0
    serverless: bool = True
    variants: tuple[VariantRoute, ...] = ()
    # What a standby loads to answer a cold invocation (serverless endpoints only).
    replica: ReplicaSpec | None = None

    def targets(self) -> list[tuple[str, str]]:
        """``(variant name, Serve application)`` of every variant that serves traffic now."""
        if self.variants:
            return [(v.variant_name, v.app_name) for v in self.variants]
        return [(self.variant_name, self.app_name)] if self.app_name else []


class RouteBoard:
    """Versioned routes with long-poll waits, so entry points learn changes at once."""

    def __init__(self) -> None:
        self._routes: dict[str, Route] = {}
        self._version = 0
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
