"""ARNs as SageMaker forms them: region, account and the lower-cased name."""

from __future__ import annotations


def sagemaker_arn(region: str, account_id: str, kind: str, name: str) -> str:
    """``arn:aws:sagemaker:<region>:<account>:<kind>/<name lower-cased>``."""
    return f"arn:aws:sagemaker:{region}:{account_id}:{kind}/{name.lower()}"


LOG_GROUP_PREFIX = "/aws/sagemaker/Endpoints/"


def log_group_name(endpoint: str) -> str:
    """The CloudWatch Logs group of an endpoint, as SageMaker names it."""
    return f"{LOG_GROUP_PREFIX}{endpoint}"


def log_group_arn(region: str, account_id: str, group: str) -> str:
    return f"arn:aws:logs:{region}:{account_id}:log-group:{group}"


def log_stream_arn(region: str, account_id: str, endpoint: str, stream: str | None) -> str:
    """The ARN of ``stream`` in ``endpoint``'s log group (of the group, if no stream is known)."""
    group = log_group_arn(region, account_id, log_group_name(endpoint))
    return group if stream is None else f"{group}:log-stream:{stream}"
