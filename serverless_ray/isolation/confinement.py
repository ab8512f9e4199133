"""What a replica process does to hold itself to its limits.

``prepare`` gives the process its home and scratch directory (a standby does it when
it starts, so that adopting a model later costs no disk set-up); ``enter`` applies the
endpoint's memory and CPU limits (a Serve replica at once, a standby when it adopts);
``loading`` bounds the model load by the model-ready timeout; ``close`` undoes what it
can when the replica shuts down cleanly (the node's reaper does the rest, and all of it
for replicas that were killed).
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from serverless_ray.isolation import messages, records, scratch
from serverless_ray.isolation.address_space import limit_address_space
from serverless_ray.isolation.cgroups import CgroupUnavailable, Group, detect
from serverless_ray.isolation.watchdog import Watchdog, deadline_check, kill_self, size_check
from serverless_ray.messages import ReplicaLimits
from serverless_ray.resources import MIB

log = logging.getLogger(__name__)


class Confinement:
    def __init__(self, home: Path, record: records.ReplicaRecord, disk: scratch.ScratchDisk) -> None:
        self.home = home
        self.record = record
        self.disk = disk
        self.group: Group | None = None
        self._watchdog = Watchdog(self._breach)

    # --- set-up ------------------------------------------------------------------------

    @classmethod
    def prepare(cls, runtime_dir: str, storage_mb: int, *, enforce_storage: bool = True) -> "Confinement":
        """This process's home and scratch directory, made its ``TMPDIR`` and working directory."""
        import psutil

        replica_id = _replica_id()
        home = records.home_of(runtime_dir, records.cluster_scope(), replica_id)
        home.mkdir(parents=True, exist_ok=True)
        record = records.ReplicaRecord(
            replica_id=replica_id, pid=os.getpid(), started=psutil.Process().create_time(),
            node_id=_node_id(), storage_mb=storage_mb,
        )
        records.write_record(home, record)  # first: whatever follows, the reaper can undo
        if enforce_storage:
            disk = scratch.create(home, storage_mb * MIB)
        else:
            (home / scratch.MOUNT).mkdir(exist_ok=True)
            disk = scratch.ScratchDisk(home / scratch.MOUNT, storage_mb * MIB, mounted=False)
        record.scratch_mounted = disk.mounted
        records.write_record(home, record)
        os.environ["TMPDIR"] = str(disk.path)
        tempfile.tempdir = None  # tempfile reads TMPDIR again
        os.chdir(disk.path)
        confinement = cls(home, record, disk)
        if enforce_storage and not disk.mounted:
            confinement._watchdog.watch("storage", size_check(
                disk.used_bytes, disk.capacity_bytes, "disk", messages.storage_exceeded(storage_mb)))
        return confinement

    def enter(self, limits: ReplicaLimits, *, endpoint: str, variant: str) -> None:
        """Hold this process to ``limits`` (memory and CPU) from now on."""
        record = self.record
        record.endpoint, record.variant = endpoint, variant
        record.memory_mb, record.cpus = limits.memory_mb, limits.cpus
        record.adopted_at = time.time()
        if limits.isolation == "auto":
            try:
                hierarchy = detect(records.cluster_scope())
                group = hierarchy.create(record.replica_id, memory_bytes=limits.memory_bytes, cpus=limits.cpus)
                record.cgroup, record.mode = group.to_record(), f"cgroup-v{group.version}"
                records.write_record(self.home, record)  # before moving in: the reaper must know the group
                group.add(os.getpid())
                self.group = group
            except (CgroupUnavailable, OSError) as exc:
                log.warning("no cgroup for this replica (%s); limiting its address space instead", exc)
        if self.group is None and limits.enforced:
            limit_address_space(limits.memory_bytes)
            record.mode = "rlimit"
        records.write_record(self.home, record)

    @contextmanager
    def loading(self, timeout_s: float) -> Iterator[None]:
        """The model must be loaded within ``timeout_s``, or the process ends itself."""
        self._watchdog.watch("model-ready", deadline_check(
            time.monotonic() + timeout_s, "model-ready-timeout", messages.not_ready(timeout_s)))
        try:
            yield
        finally:
            self._watchdog.unwatch("model-ready")

    # --- limits broken ------------------------------------------------------------------

    def memory_exceeded(self) -> None:
        """Under the rlimit an allocation failed: the process may be half-broken, replace it."""
        self._breach("memory", messages.memory_exceeded(self.record.memory_mb))

    def _breach(self, cause: str, message: str) -> None:
        log.error("replica %s: %s", self.record.replica_id, message)
        records.write_exit(self.home, cause, message)
        kill_self()

    # --- shut-down ----------------------------------------------------------------------

    def close(self) -> None:
        """Clean shut-down: leave and remove the cgroup, unmount and remove the scratch disk."""
        self._watchdog.stop()
        try:
            os.chdir("/")
        except OSError:
            pass
        group_gone = self.group is None
        if self.group is not None and self.group.version == 1:
            try:  # back to the groups the process started in, so that ours can go
                for directory in self.group.dirs:
                    with open(directory.parent.parent / "cgroup.procs", "w") as f:
                        f.write(str(os.getpid()))
                group_gone = self.group.remove()
            except OSError:
                pass  # the reaper removes it once the process has exited
        # (On v2 a process cannot go back into a cgroup that has children: the reaper
        # removes the group once the process has exited.)
        if scratch.remove(self.home) and group_gone:
            _remove_home(self.home)


def _remove_home(home: Path) -> None:
    for name in (records.RECORD, records.EXIT):
        (home / name).unlink(missing_ok=True)
    try:
        home.rmdir()
    except OSError:
        pass


def _replica_id() -> str:
    try:
        import ray

        actor_id = ray.get_runtime_context().get_actor_id() if ray.is_initialized() else None
    except Exception:
        actor_id = None
    return actor_id or f"pid-{os.getpid()}"


def _node_id() -> str | None:
    try:
        import ray

        return ray.get_runtime_context().get_node_id() if ray.is_initialized() else None
    except Exception:
        return None
