"""A platform started on a state directory written before records carried a schema
version (tests/fixtures/state-v1) brings its endpoint back and serves it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from conftest import _client
from support import wait_in_service

from serverless_ray.platform import Platform

FIXTURE = Path(__file__).parents[1] / "fixtures" / "state-v1"
ENDPOINT = "fixture-echo"


def test_an_old_state_directory_is_brought_back_and_served(platform, model_urls, tmp_path):
    assert model_urls["echo_s3"] == "s3://models/echo/model.tar.gz"  # where the fixture's model lives
    state = tmp_path / "state-v1"
    state.mkdir()
    shutil.copy(FIXTURE / "serverless-ray.sqlite3", state)
    expected = json.loads((FIXTURE / "describe.json").read_text())
    platform.stop()  # one platform per cluster: the session's makes way, and comes back below
    old = Platform(platform.settings.model_copy(update={"state_dir": state})).start()
    try:
        sm = _client("sagemaker", old.url)
        wait_in_service(sm, ENDPOINT)
        described = json.loads(json.dumps(sm.describe_endpoint(EndpointName=ENDPOINT), default=str))
        assert described["EndpointArn"] == expected["DescribeEndpoint"]["EndpointArn"]
        variant = described["ProductionVariants"][0]
        assert variant["CurrentServerlessConfig"] == {"MemorySizeInMB": 1024, "MaxConcurrency": 2,
                                                      "ProvisionedConcurrency": 2}
        reply = _client("sagemaker-runtime", old.url).invoke_endpoint(
            EndpointName=ENDPOINT, ContentType="application/json", Body=b"{}")
        assert json.loads(reply["Body"].read())["greeting"]
        aas = _client("application-autoscaling", old.url)
        policies = aas.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
        assert [p["PolicyName"] for p in policies] == ["fixture-tracking"]
        assert policies[0]["TargetTrackingScalingPolicyConfiguration"] == (
            expected["DescribeScalingPolicies"]["ScalingPolicies"][0]["TargetTrackingScalingPolicyConfiguration"])
        sm.delete_endpoint(EndpointName=ENDPOINT)
        sm.get_waiter("endpoint_deleted").wait(EndpointName=ENDPOINT, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    finally:
        old.stop()
        platform.restart_stopped()
