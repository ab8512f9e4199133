"""Stored state outlives the code that wrote it: a state directory written before
records carried a schema version (tests/fixtures/state-v1) loads, answers Describe and
List exactly as its own code did, and records that today's wire rules would refuse
still load."""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from serverless_ray.autoscaling.capacity import EndpointCapacity
from serverless_ray.autoscaling.records import ScalingTables
from serverless_ray.autoscaling.service import ScalingService
from serverless_ray.control.plane import ControlPlane
from serverless_ray.settings import PlatformSettings
from serverless_ray.spec.autoscaling import ScalableTargetKey, TargetTrackingConfiguration
from serverless_ray.spec.endpoint import EndpointStatus
from serverless_ray.store import Store
from serverless_ray.store.loading import SCHEMA_VERSION, FutureRecordError

FIXTURE = Path(__file__).parents[1] / "fixtures" / "state-v1"
ENDPOINT = "fixture-echo"
TARGET = {"ServiceNamespace": "sagemaker", "ResourceId": f"endpoint/{ENDPOINT}/variant/AllTraffic",
          "ScalableDimension": "sagemaker:variant:DesiredProvisionedConcurrency"}


class _Rollout:
    def start(self, endpoint: str) -> None:
        pass


@pytest.fixture
def state(tmp_path):
    """A copy of the fixture's state directory (tests must not change the fixture)."""
    shutil.copy(FIXTURE / "serverless-ray.sqlite3", tmp_path / "serverless-ray.sqlite3")
    return tmp_path


@pytest.fixture
def services(state):
    settings = PlatformSettings(state_dir=state)
    store = Store(settings.database_path)
    plane = ControlPlane(settings, store, _Rollout())  # type: ignore[arg-type]
    tables = ScalingTables(store)

    async def nothing(target, cause):
        pass

    scaling = ScalingService(region=settings.region, account_id=settings.account_id, tables=tables,
                             capacity=EndpointCapacity(store, plane.set_provisioned_concurrency),
                             on_target_change=nothing)
    yield store, plane, scaling, tables
    store.close()


def _describe(plane, scaling) -> dict:
    """The calls ``generate.py`` recorded, asked again."""
    package_arn = "arn:aws:sagemaker:us-east-1:123456789012:model-package/fixture-group/1"
    calls = {
        "DescribeModel": (plane, "DescribeModel", {"ModelName": "fixture-model"}),
        "DescribeModelPackaged": (plane, "DescribeModel", {"ModelName": "fixture-packaged"}),
        "DescribeEndpointConfig": (plane, "DescribeEndpointConfig", {"EndpointConfigName": "fixture-config"}),
        "DescribeInstanceConfig": (plane, "DescribeEndpointConfig", {"EndpointConfigName": "fixture-instance-config"}),
        "DescribeEndpoint": (plane, "DescribeEndpoint", {"EndpointName": ENDPOINT}),
        "ListEndpoints": (plane, "ListEndpoints", {}),
        "ListModels": (plane, "ListModels", {}),
        "ListTags": (plane, "ListTags", {"ResourceArn": "arn:aws:sagemaker:us-east-1:123456789012:model/fixture-model"}),
        "DescribeModelPackage": (plane, "DescribeModelPackage", {"ModelPackageName": package_arn}),
        "DescribeModelPackageGroup": (plane, "DescribeModelPackageGroup", {"ModelPackageGroupName": "fixture-group"}),
        "DescribeScalableTargets": (scaling, "DescribeScalableTargets", {"ServiceNamespace": "sagemaker"}),
        "DescribeScalingPolicies": (scaling, "DescribeScalingPolicies", {"ServiceNamespace": "sagemaker"}),
        "DescribeScheduledActions": (scaling, "DescribeScheduledActions", {"ServiceNamespace": "sagemaker"}),
        "DescribeScalingActivities": (scaling, "DescribeScalingActivities", {"ServiceNamespace": "sagemaker"}),
    }

    async def ask():
        return {key: await service.call(op, payload) for key, (service, op, payload) in calls.items()}

    return json.loads(json.dumps(asyncio.run(ask())))


def test_the_fixture_was_written_before_schema_versions():
    db = sqlite3.connect(FIXTURE / "serverless-ray.sqlite3")
    try:
        docs = [json.loads(doc) for table in ("models", "endpoints", "scaling_policies")
                for (doc,) in db.execute(f"SELECT doc FROM {table}")]
    finally:
        db.close()
    assert docs and all("schema_version" not in doc for doc in docs)


