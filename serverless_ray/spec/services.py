"""The AWS services this platform speaks over awsJson, by their ``X-Amz-Target`` prefix."""

from __future__ import annotations

SAGEMAKER = "SageMaker"
APPLICATION_AUTOSCALING = "AnyScaleFrontendService"
SERVICES = (SAGEMAKER, APPLICATION_AUTOSCALING)
