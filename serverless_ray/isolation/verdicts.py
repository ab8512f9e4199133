"""Why a replica died, as the entry point that saw its call fail asks."""

from __future__ import annotations

from pathlib import Path

from serverless_ray.isolation import messages, records
from serverless_ray.isolation.cgroups import Group
from serverless_ray.isolation.records import ExitRecord


def why_replica_died(runtime_dir: str | Path, scope: str, replica_id: str | None) -> ExitRecord | None:
    """The limit replica ``replica_id`` broke, or None (it died of something else, or
    not on this node). An OOM kill in its cgroup is read from the cgroup itself; the
    other causes from the exit record the replica (or the reaper) wrote."""
    if not replica_id:
        return None
    home = records.home_of(runtime_dir, scope, replica_id)
    verdict = records.read_exit(home)
    if verdict is not None:
        return verdict
    record = records.read_record(home)
    if record is None or not record.cgroup:
        return None
    if Group.from_record(record.cgroup).oom_kills() > 0:
        message = messages.memory_exceeded(record.memory_mb)
        records.write_exit(home, "memory", message)
        return records.read_exit(home)
    return None
