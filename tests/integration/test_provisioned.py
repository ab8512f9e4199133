"""Provisioned concurrency: a warm floor, scheduled and target-tracking changes, metrics."""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError
from conftest import SCALE_TO_ZERO_AFTER_S, _client
from support import Background, Latch, metric_value, replica_gauge, wait_for

DIMENSION = "sagemaker:variant:DesiredProvisionedConcurrency"


@pytest.fixture
def aas(platform):
    return _client("application-autoscaling", platform.url)


def _metrics(url: str) -> str:
    return urllib.request.urlopen(f"{url}/metrics", timeout=10).read().decode()


def _overhead_count(url: str, name: str, cold: str) -> float:
    return metric_value(_metrics(url), "serverless_ray_overhead_latency_microseconds_count",
                        endpoint_name=name, variant_name="AllTraffic", cold=cold) or 0.0


def _provisioned(sm, name: str) -> int | None:
    variant = sm.describe_endpoint(EndpointName=name)["ProductionVariants"][0]
    return variant["CurrentServerlessConfig"].get("ProvisionedConcurrency")


def _target(aas, name: str, low: int, high: int) -> str:
    resource = f"endpoint/{name}/variant/AllTraffic"
    aas.register_scalable_target(ServiceNamespace="sagemaker", ResourceId=resource,
                                 ScalableDimension=DIMENSION, MinCapacity=low, MaxCapacity=high)
    return resource


def _invoke(runtime, name: str, body: dict) -> dict:
    reply = runtime.invoke_endpoint(EndpointName=name, ContentType="application/json", Body=json.dumps(body))
    return json.loads(reply["Body"].read())


def test_warm_floor_survives_idling_and_spillover_is_counted(platform, runtime, deployer, model_urls, tmp_path):
    name = deployer.serverless(model_urls["echo"], max_concurrency=3, provisioned=1)
    samples = []
    deadline = time.monotonic() + SCALE_TO_ZERO_AFTER_S + 4
    while time.monotonic() < deadline:
        samples.append(replica_gauge(platform.url, name))
        time.sleep(0.25)
    assert min(s for s in samples if s is not None) >= 1  # never scaled below the floor

    reply = runtime.invoke_endpoint(EndpointName=name, ContentType="application/json", Body=b"{}")
    assert json.loads(reply["Body"].read())["greeting"] == "hello from model data"
    assert _overhead_count(platform.url, name, "false") == 1  # a warm call
    assert _overhead_count(platform.url, name, "true") == 0  # no cold start

    # Two at once: one on the provisioned replica, one spills over to on-demand.
    with Background() as background, Latch(tmp_path) as latch:
        background.submit(_invoke, runtime, name, latch.body())
        wait_for(lambda: len(latch.started()) == 1, timeout_s=30, what="the first call in the model")
        background.submit(_invoke, runtime, name, latch.body())
        wait_for(lambda: len(latch.started()) == 2, timeout_s=60, what="the second call in the model")
        latch.release()
        background.results()
    text = _metrics(platform.url)
    labels = {"endpoint_name": name, "variant_name": "AllTraffic"}
    assert metric_value(text, "serverless_ray_provisioned_concurrency_invocations_total", **labels) == 2
    assert metric_value(text, "serverless_ray_provisioned_concurrency_spillover_invocations_total", **labels) == 1


def test_scheduled_action_raises_the_floor(platform, sm, aas, deployer, model_urls):
    name = deployer.serverless(model_urls["echo"], max_concurrency=3, provisioned=1)
    resource = _target(aas, name, 1, 3)
    fire_at = datetime.now(timezone.utc) + timedelta(seconds=4)
    aas.put_scheduled_action(
        ServiceNamespace="sagemaker", ResourceId=resource, ScalableDimension=DIMENSION,
        ScheduledActionName="morning-rush", Schedule=f"at({fire_at:%Y-%m-%dT%H:%M:%S})",
        ScalableTargetAction={"MinCapacity": 2, "MaxCapacity": 3},
    )
    described = aas.describe_scheduled_actions(ServiceNamespace="sagemaker", ResourceId=resource)
    assert [a["ScheduledActionName"] for a in described["ScheduledActions"]] == ["morning-rush"]

    wait_for(lambda: _provisioned(sm, name) == 2, timeout_s=30, what="provisioned concurrency 2")
    assert wait_for(lambda: replica_gauge(platform.url, name) == 2, timeout_s=30, what="two replicas")
    target = aas.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[resource])
    assert target["ScalableTargets"][0]["MinCapacity"] == 2
    activities = aas.describe_scaling_activities(ServiceNamespace="sagemaker", ResourceId=resource)
    activity = activities["ScalingActivities"][0]
    assert activity["StatusCode"] == "Successful"
    assert "morning-rush" in activity["Cause"]
    # Idling past the scale-to-zero period keeps both warm (a window: what is checked is
    # that nothing happens in it).
    samples = []
    deadline = time.monotonic() + SCALE_TO_ZERO_AFTER_S + 2
    while time.monotonic() < deadline:
        samples.append(replica_gauge(platform.url, name))
        time.sleep(0.25)
    assert set(samples) == {2}


