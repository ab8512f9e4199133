"""Per-endpoint in-flight counts at this entry point, reported to the autoscaler.

A rise above what the autoscaler last heard is reported at once (a request to a
scaled-to-zero endpoint starts a replica without waiting for any metrics window);
otherwise busy endpoints are summarised once per interval and idle ones not at all.
The counts themselves are the gateway's :class:`~serverless_ray.gateway.in_flight.InFlight`.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import contextmanager
from typing import Awaitable, Callable, Iterator

from serverless_ray.errors import ServiceError
from serverless_ray.gateway.in_flight import InFlight

log = logging.getLogger(__name__)

ReportFn = Callable[[dict[str, tuple[int, int]]], Awaitable[None]]


class DemandTracker:
    def __init__(self, report: ReportFn, *, interval_s: float = 1.0, in_flight: InFlight | None = None) -> None:
        self._report = report
        self._interval_s = interval_s
        self._in_flight = in_flight if in_flight is not None else InFlight()
        self._peak: dict[str, int] = {}
        self._reported: dict[str, int] = {}
        self._urgent: set[str] = set()
        self._flushing = False
        self._task: asyncio.Task | None = None

    def in_flight(self, endpoint: str) -> int:
        return self._in_flight.of_endpoint(endpoint)

    @contextmanager
    def track(self, endpoint: str, variant: str = "") -> Iterator[None]:
        """Count one invocation of ``endpoint`` as in flight for the ``with`` block."""
        with self._in_flight.hold(endpoint, variant) as count:
            if count > self._peak.get(endpoint, 0):
                self._peak[endpoint] = count
            if count > self._reported.get(endpoint, 0):
                self._urgent.add(endpoint)
                self._kick()
            yield

    def start(self) -> None:
        self._task = asyncio.create_task(self._periodic())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def _kick(self) -> None:
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._flush_urgent())

    async def _flush_urgent(self) -> None:
        try:
            while self._urgent:
                endpoints, self._urgent = self._urgent, set()
                await self._send(endpoints)
        finally:
            self._flushing = False

    async def _periodic(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            busy = {
                e for e, n in self._in_flight.endpoints().items()
                if n > 0 or self._reported.get(e, 0) != n or self._peak.get(e, 0) != n
            }
            if busy:
                await self._send(busy)

    async def _send(self, endpoints: set[str]) -> None:
        reports = {}
        for endpoint in endpoints:
            current = self._in_flight.of_endpoint(endpoint)
            reports[endpoint] = (current, max(current, self._peak.get(endpoint, 0)))
            self._peak[endpoint] = current
            self._reported[endpoint] = current
        try:
            await self._report(reports)
        except Exception as exc:  # the controller may be restarting; the next report catches up
            log.warning("demand report failed: %s", exc, exc_info=not isinstance(exc, ServiceError))
            for endpoint in endpoints:
                self._reported[endpoint] = 0
