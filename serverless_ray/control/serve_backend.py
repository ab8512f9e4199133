"""Endpoint deployments as Ray Serve applications.

Each deployment of an endpoint (its generation) is its own Serve application, so that
an update can start the new version next to the old one and switch traffic only when it
is ready, and so that changing one endpoint never restarts another's replicas.
Applications run with Serve's external scaler enabled: the platform, which sees every
invocation, sets their replica counts (see ``serverless_ray.autoscaling``).
"""

from __future__ import annotations

import threading

import ray
from ray import serve
from ray._private import state as ray_state
from ray.serve._private.common import DeploymentID
from ray.serve.config import RequestRouterConfig
from ray.serve.context import _get_global_client

from serverless_ray import environments
from serverless_ray.cluster_names import DEPLOYMENT_NAME, ROUTER_CLASS, is_platform_app
from serverless_ray.control.app_backend import AppBackend, AppState, AppStatus
from serverless_ray.messages import ReplicaSpec
from serverless_ray.resources import NodeRoom, ReplicaResources, replica_resources
from serverless_ray.runtime.replica import ModelReplica

class ServeBackend(AppBackend):
    """The only module that talks to Ray Serve's control APIs."""

    def __init__(self, *, vcpu_per_gb: float, graceful_shutdown_timeout_s: float = 65.0) -> None:
        self._vcpu_per_gb = vcpu_per_gb
        # In-flight invocations may take up to the 60 s invocation timeout; let them finish.
        self._graceful_shutdown_timeout_s = graceful_shutdown_timeout_s
        # Building a deployment pickles its router config by value, which registers and
        # unregisters modules in a process-wide table: deploys (from worker threads) must
        # not interleave. (Status reads avoid parsing configs at all: see app_states.)
        self._pickling = threading.Lock()

    def serverless_resources(self, memory_size_mb: int) -> ReplicaResources:
        """What one replica of a serverless variant with ``memory_size_mb`` reserves."""
        return replica_resources(memory_size_mb, self._vcpu_per_gb)

    def node_resources(self) -> list[dict[str, float]]:
        """Total resources of every live node of the Ray cluster."""
        return [dict(node["Resources"]) for node in ray.nodes() if node.get("Alive")]

    def node_available(self) -> list[NodeRoom]:
        """Total and unclaimed resources of every live node, as the GCS last heard them.

        Ray has no public per-node view of what is unclaimed; this is its developer API
        (``ray.available_resources()`` sums the cluster, which says nothing of where a
        replica fits)."""
        available = ray_state.available_resources_per_node()
        return [NodeRoom(total=dict(total), available=dict(available.get(node_id, {})))
                for node_id, total in ray_state.total_resources_per_node().items()]

    def deploy(
        self,
        app_name: str,
        spec: ReplicaSpec,
        *,
        resources: ReplicaResources,
        initial_replicas: int,
        pip_requirements: list[str],
    ) -> None:
        """Start (or replace) ``app_name`` with ``initial_replicas`` replicas; returns at once."""
        with self._pickling:
            self._deploy(app_name, spec, resources=resources, initial_replicas=initial_replicas,
                         pip_requirements=pip_requirements)

    def _deploy(
        self, app_name: str, spec: ReplicaSpec, *, resources: ReplicaResources, initial_replicas: int,
        pip_requirements: list[str],
    ) -> None:
        runtime_env: dict = {"env_vars": dict(spec.environment)}
        runtime_env.update(environments.runtime_env(pip_requirements))
        options = resources.ray_actor_options()
        options["runtime_env"] = runtime_env
        deployment = serve.deployment(ModelReplica).options(
            name=DEPLOYMENT_NAME,
            num_replicas=max(1, initial_replicas),
            max_ongoing_requests=1,
            # Beyond this, requests wait for a replica at the caller; admission keeps the
            # count at MaxConcurrency, so this only bounds waiting during cold starts.
            max_queued_requests=-1,
            ray_actor_options=options,
            graceful_shutdown_timeout_s=self._graceful_shutdown_timeout_s,
            request_router_config=RequestRouterConfig(
                request_router_class=ROUTER_CLASS,
                # When every replica is busy, retry soon: a replica frees up within one
                # model call, and admission caps how many requests can be waiting.
                initial_backoff_s=0.001,
                backoff_multiplier=2,
                max_backoff_s=0.01,
            ),
        )
        serve.run_many(
            [
                serve.RunTarget(
                    target=deployment.bind(spec),
                    name=app_name,
                    route_prefix=None,
                    external_scaler_enabled=True,
                )
            ],
            wait_for_ingress_deployment_creation=False,
            wait_for_applications_running=False,
        )

    def app_states(self) -> dict[str, AppState]:
        """State of every platform application Serve knows.

        Read from Serve's details as plain data: ``serve.status()`` parses them into
        config models, which re-pickles every deployment's request router (costly with
        many endpoints, and racy against a deploy in another thread of this process).
        """
        states: dict[str, AppState] = {}
        details = _get_global_client().get_serve_details()
        for name, app in (details.get("applications") or {}).items():
            if not is_platform_app(name):
                continue
            deployment = (app.get("deployments") or {}).get(DEPLOYMENT_NAME)
            running = unplaced = 0
            if deployment:
                replicas = deployment.get("replicas") or ()
                running = sum(1 for r in replicas if _value(r.get("state")) == "RUNNING")
                # A starting replica gets its node once Ray has placed it and started its process.
                unplaced = sum(1 for r in replicas if _value(r.get("state")) == "STARTING" and not r.get("node_id"))
            # The deployment's message carries the replica's traceback; the app's only a summary.
            message = (deployment.get("message") if deployment else "") or app.get("message") or ""
            states[name] = AppState(status=_status(_value(app.get("status"))), message=message,
                                    running_replicas=running, unplaced_replicas=unplaced)
        return states

    def delete(self, app_name: str) -> None:
        """Delete ``app_name``; in-flight requests finish first (graceful shutdown)."""
        serve.delete(app_name, _blocking=False)

    async def scale(self, app_name: str, replicas: int) -> None:
        controller = _get_global_client()._controller
        await controller.update_deployment_replicas.remote(
            DeploymentID(name=DEPLOYMENT_NAME, app_name=app_name), replicas
        )


def _value(enum_or_str) -> str:
    """``ApplicationStatus.RUNNING`` and ``"RUNNING"`` alike → ``"RUNNING"``."""
    return str(getattr(enum_or_str, "value", enum_or_str))


def _status(serve_status: str) -> AppStatus:
    value = serve_status.rsplit(".", 1)[-1]
    return {
        "RUNNING": "running",
        "DEPLOY_FAILED": "failed",
        "UNHEALTHY": "failed",
        "DELETING": "deleting",
    }.get(value, "deploying")


def ensure_serve_started() -> None:
    """Start Serve without its HTTP proxy: the platform's gateways are the entry points."""
    if not ray.is_initialized():
        raise RuntimeError("Ray must be initialised before Serve is started")
    serve.start(proxy_location="Disabled")
