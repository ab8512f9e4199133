"""Instance-based (real-time) endpoints: fixed-size variants that split traffic by
weight, TargetVariant, UpdateEndpointWeightsAndCapacities, conversion from serverless,
and GPU types on a cluster without GPUs."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError
from support import Deployer, replica_gauge, unique, wait_for, wait_in_service


def _instance_config(sm, deployer: Deployer, variants: list[dict]) -> str:
    name = unique("ic")
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=variants)
    deployer.configs.append(name)
    return name


# Function-scoped endpoints first: they are gone before the module's endpoint takes its
# share of the cluster's memory.


def test_serverless_converts_to_instance_based_one_way(sm, runtime, deployer, model_urls):
    model = deployer.model(model_urls["echo"], environment={"COLOR": "teal"})
    serverless = deployer.config(model)
    name = deployer.endpoint(serverless)
    assert _invoke(runtime, name)[0] == "AllTraffic"

    instance = _instance_config(sm, deployer, [
        {"VariantName": "Dedicated", "ModelName": model, "InstanceType": "ml.t2.medium", "InitialInstanceCount": 1}])
    sm.update_endpoint(EndpointName=name, EndpointConfigName=instance)
    wait_in_service(sm, name)
    described = sm.describe_endpoint(EndpointName=name)
    assert "FailureReason" not in described, described["FailureReason"]
    variant = described["ProductionVariants"][0]
    assert (variant["VariantName"], variant["CurrentInstanceCount"]) == ("Dedicated", 1)
    variant, body = _invoke(runtime, name)
    assert (variant, body["env_color"]) == ("Dedicated", "teal")

    with pytest.raises(ClientError) as caught:
        sm.update_endpoint(EndpointName=name, EndpointConfigName=serverless)
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert "updating an instance-based endpoint to a serverless endpoint configuration" in str(caught.value)
    assert sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService"


def test_gpu_type_without_gpus_fails_with_a_reason(sm, deployer, model_urls):
    model = deployer.model(model_urls["echo"])
    config = _instance_config(sm, deployer, [
        {"VariantName": "Gpu", "ModelName": model, "InstanceType": "ml.g4dn.xlarge", "InitialInstanceCount": 1}])
    name = deployer.endpoint(config, wait=False)
    described = wait_for(lambda: (d := sm.describe_endpoint(EndpointName=name))["EndpointStatus"] == "Failed" and d,
                         timeout_s=30, what="the endpoint to fail")
    assert "production variant Gpu" in described["FailureReason"]
    assert "needs 1 GPU(s) per instance, but the Ray cluster has no GPU resources" in described["FailureReason"]


@pytest.fixture(scope="module")
def colors(platform, model_urls):
    """An endpoint with variants blue (ml.t2.medium) and green (ml.c5.large), one instance each."""
    from conftest import _client

    sm = _client("sagemaker", platform.url)
    deployer = Deployer(sm)
    blue = deployer.model(model_urls["echo"], environment={"COLOR": "blue"})
    green = deployer.model(model_urls["echo"], environment={"COLOR": "green"})
    config = _instance_config(sm, deployer, [
        {"VariantName": "blue", "ModelName": blue, "InstanceType": "ml.t2.medium", "InitialInstanceCount": 1,
         "InitialVariantWeight": 1},
        {"VariantName": "green", "ModelName": green, "InstanceType": "ml.c5.large", "InitialInstanceCount": 1,
         "InitialVariantWeight": 1},
    ])
    yield deployer.endpoint(config)
    deployer.cleanup()


def _invoke(runtime, name: str, **kwargs) -> tuple[str, dict]:
    reply = runtime.invoke_endpoint(EndpointName=name, ContentType="application/json",
                                    Body=json.dumps(kwargs.pop("body", {})), **kwargs)
    return reply["InvokedProductionVariant"], json.loads(reply["Body"].read())


def test_traffic_is_split_and_the_response_names_the_variant(runtime, colors):
    seen = [_invoke(runtime, colors) for _ in range(24)]
    assert {variant for variant, _ in seen} == {"blue", "green"}
    assert all(variant == body["env_color"] for variant, body in seen)


def test_target_variant_picks_one(runtime, colors):
    for _ in range(4):
        variant, body = _invoke(runtime, colors, TargetVariant="green")
        assert variant == body["env_color"] == "green"
    with pytest.raises(ClientError) as caught:
        _invoke(runtime, colors, TargetVariant="purple")
    assert caught.value.response["Error"]["Code"] == "ValidationError"
    assert "Variant purple of endpoint" in caught.value.response["Error"]["Message"]


def test_describe_shows_instance_variants(sm, colors):
    described = sm.describe_endpoint(EndpointName=colors)
    by_name = {v["VariantName"]: v for v in described["ProductionVariants"]}
    assert by_name["blue"]["CurrentInstanceCount"] == by_name["green"]["DesiredInstanceCount"] == 1
    assert by_name["green"]["InstancePools"] == [{"InstanceType": "ml.c5.large", "CurrentInstanceCount": 1}]
    assert "CurrentServerlessConfig" not in by_name["blue"]


def test_instance_endpoints_are_not_throttled(runtime, colors):
    # One instance, more concurrent calls than that: they wait for the instance, as on an
    # instance-based endpoint, instead of being throttled by a concurrency quota.
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda _: _invoke(runtime, colors, TargetVariant="blue", body={"sleep": 0.5}),
                                range(3)))
    assert [variant for variant, _ in results] == ["blue"] * 3


def test_update_weights_and_capacities(platform, sm, runtime, colors):
    sm.update_endpoint_weights_and_capacities(EndpointName=colors, DesiredWeightsAndCapacities=[
        {"VariantName": "blue", "DesiredWeight": 0}, {"VariantName": "green", "DesiredInstanceCount": 2}])
    assert sm.describe_endpoint(EndpointName=colors)["EndpointStatus"] == "Updating"
    wait_in_service(sm, colors)
    by_name = {v["VariantName"]: v for v in sm.describe_endpoint(EndpointName=colors)["ProductionVariants"]}
    assert (by_name["blue"]["CurrentWeight"], by_name["green"]["CurrentInstanceCount"]) == (0.0, 2)
    assert {_invoke(runtime, colors)[0] for _ in range(8)} == {"green"}
    assert _invoke(runtime, colors, TargetVariant="blue")[0] == "blue"  # weight 0 still answers when named
    assert wait_for(lambda: replica_gauge(platform.url, colors) is not None, timeout_s=10, what="replica gauge")
    with pytest.raises(ClientError, match="DesiredInstanceCount applies to instance-based|ServerlessUpdateConfig applies"):
        sm.update_endpoint_weights_and_capacities(EndpointName=colors, DesiredWeightsAndCapacities=[
            {"VariantName": "blue", "ServerlessUpdateConfig": {"MaxConcurrency": 2}}])
