"""Updates on a cluster that cannot hold both versions: the idle old version makes room
at once, a busy one is waited for, and a size no node can hold fails the update while
the old version keeps serving. The decision alone, then the lifecycle over a one-node
in-memory Serve that places replicas."""

from __future__ import annotations

import asyncio

from fake_serve import FakeServeBackend
from lifecycle_harness import Platform, run

from serverless_ray.autoscaling.scaler import DemandReport
from serverless_ray.control.update_room import NewVariant, room_verdict
from serverless_ray.resources import GIB, NodeRoom, ReplicaResources, fits_on_some_node
from serverless_ray.spec import ProductionVariant
from serverless_ray.spec.endpoint import EndpointStatus

NEW = ReplicaResources(num_cpus=2, memory_bytes=4 * GIB)  # 4096 MB at 0.5 vCPU per GB
OLD = ReplicaResources(num_cpus=1, memory_bytes=2 * GIB)  # 2048 MB
VARIANT = ProductionVariant.model_validate({"VariantName": "AllTraffic", "ModelName": "m",
                                            "ServerlessConfig": {"MemorySizeInMB": 4096, "MaxConcurrency": 1}})
NEW_APP = [NewVariant(VARIANT, "sr-ep-g2", NEW)]


def _node(cpus_free: float, cpus: float = 2) -> NodeRoom:
    return NodeRoom(total={"CPU": cpus, "memory": 16 * GIB}, available={"CPU": cpus_free, "memory": 8 * GIB})


def _verdict(node: NodeRoom, *, unplaced: int = 1, old: ReplicaResources | None = OLD, idle: bool = True):
    return room_verdict(NEW_APP, {"sr-ep-g2": unplaced}, [node], old_holds=old, old_idle=idle).action


def test_a_waiting_replica_that_fits_once_the_idle_old_version_goes_releases_it():
    assert _verdict(_node(1)) == "release"


def test_otherwise_the_watch_waits():
    assert _verdict(_node(1), idle=False) == "wait"  # calls in flight on the old version
    assert _verdict(_node(2)) == "wait"  # it fits now: Ray places it
    assert _verdict(_node(0.5)) == "wait"  # others hold the room; releasing the old would not make enough
    assert _verdict(_node(1), unplaced=0) == "wait"  # placed already (loading its model)
    assert _verdict(_node(1), old=None) == "wait"  # the old version runs no replica


def test_a_size_no_node_can_hold_fails_with_the_size_and_the_largest_node():
    verdict = room_verdict(NEW_APP, {"sr-ep-g2": 1}, [_node(1, cpus=1)], old_holds=OLD, old_idle=False)
    assert verdict.action == "fail"
    assert verdict.reason == (
        "Unable to provision requested ML compute capacity for production variant AllTraffic: the variant cannot "
        "be placed, as it needs 2 CPUs, 4 GiB of memory per replica, but no node of the Ray cluster is that large "
        "(largest: 1 CPUs, 16.0 GiB, 0 GPUs).")


def test_fits_on_some_node_counts_what_a_release_would_free():
    nodes = [{"CPU": 1.0, "memory": 8 * GIB}, {"CPU": 0.5, "memory": 8 * GIB}]
    assert not fits_on_some_node(NEW, nodes)
    assert fits_on_some_node(NEW, nodes, freed=OLD)
    assert not fits_on_some_node(NEW, [{"CPU": 2.0}])  # memory missing: none unclaimed


# --- the lifecycle on a two-CPU node: 2048 MB (1 CPU) and 4096 MB (2 CPUs) do not fit together ---


def _platform(tmp_path, room_check_s: float | None = 0.005, **settings) -> Platform:
    return Platform(tmp_path, FakeServeBackend(cpus=2, memory_gib=16, placement=True), room_check_s=room_check_s,
                    **settings)


async def _update_2048_to_4096(p: Platform, *, provisioned: int | None = None) -> None:
    await p.config("c1", memory=2048, provisioned=provisioned)
    await p.call("CreateEndpoint", {"EndpointName": "ep", "EndpointConfigName": "c1"})
    await p.settle()
    assert p.status() == EndpointStatus.IN_SERVICE and p.autoscaler.target("ep") == 1  # warm for 60 s
    await p.config("c2", memory=4096)
    await p.call("UpdateEndpoint", {"EndpointName": "ep", "EndpointConfigName": "c2"})


async def _until(condition, timeout_s: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.002)


def test_without_the_watch_the_new_version_waits_until_the_old_one_idles_out(tmp_path):
    async def scenario():
        p = _platform(tmp_path, room_check_s=None)
        await _update_2048_to_4096(p)
        await asyncio.sleep(0.1)
        waiting = (p.status(), p.backend.apps["sr-ep-g2"].unplaced_replicas)
        await p.autoscaler.release_warm("ep")  # what the keep-warm window's end does, 60 s later
        await p.settle()
        return p, waiting

    p, waiting = run(scenario)
    assert waiting == (EndpointStatus.UPDATING, 1)
    assert p.status() == EndpointStatus.IN_SERVICE and p.route_app() == "sr-ep-g2"


