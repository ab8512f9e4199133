"""boto3 clients of a running platform: declared endpoints go through the same API as
every other client, so the same validation, errors and authentication apply."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from urllib.parse import urlsplit

import boto3
from botocore.config import Config

from serverless_ray.settings import DEFAULT_REGION, PlatformSettings

# What a platform without credentials accepts (it checks no signature).
ANONYMOUS_KEY = "serverless-ray"


@dataclass(frozen=True)
class PlatformAccess:
    """How a client signs its calls to the platform."""

    access_key_id: str
    secret_access_key: str
    region: str = DEFAULT_REGION
    verify_tls: bool = True

    def __repr__(self) -> str:  # never the secret
        return f"PlatformAccess(access_key_id={self.access_key_id!r}, region={self.region!r})"


def standard_access() -> PlatformAccess | None:
    """None: boto3's standard credential chain (environment, profile, ...) and region,
    as any boto3 client would use; anonymous placeholder keys if the chain finds none."""
    session = boto3.Session()
    if session.get_credentials() is None:
        return PlatformAccess(ANONYMOUS_KEY, ANONYMOUS_KEY, session.region_name or DEFAULT_REGION)
    return None


def in_cluster_access(settings: PlatformSettings) -> PlatformAccess:
    """How in-cluster callers (Python handles' ``run``, the Serve keeper, ``up --apply``)
    call their own platform: with its internal key when it has credentials."""
    internal = settings.internal_principal
    if internal is None:
        return PlatformAccess(ANONYMOUS_KEY, ANONYMOUS_KEY, settings.region)
    # The gateway's certificate names the cluster's public name, not the node address
    # these callers use; the request is signed and the secret never crosses the wire.
    return PlatformAccess(internal.access_key_id, internal.secret(), settings.region, verify_tls=False)


def platform_client(service: str, url: str, access: PlatformAccess | None = None, *, max_pool_connections: int = 10):
    """A ``sagemaker``, ``sagemaker-runtime``, ``application-autoscaling``, ``cloudwatch`` or ``logs``
    client of the platform at ``url`` (retries off: what the platform answers is what the caller
    sees); ``access`` None signs with boto3's standard credential chain."""
    keys = {}
    region = None
    if access is not None:
        keys = {"aws_access_key_id": access.access_key_id, "aws_secret_access_key": access.secret_access_key}
        region = access.region
        if not access.verify_tls:
            host = urlsplit(url).hostname or ""
            warnings.filterwarnings("ignore", message=f"Unverified HTTPS request is being made to host '{re.escape(host)}'")
    session = boto3.Session()
    return session.client(
        service,
        endpoint_url=url,
        region_name=region or session.region_name or DEFAULT_REGION,
        verify=None if access is None or access.verify_tls else False,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=90,
                      max_pool_connections=max_pool_connections),
        **keys,
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
