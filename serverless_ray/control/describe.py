"""Stored records → SageMaker response shapes."""

from __future__ import annotations

from typing import Any

from serverless_ray.store import Deployment, EndpointConfigRecord, EndpointRecord, ModelRecord


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


def endpoint(record: EndpointRecord) -> dict[str, Any]:
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
        body["ProductionVariants"] = [_variant_summary(record.current, desired)]
    if record.pending is not None:
        body["PendingDeploymentSummary"] = _pending_summary(record.pending, record.status)
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


def _serverless(deployment: Deployment) -> dict[str, Any]:
    config = deployment.variant.ServerlessConfig
    return config.model_dump(exclude_none=True) if config else {}


def _images(deployment: Deployment) -> list[dict[str, Any]]:
    images = []
    for container in deployment.model.containers:
        if container.Image:
            images.append({"SpecifiedImage": container.Image, "ResolutionTime": deployment.started})
    return images


def _variant_summary(current: Deployment, desired: Deployment) -> dict[str, Any]:
    weight = current.variant.InitialVariantWeight
    return {
        "VariantName": current.variant.VariantName,
        "DeployedImages": _images(current),
        "CurrentWeight": 1.0 if weight is None else weight,
        "DesiredWeight": 1.0 if weight is None else weight,
        "CurrentServerlessConfig": _serverless(current),
        "DesiredServerlessConfig": _serverless(desired),
    }


def _pending_summary(pending: Deployment, status: str) -> dict[str, Any]:
    variant_status = "Creating" if status == "Creating" else "Updating"
    return {
        "EndpointConfigName": pending.config_name,
        "StartTime": pending.started,
        "ProductionVariants": [
            {
                "VariantName": pending.variant.VariantName,
                "DeployedImages": _images(pending),
                "DesiredServerlessConfig": _serverless(pending),
                "VariantStatus": [{"Status": variant_status, "StartTime": pending.started}],
            }
        ],
    }
