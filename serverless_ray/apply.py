"""Apply an endpoints file to a running platform through its SageMaker API.

The file declares endpoints; each becomes a model, an endpoint config and an endpoint,
created with the same calls a boto3 user would make (so the same validation applies).
An endpoint whose declaration changed gets a new config and an UpdateEndpoint.

.. code-block:: yaml

    endpoints:
      - name: example-echo
        model_data: example/model      # relative to the file, or s3:// / https:// / file://
        memory_size_mb: 1024
        max_concurrency: 4
        provisioned_concurrency: null  # optional warm floor
        environment: {}
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any, Callable

import boto3
import yaml
from botocore.config import Config
from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field


class EndpointDeclaration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Endpoint name; the model and config are named after it.")
    model_data: str = Field(description="ModelDataUrl, or a path relative to the file.")
    memory_size_mb: int = Field(2048, description="MemorySizeInMB: 1024-6144 in steps of 1024.")
    max_concurrency: int = Field(5, description="MaxConcurrency: 1-200.")
    provisioned_concurrency: int | None = Field(None, description="ProvisionedConcurrency (<= max_concurrency).")
    environment: dict[str, str] = Field(default_factory=dict, description="Environment of the model code.")
    image: str = Field("serverless-ray/sagemaker-inference", description="Image recorded on the model.")
    variant_name: str = "AllTraffic"


class EndpointsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpoints: list[EndpointDeclaration] = Field(default_factory=list)


def load(path: Path) -> EndpointsFile:
    data = yaml.safe_load(path.read_text()) or {}
    declared = EndpointsFile.model_validate(data)
    for endpoint in declared.endpoints:
        if "://" not in endpoint.model_data and not endpoint.model_data.startswith("/"):
            endpoint.model_data = str((path.parent / endpoint.model_data).resolve())
    return declared


def sagemaker_client(url: str, region: str = "us-east-1"):
    return boto3.client(
        "sagemaker",
        endpoint_url=url,
        region_name=region,
        aws_access_key_id="serverless-ray",
        aws_secret_access_key="serverless-ray",
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )


def apply_file(path: Path, url: str, *, wait: bool = True, echo: Callable[[str], None] = print) -> list[str]:
    """Create or update every endpoint in ``path``; return their names."""
    return apply_declarations(load(path).endpoints, url, wait=wait, echo=echo)


def apply_declarations(
    declarations: list[EndpointDeclaration], url: str, *, wait: bool = True, echo: Callable[[str], None] = print
) -> list[str]:
    """Create or update each declared endpoint through the SageMaker API at ``url``."""
    client = sagemaker_client(url)
    for endpoint in declarations:
        _apply_one(client, endpoint, echo)
    if wait:
        for endpoint in declarations:
            status = _wait_in_service(client, endpoint.name)
            echo(f"endpoint {endpoint.name}: {status}")
            if not status.startswith("InService"):
                raise RuntimeError(f"endpoint {endpoint.name} did not come into service: {status}")
    return [e.name for e in declarations]


def _apply_one(client, endpoint: EndpointDeclaration, echo: Callable[[str], None]) -> None:
    digest = hashlib.sha256(endpoint.model_dump_json().encode()).hexdigest()[:8]
    model_name = f"{endpoint.name}-{digest}"
    config_name = f"{endpoint.name}-{digest}"
    serverless: dict[str, Any] = {
        "MemorySizeInMB": endpoint.memory_size_mb,
        "MaxConcurrency": endpoint.max_concurrency,
    }
    if endpoint.provisioned_concurrency:
        serverless["ProvisionedConcurrency"] = endpoint.provisioned_concurrency
    _create_if_absent(client.create_model, ModelName=model_name, PrimaryContainer={
        "Image": endpoint.image, "ModelDataUrl": endpoint.model_data, "Environment": endpoint.environment,
    })
    _create_if_absent(client.create_endpoint_config, EndpointConfigName=config_name, ProductionVariants=[{
        "VariantName": endpoint.variant_name, "ModelName": model_name, "ServerlessConfig": serverless,
    }])
    try:
        current = client.describe_endpoint(EndpointName=endpoint.name)
    except ClientError:
        client.create_endpoint(EndpointName=endpoint.name, EndpointConfigName=config_name)
        echo(f"endpoint {endpoint.name}: creating ({json.dumps(serverless)})")
        return
    if current.get("EndpointConfigName") != config_name:
        client.update_endpoint(EndpointName=endpoint.name, EndpointConfigName=config_name)
        echo(f"endpoint {endpoint.name}: updating to {config_name}")
    else:
        echo(f"endpoint {endpoint.name}: unchanged")


def _create_if_absent(create, **kwargs) -> None:
    try:
        create(**kwargs)
    except ClientError as exc:
        if "already existing" not in str(exc):
            raise


def _wait_in_service(client, name: str, timeout_s: float = 300) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        described = client.describe_endpoint(EndpointName=name)
        status = described["EndpointStatus"]
        if status in ("InService", "Failed") or time.monotonic() > deadline:
            reason = described.get("FailureReason")
            return f"{status} ({reason})" if reason else status
        time.sleep(0.5)
