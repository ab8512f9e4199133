"""The AWS services this platform speaks over awsJson, by their ``X-Amz-Target`` prefix."""

from __future__ import annotations

SAGEMAKER = "SageMaker"
APPLICATION_AUTOSCALING = "AnyScaleFrontendService"
# The platform's own operations (cost and usage, capacity): not an AWS service.
SERVERLESS_RAY = "ServerlessRay"
SERVICES = (SAGEMAKER, APPLICATION_AUTOSCALING, SERVERLESS_RAY)
