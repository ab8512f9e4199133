"""The Ray Serve deployment that hosts one endpoint variant's model.

A replica is one worker with one model copy: it unpacks the model data (once per node,
shared through the artifact cache), loads the SageMaker inference code and answers one
invocation at a time (``max_ongoing_requests=1`` is set where the deployment is built).
"""

from __future__ import annotations

import os
import time
from contextlib import nullcontext
from pathlib import Path

from serverless_ray.isolation.confinement import Confinement
from serverless_ray.messages import ReplicaReply, ReplicaSpec
from serverless_ray.runtime.artifacts import materialize
from serverless_ray.runtime.handler import InferenceHandler


class ModelReplica:
    """Serve deployment class; one instance per replica process.

    ``setup_from_process_start``: ModelSetupTime counts from the start of the process
    (a fresh replica: the compute was started for this model) or, when False, only the
    model load (a standby that was already running adopts the model).

    ``confinement``: the limits the process already lives under (a standby confines
    itself when it adopts); otherwise the replica confines itself to ``spec.limits``.
    """

    def __init__(
        self, spec: ReplicaSpec, *, setup_from_process_start: bool = True, confinement: Confinement | None = None
    ) -> None:
        started = time.perf_counter()
        self._spec = spec
        if confinement is None and spec.limits is not None:
            confinement = confine(spec)
        self._confinement = confinement
        loading = confinement.loading(spec.limits.model_ready_timeout_s) if confinement and spec.limits else nullcontext()
        with loading:
            model_dir = materialize(spec.model_data_url, Path(spec.cache_dir), policy=spec.artifact_policy, pin=True)
            environment = {**spec.environment}
            os.environ.update(environment)
            self._handler = InferenceHandler.load(
                model_dir, program=environment.get("SAGEMAKER_PROGRAM"), environment=environment
            )
        self._ready_at = time.time()
        load_seconds = time.perf_counter() - started
        self.setup_seconds = (
            _setup_seconds(self._ready_at, load_seconds) if setup_from_process_start else load_seconds
        )
        self._setup_reported = False

    def invoke(
        self,
        body: bytes,
        content_type: str | None,
        accept: str | None,
        custom_attributes: str | None,
        request_id: str | None,
        sent_at: float | None = None,
    ) -> ReplicaReply:
        # The request was sent before this replica was ready: it waited for a cold start.
        cold = sent_at is not None and sent_at < self._ready_at
        started = time.perf_counter()
        result = self._handler.invoke(
            body,
            content_type=content_type,
            accept=accept,
            custom_attributes=custom_attributes,
            request_id=request_id,
        )
        if result.raised == "MemoryError" and self._confinement is not None:
            # Past an address-space limit: the process may be half-broken; it records
            # the cause and ends, failing this call, and is replaced.
            self._confinement.memory_exceeded()
        # ModelSetupTime is one sample per start: only the first call that waited for it
        # reports it (others that waited too are still cold in OverheadLatency).
        report_setup = cold and not self._setup_reported
        self._setup_reported = self._setup_reported or report_setup
        return ReplicaReply(
            result=result,
            model_seconds=time.perf_counter() - started,
            setup_seconds=self.setup_seconds if report_setup else None,
            cold=cold,
        )

    def __del__(self) -> None:
        # Serve calls this on a clean shut-down; a killed replica is cleaned up by the node.
        confinement = getattr(self, "_confinement", None)
        if confinement is not None:
            self._confinement = None
            confinement.close()


def confine(spec: ReplicaSpec, confinement: Confinement | None = None) -> Confinement:
    """Hold this process to ``spec.limits`` (preparing its scratch disk unless done)."""
    limits = spec.limits
    assert limits is not None
    if confinement is None:
        confinement = Confinement.prepare(limits.runtime_dir, limits.ephemeral_storage_mb,
                                          enforce_storage=limits.enforced)
    confinement.enter(limits, endpoint=spec.endpoint_name, variant=spec.variant_name)
    return confinement


def _setup_seconds(ready_at: float, load_seconds: float) -> float:
    """ModelSetupTime: from the start of this replica's process (the compute) to a loaded
    model. A process older than a few minutes was a reused idle worker: count the load only."""
    try:
        import psutil

        since_process_start = ready_at - psutil.Process().create_time()
    except Exception:  # no process information: the load is what we know
        return load_seconds
    return since_process_start if 0 <= since_process_start < 300 else load_seconds