def test_target_tracking_scales_provisioned_concurrency_out(
    platform, sm, aas, deployer, runtime, model_urls, tmp_path
):
    name = deployer.serverless(model_urls["echo"], max_concurrency=3, provisioned=1)
    resource = _target(aas, name, 1, 3)
    policy = aas.put_scaling_policy(
        PolicyName="keep-half-busy", ServiceNamespace="sagemaker", ResourceId=resource,
        ScalableDimension=DIMENSION, PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 0.5, "ScaleOutCooldown": 0, "ScaleInCooldown": 600,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantProvisionedConcurrencyUtilization"},
        },
    )
    assert policy["PolicyARN"].startswith("arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:")
    with Background() as background, Latch(tmp_path) as latch:
        for _ in range(2):
            background.submit(_invoke, runtime, name, latch.body())
        # Two in flight at a target of 0.5 → 4, capped at MaxCapacity 3.
        wait_for(lambda: _provisioned(sm, name) == 3, timeout_s=60, what="provisioned concurrency 3")
        latch.release()
        background.results()
    policies = aas.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=resource)
    assert policies["ScalingPolicies"][0]["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 0.5


def test_schedule_in_force_is_applied_after_a_restart(platform, deployer, model_urls):
    sm = deployer.sm
    name = deployer.serverless(model_urls["echo"], max_concurrency=3, provisioned=1)
    aas = _client("application-autoscaling", platform.url)
    resource = _target(aas, name, 1, 3)
    fire_at = datetime.now(timezone.utc) + timedelta(seconds=6)
    aas.put_scheduled_action(
        ServiceNamespace="sagemaker", ResourceId=resource, ScalableDimension=DIMENSION,
        ScheduledActionName="while-down", Schedule=f"at({fire_at:%Y-%m-%dT%H:%M:%S})",
        ScalableTargetAction={"MinCapacity": 2},
    )
    platform.platform.stop()
    try:
        time.sleep(max(0.0, (fire_at - datetime.now(timezone.utc)).total_seconds()) + 1)
    finally:
        platform.restart_stopped()
    sm = _client("sagemaker", platform.url)
    deployer.sm = sm
    wait_for(lambda: _provisioned(sm, name) == 2, timeout_s=60, what="the missed action applied")


def test_api_errors_in_the_services_format(aas, deployer, model_urls):
    name = deployer.serverless(model_urls["echo"], max_concurrency=2)
    resource = f"endpoint/{name}/variant/AllTraffic"
    with pytest.raises(ClientError) as missing:
        aas.put_scheduled_action(ServiceNamespace="sagemaker", ResourceId=resource, ScalableDimension=DIMENSION,
                                 ScheduledActionName="x", Schedule="rate(1 hour)")
    assert missing.value.response["Error"]["Code"] == "ObjectNotFoundException"
    with pytest.raises(ClientError) as too_big:
        _target(aas, name, 1, 5)
    assert too_big.value.response["Error"]["Code"] == "ValidationException"
    assert "MaxConcurrency (2)" in too_big.value.response["Error"]["Message"]
    _target(aas, name, 1, 2)
    with pytest.raises(ClientError) as bad_schedule:
        aas.put_scheduled_action(ServiceNamespace="sagemaker", ResourceId=resource, ScalableDimension=DIMENSION,
                                 ScheduledActionName="x", Schedule="cron(0 9 * * *)")
    assert bad_schedule.value.response["Error"]["Code"] == "ValidationException"
    assert "6 cron fields" in bad_schedule.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as unsupported:
        aas.register_scalable_target(ServiceNamespace="ecs", ResourceId="service/default/web",
                                     ScalableDimension="ecs:service:DesiredCount", MinCapacity=1, MaxCapacity=2)
    assert unsupported.value.response["Error"]["Code"] == "ValidationException"
    aas.deregister_scalable_target(ServiceNamespace="sagemaker", ResourceId=resource, ScalableDimension=DIMENSION)
    with pytest.raises(ClientError) as gone:
        aas.deregister_scalable_target(ServiceNamespace="sagemaker", ResourceId=resource, ScalableDimension=DIMENSION)
    assert gone.value.response["Error"]["Code"] == "ObjectNotFoundException"


@pytest.fixture
def sm(platform):
    return _client("sagemaker", platform.url)
