"""Application Auto Scaling of provisioned concurrency, end to end without Ray: the API
(ScalingService), the engine (ProvisionedScaler) and the control plane over a real
SQLite store, on one fake clock. A "rollout" finishes each update at once."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest
from fake_clock import FakeClock

from serverless_ray.autoscaling.capacity import EndpointCapacity
from serverless_ray.autoscaling.provisioned import ProvisionedScaler
from serverless_ray.autoscaling.records import ScalingTables
from serverless_ray.autoscaling.service import ScalingService
from serverless_ray.control.plane import ControlPlane
from serverless_ray.errors import ObjectNotFoundException
from serverless_ray.settings import PlatformSettings
from serverless_ray.spec.endpoint import EndpointStatus
from serverless_ray.store import Store

START = datetime(2030, 1, 7, 8, 0, tzinfo=timezone.utc).timestamp()  # a Monday, 08:00 UTC
TARGET = {"ServiceNamespace": "sagemaker", "ResourceId": "endpoint/ep/variant/AllTraffic",
          "ScalableDimension": "sagemaker:variant:DesiredProvisionedConcurrency"}


class FinishingRollout:
    """Plays a successful rollout the moment the control plane starts one."""

    def __init__(self) -> None:
        self.store: Store | None = None

    def start(self, endpoint: str) -> None:
        record = self.store.endpoints.get(endpoint)
        self.store.endpoints.put(endpoint, record.model_copy(update={
            "current": record.pending, "pending": None, "status": EndpointStatus.IN_SERVICE}))


class World:
    def __init__(self, tmp_path, clock: FakeClock) -> None:
        self.clock = clock
        self.demand = 0
        settings = PlatformSettings(state_dir=tmp_path)
        self.store = Store(settings.database_path)
        rollout = FinishingRollout()
        rollout.store = self.store
        self.plane = ControlPlane(settings, self.store, rollout, clock=clock)  # type: ignore[arg-type]
        self.tables = ScalingTables(self.store, clock=clock)
        capacity = EndpointCapacity(self.store, self.plane.set_provisioned_concurrency)
        self.scaler = ProvisionedScaler(self.tables, capacity, lambda endpoint: self.demand, clock=clock)
        self.scaling = ScalingService(region=settings.region, account_id=settings.account_id, tables=self.tables,
                                      capacity=capacity, on_target_change=self.scaler.on_target_change, clock=clock)

    def sagemaker(self, operation: str, payload: dict) -> dict:
        return asyncio.run(self.plane.call(operation, payload))

    def autoscaling(self, operation: str, payload: dict) -> dict:
        return asyncio.run(self.scaling.call(operation, payload))

    def tick(self) -> None:
        asyncio.run(self.scaler.tick())

    def endpoint(self, name: str = "ep", *, provisioned: int = 1, max_concurrency: int = 10) -> None:
        self.sagemaker("CreateModel", {"ModelName": "m", "PrimaryContainer": {
            "Image": "sagemaker-inference:test", "ModelDataUrl": "s3://models/m.tar.gz"}})
        self.sagemaker("CreateEndpointConfig", {"EndpointConfigName": "c", "ProductionVariants": [{
            "VariantName": "AllTraffic", "ModelName": "m", "ServerlessConfig": {
                "MemorySizeInMB": 1024, "MaxConcurrency": max_concurrency, "ProvisionedConcurrency": provisioned}}]})
        self.sagemaker("CreateEndpoint", {"EndpointName": name, "EndpointConfigName": "c"})

    def provisioned(self, name: str = "ep") -> int:
        config = self.store.endpoints.get(name).current.variant.ServerlessConfig
        return config.ProvisionedConcurrency or 0

    def activities(self) -> list[dict]:
        found = self.autoscaling("DescribeScalingActivities", {"ServiceNamespace": "sagemaker"})
        return sorted(found["ScalingActivities"], key=lambda a: a["StartTime"])


@pytest.fixture
def clock():
    return FakeClock(START)


@pytest.fixture
def world(tmp_path, clock):
    w = World(tmp_path, clock)
    w.endpoint()
    yield w
    w.store.close()


def test_new_bounds_clamp_the_capacity_at_once_and_record_an_activity(world, clock):
    world.autoscaling("RegisterScalableTarget", {**TARGET, "MinCapacity": 3, "MaxCapacity": 5})
    assert world.provisioned() == 3
    [activity] = world.activities()
    assert activity["StartTime"] == activity["EndTime"] == round(START, 3)
    assert activity["Cause"] == "RegisterScalableTarget changed the capacity bounds"
    assert activity["StatusMessage"] == "Successfully set desired provisioned concurrency to 3. Change from 1."


def test_a_scheduled_action_fires_when_its_time_has_come(world, clock):
    world.autoscaling("RegisterScalableTarget", {**TARGET, "MinCapacity": 1, "MaxCapacity": 8})
    world.autoscaling("PutScheduledAction", {**TARGET, "ScheduledActionName": "rush",
                                             "Schedule": "at(2030-01-07T09:00:00)",
                                             "ScalableTargetAction": {"MinCapacity": 4, "MaxCapacity": 8}})
    world.tick()
    assert world.provisioned() == 1 and world.activities() == []
    clock.advance(3600)  # 09:00: the action fires
    world.tick()
    assert world.provisioned() == 4
    [activity] = world.activities()
    assert activity["Cause"] == "scheduled action name rush was triggered"
    assert activity["StartTime"] == round(clock.now, 3)
    target = world.autoscaling("DescribeScalableTargets", {"ServiceNamespace": "sagemaker"})["ScalableTargets"][0]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (4, 8)
    clock.advance(60)
    world.tick()  # fired once: nothing more happens
    assert len(world.activities()) == 1


def test_suspended_scheduled_scaling_lets_the_time_pass_without_acting(world, clock):
    world.autoscaling("RegisterScalableTarget", {**TARGET, "MinCapacity": 1, "MaxCapacity": 8,
                                                 "SuspendedState": {"ScheduledScalingSuspended": True}})
    world.autoscaling("PutScheduledAction", {**TARGET, "ScheduledActionName": "rush",
                                             "Schedule": "at(2030-01-07T08:30:00)",
                                             "ScalableTargetAction": {"MinCapacity": 4}})
    clock.advance(3600)
    world.tick()
    assert world.provisioned() == 1 and world.activities() == []
    [action] = world.tables.actions.all()
    assert action.last_fired == datetime(2030, 1, 7, 8, 30, tzinfo=timezone.utc).timestamp()


def test_target_tracking_scales_out_with_demand_and_in_after_its_cooldown(world, clock):
    world.autoscaling("RegisterScalableTarget", {**TARGET, "MinCapacity": 1, "MaxCapacity": 6})
    world.autoscaling("PutScalingPolicy", {**TARGET, "PolicyName": "half", "PolicyType": "TargetTrackingScaling",
                                           "TargetTrackingScalingPolicyConfiguration": {
                                               "TargetValue": 0.5, "ScaleInCooldown": 120, "ScaleOutCooldown": 0,
                                               "PredefinedMetricSpecification": {"PredefinedMetricType":
                                                   "SageMakerVariantProvisionedConcurrencyUtilization"}}})
    world.demand = 2
    world.tick()
    assert world.provisioned() == 4  # 2 executions at 0.5 utilization
    world.demand = 0
    clock.advance(60)
    world.tick()
    assert world.provisioned() == 4  # within the scale-in cooldown
    clock.advance(61)
    world.tick()
    assert world.provisioned() == 1
    causes = [a["Cause"] for a in world.activities()]
    assert causes == ["monitor alarm TargetTracking-endpoint/ep/variant/AllTraffic triggered policy half"] * 2


def test_a_target_whose_endpoint_is_gone_does_not_stop_the_others(tmp_path, clock):
    world = World(tmp_path, clock)
    try:
        world.endpoint("ep")
        world.autoscaling("RegisterScalableTarget", {**TARGET, "MinCapacity": 1, "MaxCapacity": 4})
        world.store.endpoints.delete("ep")  # as a finished DeleteEndpoint leaves it
        world.tick()
        assert world.activities() == []
    finally:
        world.store.close()


def test_deregistering_removes_the_targets_policies_and_actions(world):
    world.autoscaling("RegisterScalableTarget", {**TARGET, "MinCapacity": 1, "MaxCapacity": 4})
    world.autoscaling("PutScheduledAction", {**TARGET, "ScheduledActionName": "a", "Schedule": "rate(1 hour)"})
    world.autoscaling("DeregisterScalableTarget", TARGET)
    assert world.tables.actions.all() == [] and world.tables.targets.all() == []
    with pytest.raises(ObjectNotFoundException):
        world.autoscaling("DeleteScheduledAction", {**TARGET, "ScheduledActionName": "a"})


def test_capacity_below_one_is_refused_by_the_typed_method(world):
    from serverless_ray.errors import ValidationException

    with pytest.raises(ValidationException, match="must be at least 1"):
        asyncio.run(world.plane.set_provisioned_concurrency("ep", "AllTraffic", 0))
