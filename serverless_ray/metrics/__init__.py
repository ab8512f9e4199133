"""Prometheus metrics: SageMaker's CloudWatch metrics, per endpoint and variant.

Each process keeps its own registry (the controller: replica counts; every entry point:
invocations and latencies); ``/metrics`` on an entry point serves both.
"""
