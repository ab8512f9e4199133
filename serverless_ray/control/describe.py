"""Stored records → SageMaker response shapes."""

from __future__ import annotations

from typing import Any, Callable

from serverless_ray.autoscaling.floor import Shortfall
from serverless_ray.spec import ProductionVariant
from serverless_ray.spec.endpoint import EndpointStatus
from serverless_ray.store import Deployment, EndpointConfigRecord, EndpointRecord, ModelRecord


ShortfallFn = Callable[[str, str], "Shortfall | None"]


def _dump(model: Any, *, exclude: set[str] = frozenset()) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude_none=True, exclude=set(exclude))


def model(record: ModelRecord) -> dict[str, Any]:
    body = _dump(record.spec, exclude={"Tags"})
    body.update(ModelArn=record.arn, CreationTime=record.created)
    for container in [body.get("PrimaryContainer"), *body.get("Containers", [])]:
        if container is not None and not container.get("Environment"):
            container.pop("Environment", None)
    return body


def model_summary(record: ModelRecord) -> dict[str, Any]:
    return {"ModelName": record.name, "ModelArn": record.arn, "CreationTime": record.created}


def endpoint_config(record: EndpointConfigRecord) -> dict[str, Any]:
    body = _dump(record.spec, exclude={"Tags"})
    body.update(EndpointConfigArn=record.arn, CreationTime=record.created)
    return body


def endpoint_config_summary(record: EndpointConfigRecord) -> dict[str, Any]:
    return {
        "EndpointConfigName": record.name,
        "EndpointConfigArn": record.arn,
        "CreationTime": record.created,
    }


def endpoint(record: EndpointRecord, shortfall: ShortfallFn = lambda endpoint, variant: None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "EndpointName": record.name,
        "EndpointArn": record.arn,
        "EndpointStatus": record.status,
        "CreationTime": record.created,
        "LastModifiedTime": record.modified,
    }
    shown = record.current or record.pending
    if shown is not None:
        body["EndpointConfigName"] = shown.config_name
    if record.current is not None:
        desired = record.pending or record.current
        body["ProductionVariants"] = [
            _variant_summary(record.current, variant, desired.find(variant.VariantName))
            for variant in record.current.variants
        ]
        if record.status == EndpointStatus.IN_SERVICE:
            for summary in body["ProductionVariants"]:
                short = shortfall(record.name, summary["VariantName"])
                if short is not None:
                    # The variant serves, but below its provisioned floor (a lost node, a
                    # replica that died): say so the way SageMaker reports variant work.
                    summary["VariantStatus"] = [
                        {"Status": "Updating", "StatusMessage": short.message()[:1024], "StartTime": short.since}
                    ]
    if record.pending is not None:
        body["PendingDeploymentSummary"] = _pending_summary(record.pending, record.current, record.status)
    if record.failure_reason:
        body["FailureReason"] = record.failure_reason[:1024]
    return body


def endpoint_summary(record: EndpointRecord) -> dict[str, Any]:
    return {
        "EndpointName": record.name,
        "EndpointArn": record.arn,
        "CreationTime": record.created,
        "LastModifiedTime": record.modified,
        "EndpointStatus": record.status,
    }


def _serverless(variant: ProductionVariant | None) -> dict[str, Any]:
    config = variant.ServerlessConfig if variant is not None else None
    return config.model_dump(exclude_none=True) if config else {}


def _images(deployment: Deployment, variant_name: str) -> list[dict[str, Any]]:
    images = []
    for container in deployment.model_for(variant_name).containers:
        if container.Image:
            images.append({"SpecifiedImage": container.Image, "ResolutionTime": deployment.started})
    return images


def _variant_summary(
    current: Deployment, variant: ProductionVariant, desired: ProductionVariant | None
) -> dict[str, Any]:
    """``ProductionVariantSummary``: serverless variants show their serverless configs,
    instance-based ones their instance counts (AWS shows no counts for serverless)."""
    target = desired or variant
    summary: dict[str, Any] = {
        "VariantName": variant.VariantName,
        "DeployedImages": _images(current, variant.VariantName),
        "CurrentWeight": variant.weight,
        "DesiredWeight": target.weight,
    }
    if variant.is_serverless:
        summary["CurrentServerlessConfig"] = _serverless(variant)
        summary["DesiredServerlessConfig"] = _serverless(target)
    else:
        summary["CurrentInstanceCount"] = variant.InitialInstanceCount
        summary["DesiredInstanceCount"] = target.InitialInstanceCount
        summary["InstancePools"] = [
            {"InstanceType": variant.InstanceType, "CurrentInstanceCount": variant.InitialInstanceCount}
        ]
    return summary


def _pending_summary(pending: Deployment, current: Deployment | None, status: EndpointStatus) -> dict[str, Any]:
    variant_status = "Creating" if status == EndpointStatus.CREATING else "Updating"
    variants = []
    for variant in pending.variants:
        before = current.find(variant.VariantName) if current is not None else None
        summary: dict[str, Any] = {
            "VariantName": variant.VariantName,
            "DeployedImages": _images(pending, variant.VariantName),
            "DesiredWeight": variant.weight,
            "VariantStatus": [{"Status": variant_status, "StartTime": pending.started}],
        }
        if before is not None:
            summary["CurrentWeight"] = before.weight
        if variant.is_serverless:
            summary["DesiredServerlessConfig"] = _serverless(variant)
            if before is not None and before.is_serverless:
                summary["CurrentServerlessConfig"] = _serverless(before)
        else:
            summary["InstanceType"] = variant.InstanceType
            summary["DesiredInstanceCount"] = variant.InitialInstanceCount
            if before is not None and before.InitialInstanceCount is not None:
                summary["CurrentInstanceCount"] = before.InitialInstanceCount
        variants.append(summary)
    return {"EndpointConfigName": pending.config_name, "StartTime": pending.started, "ProductionVariants": variants}
