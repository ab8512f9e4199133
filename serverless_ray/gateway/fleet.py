"""One entry point on every node of the cluster, including nodes that join later.

The controller keeps the gateways: it starts a node-affine gateway on each alive node it
has not seen yet, forgets the gateway of a node that died, and replaces a gateway that
died on a node that is still alive. Gateways do not die with the controller: a
controller that was restarted *adopts* the gateways still running (``adopt()``) instead
of starting more, and the platform's stop ends them. How a gateway is started, found,
pinged, watched and stopped is the :class:`GatewayLauncher`'s business (Ray actors:
``ray_fleet.py``).

A dead gateway is noticed at once, not at the next ``sync()``: the fleet watches every
gateway it keeps (``GatewayLauncher.wait_dead``) and replaces one the moment it dies. Its
successor binds the same port, so the URL its clients hold stays valid (unless another
process took the port meanwhile: then the launcher falls back to the configured one).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Protocol

log = logging.getLogger(__name__)

WILDCARD_HOSTS = ("0.0.0.0", "::", "")


@dataclass(frozen=True)
class GatewayInfo:
    """A running entry point: where it runs and where clients reach it."""

    gateway_id: str
    node_id: str
    url: str
    port: int
    handle: Any  # ActorHandle of serverless_ray.gateway.gateway_actor.Gateway


@dataclass(frozen=True)
class NodeInfo:
    node_id: str
    address: str  # the node's IP as Ray knows it


class GatewayLauncher(Protocol):
    async def start(self, node: NodeInfo, gateway_id: str, port: int | None = None) -> tuple[Any, int]:
        """Start a gateway on ``node``; its handle and port once it serves (raises if it
        could not start, having cleaned up after itself). ``port``: the port to bind
        instead of the configured one (a dead gateway's, for its successor); if it cannot
        be bound, the configured one."""
        ...

    async def wait_dead(self, handle: Any) -> None:
        """Return once the gateway has died (never, while it lives)."""
        ...

    async def is_alive(self, handle: Any) -> bool:
        """False only if the gateway is dead (a busy one is alive)."""
        ...

    async def stop(self, handle: Any) -> None:
        """Stop the gateway (in-flight requests finish first) and end it."""
        ...

    async def running(self) -> list[tuple[str, str, int, Any]]:
        """Gateways started earlier (by a controller that has since died) that still
        serve: (gateway id, node id, port, handle) of each."""
        ...


def gateway_url(host: str, node_address: str, port: int, scheme: str = "http") -> str:
    """Where clients reach a gateway bound to ``host`` on a node at ``node_address``
    (``scheme`` https when it serves TLS)."""
    reachable = node_address if host in WILDCARD_HOSTS else host
    if ":" in reachable:
        reachable = f"[{reachable}]"
    return f"{scheme}://{reachable}:{port}"


def new_gateway_id(node: NodeInfo) -> str:
    # Every gateway process gets an id of its own: the quota ledger must not count a dead
    # one's tokens (they return when its lease runs out) as held by its successor, whether
    # the controller replaced it or a restarted controller started it anew.
    return f"node-{node.node_id[:12]}-{uuid.uuid4().hex[:6]}"


class GatewayFleet:
    """Keeps one gateway per alive node; ``sync()`` brings the fleet up to date."""

    def __init__(
        self,
        host: str,
        launcher: GatewayLauncher,
        *,
        list_nodes: Callable[[], list[NodeInfo]],
        new_id: Callable[[NodeInfo], str] = new_gateway_id,
        scheme: str = "http",
    ) -> None:
        self._host = host
        self._scheme = scheme
        self._launcher = launcher
        self._list_nodes = list_nodes
        self._new_id = new_id
        self._gateways: dict[str, GatewayInfo] = {}
        self._starting: set[str] = set()
        # Node id → the port of its gateway that died: its successor binds it again.
        self._ports: dict[str, int] = {}
        self._watchers: dict[str, asyncio.Task] = {}  # gateway id → its death watch
        self._stopping = False

    def registry(self) -> dict[str, GatewayInfo]:
        """Node id → its gateway, for every node that has a running one."""
        return dict(self._gateways)

    async def sync(self) -> None:
        """Start a gateway on every alive node without one (its old one may have died);
        forget those of dead nodes."""
        if self._stopping:
            return
        nodes = {node.node_id: node for node in await asyncio.to_thread(self._list_nodes)}
        for node_id in set(self._gateways) - set(nodes):
            gone = self._gateways.pop(node_id)
            self._unwatch(gone)
            log.info("node %s is gone; forgetting its gateway %s", node_id, gone.url)
        for node_id in set(self._ports) - set(nodes):
            del self._ports[node_id]
        current = list(self._gateways.values())
        alive = await asyncio.gather(*(self._launcher.is_alive(g.handle) for g in current))
        for info, up in zip(current, alive):
            if not up:
                self._drop_dead(info)
        new = [node for node_id, node in nodes.items() if node_id not in self._gateways and node_id not in self._starting]
        self._starting.update(node.node_id for node in new)  # now: an overlapping sync must not start them too
        await asyncio.gather(*(self._start(node) for node in new))

    def _drop_dead(self, info: GatewayInfo) -> None:
        """Forget a gateway that died (once: a sync and its watch may both see it)."""
        if self._gateways.get(info.node_id) is not info:
            return
        log.warning("gateway %s on node %s died; starting a new one on port %d", info.url, info.node_id, info.port)
        del self._gateways[info.node_id]
        self._unwatch(info)
        self._ports[info.node_id] = info.port

    async def _start(self, node: NodeInfo) -> None:
        gateway_id = self._new_id(node)
        wanted = self._ports.get(node.node_id)
        try:
            handle, port = await self._launcher.start(node, gateway_id, wanted)
        except Exception:
            log.exception("could not start a gateway on node %s; will retry", node.node_id)
            return
        finally:
            self._starting.discard(node.node_id)
        if self._stopping:  # the platform stopped while it started
            await self._launcher.stop(handle)
            return
        if wanted is not None and port != wanted:
            log.warning("gateway %s could not bind port %d again; it listens on %d", gateway_id, wanted, port)
        self._ports.pop(node.node_id, None)
        self._keep(GatewayInfo(gateway_id, node.node_id, gateway_url(self._host, node.address, port, self._scheme),
                               port, handle))
        log.info("gateway %s listening on %s", gateway_id, self._gateways[node.node_id].url)

    def _keep(self, info: GatewayInfo) -> None:
        self._gateways[info.node_id] = info
        self._watchers[info.gateway_id] = asyncio.get_running_loop().create_task(self._watch(info))

    def _unwatch(self, info: GatewayInfo) -> None:
        watcher = self._watchers.pop(info.gateway_id, None)
        if watcher is not None and watcher is not asyncio.current_task():
            watcher.cancel()

    async def _watch(self, info: GatewayInfo) -> None:
        """Replace ``info``'s gateway as soon as it dies."""
        await self._launcher.wait_dead(info.handle)
        if self._stopping or self._gateways.get(info.node_id) is not info:
            return  # stopped on purpose, or already replaced
        self._drop_dead(info)
        try:
            await self.sync()
        except Exception:  # the controller's periodic sync tries again
            log.exception("replacing gateway %s failed", info.gateway_id)

    async def adopt(self) -> int:
        """Take over the gateways still running from before (this controller restarted):
        one per alive node, extra ones stopped. Returns how many were adopted."""
        nodes = {node.node_id: node for node in await asyncio.to_thread(self._list_nodes)}
        adopted = 0
        for gateway_id, node_id, port, handle in await self._launcher.running():
            node = nodes.get(node_id)
            if node is None or node_id in self._gateways:
                log.info("stopping gateway %s: its node has another or is gone", gateway_id)
                await self._launcher.stop(handle)
                continue
            url = gateway_url(self._host, node.address, port, self._scheme)
            self._keep(GatewayInfo(gateway_id, node_id, url, port, handle))
            adopted += 1
            log.info("adopted gateway %s listening on %s", gateway_id, url)
        return adopted

    async def stop(self) -> None:
        """Stop every gateway (in-flight requests finish first) and end them."""
        self._stopping = True
        gateways, self._gateways = list(self._gateways.values()), {}
        for info in gateways:
            self._unwatch(info)
        await asyncio.gather(*(self._launcher.stop(g.handle) for g in gateways))
