"""Every feature AWS documents as unavailable on serverless endpoints is refused with a
ValidationException that names it, and nothing is created."""

import pytest

from plane_harness import ARN, Harness, instance_variant, serverless_variant

NOT_SUPPORTED = "not supported for serverless endpoints"


@pytest.fixture
def h(tmp_path):
    harness = Harness(tmp_path)
    harness.model("m")
    return harness


# --- features of the endpoint config --------------------------------------------------


@pytest.mark.parametrize("extra, feature", [
    ({"ShadowProductionVariants": [{"VariantName": "shadow", "ModelName": "m", "InstanceType": "ml.m5.large",
                                    "InitialInstanceCount": 1}]}, "Shadow variants (ShadowProductionVariants)"),
    ({"DataCaptureConfig": {"EnableCapture": True, "InitialSamplingPercentage": 100,
                            "DestinationS3Uri": "s3://b/capture", "CaptureOptions": [{"CaptureMode": "Input"}]}},
     "Data capture (DataCaptureConfig)"),
    ({"AsyncInferenceConfig": {"OutputConfig": {"S3OutputPath": "s3://b/out"}}},
     "Asynchronous inference (AsyncInferenceConfig)"),
    ({"VpcConfig": {"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-1"]}}, "VPC configuration (VpcConfig)"),
    ({"EnableNetworkIsolation": True}, "Network isolation (EnableNetworkIsolation)"),
])
def test_config_features_are_refused(h, extra, feature):
    message = h.refused("CreateEndpointConfig", {
        "EndpointConfigName": "c", "ProductionVariants": [serverless_variant("m")], **extra})
    assert f"{feature} is {NOT_SUPPORTED}." in message
    assert h.names()[1] == set()


def test_more_than_one_variant_is_refused(h):
    message = h.refused("CreateEndpointConfig", {"EndpointConfigName": "c", "ProductionVariants": [
        serverless_variant("m", name="a"), serverless_variant("m", name="b")]})
    assert "Multiple production variants are not supported for serverless endpoints" in message


def test_serverless_variant_beside_an_instance_variant_is_refused(h):
    message = h.refused("CreateEndpointConfig", {"EndpointConfigName": "c", "ProductionVariants": [
        serverless_variant("m", name="a"), instance_variant("m", "b")]})
    assert "exactly one production variant; received 2" in message


@pytest.mark.parametrize("instance_type", ["ml.g4dn.xlarge", "ml.g5.2xlarge", "ml.p3.2xlarge"])
def test_gpu_instance_types_are_refused(h, instance_type):
    message = h.refused("CreateEndpointConfig", {"EndpointConfigName": "c", "ProductionVariants": [
        serverless_variant("m", InstanceType=instance_type)]})
    assert f"GPU instance type '{instance_type}'" in message and f"GPU instance types are {NOT_SUPPORTED}" in message


def test_gpu_accelerators_are_refused(h):
    message = h.refused("CreateEndpointConfig", {"EndpointConfigName": "c", "ProductionVariants": [
        serverless_variant("m", AcceleratorType="ml.eia2.medium")]})
    assert f"GPU accelerators (AcceleratorType) are {NOT_SUPPORTED}" in message


# --- features of the model, checked when a serverless variant names it ---------------


MODEL_FEATURES = [
    ({"Containers": [{"Image": "a", "ModelDataUrl": "s3://b/a.tar.gz"},
                     {"Image": "b", "ModelDataUrl": "s3://b/b.tar.gz"}]}, "inference pipelines"),
    ({"PrimaryContainer": {"Image": "a", "ModelDataUrl": "s3://b/", "Mode": "MultiModel"}}, "multi-model endpoints"),
    ({"PrimaryContainer": {"Image": "registry.internal/a:1", "ModelDataUrl": "s3://b/a.tar.gz",
                           "ImageConfig": {"RepositoryAccessMode": "Vpc"}}}, "private Docker registries"),
    ({"PrimaryContainer": {"Image": "a", "ModelDataUrl": "s3://b/a.tar.gz"},
      "VpcConfig": {"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-1"]}}, "VPC configuration"),
    ({"PrimaryContainer": {"Image": "a", "ModelDataUrl": "s3://b/a.tar.gz"}, "EnableNetworkIsolation": True},
     "network isolation"),
    ({"PrimaryContainer": {"ModelPackageName":
                           "arn:aws:sagemaker:us-east-1:865070037744:model-package/vendor-model-1-abc"}},
     "AWS Marketplace model packages"),
]


