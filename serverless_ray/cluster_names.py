"""Names by which the platform's processes find each other on the Ray cluster.

A leaf module: it imports nothing of the package, so that any process (the controller,
a gateway, a Serve replica, a command-line tool) can read these names without loading
another process's code.
"""

from __future__ import annotations

NAMESPACE = "serverless-ray"
"""The Ray namespace of every named actor of the platform."""

CONTROLLER_NAME = "serverless-ray-controller"
QUOTA_LEDGER_NAME = "serverless-ray-quota"
GATEWAY_NAME_PREFIX = "serverless-ray-gateway-"
"""Gateways started by hand (tests, benchmarks) are named this plus their id."""
FLEET_GATEWAY_PREFIX = "serverless-ray-fleet-gateway-"
"""The controller's own gateways (one per node) are named this plus their id: they are
detached, so that they outlive a controller that dies, and a restarted controller finds
them by this prefix."""

APP_PREFIX = "sr-"
"""Every Serve application of an endpoint deployment starts with this."""
DEPLOYMENT_NAME = "ModelReplica"
"""The one deployment of each endpoint application."""
ROUTER_CLASS = "serverless_ray.gateway.replica_router:IdleReplicaRouter"
"""Serve's request router of endpoint deployments (an import path, as Serve wants it)."""


def app_name_for(endpoint: str, generation: int) -> str:
    """Serve application name of ``endpoint``'s ``generation``-th deployment."""
    return f"{APP_PREFIX}{endpoint.lower()}-g{generation}"


def is_platform_app(app_name: str) -> bool:
    return app_name.startswith(APP_PREFIX)
