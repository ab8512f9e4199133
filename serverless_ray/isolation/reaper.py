"""Cleans up after the replicas of this node that are gone.

A replica that shuts down cleanly removes its own cgroup and scratch disk; one that was
killed (out of memory, a timed-out call, a lost standby, a Ray cluster that stopped)
cannot. The entry point of each node sweeps the node's replica directory now and then
(every scope in it: a cluster that stopped leaves its replicas to the next one): for
every recorded replica whose process is gone it records an OOM kill as the exit cause
(so a late lookup still finds it), removes the cgroup, unmounts and deletes the scratch
disk, and, some minutes later, the record itself. Only cgroups inside a scope directory
of ours are ever removed, and only once no process is left in them.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

from serverless_ray.isolation import messages, records, scratch
from serverless_ray.isolation.cgroups import Group, owned_by_scope

log = logging.getLogger(__name__)

# How long the exit record of a dead replica is kept for the entry points to read.
KEEP_EXIT_RECORDS_S = 300.0
# A home with no record yet is a replica being set up: left alone this long.
UNRECORDED_GRACE_S = 60.0


def sweep(runtime_dir: str | Path, *, now: float | None = None) -> int:
    """One pass over every scope of ``runtime_dir``; returns how many dead replicas were
    cleaned up."""
    root = Path(runtime_dir)
    try:
        scopes = [entry.name for entry in root.iterdir() if entry.is_dir()]
    except OSError:
        return 0
    return sum(sweep_scope(root, scope, now=now) for scope in scopes)


def sweep_scope(runtime_dir: str | Path, scope: str, *, now: float | None = None) -> int:
    """One pass over ``scope``; returns how many dead replicas were cleaned up."""
    now = time.time() if now is None else now
    cleaned = 0
    for home in records.homes(runtime_dir, scope):
        record = records.read_record(home)
        if record is None:
            if now - _mtime(home) > UNRECORDED_GRACE_S:
                shutil.rmtree(home, ignore_errors=True)
            continue
        if records.is_alive(record):
            continue
        if _clean(home, record, scope):
            cleaned += 1
        verdict = records.read_exit(home)
        if verdict is None or now - verdict.at > KEEP_EXIT_RECORDS_S:
            if not (home / scratch.MOUNT).exists() and not _group_left(record):
                shutil.rmtree(home, ignore_errors=True)
    return cleaned


def _clean(home: Path, record: records.ReplicaRecord, scope: str) -> bool:
    did = False
    if record.cgroup:
        group = Group.from_record(record.cgroup)
        if owned_by_scope(group, scope) and group.exists():
            if group.oom_kills() > 0:
                records.write_exit(home, "memory", messages.memory_exceeded(record.memory_mb))
            if group.remove():
                did = True
            else:
                log.debug("cgroup of %s not removable yet", record.replica_id)
    if (home / scratch.MOUNT).exists():
        did = scratch.remove(home) or did
    return did


def _group_left(record: records.ReplicaRecord) -> bool:
    return bool(record.cgroup) and Group.from_record(record.cgroup).exists()


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