@pytest.mark.parametrize("model, feature", MODEL_FEATURES)
def test_model_features_are_refused_at_create_endpoint_config(h, model, feature):
    h.call("CreateModel", {"ModelName": "special", **model})
    message = h.refused("CreateEndpointConfig", {"EndpointConfigName": "c", "ProductionVariants": [
        serverless_variant("special")]})
    assert f"{feature} are {NOT_SUPPORTED}" in message or f"{feature} is {NOT_SUPPORTED}" in message
    assert "Model 'special' (variant 'AllTraffic')" in message
    assert h.names()[1] == set()


@pytest.mark.parametrize("model, feature", MODEL_FEATURES[:5])
def test_model_replaced_after_the_config_is_refused_at_create_endpoint(h, model, feature):
    h.model("swap")
    h.serverless_config("c", "swap")
    h.call("DeleteModel", {"ModelName": "swap"})
    h.call("CreateModel", {"ModelName": "swap", **model})
    message = h.refused("CreateEndpoint", {"EndpointName": "e", "EndpointConfigName": "c"})
    assert feature in message and NOT_SUPPORTED in message
    assert h.names()[2] == set() and h.rollout.started == []


def test_same_model_features_are_accepted_for_instance_based_variants_where_the_platform_can(h):
    h.call("CreateModel", {"ModelName": "vpc", "PrimaryContainer": {"Image": "a", "ModelDataUrl": "s3://b/a.tar.gz"},
                           "VpcConfig": {"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-1"]}})
    h.instance_config("c", instance_variant("vpc", "a"))
    h.endpoint("e", "c")
    assert h.rollout.started == ["e"]


@pytest.mark.parametrize("model, reason", [
    ({"Containers": [{"Image": "a", "ModelDataUrl": "s3://b/a.tar.gz"},
                     {"Image": "b", "ModelDataUrl": "s3://b/b.tar.gz"}]}, "inference pipelines are not supported by this platform"),
    ({"PrimaryContainer": {"Image": "a", "ModelDataUrl": "s3://b/", "Mode": "MultiModel"}},
     "multi-model endpoints are not supported by this platform"),
    ({"PrimaryContainer": {"Image": "a", "ModelDataUrl": "s3://b/a.tar.gz"}, "EnableNetworkIsolation": True},
     "network isolation is not supported by this platform"),
    ({"PrimaryContainer": {"ModelPackageName": "arn:aws:sagemaker:us-east-1:865070037744:model-package/x-1"}},
     "this platform hosts only packages of its own registry"),
])
def test_instance_based_endpoints_refuse_what_the_platform_cannot_run(h, model, reason):
    h.call("CreateModel", {"ModelName": "special", **model})
    h.instance_config("c", instance_variant("special", "a"))
    assert reason in h.refused("CreateEndpoint", {"EndpointName": "e", "EndpointConfigName": "c"})
    assert h.names()[2] == set()


@pytest.mark.parametrize("extra, feature", [
    ({"DataCaptureConfig": {"EnableCapture": True}}, "Data capture (DataCaptureConfig)"),
    ({"AsyncInferenceConfig": {"OutputConfig": {"S3OutputPath": "s3://b/out"}}},
     "Asynchronous inference (AsyncInferenceConfig)"),
    ({"ShadowProductionVariants": [{"VariantName": "s"}]}, "Shadow variants (ShadowProductionVariants)"),
    ({"EnableNetworkIsolation": True}, "Network isolation (EnableNetworkIsolation)"),
])
def test_instance_based_configs_refuse_what_the_platform_does_not_offer(h, extra, feature):
    message = h.refused("CreateEndpointConfig", {
        "EndpointConfigName": "c", "ProductionVariants": [instance_variant("m", "a")], **extra})
    assert f"{feature} is not supported by this platform" in message


def test_own_model_package_arn_is_not_mistaken_for_marketplace(h):
    h.call("CreateModelPackage", {"ModelPackageName": "mine", "InferenceSpecification": {
        "Containers": [{"Image": "a", "ModelDataUrl": "s3://b/a.tar.gz"}]}})
    h.call("CreateModel", {"ModelName": "from-pkg", "PrimaryContainer": {
        "ModelPackageName": f"{ARN}:model-package/mine"}})
    h.serverless_config("c", "from-pkg")
    h.endpoint("e", "c")
    assert h.rollout.started == ["e"]
