"""Endpoints declared in files (an endpoints file, or a Serve config's ``args``) and
applied to a running platform through its own API."""

from __future__ import annotations

from pathlib import Path

from serverless_ray.declarative.clients import PlatformAccess, in_cluster_access
from serverless_ray.declarative.endpoints import ApplyError, Echo, apply_declarations
from serverless_ray.declarative.plan import OWNER_TAG, NotOwnedError
from serverless_ray.declarative.schema import EndpointDeclaration, EndpointsFile, ServeAppArgs, load

__all__ = [
    "OWNER_TAG",
    "ApplyError",
    "PlatformAccess",
    "in_cluster_access",
    "EndpointDeclaration",
    "EndpointsFile",
    "NotOwnedError",
    "ServeAppArgs",
    "apply_declarations",
    "apply_file",
    "load",
]


def apply_file(path: Path, url: str, *, wait: bool = True, echo: Echo = print,
               owner: str | None = None, prune: bool = False, access: PlatformAccess | None = None) -> list[str]:
    """Create or update every endpoint declared in ``path`` on the platform at ``url``
    (signed with ``access``, by default boto3's standard credential chain)."""
    return apply_declarations(load(path).endpoints, url, wait=wait, echo=echo, owner=owner, prune=prune,
                              access=access)
