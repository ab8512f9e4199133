"""The Ray Serve deployment that hosts one endpoint variant's model.

A replica is one worker with one model copy: it unpacks the model data (once per node,
shared through the artifact cache), loads the SageMaker inference code and answers one
invocation at a time (``max_ongoing_requests=1`` is set where the deployment is built).
"""

from __future__ import annotations

import logging
import os
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, AsyncGenerator, Iterator

from serverless_ray.isolation.confinement import Confinement
from serverless_ray.messages import ReplicaReply, ReplicaSpec, StreamEnd
from serverless_ray.runtime.artifacts import code_directory, materialize
from serverless_ray.runtime.handler import InferenceHandler
from serverless_ray.runtime.stacks import served_image, stack_for
from serverless_ray.runtime.streaming import drive
from serverless_ray.spec.container_environment import PROGRAM, code_location, container_log_level

log = logging.getLogger(__name__)
# A model's Environment may turn the capture of its output off (e.g. to measure its cost).
CAPTURE_LOGS_ENV = "SERVERLESS_RAY_CAPTURE_LOGS"


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
        # Before the model loads: what model_fn prints lands in the endpoint's log group too.
        self._logs = _capture_logs(spec)
        if confinement is None and spec.limits is not None:
            confinement = confine(spec)
        self._confinement = confinement
        loading = confinement.loading(spec.limits.model_ready_timeout_s) if confinement and spec.limits else nullcontext()
        try:
            with loading:
                model_dir = materialize(spec.model_data_url, Path(spec.cache_dir), policy=spec.artifact_policy,
                                        pin=True)
                environment = {**spec.environment}
                code = code_directory(model_dir, code_location(environment), Path(spec.cache_dir),
                                      policy=spec.artifact_policy, pin=True)
                os.environ.update(environment)
                level = container_log_level(environment)
                if level is not None:  # the container's level: what the model's code logs below it is dropped
                    logging.getLogger().setLevel(level)
                stack = stack_for(served_image(spec.image), environment)
                self._handler = InferenceHandler.load(
                    model_dir, program=environment.get(PROGRAM), environment=environment, stack=stack, code_dir=code,
                )
        except Exception:
            if self._logs is not None:  # the reason goes to the endpoint's log group before the replica ends
                log.exception("the model of endpoint %s could not be loaded", spec.endpoint_name)
                self._logs.flush()
            raise
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
        started = time.perf_counter()
        result = self._handler.invoke(
            body,
            content_type=content_type,
            accept=accept,
            custom_attributes=custom_attributes,
            request_id=request_id,
        )
        self._check_memory(result.raised)
        return self._reply(result, started, sent_at)

    def stream_items(
        self,
        body: bytes,
        content_type: str | None,
        accept: str | None,
        custom_attributes: str | None,
        request_id: str | None,
        sent_at: float | None = None,
    ) -> Iterator[Any]:
        """A streamed reply: a :class:`ReplicaReply` with the head (no body), the parts as
        ``bytes``, then a :class:`StreamEnd`. Closing it closes the model's generator."""
        started = time.perf_counter()
        stream = self._handler.stream(
            body, content_type=content_type, accept=accept, custom_attributes=custom_attributes,
            request_id=request_id,
        )
        try:
            self._check_memory(stream.result.raised)
            yield self._reply(stream.result, started, sent_at)
            error = None
            try:
                yield from stream.parts
            except Exception as exc:
                log.exception("streamed invocation %s failed after its first part", request_id or "-")
                error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                self._check_memory(type(exc).__name__)
            yield StreamEnd(model_seconds=time.perf_counter() - started, error=error)
        finally:
            close = getattr(stream.parts, "close", None)
            if close is not None:
                close()

    async def stream(self, *call_args) -> AsyncGenerator[Any, None]:
        """:meth:`stream_items` for Serve's streaming handles (``handle.options(stream=True)``).

        An async generator, so that a caller that goes away cancels it and the model's
        generator is closed; Serve would run a sync generator to its end in a thread.
        """
        async for item in drive(self.stream_items(*call_args)):
            yield item

    def _check_memory(self, raised: str | None) -> None:
        if raised == "MemoryError" and self._confinement is not None:
            # Past an address-space limit: the process may be half-broken; it records
            # the cause and ends, failing this call, and is replaced.
            self._confinement.memory_exceeded()

    def _reply(self, result, started: float, sent_at: float | None) -> ReplicaReply:
        # The request was sent before this replica was ready: it waited for a cold start.
        cold = sent_at is not None and sent_at < self._ready_at
        # ModelSetupTime is one sample per start: only the first call that waited for it
        # reports it (others that waited too are still cold in OverheadLatency).
        report_setup = cold and not self._setup_reported
        self._setup_reported = self._setup_reported or report_setup
        return ReplicaReply(
            result=result,
            model_seconds=time.perf_counter() - started,
            setup_seconds=self.setup_seconds if report_setup else None,
            cold=cold,
            log_stream=self._logs.stream if self._logs is not None else None,
        )

    def __del__(self) -> None:
        # Serve calls this on a graceful shut-down (scale-in, scale to zero): ship what is left
        # of the logs; a killed replica is cleaned up by the node.
        logs = getattr(self, "_logs", None)
        if logs is not None:
            logs.flush()
        confinement = getattr(self, "_confinement", None)
        if confinement is not None:
            self._confinement = None
            confinement.close()


def _capture_logs(spec: ReplicaSpec):
    if not spec.capture_logs or spec.environment.get(CAPTURE_LOGS_ENV, "1") == "0":
        return None
    from serverless_ray.logs.shipping import capture_for

    return capture_for(spec.endpoint_name, spec.variant_name)


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
