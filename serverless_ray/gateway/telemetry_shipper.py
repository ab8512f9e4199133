"""Ships this gateway's datapoints and Prometheus series to the controller.

About once a second while invocations happen (and every ``idle_every_s`` otherwise, so
that gauges such as the standby pool stay current) the recorder is drained and sent with
a snapshot of the gateway's registry. A shipment that fails is merged into the next.
With ``sample_utilization`` the node's utilization gauges become datapoints of each
shipment (:mod:`serverless_ray.observability.utilization_samples`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Awaitable, Callable, Sequence

from serverless_ray.errors import ServiceError
from serverless_ray.messages import MetricDatum
from serverless_ray.observability.federation import SnapshotRow, snapshot
from serverless_ray.observability.recorder import MetricRecorder
from serverless_ray.observability.utilization_samples import record_utilization

log = logging.getLogger(__name__)

Ship = Callable[[list[MetricDatum], Sequence[SnapshotRow]], Awaitable[None]]


class TelemetryShipper:
    def __init__(self, recorder: MetricRecorder, registry, ship: Ship, *, interval_s: float = 1.0,
                 idle_every_s: float = 10.0, sample_utilization: bool = False,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.recorder = recorder
        self._sample_utilization = sample_utilization
        self._registry = registry
        self._ship = ship
        self._interval_s = interval_s
        self._idle_every_s = idle_every_s
        self._clock = clock
        self._shipped_at = float("-inf")
        self._task: asyncio.Task | None = None
        self._lock = asyncio.Lock()

    def snapshot(self) -> list[SnapshotRow]:
        return snapshot(self._registry)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def flush(self) -> None:
        """Ship everything recorded so far, now."""
        async with self._lock:
            rows = self.snapshot()
            if self._sample_utilization:
                record_utilization(self.recorder, rows)
            batch = self.recorder.drain()
            try:
                await self._ship(batch, rows)
            except Exception:
                self.recorder.put_back(batch)
                raise
            self._shipped_at = self._clock()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        try:
            await self.flush()
        except Exception:
            log.warning("the last datapoints of this gateway could not be shipped", exc_info=True)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            if not self.recorder.pending and self._clock() - self._shipped_at < self._idle_every_s:
                continue
            try:
                await self.flush()
            except Exception as exc:
                log.warning("shipping datapoints to the controller failed; retrying: %s", exc,
                            exc_info=not isinstance(exc, ServiceError))
