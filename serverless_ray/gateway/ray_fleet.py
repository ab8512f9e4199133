"""The gateway fleet's Ray side: the cluster's alive nodes, and gateways as node-affine actors.

Gateways are detached named actors (``FLEET_GATEWAY_PREFIX`` + id): an actor that is not
detached dies with the process that created it, and the data plane must outlive the
controller. Detached actors are ended only by ``ray.kill``: the fleet's ``stop`` and the
platform's stop (by name, ``end_leftovers``) do it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from serverless_ray.cluster_names import FLEET_GATEWAY_PREFIX, NAMESPACE
from serverless_ray.gateway.fleet import NodeInfo
from serverless_ray.gateway.gateway_actor import Gateway
from serverless_ray.settings import PlatformSettings

GATEWAY_START_TIMEOUT_S = 60.0
# A gateway that does not answer this soon is busy, not dead: only a dead actor is replaced.
GATEWAY_PING_TIMEOUT_S = 10.0
GATEWAY_STOP_TIMEOUT_S = 15.0
GATEWAY_DESCRIBE_TIMEOUT_S = 10.0
GATEWAY_WATCH_RETRY_S = 1.0


def alive_nodes() -> list[NodeInfo]:
    """The nodes of the Ray cluster that are alive now."""
    return [NodeInfo(n["NodeID"], n["NodeManagerAddress"]) for n in ray.nodes() if n.get("Alive")]


class RayGatewayLauncher:
    """Starts :class:`Gateway` actors, handing each the controller's and the ledger's handles."""

    def __init__(self, settings: PlatformSettings, *, controller: Any, ledger: Any) -> None:
        self._settings = settings
        self._controller = controller
        self._ledger = ledger

    async def start(self, node: NodeInfo, gateway_id: str, port: int | None = None) -> tuple[Any, int]:
        gateway = Gateway.options(
            name=f"{FLEET_GATEWAY_PREFIX}{gateway_id}", namespace=NAMESPACE, lifetime="detached",
            scheduling_strategy=NodeAffinitySchedulingStrategy(node.node_id, soft=False),
        ).remote(self._settings, gateway_id, self._controller, self._ledger)
        try:
            # On one host several nodes' gateways share a fixed port; port 0 gives each its own.
            bound = await asyncio.wait_for(
                gateway.start.remote(reuse_port=self._settings.port != 0, port=port), GATEWAY_START_TIMEOUT_S
            )
        except BaseException:
            ray.kill(gateway)
            raise
        return gateway, bound

    async def wait_dead(self, handle: Any) -> None:
        # One call that never returns, outstanding for the gateway's whole life: Ray fails
        # it the moment the actor dies, far sooner than any periodic ping would notice.
        while True:
            try:
                await handle.watch.remote()
            except ray.exceptions.ActorDiedError:
                return
            except ray.exceptions.RayActorError:  # unreachable for a moment, not dead
                await asyncio.sleep(GATEWAY_WATCH_RETRY_S)

    async def is_alive(self, handle: Any) -> bool:
        try:
            await asyncio.wait_for(handle.ping.remote(), GATEWAY_PING_TIMEOUT_S)
        except ray.exceptions.RayActorError:
            return False
        except asyncio.TimeoutError:
            pass
        return True

    async def stop(self, handle: Any) -> None:
        try:
            await asyncio.wait_for(handle.stop.remote(), GATEWAY_STOP_TIMEOUT_S)
        except Exception:  # its node may be gone already
            pass
        ray.kill(handle)

    async def running(self) -> list[tuple[str, str, int, Any]]:
        found = []
        for name in fleet_gateway_names():
            try:
                handle = ray.get_actor(name, namespace=NAMESPACE)
                gateway_id, node_id, port = await asyncio.wait_for(
                    handle.describe.remote(), GATEWAY_DESCRIBE_TIMEOUT_S
                )
            except (ValueError, ray.exceptions.RayActorError, asyncio.TimeoutError):
                continue  # gone meanwhile, or not answering: the next sync starts another
            if port is None:  # it never finished starting
                ray.kill(handle)
                continue
            found.append((gateway_id, node_id, port, handle))
        return found


def fleet_gateway_names() -> list[str]:
    """Names of the fleet's gateways alive on the cluster (started by any controller)."""
    return [
        actor["name"] for actor in ray.util.list_named_actors(all_namespaces=True)
        if actor["namespace"] == NAMESPACE and actor["name"].startswith(FLEET_GATEWAY_PREFIX)
    ]


def end_leftovers(names: list[str]) -> list[str]:
    """Kill the named detached actors of ``names`` that are still alive; returns those killed."""
    killed = []
    for name in names:
        try:
            ray.kill(ray.get_actor(name, namespace=NAMESPACE), no_restart=True)
        except ValueError:
            continue  # not there
        killed.append(name)
    return killed
