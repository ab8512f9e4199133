"""Utilization metrics read from the node's replica records (fake cgroup, real process)."""

from __future__ import annotations

import os

import psutil

from serverless_ray.isolation import records
from serverless_ray.isolation.cgroups import CgroupV1
from serverless_ray.isolation.utilization import UtilizationCollector

MIB = 1024 * 1024


def _values(collector) -> dict[str, float]:
    return {family.name: family.samples[0].value for family in collector.collect() if family.samples}


def test_utilization_is_percent_of_the_tier(tmp_path):
    group = CgroupV1(tmp_path / "memory", tmp_path / "cpu", "s").create("me", memory_bytes=100 * MIB, cpus=1)
    (group.memory_dir / "memory.usage_in_bytes").write_text(str(50 * MIB))
    home = records.home_of(tmp_path / "replicas", "s", "me")
    (home / "scratch").mkdir(parents=True)
    (home / "scratch" / "data").write_bytes(os.urandom(MIB))
    records.write_record(home, records.ReplicaRecord(
        replica_id="me", pid=os.getpid(), started=psutil.Process().create_time(), node_id="n1", storage_mb=4,
        endpoint="ep", variant="AllTraffic", memory_mb=100, cpus=1.0, mode="cgroup-v1", cgroup=group.to_record()))
    ticks = iter([0.0, 1.0])
    collector = UtilizationCollector(tmp_path / "replicas", lambda: "s", "n1", clock=lambda: next(ticks))

    first = _values(collector)
    assert first["serverless_ray_memory_utilization"] == 50.0
    assert 24.0 <= first["serverless_ray_disk_utilization"] <= 26.0
    assert first["serverless_ray_cpu_utilization"] == 0.0  # no earlier sample yet
    sum(i * i for i in range(300_000))  # some CPU time before the next scrape
    assert _values(collector)["serverless_ray_cpu_utilization"] > 0.0


def test_replicas_of_other_nodes_and_standbys_are_not_reported(tmp_path):
    for replica_id, node, endpoint in (("other", "n2", "ep"), ("standby", "n1", None)):
        home = records.home_of(tmp_path, "s", replica_id)
        home.mkdir(parents=True)
        records.write_record(home, records.ReplicaRecord(
            replica_id=replica_id, pid=os.getpid(), started=psutil.Process().create_time(), node_id=node,
            storage_mb=4, endpoint=endpoint, variant="AllTraffic", memory_mb=100 if endpoint else None))
    assert _values(UtilizationCollector(tmp_path, lambda: "s", "n1")) == {}
