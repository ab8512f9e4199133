"""MemoryUtilization, CPUUtilization and DiskUtilization of the replicas on this node.

Percent of the tier, per endpoint and variant, averaged over the variant's replicas on
the node (SageMaker's ``/aws/sagemaker/Endpoints`` metrics; a cluster-wide figure is
the average over the nodes' entry points). Read at each scrape from the node's replica
records: memory from the replica's cgroup (its resident size where it has none), CPU
from the process's CPU time since the previous scrape, disk from its scratch directory.
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import Callable, Iterable

from prometheus_client.core import GaugeMetricFamily

from serverless_ray.isolation import records, scratch
from serverless_ray.isolation.cgroups import Group
from serverless_ray.resources import MIB

LABELS = ["endpoint_name", "variant_name"]


class UtilizationCollector:
    """A prometheus collector; register it with the entry point's registry."""

    def __init__(self, runtime_dir: str | Path, scope: Callable[[], str], node_id: str | None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._runtime_dir = runtime_dir
        self._scope = scope
        self._node_id = node_id
        self._clock = clock
        self._cpu_seen: dict[str, tuple[float, float]] = {}  # replica id → (clock, cpu seconds)

    def describe(self) -> Iterable:
        return []  # measured at scrape time only

    def collect(self) -> Iterable[GaugeMetricFamily]:
        memory = GaugeMetricFamily(
            "serverless_ray_memory_utilization",
            "Memory in use by the variant's replicas on this node, percent of MemorySizeInMB (MemoryUtilization).",
            labels=LABELS)
        cpu = GaugeMetricFamily(
            "serverless_ray_cpu_utilization",
            "CPU time of the variant's replicas on this node since the last scrape, percent of the tier's "
            "vCPUs (CPUUtilization).", labels=LABELS)
        disk = GaugeMetricFamily(
            "serverless_ray_disk_utilization",
            "Scratch disk in use by the variant's replicas on this node, percent of the ephemeral storage "
            "(DiskUtilization).", labels=LABELS)
        samples: dict[tuple[str, str], list[tuple[float, float, float]]] = defaultdict(list)
        seen = set()
        for record, home in self._live_replicas():
            seen.add(record.replica_id)
            sample = self._measure(record, home)
            if sample is not None:
                samples[(record.endpoint or "", record.variant or "")].append(sample)
        for key in set(self._cpu_seen) - seen:
            del self._cpu_seen[key]
        for labels, values in sorted(samples.items()):
            n = len(values)
            memory.add_metric(list(labels), sum(v[0] for v in values) / n)
            cpu.add_metric(list(labels), sum(v[1] for v in values) / n)
            disk.add_metric(list(labels), sum(v[2] for v in values) / n)
        return [memory, cpu, disk]

    def _live_replicas(self):
        for home in records.homes(self._runtime_dir, self._scope()):
            record = records.read_record(home)
            if record is None or record.endpoint is None or not record.memory_mb:
                continue
            if self._node_id and record.node_id and record.node_id != self._node_id:
                continue
            if records.is_alive(record):
                yield record, home

    def _measure(self, record: records.ReplicaRecord, home: Path) -> tuple[float, float, float] | None:
        import psutil

        try:
            process = psutil.Process(record.pid)
            times = process.cpu_times()
            rss = process.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return None
        used = Group.from_record(record.cgroup).memory_usage() if record.cgroup else None
        memory_pct = 100.0 * (used if used is not None else rss) / (record.memory_mb * MIB)
        cpu_seconds, now = times.user + times.system, self._clock()
        previous = self._cpu_seen.get(record.replica_id)
        self._cpu_seen[record.replica_id] = (now, cpu_seconds)
        cpus = record.cpus or 1.0
        if previous is None or now <= previous[0]:
            cpu_pct = 0.0
        else:
            cpu_pct = 100.0 * (cpu_seconds - previous[1]) / (now - previous[0]) / cpus
        try:
            disk_used = scratch.used_bytes(home / scratch.MOUNT, mounted=record.scratch_mounted)
        except OSError:
            disk_used = 0
        disk_pct = 100.0 * disk_used / max(1, record.storage_mb * MIB)
        return memory_pct, cpu_pct, disk_pct
