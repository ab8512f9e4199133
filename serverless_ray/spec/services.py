"""The AWS services this platform speaks, by their ``X-Amz-Target`` prefix."""

from __future__ import annotations

SAGEMAKER = "SageMaker"
APPLICATION_AUTOSCALING = "AnyScaleFrontendService"
LOGS = "Logs_20140328"
# The platform's own operations (cost and usage, capacity): not an AWS service.
SERVERLESS_RAY = "ServerlessRay"
SERVICES = (SAGEMAKER, APPLICATION_AUTOSCALING, LOGS, SERVERLESS_RAY)
# CloudWatch speaks JSON 1.0 (query-compatible), the query protocol and RPC v2 CBOR: the
# gateway translates those (``cloudwatch/wire.py``) before the controller runs the operation.
CLOUDWATCH = "GraniteServiceVersion20100801"
