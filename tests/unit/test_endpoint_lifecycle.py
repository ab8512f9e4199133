"""The endpoint lifecycle (Rollout) over an in-memory Serve: create, fail, update beside
the old version, roll back, be superseded while loading, resize in place, and come back
after a restart."""

from __future__ import annotations

import asyncio

import pytest
from fake_serve import FakeServeBackend
from lifecycle_harness import Platform, run

from serverless_ray.control.app_backend import AppState
from serverless_ray.spec.endpoint import EndpointStatus


def test_a_created_endpoint_runs_is_routed_and_scaled(tmp_path):
    async def scenario():
        p = Platform(tmp_path)
        await p.config("c1")
        await p.call("CreateEndpoint", {"EndpointName": "ep", "EndpointConfigName": "c1"})
        await p.settle()
        return p

    p = run(scenario)
    assert p.status() == EndpointStatus.IN_SERVICE
    assert p.backend.deployed == [("sr-ep-g1", 1)]
    assert p.backend.pip["sr-ep-g1"] == ["tiny-lib==1.0"]  # read from the model, not installed here
    assert p.route_app() == "sr-ep-g1" and p.routes.get("ep").replica is not None
    assert p.autoscaler.target("ep") == 1


def test_a_model_that_does_not_load_fails_the_endpoint_with_its_reason(tmp_path):
    async def scenario():
        p = Platform(tmp_path)
        p.backend.failing["sr-ep-g1"] = "ModelLoadError: model_fn raised RuntimeError: weights.bin is corrupt"
        await p.config("c1")
        await p.call("CreateEndpoint", {"EndpointName": "ep", "EndpointConfigName": "c1"})
        await p.settle()
        return p

    p = run(scenario)
    record = p.store.endpoints.get("ep")
    assert record.status == EndpointStatus.FAILED
    assert record.failure_reason == (
        "The primary container for production variant AllTraffic did not pass the ping health check: "
        "ModelLoadError: model_fn raised RuntimeError: weights.bin is corrupt")
    assert p.backend.deleted == ["sr-ep-g1"] and p.route_app() is None


async def _in_service(p: Platform) -> None:
    await p.config("c1")
    await p.call("CreateEndpoint", {"EndpointName": "ep", "EndpointConfigName": "c1"})
    await p.settle()


def test_an_update_loads_beside_the_old_version_then_switches(tmp_path):
    async def scenario():
        p = Platform(tmp_path)
        await _in_service(p)
        await p.config("c2", memory=2048)
        p.backend.held.add("sr-ep-g2")
        await p.call("UpdateEndpoint", {"EndpointName": "ep", "EndpointConfigName": "c2"})
        for _ in range(50):
            await asyncio.sleep(0.002)
        during = (p.status(), p.route_app(), sorted(p.backend.apps))
        p.backend.release("sr-ep-g2")
        await p.settle()
        return p, during

    p, during = run(scenario)
    assert during == (EndpointStatus.UPDATING, "sr-ep-g1", ["sr-ep-g1", "sr-ep-g2"])
    assert (p.status(), p.route_app(), sorted(p.backend.apps)) == (EndpointStatus.IN_SERVICE, "sr-ep-g2", ["sr-ep-g2"])
    assert p.backend.deleted == ["sr-ep-g1"]


async def _update_to_c2(p: Platform, *, memory: int) -> Platform:
    await _in_service(p)
    await p.config("c2", memory=memory)
    await p.call("UpdateEndpoint", {"EndpointName": "ep", "EndpointConfigName": "c2"})
    await p.settle()
    return p


def _rolled_back(p: Platform) -> str:
    """The FailureReason of an update to c2 that was rolled back, g1 still serving."""
    record = p.store.endpoints.get("ep")
    assert record.status == EndpointStatus.IN_SERVICE and record.current.app_name == "sr-ep-g1"
    assert record.failure_reason.startswith("Update to endpoint configuration 'c2' failed and was rolled back.")
    assert p.route_app() == "sr-ep-g1"
    return record.failure_reason


def test_a_failed_update_rolls_back_and_the_old_version_keeps_serving(tmp_path):
    p = Platform(tmp_path)
    p.backend.failing["sr-ep-g2"] = "ImportError: no module named torch"
    run(lambda: _update_to_c2(p, memory=2048))
    assert "ImportError: no module named torch" in _rolled_back(p)
    assert p.backend.deleted == ["sr-ep-g2"]


