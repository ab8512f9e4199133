"""The cgroup backends over a fake cgroup tree (plain directories and files)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from serverless_ray.isolation.cgroups import (
    CPU_PERIOD_US,
    CgroupUnavailable,
    CgroupV1,
    CgroupV2,
    Group,
    cpu_quota_us,
    detect,
    owned_by_scope,
)

GIB = 1024 ** 3


def _v2_parent(root: Path, controllers: str = "cpuset cpu io memory pids") -> Path:
    parent = root / "user.slice" / "ray"
    parent.mkdir(parents=True)
    (parent / "cgroup.controllers").write_text(controllers + "\n")
    (parent / "cgroup.subtree_control").write_text("")
    return parent


def test_v2_group_gets_memory_max_and_cpu_max(tmp_path):
    parent = _v2_parent(tmp_path)
    group = CgroupV2(parent, "abc").create("actor1", memory_bytes=GIB, cpus=0.5)
    assert group.version == 2 and group.memory_dir == group.cpu_dir == parent / "serverless-ray-abc" / "actor1"
    assert (group.memory_dir / "memory.max").read_text() == str(GIB)
    assert (group.memory_dir / "cpu.max").read_text() == f"50000 {CPU_PERIOD_US}"
    # The controllers are enabled for the children of the parent and of our scope directory.
    assert "+memory" in (parent / "cgroup.subtree_control").read_text()
    assert "+cpu" in (parent / "serverless-ray-abc" / "cgroup.subtree_control").read_text()


def test_v2_turns_swap_off_where_the_kernel_offers_it(tmp_path):
    parent = _v2_parent(tmp_path)
    group_dir = parent / "serverless-ray-abc" / "actor1"
    group_dir.mkdir(parents=True)
    (group_dir / "memory.swap.max").write_text("max")
    CgroupV2(parent, "abc").create("actor1", memory_bytes=GIB, cpus=1)
    assert (group_dir / "memory.swap.max").read_text() == "0"


def test_v2_leaves_enabled_controllers_alone(tmp_path):
    parent = _v2_parent(tmp_path)
    (parent / "cgroup.subtree_control").write_text("cpu memory\n")
    CgroupV2(parent, "abc").create("actor1", memory_bytes=GIB, cpus=1)
    assert (parent / "cgroup.subtree_control").read_text() == "cpu memory\n"


def test_v2_without_delegated_memory_controller_is_unavailable(tmp_path):
    parent = _v2_parent(tmp_path, controllers="cpu pids")
    with pytest.raises(CgroupUnavailable, match="memory"):
        CgroupV2(parent, "abc").create("actor1", memory_bytes=GIB, cpus=1)


def test_v2_group_reads_usage_and_oom_kills(tmp_path):
    parent = _v2_parent(tmp_path)
    group = CgroupV2(parent, "abc").create("actor1", memory_bytes=GIB, cpus=1)
    (group.memory_dir / "memory.current").write_text("123456\n")
    (group.memory_dir / "memory.events").write_text("low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n")
    assert group.memory_usage() == 123456
    assert group.oom_kills() == 1


def test_group_add_writes_the_pid_to_each_hierarchy(tmp_path):
    memory, cpu = tmp_path / "memory", tmp_path / "cpu"
    group = CgroupV1(memory, cpu, "abc").create("actor1", memory_bytes=GIB, cpus=2)
    group.add(4242)
    assert (group.memory_dir / "cgroup.procs").read_text() == "4242"
    assert (group.cpu_dir / "cgroup.procs").read_text() == "4242"
    assert group.pids() == [4242]


def test_v1_group_gets_limit_in_bytes_and_cfs_quota(tmp_path):
    group = CgroupV1(tmp_path / "memory", tmp_path / "cpu", "abc").create("actor1", memory_bytes=GIB, cpus=1.5)
    assert (group.memory_dir / "memory.limit_in_bytes").read_text() == str(GIB)
    assert (group.cpu_dir / "cpu.cfs_period_us").read_text() == str(CPU_PERIOD_US)
    assert (group.cpu_dir / "cpu.cfs_quota_us").read_text() == "150000"
    (group.memory_dir / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    (group.memory_dir / "memory.usage_in_bytes").write_text("2048\n")
    assert group.oom_kills() == 2 and group.memory_usage() == 2048


def test_group_record_round_trip_and_removal(tmp_path):
    group = CgroupV1(tmp_path / "memory", tmp_path / "cpu", "abc").create("actor1", memory_bytes=GIB, cpus=1)
    again = Group.from_record(group.to_record())
    assert again == group and again.exists()
    assert owned_by_scope(again, "abc") and not owned_by_scope(again, "other")
    assert again.remove(rmdir=shutil.rmtree)  # cgroupfs removes a group's files with it
    assert not again.exists()


def test_cpu_quota_has_the_kernels_floor():
    assert cpu_quota_us(0.5) == 50000
    assert cpu_quota_us(0.001) == 1000


MOUNTINFO_V1 = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
PROC_V1 = "4:memory:/process_api/abc\n1:cpu:/\n0::/\n"


def test_detect_prefers_v1_where_memory_is_on_v1(tmp_path, monkeypatch):
    monkeypatch.setattr("os.access", lambda *_: True)
    hierarchy = detect("s", proc_cgroup=PROC_V1, mountinfo=MOUNTINFO_V1)
    assert isinstance(hierarchy, CgroupV1)
    assert hierarchy.memory_parent == Path("/sys/fs/cgroup/memory/process_api/abc")
    assert hierarchy.cpu_parent == Path("/sys/fs/cgroup/cpu")


def test_detect_v2_under_the_process_cgroup(monkeypatch):
    monkeypatch.setattr("os.access", lambda *_: True)
    mountinfo = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
    hierarchy = detect("s", proc_cgroup="0::/system.slice/ray.service\n", mountinfo=mountinfo)
    assert isinstance(hierarchy, CgroupV2)
    assert hierarchy.parent == Path("/sys/fs/cgroup/system.slice/ray.service")


def test_detect_v1_bind_mounted_subtree(monkeypatch):
    """In a container the hierarchy's own subtree is mounted at the mount point."""
    monkeypatch.setattr("os.access", lambda *_: True)
    mountinfo = ("40 30 0:32 /docker/c1 /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
                 "41 30 0:29 /docker/c1 /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n")
    hierarchy = detect("s", proc_cgroup="5:memory:/docker/c1\n3:cpu,cpuacct:/docker/c1\n", mountinfo=mountinfo)
    assert isinstance(hierarchy, CgroupV1)
    assert hierarchy.memory_parent == Path("/sys/fs/cgroup/memory")
    assert hierarchy.cpu_parent == Path("/sys/fs/cgroup/cpu,cpuacct")


def test_detect_without_cgroups_or_write_access(monkeypatch):
    with pytest.raises(CgroupUnavailable):
        detect("s", proc_cgroup="", mountinfo="")
    monkeypatch.setattr("os.access", lambda *_: False)
    with pytest.raises(CgroupUnavailable, match="not writable"):
        detect("s", proc_cgroup=PROC_V1, mountinfo=MOUNTINFO_V1)
