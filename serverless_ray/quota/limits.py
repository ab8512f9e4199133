"""Documented serverless limits and the wording of quota errors."""

from __future__ import annotations

from serverless_ray.errors import ResourceLimitExceeded, ThrottlingException

# Account-wide concurrency of all serverless endpoints, by region (AWS documentation).
REGION_POOLS: dict[str, int] = {
    **{r: 1000 for r in (
        "us-east-1", "us-east-2", "us-west-2", "ap-southeast-1", "ap-southeast-2", "ap-northeast-1",
        "eu-central-1", "eu-west-1",
    )},
    **{r: 500 for r in (
        "us-west-1", "af-south-1", "ap-east-1", "ap-south-1", "ap-northeast-3", "ap-northeast-2",
        "ca-central-1", "eu-west-2", "eu-south-1", "eu-west-3", "eu-north-1", "me-south-1", "sa-east-1",
    )},
}
DEFAULT_MAX_ENDPOINTS = 50


def default_pool(region: str) -> int:
    """The documented pool of ``region``; regions without serverless inference have none."""
    try:
        return REGION_POOLS[region]
    except KeyError:
        raise ValueError(
            f"Region '{region}' does not offer serverless inference; use one of "
            f"{sorted(REGION_POOLS)} or set the account concurrency explicitly."
        ) from None


def endpoint_throttle(endpoint: str, max_concurrency: int) -> ThrottlingException:
    return ThrottlingException(
        f"Endpoint {endpoint} is at its MaxConcurrency of {max_concurrency} concurrent invocations; "
        "the invocation was throttled."
    )


def account_throttle(pool: int) -> ThrottlingException:
    return ThrottlingException(
        f"The account's serverless concurrency pool of {pool} concurrent invocations is in use; "
        "the invocation was throttled."
    )


def recovering_throttle() -> ThrottlingException:
    return ThrottlingException(
        "Concurrency quotas are being rebuilt after a restart of the quota service; retry shortly."
    )


def endpoint_count_exceeded(limit: int, current: int) -> ResourceLimitExceeded:
    return ResourceLimitExceeded(
        f"The account-level service limit 'Maximum number of serverless endpoints' is {limit} Endpoints, "
        f"with current utilization of {current} Endpoints and a request delta of 1 Endpoints. "
        "Please contact AWS support to request an increase for this limit."
    )
