"""Bad input is refused in SageMaker's wire format and leaves nothing behind."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, ParamValidationError
from support import unique


def _names(sm):
    return (
        {m["ModelName"] for m in sm.list_models(MaxResults=100)["Models"]},
        {c["EndpointConfigName"] for c in sm.list_endpoint_configs(MaxResults=100)["EndpointConfigs"]},
        {e["EndpointName"] for e in sm.list_endpoints(MaxResults=100)["Endpoints"]},
    )


def _refused(call, **kwargs) -> str:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    error = caught.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return error["Message"]


def test_rejected_requests_create_nothing(sm, deployer, model_urls):
    before = _names(sm)
    model = deployer.model(model_urls["linear"])
    before_models = before[0] | {model}

    message = _refused(sm.create_endpoint_config, EndpointConfigName=unique("c"), ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": model,
        "ServerlessConfig": {"MemorySizeInMB": 1536, "MaxConcurrency": 500},
    }])
    assert "Value '1536' at 'productionVariants.1.member.serverlessConfig.memorySizeInMB'" in message
    assert "[1024, 2048, 3072, 4096, 5120, 6144]" in message
    assert "Value '500' at 'productionVariants.1.member.serverlessConfig.maxConcurrency'" in message
    assert "less than or equal to 200" in message

    message = _refused(sm.create_endpoint_config, EndpointConfigName=unique("c"), ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": model,
        "ServerlessConfig": {"MemorySizeInMB": 1024, "MaxConcurrency": 2, "ProvisionedConcurrency": 3},
    }])
    assert "ProvisionedConcurrency '3'" in message and "MaxConcurrency (2)" in message

    message = _refused(sm.create_endpoint_config, EndpointConfigName=unique("c"), ProductionVariants=[
        {"VariantName": v, "ModelName": model, "ServerlessConfig": {"MemorySizeInMB": 1024, "MaxConcurrency": 1}}
        for v in ("a", "b")
    ])
    assert "exactly one production variant" in message

    message = _refused(sm.create_endpoint_config, EndpointConfigName=unique("c"), ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": "no-such-model",
        "ServerlessConfig": {"MemorySizeInMB": 1024, "MaxConcurrency": 1},
    }])
    assert 'Could not find model "arn:aws:sagemaker:us-east-1:123456789012:model/no-such-model".' == message

    message = _refused(sm.create_endpoint, EndpointName="bad_name!", EndpointConfigName="whatever")
    assert "Value 'bad_name!' at 'endpointName'" in message and "regular expression pattern" in message

    message = _refused(sm.create_endpoint, EndpointName=unique("ep"), EndpointConfigName="no-such-config")
    assert 'Could not find endpoint configuration "arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/no-such-config".' == message

    message = _refused(sm.create_model, ModelName=unique("m"), PrimaryContainer={
        "Image": "x", "ModelDataUrl": "ftp://elsewhere/model.tar.gz"})
    assert "primaryContainer.modelDataUrl" in message

    # botocore refuses some input itself (type and min), exactly as against AWS.
    with pytest.raises(ParamValidationError):
        sm.create_endpoint_config(EndpointConfigName=unique("c"), ProductionVariants=[{
            "VariantName": "AllTraffic", "ModelName": model,
            "ServerlessConfig": {"MemorySizeInMB": 512, "MaxConcurrency": 1}}])

    models, configs, endpoints = _names(sm)
    assert models == before_models
    assert configs == before[1]
    assert endpoints == before[2]


def test_endpoint_rules_checked_before_creation(sm, deployer):
    # A model without model data cannot run here: refused at CreateEndpoint, nothing created.
    model = unique("m")
    sm.create_model(ModelName=model, PrimaryContainer={"Image": "my-registry/my-image:1"})
    deployer.models.append(model)
    config = deployer.config(model)
    name = unique("ep")
    message = _refused(sm.create_endpoint, EndpointName=name, EndpointConfigName=config)
    assert "has no ModelDataUrl" in message
    with pytest.raises(ClientError, match="Could not find endpoint"):
        sm.describe_endpoint(EndpointName=name)


def test_unknown_operation_and_bad_json(platform):
    import json
    import urllib.request

    def post(target: str, body: bytes):
        request = urllib.request.Request(platform.url + "/", data=body, method="POST", headers={
            "X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"})
        try:
            urllib.request.urlopen(request, timeout=10)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers["x-amzn-ErrorType"], json.loads(exc.read())
        raise AssertionError("expected an error")

    status, header, body = post("SageMaker.CreateTrainingJob", b"{}")
    assert (status, header, body["__type"]) == (400, "UnknownOperationException", "UnknownOperationException")
    status, header, body = post("SageMaker.CreateModel", b"{not json")
    assert (status, body["__type"]) == (400, "SerializationException")


def test_serverless_exclusions_over_the_wire(sm, deployer, model_urls):
    before = _names(sm)
    model = deployer.model(model_urls["linear"])
    serverless = {"VariantName": "AllTraffic", "ModelName": model,
                  "ServerlessConfig": {"MemorySizeInMB": 1024, "MaxConcurrency": 1}}
    message = _refused(sm.create_endpoint_config, EndpointConfigName=unique("c"), ProductionVariants=[serverless],
                       AsyncInferenceConfig={"OutputConfig": {"S3OutputPath": "s3://bucket/out"}})
    assert message.endswith("Asynchronous inference (AsyncInferenceConfig) is not supported for serverless endpoints.")
    message = _refused(sm.create_endpoint_config, EndpointConfigName=unique("c"), ProductionVariants=[
        {**serverless, "InstanceType": "ml.g5.xlarge"}])
    assert "GPU instance types are not supported for serverless endpoints" in message

    # A model that is fine on its own but not for a serverless variant: refused when a
    # serverless config names it, and (if replaced later) when the endpoint is created.
    pipeline = unique("m")
    sm.create_model(ModelName=pipeline, Containers=[
        {"Image": "a", "ModelDataUrl": model_urls["linear"]}, {"Image": "b", "ModelDataUrl": model_urls["echo"]}])
    deployer.models.append(pipeline)
    message = _refused(sm.create_endpoint_config, EndpointConfigName=unique("c"), ProductionVariants=[
        {**serverless, "ModelName": pipeline}])
    assert "has 2 containers: inference pipelines are not supported for serverless endpoints" in message
    config = deployer.config(model)
    sm.delete_model(ModelName=model)
    sm.create_model(ModelName=model, PrimaryContainer={
        "Image": "a", "ModelDataUrl": model_urls["linear"], "Mode": "MultiModel"})
    message = _refused(sm.create_endpoint, EndpointName=unique("ep"), EndpointConfigName=config)
    assert "multi-model endpoints are not supported for serverless endpoints" in message
    models, configs, endpoints = _names(sm)
    assert (configs - before[1], endpoints - before[2]) == ({config}, set())


def test_unknown_paths_are_answered_in_the_aws_shape(platform, runtime):
    import json
    import urllib.request

    request = urllib.request.Request(platform.url + "/endpoints/x/async-invocations", data=b"{}",
                                     method="POST")
    try:
        urllib.request.urlopen(request, timeout=10)
        raise AssertionError("expected an error")
    except urllib.error.HTTPError as exc:
        status, header, body = exc.code, exc.headers["x-amzn-ErrorType"], json.loads(exc.read())
    assert (status, header, body["__type"]) == (404, "UnknownOperationException", "UnknownOperationException")
    assert "InvokeEndpointAsync is not supported" in body["message"]
    # boto3 reads it as an error with that code.
    with pytest.raises(ClientError) as caught:
        runtime.invoke_endpoint_async(EndpointName="x", InputLocation="s3://b/k")
    assert caught.value.response["Error"]["Code"] == "UnknownOperationException"
