"""boto3 clients of a running platform: declared endpoints go through the same API as
every other client, so the same validation and errors apply."""

from __future__ import annotations

import boto3
from botocore.config import Config


def platform_client(service: str, url: str, region: str = "us-east-1", *, max_pool_connections: int = 10):
    """A ``sagemaker``, ``sagemaker-runtime`` or ``application-autoscaling`` client of the
    platform at ``url`` (retries off: what the platform answers is what the caller sees)."""
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=region,
        aws_access_key_id="serverless-ray",
        aws_secret_access_key="serverless-ray",
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=90,
                      max_pool_connections=max_pool_connections),
    )


def pages(call, key: str, **kwargs) -> list[dict]:
    """Every item under ``key`` of a paginated List/Describe call."""
    items: list[dict] = []
    while True:
        page = call(**kwargs)
        items.extend(page[key])
        if not page.get("NextToken"):
            return items
        kwargs["NextToken"] = page["NextToken"]
