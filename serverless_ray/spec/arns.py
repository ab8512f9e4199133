"""ARNs as SageMaker forms them: region, account and the lower-cased name."""

from __future__ import annotations


def sagemaker_arn(region: str, account_id: str, kind: str, name: str) -> str:
    """``arn:aws:sagemaker:<region>:<account>:<kind>/<name lower-cased>``."""
    return f"arn:aws:sagemaker:{region}:{account_id}:{kind}/{name.lower()}"
