"""The AWS CLI as its users run it (``aws ... --endpoint-url``): model data uploaded with
``aws s3 cp`` (to a local moto server), a version registered and approved in the model
registry, a serverless endpoint deployed from it, invoked, tagged and deleted."""

from __future__ import annotations

import json
import shutil
import time

import pytest
from conftest import EXAMPLE_MODEL, make_tarball
from support import AWS, Cli, unique


@pytest.fixture
def aws(tmp_path, platform, s3_server):
    assert shutil.which(AWS), "the AWS CLI is installed with the test extra"
    return Cli(tmp_path, platform.url, s3_server)


def test_cli_registry_to_serverless_endpoint(aws, sm, tmp_path):
    tag = unique("cli")
    # Model data goes to S3 the way users put it there.
    archive = make_tarball(EXAMPLE_MODEL, tmp_path / "model.tar.gz")
    aws("s3", "mb", "s3://cli-models", url=aws.s3_url)
    aws("s3", "cp", str(archive), f"s3://cli-models/{tag}/model.tar.gz", url=aws.s3_url)

    # Model registry: a group, a version (pending approval), approval.
    group_arn = aws("sagemaker", "create-model-package-group", "--model-package-group-name", tag,
                    "--tags", "Key=team,Value=ml")["ModelPackageGroupArn"]
    spec = {"Containers": [{"Image": "sagemaker-inference:test", "ModelDataUrl": f"s3://cli-models/{tag}/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    package_arn = aws("sagemaker", "create-model-package", "--model-package-group-name", tag,
                      "--inference-specification", f"file://{tmp_path / 'spec.json'}")["ModelPackageArn"]
    assert package_arn.endswith(f":model-package/{tag}/1")
    versions = aws("sagemaker", "list-model-packages", "--model-package-group-name", tag)["ModelPackageSummaryList"]
    assert [v["ModelApprovalStatus"] for v in versions] == ["PendingManualApproval"]

    model = f"{tag}-model"
    refused = aws.fails("sagemaker", "create-model", "--model-name", model,
                        "--primary-container", f"ModelPackageName={package_arn}")
    assert "(ValidationException)" in refused and "only Approved model package versions can be deployed" in refused

    aws("sagemaker", "update-model-package", "--model-package-arn", package_arn,
        "--model-approval-status", "Approved")

    # A serverless endpoint from the registered version.
    aws("sagemaker", "create-model", "--model-name", model, "--primary-container", f"ModelPackageName={package_arn}")
    config = f"{tag}-config"
    aws("sagemaker", "create-endpoint-config", "--endpoint-config-name", config, "--production-variants", json.dumps([{
        "VariantName": "AllTraffic", "ModelName": model,
        "ServerlessConfig": {"MemorySizeInMB": 1024, "MaxConcurrency": 2}}]))
    endpoint = f"{tag}-ep"
    arn = aws("sagemaker", "create-endpoint", "--endpoint-name", endpoint, "--endpoint-config-name", config,
              "--tags", "Key=env,Value=test")["EndpointArn"]
    try:
        deadline = time.monotonic() + 120
        while (status := aws("sagemaker", "describe-endpoint", "--endpoint-name", endpoint)["EndpointStatus"]) != "InService":
            assert status == "Creating" and time.monotonic() < deadline, status

        (tmp_path / "rows.csv").write_text("1,2,3\n1,1,1")
        out = tmp_path / "out.csv"
        invoked = aws("sagemaker-runtime", "invoke-endpoint", "--endpoint-name", endpoint,
                      "--content-type", "text/csv", "--accept", "text/csv",
                      "--body", f"fileb://{tmp_path / 'rows.csv'}", str(out))
        assert invoked["InvokedProductionVariant"] == "AllTraffic" and invoked["ContentType"] == "text/csv"
        assert out.read_text().split() == ["4.75", "1.75"]

        # Tags by ARN.
        aws("sagemaker", "add-tags", "--resource-arn", arn, "--tags", "Key=owner,Value=alice")
        listed = aws("sagemaker", "list-tags", "--resource-arn", arn)["Tags"]
        assert {t["Key"]: t["Value"] for t in listed} == {"env": "test", "owner": "alice"}
        aws("sagemaker", "delete-tags", "--resource-arn", arn, "--tag-keys", "env")
        assert aws("sagemaker", "list-tags", "--resource-arn", arn)["Tags"] == [{"Key": "owner", "Value": "alice"}]
        assert aws("sagemaker", "list-tags", "--resource-arn", group_arn)["Tags"] == [{"Key": "team", "Value": "ml"}]
    finally:
        aws("sagemaker", "delete-endpoint", "--endpoint-name", endpoint)
    # The rest of the teardown through boto3: each CLI call costs a second of start-up.
    sm.get_waiter("endpoint_deleted").wait(EndpointName=endpoint, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    missing = aws.fails("sagemaker", "describe-endpoint", "--endpoint-name", endpoint)
    assert "(ValidationException)" in missing and "Could not find endpoint" in missing
    sm.delete_endpoint_config(EndpointConfigName=config)
    sm.delete_model(ModelName=model)
    sm.delete_model_package(ModelPackageName=package_arn)
    sm.delete_model_package_group(ModelPackageGroupName=tag)
