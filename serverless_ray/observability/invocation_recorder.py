"""The invocation hook that turns each invocation's outcome into SageMaker's endpoint
metrics (``AWS/SageMaker``), whatever its transport (HTTP or a Python handle).

As SageMaker counts them: ``Invocations`` for every request sent to a variant (throttled
ones included), ``Invocation4XXErrors``/``Invocation5XXErrors`` 1 or 0 per request (so
their Average is the error rate), ``InvocationModelErrors`` for a model that answered
with an error, ``ModelLatency`` and ``OverheadLatency`` in microseconds once the model
ran, ``ModelSetupTime`` once per replica start an invocation waited for, and the
provisioned-concurrency counts for endpoints that have it.
"""

from __future__ import annotations

from serverless_ray.errors import ModelError
from serverless_ray.gateway.invocation_types import InvocationHook, InvocationOutcome
from serverless_ray.observability import catalog
from serverless_ray.observability.recorder import MetricRecorder


class InvocationMetricsHook(InvocationHook):
    def __init__(self, recorder: MetricRecorder) -> None:
        self._recorder = recorder

    def on_finish(self, outcome: InvocationOutcome) -> None:
        if outcome.variant_name is None:
            return  # refused before it was sent to a variant (unknown endpoint, bad request)
        record = self._recorder.record
        dims = catalog.variant_dimensions(outcome.request.endpoint_name, outcome.variant_name)
        error = outcome.error
        status = _model_status(error)
        record(catalog.INVOCATIONS, dims, 1)
        record(catalog.ERRORS_4XX, dims, 1 if status is not None and 400 <= status < 500 else 0)
        record(catalog.ERRORS_5XX, dims, 1 if status is not None and not 400 <= status < 500 else 0)
        record(catalog.MODEL_ERRORS, dims, 1 if status is not None and status != 0 else 0)
        if outcome.model_seconds is not None:
            model_us = outcome.model_seconds * 1e6
            record(catalog.MODEL_LATENCY, dims, model_us)
            record(catalog.OVERHEAD_LATENCY, dims, max(0.0, outcome.duration_s * 1e6 - model_us))
        if outcome.setup_seconds is not None:
            record(catalog.MODEL_SETUP_TIME, dims, outcome.setup_seconds * 1e6)
        if outcome.provisioned is not None:
            record(catalog.PC_INVOCATIONS if outcome.provisioned else catalog.PC_SPILLOVER, dims, 1)


def _model_status(error: Exception | None) -> int | None:
    """The status a failed model call ended with (0: the replica did not answer);
    None if the invocation did not fail in the model."""
    if not isinstance(error, ModelError):
        return None
    status = error.fields.get("OriginalStatusCode")
    return status if isinstance(status, int) else 0