def test_the_idle_old_version_is_released_at_once_and_the_update_completes(tmp_path):
    async def scenario():
        p = _platform(tmp_path)
        await _update_2048_to_4096(p)
        await asyncio.wait_for(p.settle(), 3)
        return p

    p = run(scenario)
    assert p.status() == EndpointStatus.IN_SERVICE and p.route_app() == "sr-ep-g2"
    assert p.store.endpoints.get("ep").failure_reason is None
    assert p.backend.scaled == [("sr-ep-g1", 0)] and p.backend.deleted == ["sr-ep-g1"]
    assert p.backend.apps["sr-ep-g2"].running_replicas == 1


def test_a_provisioned_old_version_is_released_too(tmp_path):
    async def scenario():
        p = _platform(tmp_path)
        await _update_2048_to_4096(p, provisioned=1)
        await asyncio.wait_for(p.settle(), 3)
        return p

    p = run(scenario)
    assert p.status() == EndpointStatus.IN_SERVICE and p.route_app() == "sr-ep-g2"
    assert p.autoscaler.floor("ep") == 0  # the new version's own floor (c2 provisions none)


def test_a_busy_old_version_is_waited_for_then_released(tmp_path):
    async def scenario():
        p = _platform(tmp_path)
        await _update_2048_to_4096(p)
        await p.autoscaler.report("gw", {"ep": DemandReport(in_flight=1, peak=1)})  # a call in flight
        await asyncio.sleep(0.1)
        busy = (p.status(), list(p.backend.scaled))
        await p.autoscaler.report("gw", {"ep": DemandReport(in_flight=0, peak=1)})  # it returned
        await asyncio.wait_for(p.settle(), 3)
        return p, busy

    p, busy = run(scenario)
    assert busy == (EndpointStatus.UPDATING, [])
    assert p.status() == EndpointStatus.IN_SERVICE and p.route_app() == "sr-ep-g2"


def test_a_size_the_cluster_can_no_longer_hold_fails_the_update_and_the_old_version_keeps_serving(tmp_path):
    async def scenario():
        p = _platform(tmp_path)
        p.backend.held.add("sr-ep-g2")  # placed once the old version goes, then loading its model
        await _update_2048_to_4096(p, provisioned=1)
        await _until(lambda: ("sr-ep-g1", 0) in p.backend.scaled)
        p.backend.node_resized(cpus=1)  # the large node left; what remains holds 1 CPU
        await asyncio.wait_for(p.settle(), 3)
        await p.autoscaler.tick()
        return p

    p = run(scenario)
    record = p.store.endpoints.get("ep")
    assert record.status == EndpointStatus.IN_SERVICE and record.current.config_name == "c1"
    assert record.failure_reason.startswith(
        "Update to endpoint configuration 'c2' failed and was rolled back. Unable to provision requested ML "
        "compute capacity for production variant AllTraffic: the variant cannot be placed, as it needs 2 CPUs, "
        "4 GiB of memory per replica, but no node of the Ray cluster is that large (largest: 1 CPUs")
    assert p.route_app() == "sr-ep-g1" and p.backend.deleted == ["sr-ep-g2"]
    assert p.autoscaler.floor("ep") == 1 and p.backend.scaled[-1] == ("sr-ep-g1", 1)  # provisioned again


def test_a_create_whose_replica_never_gets_a_node_says_so_when_it_times_out(tmp_path):
    """Other endpoints fill the node: the new endpoint's replica waits unplaced for the
    whole model-ready timeout, and the FailureReason names the room it needed, not a model
    that was slow to load."""
    async def scenario():
        p = _platform(tmp_path, room_check_s=None, model_ready_timeout_s=0.3)
        await p.config("big", memory=4096)  # 2 CPUs: the whole node
        await p.call("CreateEndpoint", {"EndpointName": "other", "EndpointConfigName": "big"})
        await p.settle()
        await p.config("c1", memory=2048)
        await p.call("CreateEndpoint", {"EndpointName": "ep", "EndpointConfigName": "c1"})
        await asyncio.wait_for(p.settle(), 3)
        return p

    p = run(scenario)
    assert p.status("other") == EndpointStatus.IN_SERVICE
    record = p.store.endpoints.get("ep")
    assert record.status == EndpointStatus.FAILED
    assert record.failure_reason == (
        "Unable to provision requested ML compute capacity for production variant AllTraffic: no node of the Ray "
        "cluster had room for a replica (1 CPUs, 2 GiB of memory) within the 0.3 s model-ready timeout; other "
        "endpoints' replicas hold the cluster's CPUs and memory.")
