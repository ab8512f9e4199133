"""Prometheus metrics: SageMaker's CloudWatch metrics, per endpoint and variant.

Each process keeps its own registry (the controller: replica counts; every entry point:
invocations and latencies); ``/metrics`` on an entry point serves both.
"""

from prometheus_client import disable_created_metrics

# ``*_created`` samples double every series and no dashboard here reads them.
disable_created_metrics()
