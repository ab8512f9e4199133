"""The controller's share of observability: it keeps what gateways and replicas send
(metric datapoints, Prometheus snapshots, log lines) and answers the CloudWatch and
CloudWatch Logs APIs over it. Storage work runs in worker threads, off the controller's
event loop."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable, Sequence

from serverless_ray.cloudwatch.service import CloudWatchService
from serverless_ray.logs.service import LogsService
from serverless_ray.logs.store import LogStore
from serverless_ray.messages import LogLine, MetricDatum
from serverless_ray.observability import catalog
from serverless_ray.observability.federation import Federation, SnapshotRow
from serverless_ray.observability.metric_store import MetricStore
from serverless_ray.observability.recorder import MetricRecorder
from serverless_ray.settings import PlatformSettings
from serverless_ray.spec.arns import log_group_name

log = logging.getLogger(__name__)

COMPACT_EVERY_S = 60.0
LIFECYCLE_STREAM = "platform/lifecycle"


class Telemetry:
    def __init__(self, settings: PlatformSettings, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self.metrics = MetricStore(settings.metrics_path, retention_days=settings.metrics_retention_days,
                                   high_resolution_s=settings.metrics_high_resolution_s)
        self.logs = LogStore(settings.logs_path, default_retention_days=settings.log_retention_days)
        self.federation = Federation(settings.prometheus_totals_path)
        self.cloudwatch = CloudWatchService(self.metrics, clock=clock)
        self.logs_api = LogsService(self.logs, region=settings.region, account_id=settings.account_id, clock=clock)
        # What the controller itself measures (cluster-wide utilization), shipped with the rest.
        self.recorder = MetricRecorder(clock)
        self._compacted_at = 0.0

    async def ingest(self, batch: Sequence[MetricDatum], gateway_id: str | None = None,
                     snapshot: Sequence[SnapshotRow] | None = None) -> None:
        if snapshot is not None and gateway_id is not None:
            self.federation.update(gateway_id, snapshot)
        if batch:
            await asyncio.to_thread(self.metrics.add, batch)

    async def ingest_logs(self, lines: Sequence[LogLine]) -> None:
        rows = [(log_group_name(line.endpoint_name), line) for line in lines]
        await asyncio.to_thread(self.logs.append, rows, int(self._clock() * 1000))

    async def lifecycle(self, endpoint: str, message: str) -> None:
        """A platform event of ``endpoint`` (created, failed and why, scaled, replaced)."""
        await self.ingest_logs([LogLine(endpoint, LIFECYCLE_STREAM, int(self._clock() * 1000), message)])

    async def call_cloudwatch(self, operation: str, payload: Any) -> dict[str, Any]:
        return await asyncio.to_thread(self.cloudwatch.call, operation, payload)

    async def call_logs(self, operation: str, payload: Any) -> dict[str, Any]:
        return await asyncio.to_thread(self.logs_api.call, operation, payload)

    def observe_utilization(self, endpoint: str, variant: str, *, in_flight: int, max_concurrency: int,
                            provisioned: int) -> None:
        """Cluster-wide concurrency of a serverless variant, as the autoscaler sees it."""
        dims = catalog.variant_dimensions(endpoint, variant)
        if max_concurrency:
            self.recorder.record(catalog.CONCURRENT_UTILIZATION, dims, in_flight / max_concurrency)
        if provisioned:
            self.recorder.record(catalog.PC_EXECUTIONS, dims, min(in_flight, provisioned))
            self.recorder.record(catalog.PC_UTILIZATION, dims, in_flight / provisioned)

    async def housekeep(self) -> None:
        """Store what the controller recorded; now and then roll up and expire old data."""
        await self.ingest(self.recorder.drain())
        now = self._clock()
        if now - self._compacted_at >= COMPACT_EVERY_S:
            self._compacted_at = now
            await asyncio.to_thread(self.metrics.compact, now)
            await asyncio.to_thread(self.logs.expire, int(now * 1000))

    def close(self) -> None:
        try:
            self.metrics.add(self.recorder.drain())
            self.federation.save()
        finally:
            self.metrics.close()
            self.logs.close()
