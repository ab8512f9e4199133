"""The platform as a Ray Serve application: ``serve run`` / ``serve deploy`` a config file.

.. code-block:: yaml

    proxy_location: Disabled          # the platform's gateways are the entry points
    applications:
      - name: serverless-ray
        import_path: serverless_ray.serve_app:app
        args:                         # validated as serverless_ray.declarative.ServeAppArgs
          platform: {port: 8080}
          endpoints:
            - {name: example-linear, model_data: deployments/example/model, memory_size_mb: 1024}

The application is one replica, the *keeper*. It starts the platform (controller, quota
ledger, a gateway per node) if none runs on the cluster, or attaches to the one that
does, then applies the declared endpoints through the platform's own API, tagged as the
application's, deleting the ones it made that are no longer declared. Serve restarts
the keeper whenever ``args`` change (a ``serve deploy`` of the edited file); the platform
is detached from it and carries on, and the endpoints are Serve applications of their
own, so unchanged endpoints keep their replicas.
"""

import logging

import ray
from ray import serve

from serverless_ray.cluster_names import CONTROLLER_NAME, NAMESPACE
from serverless_ray.declarative import ServeAppArgs, apply_declarations, in_cluster_access
from serverless_ray.platform import Platform
from serverless_ray.settings import PlatformSettings

log = logging.getLogger("serverless_ray.serve_app")
HEAD_NODE_RESOURCE = "node:__internal_head__"


def attach_or_start(settings: PlatformSettings) -> Platform:
    """The platform running on this Ray cluster, started (detached, on the head node) if there is none."""
    try:
        return Platform.attach()
    except ValueError:
        pass
    head = next((n["NodeID"] for n in ray.nodes() if n.get("Alive") and HEAD_NODE_RESOURCE in n["Resources"]), None)
    return Platform(settings).start(detached=True, node_id=head)


@serve.deployment(num_replicas=1, ray_actor_options={"num_cpus": 0})
class PlatformKeeper:
    """Keeps the platform running and its declared endpoints applied."""

    def __init__(self, args: ServeAppArgs) -> None:
        logging.basicConfig(level=logging.INFO)
        platform = attach_or_start(args.platform)
        owner = args.owner or serve.get_replica_context().app_name
        apply_declarations(args.resolved_endpoints(), platform.url, owner=owner, prune=True, echo=log.info,
                           access=in_cluster_access(platform.settings))

    def check_health(self) -> None:
        # A platform that is gone (its controller died) makes this replica unhealthy, so
        # Serve replaces it and the new keeper starts the platform again from its state.
        ray.get_actor(CONTROLLER_NAME, namespace=NAMESPACE)


def stop_platform() -> bool:
    """Delete every keeper application (else Serve would start the platform again), then
    stop the platform; False if no platform was running."""
    try:
        applications = serve.status().applications
    except Exception:  # Serve is not running: no keeper either
        applications = {}
    for name, status in applications.items():
        if PlatformKeeper.name in status.deployments:
            serve.delete(name)
    try:
        platform = Platform.attach()
    except ValueError:
        return False
    platform.stop()
    return True


def app(args: ServeAppArgs) -> serve.Application:
    """Serve application builder; Serve validates ``args`` against :class:`ServeAppArgs`."""
    return PlatformKeeper.bind(args)
