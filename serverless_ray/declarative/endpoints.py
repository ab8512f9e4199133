"""Apply declared endpoints to a running platform through its SageMaker API.

Each declaration becomes a model, an endpoint config and an endpoint, created with the
calls a boto3 user would make. A changed declaration gets a new model and config
(named after their content) and an UpdateEndpoint. See :mod:`.plan` for ownership and
pruning, :mod:`.scaling` for the provisioned-concurrency schedules.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from botocore.exceptions import ClientError

from serverless_ray.declarative.clients import PlatformAccess, pages, platform_client, standard_access
from serverless_ray.declarative.plan import (
    OWNER_TAG,
    ExistingEndpoint,
    config_name_for,
    model_name_for,
    plan_endpoints,
)
from serverless_ray.declarative.scaling import apply_scaling, deregister_endpoint
from serverless_ray.declarative.schema import EndpointDeclaration

Echo = Callable[[str], None]
SETTLED = ("InService", "Failed", "OutOfService")
WAIT_TIMEOUT_S = 300.0


class ApplyError(RuntimeError):
    """Some declared endpoints did not come into service; the message says why for each."""


def apply_declarations(
    declarations: list[EndpointDeclaration],
    url: str,
    *,
    wait: bool = True,
    echo: Echo = print,
    owner: str | None = None,
    prune: bool = False,
    access: PlatformAccess | None = None,
) -> list[str]:
    """Create, update (and with ``owner`` and ``prune``, delete) endpoints so that the
    platform at ``url`` runs ``declarations``; return the declared names. Calls are
    signed with ``access``, by default boto3's standard credential chain."""
    access = access or standard_access()
    sm = platform_client("sagemaker", url, access)
    aas = platform_client("application-autoscaling", url, access)
    existing = _settled_endpoints(sm, with_owner=owner is not None)
    plan = plan_endpoints(declarations, existing, owner=owner, prune=prune)
    tags = [{"Key": OWNER_TAG, "Value": owner}] if owner else []

    for name in plan.delete:
        deregister_endpoint(aas, name)
        sm.delete_endpoint(EndpointName=name)
        echo(f"endpoint {name}: deleting (no longer declared)")
    for endpoint in plan.create + plan.update + plan.recreate:
        _create_model_and_config(sm, endpoint, tags)
    for endpoint in plan.create:
        sm.create_endpoint(EndpointName=endpoint.name, EndpointConfigName=config_name_for(endpoint), Tags=tags)
        echo(f"endpoint {endpoint.name}: creating")
    for endpoint in plan.update:
        sm.update_endpoint(EndpointName=endpoint.name, EndpointConfigName=config_name_for(endpoint))
        echo(f"endpoint {endpoint.name}: updating to {config_name_for(endpoint)}")
    for endpoint in plan.recreate:
        sm.delete_endpoint(EndpointName=endpoint.name)
        _wait_gone(sm, endpoint.name)
        sm.create_endpoint(EndpointName=endpoint.name, EndpointConfigName=config_name_for(endpoint), Tags=tags)
        echo(f"endpoint {endpoint.name}: failed before; created again")
    for endpoint in plan.unchanged:
        echo(f"endpoint {endpoint.name}: unchanged")
    if not wait:
        return [e.name for e in declarations]

    failures = []
    for endpoint in declarations:
        status = _wait_settled(sm, endpoint.name)
        echo(f"endpoint {endpoint.name}: {status}")
        if not status.startswith("InService"):
            failures.append(f"endpoint {endpoint.name} did not come into service: {status}")
    if failures:
        raise ApplyError("; ".join(failures))
    for endpoint in declarations:
        if endpoint.autoscaling is not None or owner is not None:
            for change in apply_scaling(aas, endpoint):
                echo(f"endpoint {endpoint.name}: {change}")
    for name in plan.delete:
        _wait_gone(sm, name)
    if owner is not None and prune:
        _delete_unused_owned_configs(sm, owner, echo)
    return [e.name for e in declarations]


