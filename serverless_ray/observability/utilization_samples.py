"""``/aws/sagemaker/Endpoints`` datapoints (MemoryUtilization, CPUUtilization,
DiskUtilization) from the utilization gauges an entry point reports for the replicas of
its node (:mod:`serverless_ray.isolation.utilization`).

Sampled each time the gateway ships its series (about once a second while invocations
happen, every few seconds otherwise); a second's Average over the gateways is the
cluster's figure, its Maximum the busiest node's.
"""

from __future__ import annotations

from typing import Iterable

from serverless_ray.observability import catalog
from serverless_ray.observability.federation import SnapshotRow
from serverless_ray.observability.recorder import MetricRecorder

GAUGES = {
    "serverless_ray_memory_utilization": catalog.MEMORY_UTILIZATION,
    "serverless_ray_cpu_utilization": catalog.CPU_UTILIZATION,
    "serverless_ray_disk_utilization": catalog.DISK_UTILIZATION,
}


def record_utilization(recorder: MetricRecorder, rows: Iterable[SnapshotRow]) -> None:
    """Record one datapoint per endpoint variant and utilization gauge in ``rows``."""
    for _family, _kind, _help, sample, labels, value in rows:
        kind = GAUGES.get(sample)
        if kind is None:
            continue
        found = dict(labels)
        endpoint, variant = found.get("endpoint_name"), found.get("variant_name")
        if endpoint and variant:
            recorder.record(kind, catalog.variant_dimensions(endpoint, variant), value)
