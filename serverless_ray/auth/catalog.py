"""The platform's APIs as IAM sees them: each operation's action and resource.

As AWS's service authorization reference has them: an operation's action is
``<service prefix>:<Operation>`` and its resource is the ARN of the resource it names
(the endpoint's for ``InvokeEndpoint`` and ``CreateEndpoint``, the model's for
``CreateModel``, the given ``ResourceArn`` for tagging); operations that take no resource
(``List*``, and every Application Auto Scaling operation, whose scalable-target ARNs
clients cannot know) are authorized on ``*``. CloudWatch's metric actions take no
resource (``*``) in any of its three protocols; a CloudWatch Logs action naming a
``logGroupName`` is authorized on that group's ARN (``...:log-group:<name>:*``). The
platform's own operations (``ServerlessRay.*``: cost and usage, capacity) are actions of
their own prefix, ``serverless-ray:<Operation>``, on the endpoint they name (else ``*``),
signed as SageMaker's.
"""

from __future__ import annotations

from serverless_ray.auth.operations import (
    AwsJsonService,
    OperationRegistry,
    PathOperation,
    QueryService,
    ResourceOf,
    RpcV2Service,
    arn_member,
    named,
)
from serverless_ray.spec.services import APPLICATION_AUTOSCALING, CLOUDWATCH, LOGS, SAGEMAKER, SERVERLESS_RAY


def _model_package(payload, arns) -> str:
    # A versioned package is created in a group and numbered on creation: "<group>/*".
    if payload.get("ModelPackageName") or not isinstance(payload.get("ModelPackageGroupName"), str):
        return arns.sagemaker("model-package", payload.get("ModelPackageName"))
    return arns.sagemaker("model-package", payload["ModelPackageGroupName"]) + "/*"


def _by_kind(kind: str, member: str, *operations: str) -> dict[str, ResourceOf]:
    return {operation: named(kind, member) for operation in operations}


SAGEMAKER_RESOURCES: dict[str, ResourceOf] = {
    **_by_kind("model", "ModelName", "CreateModel", "DescribeModel", "DeleteModel"),
    **_by_kind("endpoint-config", "EndpointConfigName",
               "CreateEndpointConfig", "DescribeEndpointConfig", "DeleteEndpointConfig"),
    **_by_kind("endpoint", "EndpointName", "CreateEndpoint", "DescribeEndpoint", "UpdateEndpoint",
               "DeleteEndpoint", "UpdateEndpointWeightsAndCapacities"),
    **_by_kind("model-package-group", "ModelPackageGroupName",
               "CreateModelPackageGroup", "DescribeModelPackageGroup", "DeleteModelPackageGroup"),
    **_by_kind("model-package", "ModelPackageName", "DescribeModelPackage", "UpdateModelPackage",
               "DeleteModelPackage"),
    "CreateModelPackage": _model_package,
    **{operation: arn_member("ResourceArn") for operation in ("AddTags", "DeleteTags", "ListTags")},
}


def _log_group(payload, arns) -> str:
    return arns.log_group(payload.get("logGroupName"))


LOGS_RESOURCES: dict[str, ResourceOf] = {
    operation: _log_group for operation in (
        "CreateLogGroup", "DeleteLogGroup", "CreateLogStream", "DeleteLogStream", "DescribeLogStreams",
        "GetLogEvents", "FilterLogEvents", "PutLogEvents", "PutRetentionPolicy", "DeleteRetentionPolicy",
    )
}


PLATFORM_RESOURCES: dict[str, ResourceOf] = _by_kind(
    "endpoint", "EndpointName", "GetCostAndUsage", "ReleaseWarmCapacity")


def _endpoint(params, arns) -> str:
    return arns.sagemaker("endpoint", params["name"])


def platform_operations() -> OperationRegistry:
    """Every API the gateway serves today."""
    # The recognizers' requests are disjoint (by path, method and target), so their order
    # only says who is asked first: the runtime's, since invocations are the busy path.
    return OperationRegistry([
        # The runtime signs as "sagemaker" (sagemaker-runtime's signingName).
        PathOperation("/endpoints/{name}/invocations", "POST", "sagemaker", "sagemaker:InvokeEndpoint", _endpoint),
        # AWS authorizes the streaming variant with the InvokeEndpoint action.
        PathOperation("/endpoints/{name}/invocations-response-stream", "POST", "sagemaker",
                      "sagemaker:InvokeEndpoint", _endpoint),
        PathOperation("/endpoints/{name}/async-invocations", "POST", "sagemaker",
                      "sagemaker:InvokeEndpointAsync", _endpoint),
        AwsJsonService(SAGEMAKER, "sagemaker", "sagemaker", SAGEMAKER_RESOURCES),
        AwsJsonService(APPLICATION_AUTOSCALING, "application-autoscaling", "application-autoscaling"),
        AwsJsonService(LOGS, "logs", "logs", LOGS_RESOURCES),
        # CloudWatch signs as "monitoring"; its IAM prefix is "cloudwatch".
        AwsJsonService(CLOUDWATCH, "monitoring", "cloudwatch"),
        QueryService("2010-08-01", "monitoring", "cloudwatch"),
        RpcV2Service(CLOUDWATCH, "monitoring", "cloudwatch"),
        AwsJsonService(SERVERLESS_RAY, "sagemaker", "serverless-ray", PLATFORM_RESOURCES),
    ])
