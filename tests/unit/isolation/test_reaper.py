"""The node reaper and the verdicts entry points read, over a fake tree (no Ray)."""

from __future__ import annotations

import subprocess
import sys
import time

from serverless_ray.isolation import reaper, records
from serverless_ray.isolation.cgroups import CgroupV1
from serverless_ray.isolation.verdicts import why_replica_died


def _dead_pid() -> tuple[int, float]:
    import psutil

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    started = psutil.Process(proc.pid).create_time()
    proc.wait()
    return proc.pid, started


def _record(tmp_path, replica_id, *, pid, started, cgroup=None, memory_mb=1024):
    home = records.home_of(tmp_path / "replicas", "scope1", replica_id)
    (home / "scratch").mkdir(parents=True)
    records.write_record(home, records.ReplicaRecord(
        replica_id=replica_id, pid=pid, started=started, node_id=None, storage_mb=32,
        endpoint="ep", variant="AllTraffic", memory_mb=memory_mb, cpus=0.5, mode="cgroup-v1",
        cgroup=cgroup.to_record() if cgroup else None))
    return home


def test_oom_killed_replica_is_recorded_and_cleaned_up(tmp_path):
    group = CgroupV1(tmp_path / "memory", tmp_path / "cpu", "scope1").create("r1", memory_bytes=1, cpus=1)
    (group.memory_dir / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 1\n")
    pid, started = _dead_pid()
    home = _record(tmp_path, "r1", pid=pid, started=started, cgroup=group)

    # The entry point that saw the call fail asks first: the cgroup itself says OOM.
    verdict = why_replica_died(tmp_path / "replicas", "scope1", "r1")
    assert verdict is not None and verdict.cause == "memory" and "memory size of 1024 MB" in verdict.message

    # A real cgroup directory is removable with its interface files in it; a fake one is not.
    verdict_file_kept = home / records.EXIT
    for directory in group.dirs:
        for f in directory.iterdir():
            f.unlink()
    assert reaper.sweep(tmp_path / "replicas") == 1
    assert not group.exists() and not (home / "scratch").exists() and verdict_file_kept.exists()
    # The verdict outlives the cgroup for a while, then goes too.
    assert why_replica_died(tmp_path / "replicas", "scope1", "r1").cause == "memory"
    reaper.sweep(tmp_path / "replicas", now=time.time() + reaper.KEEP_EXIT_RECORDS_S + 1)
    assert not home.exists()


def test_live_replicas_and_homes_being_set_up_are_left_alone(tmp_path):
    import os

    import psutil

    me = psutil.Process()
    home = _record(tmp_path, "alive", pid=os.getpid(), started=me.create_time())
    other = tmp_path / "replicas" / "scope2" / "x"  # being set up: no record yet
    other.mkdir(parents=True)
    assert reaper.sweep(tmp_path / "replicas") == 0
    assert (home / "scratch").exists() and other.exists()


def test_a_replica_that_died_of_something_else_has_no_verdict(tmp_path):
    pid, started = _dead_pid()
    _record(tmp_path, "r2", pid=pid, started=started)
    assert why_replica_died(tmp_path / "replicas", "scope1", "r2") is None
    assert why_replica_died(tmp_path / "replicas", "scope1", None) is None
