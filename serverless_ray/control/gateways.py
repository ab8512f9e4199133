"""One entry point on every node of the cluster, including nodes that join later.

The controller owns the gateways: it starts a node-affine gateway on each alive node it
has not seen yet, forgets the gateway of a node that died, and replaces a gateway that
died on a node that is still alive. Gateways are owned by the controller's process, so
they live exactly as long as the platform does.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from typing import Any, Callable

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from serverless_ray.settings import PlatformSettings

log = logging.getLogger(__name__)

GATEWAY_START_TIMEOUT_S = 60.0
# A gateway that does not answer this soon is busy, not dead: only a dead actor is replaced.
GATEWAY_PING_TIMEOUT_S = 10.0
WILDCARD_HOSTS = ("0.0.0.0", "::", "")


@dataclass(frozen=True)
class GatewayInfo:
    """A running entry point: where it runs and where clients reach it."""

    gateway_id: str
    node_id: str
    url: str
    port: int
    handle: Any  # ActorHandle of Gateway


@dataclass(frozen=True)
class NodeInfo:
    node_id: str
    address: str  # the node's IP as Ray knows it


def alive_nodes() -> list[NodeInfo]:
    """The nodes of the Ray cluster that are alive now."""
    return [NodeInfo(n["NodeID"], n["NodeManagerAddress"]) for n in ray.nodes() if n.get("Alive")]


def gateway_url(host: str, node_address: str, port: int) -> str:
    """Where clients reach a gateway bound to ``host`` on a node at ``node_address``."""
    reachable = node_address if host in WILDCARD_HOSTS else host
    if ":" in reachable:
        reachable = f"[{reachable}]"
    return f"http://{reachable}:{port}"


class GatewayFleet:
    """Keeps one gateway per alive node; ``sync()`` brings the fleet up to date."""

    def __init__(
        self,
        settings: PlatformSettings,
        *,
        list_nodes: Callable[[], list[NodeInfo]] = alive_nodes,
    ) -> None:
        self._settings = settings
        self._list_nodes = list_nodes
        self._gateways: dict[str, GatewayInfo] = {}
        self._starting: set[str] = set()

    def registry(self) -> dict[str, GatewayInfo]:
        """Node id → its gateway, for every node that has a running one."""
        return dict(self._gateways)

    async def sync(self) -> None:
        """Start a gateway on every alive node without one (its old one may have died);
        forget those of dead nodes."""
        nodes = {node.node_id: node for node in await asyncio.to_thread(self._list_nodes)}
        for node_id in set(self._gateways) - set(nodes):
            gone = self._gateways.pop(node_id)
            log.info("node %s is gone; forgetting its gateway %s", node_id, gone.url)
        alive = await asyncio.gather(*(self._is_alive(g) for g in self._gateways.values()))
        for info, up in zip(list(self._gateways.values()), alive):
            if not up:
                log.warning("gateway %s on node %s died; starting a new one", info.url, info.node_id)
                del self._gateways[info.node_id]
        new = [node for node_id, node in nodes.items() if node_id not in self._gateways and node_id not in self._starting]
        await asyncio.gather(*(self._start(node) for node in new))

    @staticmethod
    async def _is_alive(info: GatewayInfo) -> bool:
        try:
            await asyncio.wait_for(info.handle.ping.remote(), GATEWAY_PING_TIMEOUT_S)
        except ray.exceptions.RayActorError:
            return False
        except asyncio.TimeoutError:
            pass
        return True

    async def _start(self, node: NodeInfo) -> None:
        from serverless_ray.gateway.actor import Gateway

        self._starting.add(node.node_id)
        # Every gateway process gets an id of its own: the quota ledger must not count a
        # dead one's tokens (they return when its lease runs out) as held by its successor,
        # whether the controller replaced it or a restarted controller started it anew.
        gateway_id = f"node-{node.node_id[:12]}-{uuid.uuid4().hex[:6]}"
        gateway = Gateway.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(node.node_id, soft=False),
        ).remote(self._settings, gateway_id)
        try:
            # On one host several nodes' gateways share a fixed port; port 0 gives each its own.
            port = await asyncio.wait_for(
                gateway.start.remote(reuse_port=self._settings.port != 0), GATEWAY_START_TIMEOUT_S
            )
        except Exception:
            log.exception("could not start a gateway on node %s; will retry", node.node_id)
            ray.kill(gateway)
            return
        finally:
            self._starting.discard(node.node_id)
        url = gateway_url(self._settings.host, node.address, port)
        self._gateways[node.node_id] = GatewayInfo(gateway_id, node.node_id, url, port, gateway)
        log.info("gateway %s listening on %s", gateway_id, url)

    async def stop(self) -> None:
        """Stop every gateway (in-flight requests finish first) and end their actors."""
        gateways, self._gateways = list(self._gateways.values()), {}

        async def stop_one(info: GatewayInfo) -> None:
            try:
                await asyncio.wait_for(info.handle.stop.remote(), 15)
            except Exception:  # its node may be gone already
                pass
            ray.kill(info.handle)

        await asyncio.gather(*(stop_one(g) for g in gateways))
