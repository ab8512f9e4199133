"""Where a replica's captured lines go: the controller, over Ray, into the log store.

Also names the replica's log stream as SageMaker does, ``<VariantName>/<replica id>``.
"""

from __future__ import annotations

import logging
from typing import Sequence

import ray

from serverless_ray.cluster_names import CONTROLLER_NAME, NAMESPACE
from serverless_ray.logs.capture import LogCapture, install
from serverless_ray.messages import LogLine

log = logging.getLogger(__name__)
SHIP_TIMEOUT_S = 10.0


class _ControllerSink:
    def __init__(self) -> None:
        self._controller = None

    def __call__(self, lines: Sequence[LogLine]) -> None:
        if self._controller is None:
            try:
                self._controller = ray.get_actor(CONTROLLER_NAME, namespace=NAMESPACE)
            except ValueError:  # no platform (a test running the runtime alone)
                return
        try:
            ray.get(self._controller.ingest_logs.remote(list(lines)), timeout=SHIP_TIMEOUT_S)
        except Exception:
            self._controller = None  # look it up again: the platform may have restarted
            raise


def replica_id() -> str:
    """This process's replica id: Serve's for a Serve replica, the actor's for a standby."""
    try:
        from ray import serve

        return serve.get_replica_context().replica_id.unique_id
    except Exception:
        return f"standby-{ray.get_runtime_context().get_actor_id()[-12:]}"


def capture_for(endpoint: str, variant: str) -> LogCapture | None:
    """Capture this process's output into ``endpoint``'s log group, stream
    ``<variant>/<replica id>``; None outside a Ray worker (a driver or a unit test keeps
    its own output)."""
    if not ray.is_initialized() or ray.get_runtime_context().worker.mode != ray.WORKER_MODE:
        return None
    capture = install(_ControllerSink())
    capture.attach(endpoint, f"{variant}/{replica_id()}")
    return capture
