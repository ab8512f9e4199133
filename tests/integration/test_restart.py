"""Restarting the platform on the same state directory loses nothing."""

from __future__ import annotations

import json

from conftest import _client
from support import wait_in_service


def test_restart_brings_everything_back(platform, deployer, model_urls):
    sm = deployer.sm
    model = deployer.model(model_urls["linear"])
    config = deployer.config(model, max_concurrency=2)
    name = deployer.endpoint(config)
    spare_config = deployer.config(model, memory=2048)
    before = sm.describe_endpoint(EndpointName=name)

    platform.restart()

    sm = _client("sagemaker", platform.url)
    runtime = _client("sagemaker-runtime", platform.url)
    deployer.sm = sm  # cleanup talks to the restarted platform
    assert sm.describe_model(ModelName=model)["ModelName"] == model
    assert sm.describe_endpoint_config(EndpointConfigName=spare_config)["EndpointConfigName"] == spare_config
    after = sm.describe_endpoint(EndpointName=name)
    for key in ("EndpointArn", "EndpointConfigName", "CreationTime", "ProductionVariants"):
        assert after[key] == before[key]
    wait_in_service(sm, name)
    reply = runtime.invoke_endpoint(EndpointName=name, ContentType="text/csv", Accept="text/csv", Body="1,2,3")
    assert reply["Body"].read().decode().strip() == "4.75"
    assert json.loads(json.dumps(sm.list_endpoints(NameContains=name)["Endpoints"], default=str))
