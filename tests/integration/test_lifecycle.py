"""The whole path from CreateModel to DeleteEndpoint, driven by boto3 and its waiters."""

from __future__ import annotations

import json

import pytest
import ray
from botocore.exceptions import ClientError, WaiterError
from support import unique, wait_for, wait_in_service


def test_create_invoke_update_delete(sm, runtime, deployer, model_urls):
    model = deployer.model(model_urls["linear"])
    config = deployer.config(model, memory=1024, max_concurrency=2)
    name = unique("Life")  # mixed case: the ARN carries it lower-cased
    created = sm.create_endpoint(EndpointName=name, EndpointConfigName=config)
    deployer.endpoints.append(name)
    assert created["EndpointArn"] == f"arn:aws:sagemaker:us-east-1:123456789012:endpoint/{name.lower()}"
    assert sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "Creating"

    wait_in_service(sm, name)
    described = sm.describe_endpoint(EndpointName=name)
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == config
    variant = described["ProductionVariants"][0]
    assert variant["VariantName"] == "AllTraffic"
    assert variant["CurrentServerlessConfig"] == {"MemorySizeInMB": 1024, "MaxConcurrency": 2}
    assert described["LastModifiedTime"] >= described["CreationTime"]

    reply = runtime.invoke_endpoint(
        EndpointName=name, ContentType="application/json", Accept="application/json",
        Body=json.dumps({"inputs": [[1, 2, 3], [0, 0, 0]]}),
    )
    assert reply["ContentType"] == "application/json"
    assert reply["InvokedProductionVariant"] == "AllTraffic"
    assert json.loads(reply["Body"].read()) == {"predictions": [4.75, 0.25]}

    csv = runtime.invoke_endpoint(EndpointName=name, ContentType="text/csv", Accept="text/csv", Body="1,2,3\n1,1,1")
    assert csv["ContentType"] == "text/csv"
    assert csv["Body"].read().decode().split() == ["4.75", "1.75"]

    # Update to a bigger memory size: a new version loads next to the old one.
    bigger = deployer.config(model, memory=2048, max_concurrency=3)
    sm.update_endpoint(EndpointName=name, EndpointConfigName=bigger)
    updating = sm.describe_endpoint(EndpointName=name)
    assert updating["EndpointStatus"] == "Updating"
    assert updating["PendingDeploymentSummary"]["EndpointConfigName"] == bigger
    with pytest.raises(ClientError, match="Cannot update in-progress endpoint"):
        sm.update_endpoint(EndpointName=name, EndpointConfigName=config)
    # The old version keeps answering while the new one loads.
    during = runtime.invoke_endpoint(EndpointName=name, ContentType="text/csv", Accept="text/csv", Body="0,0,1")
    assert during["Body"].read().decode().strip() == "2.25"
    wait_in_service(sm, name)
    after = sm.describe_endpoint(EndpointName=name)
    assert after["EndpointConfigName"] == bigger
    assert after["ProductionVariants"][0]["CurrentServerlessConfig"] == {"MemorySizeInMB": 2048, "MaxConcurrency": 3}
    assert "PendingDeploymentSummary" not in after
    again = runtime.invoke_endpoint(EndpointName=name, ContentType="text/csv", Accept="text/csv", Body="0,0,1")
    assert again["Body"].read().decode().strip() == "2.25"

    sm.delete_endpoint(EndpointName=name)
    sm.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    with pytest.raises(ClientError) as missing:
        sm.describe_endpoint(EndpointName=name)
    assert missing.value.response["Error"]["Code"] == "ValidationException"
    assert f'Could not find endpoint "arn:aws:sagemaker:us-east-1:123456789012:endpoint/{name.lower()}"' in str(missing.value)
    with pytest.raises(ClientError) as gone:
        runtime.invoke_endpoint(EndpointName=name, Body=b"1,2,3", ContentType="text/csv")
    assert gone.value.response["Error"]["Code"] == "ValidationError"


def test_models_and_configs_describe_and_delete(sm, deployer, model_urls):
    model = deployer.model(model_urls["echo"], environment={"COLOR": "teal"})
    described = sm.describe_model(ModelName=model)
    assert described["ModelArn"].endswith(f":model/{model.lower()}")
    assert described["PrimaryContainer"]["Environment"] == {"COLOR": "teal"}
    assert described["PrimaryContainer"]["ModelDataUrl"] == model_urls["echo"]

    config = deployer.config(model, memory=3072, max_concurrency=7, provisioned=2)
    got = sm.describe_endpoint_config(EndpointConfigName=config)
    assert got["ProductionVariants"][0]["ServerlessConfig"] == {
        "MemorySizeInMB": 3072, "MaxConcurrency": 7, "ProvisionedConcurrency": 2,
    }
    with pytest.raises(ClientError, match="Cannot create already existing model"):
        sm.create_model(ModelName=model.upper(), PrimaryContainer={"Image": "x", "ModelDataUrl": model_urls["echo"]})
    with pytest.raises(ClientError, match="Cannot create already existing endpoint configuration"):
        deployer.config(model, name=config)

    sm.delete_endpoint_config(EndpointConfigName=config)
    with pytest.raises(ClientError, match="Could not find endpoint configuration"):
        sm.describe_endpoint_config(EndpointConfigName=config)
    sm.delete_model(ModelName=model)
    with pytest.raises(ClientError, match="Could not find model"):
        sm.delete_model(ModelName=model)


def test_waiter_fails_on_failed_endpoint(sm, deployer, model_urls):
    config = deployer.config(deployer.model(model_urls["broken"]))
    name = deployer.endpoint(config, wait=False)
    with pytest.raises(WaiterError, match="Failed"):
        wait_in_service(sm, name)
    described = sm.describe_endpoint(EndpointName=name)
    assert described["EndpointStatus"] == "Failed"
    assert "weights.bin is corrupt" in described["FailureReason"]
    assert "AllTraffic" in described["FailureReason"]
    with pytest.raises(ClientError, match="only InService endpoints can be updated"):
        sm.update_endpoint(EndpointName=name, EndpointConfigName=config)


def _serve_routers(gateway) -> set[str]:
    """The applications the gateway's process holds a live Serve router for."""

    def routers(_) -> set[str]:
        import gc

        from ray.serve._private.router import AsyncioRouter

        gc.collect()
        return {o.deployment_id.app_name for o in gc.get_objects() if isinstance(o, AsyncioRouter)}

    return ray.get(gateway.__ray_call__.remote(routers))


def test_a_deleted_endpoint_leaves_no_serve_router_in_the_gateway(platform, sm, runtime, deployer, model_urls):
    """A router lives as long as its handle and keeps reporting to Serve's controller:
    one left behind per deleted endpoint grew the gateway with every endpoint ever made."""
    gateway = platform.platform.gateway
    before = _serve_routers(gateway)
    name = deployer.serverless(model_urls["echo"], max_concurrency=1)
    runtime.invoke_endpoint(EndpointName=name, ContentType="application/json", Body=b"{}")["Body"].read()
    added = _serve_routers(gateway) - before
    assert len(added) == 1, added
    sm.delete_endpoint(EndpointName=name)
    sm.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    wait_for(lambda: not (_serve_routers(gateway) & added), timeout_s=30, what="the deleted endpoint's router freed")