def _create_model_and_config(sm, endpoint: EndpointDeclaration, tags: list[dict[str, str]]) -> None:
    model = model_name_for(endpoint)
    serverless: dict[str, Any] = {"MemorySizeInMB": endpoint.memory_size_mb, "MaxConcurrency": endpoint.max_concurrency}
    if endpoint.provisioned_concurrency:
        serverless["ProvisionedConcurrency"] = endpoint.provisioned_concurrency
    _create_if_absent(sm.create_model, ModelName=model, Tags=tags, PrimaryContainer={
        "Image": endpoint.image, "ModelDataUrl": endpoint.model_data, "Environment": endpoint.environment,
    })
    variant = {"VariantName": endpoint.variant_name, "ModelName": model, "ServerlessConfig": serverless}
    _create_if_absent(sm.create_endpoint_config, EndpointConfigName=config_name_for(endpoint), Tags=tags,
                      ProductionVariants=[variant])


def _create_if_absent(create, **kwargs) -> None:
    try:
        create(**kwargs)
    except ClientError as exc:
        if "already existing" not in str(exc):
            raise


def _owner_of(sm, arn: str) -> str | None:
    tags = pages(sm.list_tags, "Tags", ResourceArn=arn)
    return next((t["Value"] for t in tags if t["Key"] == OWNER_TAG), None)


def _settled_endpoints(sm, *, with_owner: bool) -> dict[str, ExistingEndpoint]:
    """Every endpoint, once none is mid-change (an earlier apply may still be running)."""
    endpoints: dict[str, ExistingEndpoint] = {}
    for summary in pages(sm.list_endpoints, "Endpoints", MaxResults=100):
        name = summary["EndpointName"]
        status = summary["EndpointStatus"]
        if status not in SETTLED:
            status = _wait_settled(sm, name).split(" ", 1)[0]
            if status == "gone":
                continue
        described = sm.describe_endpoint(EndpointName=name)
        owner = _owner_of(sm, described["EndpointArn"]) if with_owner else None
        endpoints[name.lower()] = ExistingEndpoint(name, status, described["EndpointConfigName"], owner)
    return endpoints


def _wait_settled(sm, name: str, timeout_s: float = WAIT_TIMEOUT_S) -> str:
    """The endpoint's status once it stops changing ("gone" if it was deleted)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            described = sm.describe_endpoint(EndpointName=name)
        except ClientError:
            return "gone"
        status = described["EndpointStatus"]
        if status in SETTLED or time.monotonic() > deadline:
            reason = described.get("FailureReason")
            return f"{status} ({reason})" if reason else status
        time.sleep(0.5)


def _wait_gone(sm, name: str, timeout_s: float = WAIT_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while _wait_settled(sm, name, timeout_s=0) != "gone" and time.monotonic() < deadline:
        time.sleep(0.5)


def _delete_unused_owned_configs(sm, owner: str, echo: Echo) -> None:
    """Delete the endpoint configs and models that ``owner`` made and nothing uses any
    more, e.g. those of a removed endpoint or of the previous version of an updated one."""
    in_use = {sm.describe_endpoint(EndpointName=e["EndpointName"])["EndpointConfigName"]
              for e in pages(sm.list_endpoints, "Endpoints", MaxResults=100)}
    models_in_use: set[str] = set()
    for config in pages(sm.list_endpoint_configs, "EndpointConfigs", MaxResults=100):
        name = config["EndpointConfigName"]
        if name in in_use or _owner_of(sm, config["EndpointConfigArn"]) != owner:
            described = sm.describe_endpoint_config(EndpointConfigName=name)
            models_in_use.update(v["ModelName"] for v in described["ProductionVariants"])
            continue
        sm.delete_endpoint_config(EndpointConfigName=name)
        echo(f"removed unused endpoint config {name}")
    for model in pages(sm.list_models, "Models", MaxResults=100):
        if model["ModelName"] not in models_in_use and _owner_of(sm, model["ModelArn"]) == owner:
            sm.delete_model(ModelName=model["ModelName"])
            echo(f"removed unused model {model['ModelName']}")
