"""A standby replica: a worker process that is already running but holds no model.

Most of a cold start is not the model: it is starting a worker process, importing Ray,
the runtime and the libraries models use, and registering a new Serve replica. A standby
has paid all of that in advance. When an endpoint with no running replica is invoked,
an entry point hands the standby the endpoint's :class:`ReplicaSpec`; the standby
*adopts* it (loads the model, which is what ``model_fn`` costs) and answers the waiting
invocations while Serve starts the endpoint's own replicas. A standby serves one model
in its life: once released it is killed and a fresh one takes its place, so no model's
imports or state leak into another's.

A framework container's models run in a runtime environment with the framework installed
(see :mod:`serverless_ray.runtime.stacks`); standbys started in that environment, with the
framework imported, adopt them, and only them.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

import ray

from serverless_ray.isolation.confinement import Confinement
from serverless_ray.messages import NotAdoptable, ReplicaReply, ReplicaSpec
from serverless_ray.runtime.artifacts import code_directory, code_requirements, materialize
from serverless_ray.runtime.replica import ModelReplica, confine
from serverless_ray.runtime.stacks import environment_packages
from serverless_ray.spec.container_environment import code_location

log = logging.getLogger(__name__)


# Holds no resources while it waits: an idle standby is a sleeping process. Kept to one
# call at a time, like a replica (``max_ongoing_requests=1``).
@ray.remote(num_cpus=0, max_restarts=0, max_concurrency=1)
class StandbyReplica:
    """``scratch``: (runtime directory, ephemeral storage MB, enforced) to prepare the
    scratch disk with now, so that adopting a model later costs no disk set-up."""

    def __init__(
        self, preload: tuple[str, ...] = (), scratch: tuple[str, int, bool] | None = None,
        environment: tuple[str, ...] = (),
    ) -> None:
        self._confinement: Confinement | None = None
        # The framework packages of the runtime environment this process was started in
        # (none: the platform's own); it adopts only models that run in that environment.
        self._environment = tuple(environment)
        if scratch is not None:
            runtime_dir, storage_mb, enforced = scratch
            self._confinement = Confinement.prepare(runtime_dir, storage_mb, enforce_storage=enforced)
        for module in preload:
            try:
                importlib.import_module(module)
            except Exception as exc:  # a missing optional library only makes adoption slower
                log.warning("standby could not preload %s: %s", module, exc)
        self._replica: ModelReplica | None = None

    def ready(self) -> bool:
        return True

    def pid(self) -> int:
        """This standby's process (for fault-injection tests)."""
        import os

        return os.getpid()

    def adopt(self, spec: ReplicaSpec) -> float:
        """Load ``spec``'s model; returns the seconds it took (the ModelSetupTime sample)."""
        if self._replica is not None:
            raise RuntimeError("a standby adopts one model in its life")
        needed = environment_packages(spec.image)
        if needed != self._environment:
            # The framework is installed into a runtime environment of the endpoint's own
            # replicas (and of standbys started in it); this process runs in another.
            raise NotAdoptable(
                f"endpoint {spec.endpoint_name} runs in the environment of {', '.join(needed) or 'the platform'}, "
                f"this standby in that of {', '.join(self._environment) or 'the platform'}"
            )
        model_dir = materialize(spec.model_data_url, Path(spec.cache_dir), policy=spec.artifact_policy)
        code = code_directory(model_dir, code_location(spec.environment), Path(spec.cache_dir),
                              policy=spec.artifact_policy)
        if code_requirements(code):
            # The code's requirements.txt is installed into a runtime environment of the
            # endpoint's own replicas; this process does not have it.
            raise NotAdoptable(f"endpoint {spec.endpoint_name} installs the requirements.txt of its code")
        if spec.limits is not None:
            # From here on the process is held to the adopted endpoint's tier.
            self._confinement = confine(spec, self._confinement)
        self._replica = ModelReplica(spec, setup_from_process_start=False, confinement=self._confinement)
        return self._replica.setup_seconds

    def invoke(self, *call_args) -> ReplicaReply:
        if self._replica is None:
            raise RuntimeError("the standby has not adopted a model")
        return self._replica.invoke(*call_args)

    def stream(self, *call_args):
        """A streamed reply (see ``ModelReplica.stream_items``), for Ray's streaming calls
        (``num_returns="streaming"``). A caller that goes away cancels the call: the
        model's generator is closed after the part it is producing."""
        if self._replica is None:
            raise RuntimeError("the standby has not adopted a model")
        items = self._replica.stream_items(*call_args)
        try:
            for item in items:
                yield item
                if ray.get_runtime_context().is_canceled():
                    return
        finally:
            items.close()