def test_an_update_no_node_could_ever_hold_fails_at_once_and_the_old_version_keeps_serving(tmp_path):
    p = Platform(tmp_path, FakeServeBackend(cpus=8, memory_gib=4))
    run(lambda: _update_to_c2(p, memory=6144))  # 6 GiB per replica; the only node has 4
    assert "no node of the Ray cluster is that large" in _rolled_back(p)
    assert p.backend.deployed == [("sr-ep-g1", 1)]  # the new version was never started


def test_a_deployment_superseded_while_loading_is_removed_and_the_newer_one_runs(tmp_path):
    async def scenario():
        p = Platform(tmp_path)
        await _in_service(p)
        await p.config("c2", memory=2048)
        await p.config("c3", memory=3072)
        p.backend.held.add("sr-ep-g2")
        await p.call("UpdateEndpoint", {"EndpointName": "ep", "EndpointConfigName": "c2"})
        for _ in range(50):
            await asyncio.sleep(0.002)
        # Another writer (a newer controller, say) replaces the pending deployment meanwhile.
        record = p.store.endpoints.get("ep")
        newer = p.plane._snapshot("ep", "c3", generation=record.next_generation, now=2000.0)
        p.store.endpoints.put("ep", record.model_copy(update={"pending": newer,
                                                              "next_generation": record.next_generation + 1}))
        p.rollout.start("ep")
        p.backend.release("sr-ep-g2")
        await p.settle()
        return p

    p = run(scenario)
    assert p.status() == EndpointStatus.IN_SERVICE and p.route_app() == "sr-ep-g3"
    assert p.backend.deleted == ["sr-ep-g2", "sr-ep-g1"]
    assert sorted(p.backend.apps) == ["sr-ep-g3"]


def test_a_concurrency_change_keeps_the_running_replicas(tmp_path):
    async def scenario():
        p = Platform(tmp_path)
        await _in_service(p)
        await p.config("c2", max_concurrency=5, model="m-c1")  # same model and memory: in place
        await p.call("UpdateEndpoint", {"EndpointName": "ep", "EndpointConfigName": "c2"})
        await p.settle()
        return p

    p = run(scenario)
    assert p.status() == EndpointStatus.IN_SERVICE and p.route_app() == "sr-ep-g1"
    assert p.backend.deployed == [("sr-ep-g1", 1)] and p.backend.deleted == []
    assert p.routes.get("ep").max_concurrency == 5


def test_instance_counts_change_in_place(tmp_path):
    async def scenario():
        p = Platform(tmp_path)
        await p.call("CreateModel", {"ModelName": "m", "PrimaryContainer": {
            "Image": "sagemaker-inference:test", "ModelDataUrl": str(p.model_dir)}})
        await p.call("CreateEndpointConfig", {"EndpointConfigName": "ci", "ProductionVariants": [{
            "VariantName": "Blue", "ModelName": "m", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}]})
        await p.call("CreateEndpoint", {"EndpointName": "ep", "EndpointConfigName": "ci"})
        await p.settle()
        await p.call("UpdateEndpointWeightsAndCapacities", {"EndpointName": "ep", "DesiredWeightsAndCapacities": [
            {"VariantName": "Blue", "DesiredInstanceCount": 3}]})
        await p.settle()
        return p

    p = run(scenario)
    assert p.status() == EndpointStatus.IN_SERVICE
    assert p.backend.deployed == [("sr-ep-g1", 1)] and p.backend.scaled == [("sr-ep-g1", 3)]
    assert p.store.endpoints.get("ep").current.variant.InitialInstanceCount == 3


@pytest.mark.parametrize("still_running", [True, False])
def test_a_restarted_controller_brings_back_what_the_store_holds(tmp_path, still_running):
    async def first_life():
        p = Platform(tmp_path)
        await _in_service(p)
        p.store.close()
        return p.backend

    backend = run(first_life)
    if not still_running:  # Serve lost the application (the cluster restarted too)
        backend.apps.clear()
    backend.apps["sr-gone-g9"] = AppState("running", "", 1)  # of an endpoint the store no longer has
    backend.deployed.clear()

    async def second_life():
        p = Platform(tmp_path, backend)
        await p.rollout.reconcile_all()
        await p.settle()
        return p

    p = run(second_life)
    assert p.status() == EndpointStatus.IN_SERVICE and p.route_app() == "sr-ep-g1"
    assert "sr-gone-g9" in p.backend.deleted  # a stray application of the platform is removed
    assert p.backend.deployed == ([] if still_running else [("sr-ep-g1", 1)])
    assert p.autoscaler.target("ep") == 1
