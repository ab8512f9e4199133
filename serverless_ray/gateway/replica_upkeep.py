"""What an entry point does for the confined replicas of its node (see
:mod:`serverless_ray.isolation`): tells why one died, cleans up after the dead ones,
and reports their utilization in ``/metrics``."""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import CollectorRegistry

from serverless_ray.isolation import reaper
from serverless_ray.isolation.records import ExitRecord, cluster_scope
from serverless_ray.isolation.utilization import UtilizationCollector
from serverless_ray.isolation.verdicts import why_replica_died
from serverless_ray.settings import PlatformSettings

log = logging.getLogger(__name__)

SWEEP_EVERY_S = 2.0


class ReplicaUpkeep:
    def __init__(self, settings: PlatformSettings, node_id: str | None) -> None:
        self.runtime_dir = str(settings.replica_runtime_dir)
        self.scope = cluster_scope()
        self._node_id = node_id
        self._task: asyncio.Task | None = None

    def verdict(self, replica_id: str | None) -> ExitRecord | None:
        """The limit a dead replica broke (None: something else, or not known here)."""
        try:
            return why_replica_died(self.runtime_dir, self.scope, replica_id)
        except OSError:
            return None

    def register_metrics(self, registry: CollectorRegistry) -> None:
        registry.register(UtilizationCollector(self.runtime_dir, lambda: self.scope, self._node_id))

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._sweep_forever())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await asyncio.to_thread(reaper.sweep, self.runtime_dir)
            except Exception:
                log.warning("cleaning up after dead replicas failed", exc_info=True)
            await asyncio.sleep(SWEEP_EVERY_S)