def test_every_record_of_the_old_state_loads_in_todays_layout(services):
    store, _, _, tables = services
    endpoint = store.endpoints.get(ENDPOINT)
    assert endpoint.status is EndpointStatus.IN_SERVICE
    assert endpoint.schema_version == SCHEMA_VERSION
    assert endpoint.current.variant.ServerlessConfig.ProvisionedConcurrency == 2
    key = ScalableTargetKey(namespace=TARGET["ServiceNamespace"], resource_id=TARGET["ResourceId"],
                            dimension=TARGET["ScalableDimension"])
    assert [t.target for t in tables.targets.all()] == [key]
    [policy] = tables.policies_of(key)
    assert isinstance(policy.configuration, TargetTrackingConfiguration)
    assert (policy.configuration.TargetValue, policy.configuration.ScaleInCooldown) == (0.5, 120)
    assert [a.name for a in tables.actions_of(key)] == ["fixture-nightly"]
    assert [a.target for a in tables.activities.all()] == [key]
    counts = [len(t) for t in (store.models, store.endpoint_configs, store.model_package_groups,
                                store.model_packages, store.tags)]
    assert counts == [2, 2, 1, 1, 3]
    assert [len(store.models.all()), len(store.tags.all())] == [2, 3]


def test_the_old_state_is_described_as_its_own_code_described_it(services):
    _, plane, scaling, _ = services
    expected = json.loads((FIXTURE / "describe.json").read_text())
    assert _describe(plane, scaling) == expected


def test_records_rewritten_by_todays_code_carry_todays_version(services, state):
    store, plane, scaling, _ = services
    asyncio.run(scaling.call("PutScheduledAction", {**TARGET, "ScheduledActionName": "fixture-nightly",
                                                    "Schedule": "cron(0 4 ? * 2-6 *)"}))
    db = sqlite3.connect(state / "serverless-ray.sqlite3")
    try:
        (doc,) = db.execute("SELECT doc FROM scheduled_actions").fetchone()
    finally:
        db.close()
    written = json.loads(doc)
    assert written["schema_version"] == SCHEMA_VERSION
    assert written["target"]["resource_id"] == TARGET["ResourceId"]


def _overwrite(state: Path, table: str, key: str, change) -> None:
    db = sqlite3.connect(state / "serverless-ray.sqlite3")
    try:
        (doc,) = db.execute(f"SELECT doc FROM {table} WHERE key = ?", (key,)).fetchone()
        data = json.loads(doc)
        change(data)
        db.execute(f"UPDATE {table} SET doc = ? WHERE key = ?", (json.dumps(data), key))
        db.commit()
    finally:
        db.close()


def test_a_rule_tightened_later_does_not_stop_stored_records_from_loading(state):
    def break_config(data):
        variant = data["spec"]["ProductionVariants"][0]
        variant["ServerlessConfig"].update(MemorySizeInMB=1536, MaxConcurrency=500)  # no such tier, above 200
        variant["InstanceTypeNobodyKnows"] = "ml.z9.huge"  # and a member this code never heard of

    def break_model(data):
        data["spec"]["PrimaryContainer"]["ModelDataUrl"] = "relative/path"  # not a URL the wire accepts
        data["spec"]["Tags"] = [{"Key": "aws:reserved", "Value": "#?"}]

    _overwrite(state, "endpoint_configs", "fixture-config", break_config)
    _overwrite(state, "models", "fixture-model", break_model)
    store = Store(state / "serverless-ray.sqlite3")
    try:
        config = store.endpoint_configs.get("fixture-config")
        assert config.spec.ProductionVariants[0].ServerlessConfig.MemorySizeInMB == 1536
        assert store.models.get("fixture-model").spec.PrimaryContainer.ModelDataUrl == "relative/path"
        assert len(store.endpoint_configs.all()) == 2
        plane = ControlPlane(PlatformSettings(state_dir=state), store, _Rollout())  # type: ignore[arg-type]
        described = asyncio.run(plane.call("DescribeEndpointConfig", {"EndpointConfigName": "fixture-config"}))
        assert described["ProductionVariants"][0]["ServerlessConfig"]["MaxConcurrency"] == 500
    finally:
        store.close()


def test_an_unknown_endpoint_status_is_kept_rather_than_refused(state):
    _overwrite(state, "endpoints", ENDPOINT, lambda data: data.update(status="SomethingNew"))
    store = Store(state / "serverless-ray.sqlite3")
    try:
        assert store.endpoints.get(ENDPOINT).status == "SomethingNew"
    finally:
        store.close()


def test_a_record_from_a_newer_platform_is_refused_with_a_reason(state):
    _overwrite(state, "models", "fixture-model", lambda data: data.update(schema_version=SCHEMA_VERSION + 1))
    store = Store(state / "serverless-ray.sqlite3")
    try:
        with pytest.raises(FutureRecordError, match="newer serverless-ray"):
            store.models.get("fixture-model")
    finally:
        store.close()
