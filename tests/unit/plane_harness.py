"""A ControlPlane (and Application Auto Scaling) over a real SQLite store, without Ray:
the rollout only records which endpoints it was asked to move, and ``finish`` plays a
successful rollout."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from serverless_ray.autoscaling.capacity import EndpointCapacity
from serverless_ray.autoscaling.floor import FloorWatch
from serverless_ray.autoscaling.records import ScalingTables
from serverless_ray.autoscaling.service import ScalingService
from serverless_ray.control.plane import ControlPlane
from serverless_ray.errors import ServiceError, ValidationException
from serverless_ray.settings import PlatformSettings
from serverless_ray.spec.endpoint import EndpointStatus
from serverless_ray.store import Store

ACCOUNT = "123456789012"
ARN = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}"


class RecordingRollout:
    def __init__(self) -> None:
        self.started: list[str] = []

    def start(self, endpoint: str) -> None:
        self.started.append(endpoint)


async def _no_reaction(*_args) -> None:
    """Scaling targets change without a provisioned scaler to act on them."""


class Harness:
    def __init__(self, tmp_path) -> None:
        self.store = Store(tmp_path / "state.sqlite3")
        self.rollout = RecordingRollout()
        settings = PlatformSettings(state_dir=tmp_path, artifact_cache_dir=tmp_path / "cache")
        self.floors = FloorWatch()
        self.plane = ControlPlane(settings, self.store, self.rollout, floors=self.floors)  # type: ignore[arg-type]
        capacity = EndpointCapacity(self.store, self.plane.set_provisioned_concurrency)
        self.scaling = ScalingService(region=settings.region, account_id=settings.account_id,
                                      tables=ScalingTables(self.store), capacity=capacity,
                                      on_target_change=_no_reaction)

    def call(self, operation: str, payload: Any = None) -> dict[str, Any]:
        return asyncio.run(self.plane.call(operation, {} if payload is None else payload))

    def refused(self, operation: str, payload: Any, error: type[ServiceError] = ValidationException) -> str:
        with pytest.raises(error) as caught:
            self.call(operation, payload)
        return caught.value.message or ""

    def finish(self, endpoint: str) -> None:
        """What a successful rollout does: the pending deployment becomes current."""
        record = self.store.endpoints.get(endpoint)
        assert record is not None and record.pending is not None
        self.store.endpoints.put(endpoint, record.model_copy(update={
            "current": record.pending, "pending": None, "status": EndpointStatus.IN_SERVICE}))

    # --- requests ----------------------------------------------------------------------

    def model(self, name: str, **container) -> str:
        self.call("CreateModel", {"ModelName": name, "PrimaryContainer": {
            "Image": "sagemaker-inference:test", "ModelDataUrl": "s3://models/m.tar.gz", **container}})
        return name

    def serverless_config(self, name: str, model: str, **extra) -> str:
        self.call("CreateEndpointConfig", {"EndpointConfigName": name, "ProductionVariants": [
            serverless_variant(model)], **extra})
        return name

    def instance_config(self, name: str, *variants: dict, **extra) -> str:
        self.call("CreateEndpointConfig", {"EndpointConfigName": name, "ProductionVariants": list(variants), **extra})
        return name

    def endpoint(self, name: str, config: str, **extra) -> str:
        self.call("CreateEndpoint", {"EndpointName": name, "EndpointConfigName": config, **extra})
        return name

    def names(self) -> tuple[set[str], set[str], set[str]]:
        return (
            {r.name for r in self.store.models.all()},
            {r.name for r in self.store.endpoint_configs.all()},
            {r.name for r in self.store.endpoints.all()},
        )


def serverless_variant(model: str, name: str = "AllTraffic", memory: int = 2048, max_concurrency: int = 5,
                       **extra) -> dict:
    return {"VariantName": name, "ModelName": model,
            "ServerlessConfig": {"MemorySizeInMB": memory, "MaxConcurrency": max_concurrency}, **extra}


def instance_variant(model: str, name: str, instance_type: str = "ml.t2.medium", count: int = 1,
                     weight: float | None = None) -> dict:
    variant = {"VariantName": name, "ModelName": model, "InstanceType": instance_type, "InitialInstanceCount": count}
    if weight is not None:
        variant["InitialVariantWeight"] = weight
    return variant
