"""The gateway fleet's node sync over a fake launcher: one gateway per alive node, the
gateways of dead nodes forgotten, dead gateways replaced under new ids on the same port
(at once, without waiting for a sync), failed starts retried, no node started twice at
once."""

from __future__ import annotations

import asyncio
import itertools

from serverless_ray.gateway.fleet import GatewayFleet, NodeInfo


class FakeLauncher:
    def __init__(self) -> None:
        self.started: list[tuple[str, str]] = []  # (node id, gateway id)
        self.asked_ports: list[int | None] = []
        self.stopped: list[str] = []
        self.dead: set[str] = set()
        self.failing: set[str] = set()  # node ids whose gateway cannot start
        self.taken: set[int] = set()  # ports another process holds
        self.gate: asyncio.Event | None = None
        self._ports = itertools.count(9000)
        self._deaths: dict[str, asyncio.Event] = {}
        self.left_running: list[tuple[str, str, int, str]] = []  # gateways of an earlier controller

    async def start(self, node: NodeInfo, gateway_id: str, port: int | None = None):
        self.started.append((node.node_id, gateway_id))
        self.asked_ports.append(port)
        if self.gate is not None:
            await self.gate.wait()
        if node.node_id in self.failing:
            raise RuntimeError("no room on the node")
        bound = port if port is not None and port not in self.taken else next(self._ports)
        return gateway_id, bound  # the gateway's id stands in for its handle

    async def is_alive(self, handle) -> bool:
        return handle not in self.dead

    async def wait_dead(self, handle) -> None:
        await self._deaths.setdefault(handle, asyncio.Event()).wait()

    def kill(self, handle) -> None:
        """The gateway's process dies: its watch fails at once."""
        self.dead.add(handle)
        self._deaths.setdefault(handle, asyncio.Event()).set()

    async def stop(self, handle) -> None:
        self.stopped.append(handle)

    async def running(self):
        return list(self.left_running)


class Cluster:
    def __init__(self, *nodes: NodeInfo) -> None:
        self.nodes = list(nodes)

    def __call__(self) -> list[NodeInfo]:
        return list(self.nodes)


HEAD = NodeInfo("head-node-0000000000", "10.0.0.1")
WORKER = NodeInfo("worker-node-111111111", "10.0.0.2")


async def _settle() -> None:
    """Let the fleet's watches and the syncs they start run (node listing runs in a thread)."""
    for _ in range(10):
        await asyncio.sleep(0.01)


def _fleet(cluster, launcher, host="0.0.0.0"):
    ids = itertools.count(1)
    return GatewayFleet(host, launcher, list_nodes=cluster, new_id=lambda node: f"{node.node_id[:4]}-{next(ids)}")


def test_every_alive_node_gets_a_gateway_reached_at_its_address():
    cluster, launcher = Cluster(HEAD, WORKER), FakeLauncher()
    fleet = _fleet(cluster, launcher)
    asyncio.run(fleet.sync())
    registry = fleet.registry()
    assert {n: g.url for n, g in registry.items()} == {HEAD.node_id: "http://10.0.0.1:9000",
                                                       WORKER.node_id: "http://10.0.0.2:9001"}
    asyncio.run(fleet.sync())  # nothing new: nothing started
    assert len(launcher.started) == 2


def test_a_gateway_bound_to_one_address_is_reached_there():
    fleet = _fleet(Cluster(HEAD), FakeLauncher(), host="127.0.0.1")
    asyncio.run(fleet.sync())
    assert fleet.registry()[HEAD.node_id].url == "http://127.0.0.1:9000"


def test_a_node_that_joins_later_gets_one_and_a_dead_nodes_is_forgotten():
    cluster, launcher = Cluster(HEAD), FakeLauncher()
    fleet = _fleet(cluster, launcher)
    asyncio.run(fleet.sync())
    cluster.nodes.append(WORKER)
    asyncio.run(fleet.sync())
    assert set(fleet.registry()) == {HEAD.node_id, WORKER.node_id}
    cluster.nodes.remove(WORKER)
    asyncio.run(fleet.sync())
    assert set(fleet.registry()) == {HEAD.node_id}


def test_a_dead_gateway_on_a_live_node_is_replaced_under_a_new_id():
    cluster, launcher = Cluster(HEAD), FakeLauncher()
    fleet = _fleet(cluster, launcher)
    asyncio.run(fleet.sync())
    old = fleet.registry()[HEAD.node_id]
    launcher.dead.add(old.handle)
    asyncio.run(fleet.sync())
    new = fleet.registry()[HEAD.node_id]
    assert new.gateway_id != old.gateway_id
    assert [gateway_id for _, gateway_id in launcher.started] == [old.gateway_id, new.gateway_id]


def test_a_gateway_that_dies_is_replaced_at_once_on_the_same_port():
    async def scenario():
        cluster, launcher = Cluster(HEAD, WORKER), FakeLauncher()
        fleet = _fleet(cluster, launcher)
        await fleet.sync()
        old = fleet.registry()[WORKER.node_id]
        launcher.kill(old.handle)
        await _settle()  # no sync: the fleet's own watch replaces it
        new = fleet.registry()[WORKER.node_id]
        await fleet.stop()
        return launcher, old, new

    launcher, old, new = asyncio.run(scenario())
    assert new.gateway_id != old.gateway_id
    assert (new.port, new.url) == (old.port, old.url)
    assert launcher.asked_ports == [None, None, old.port]
    assert [node for node, _ in launcher.started] == [HEAD.node_id, WORKER.node_id, WORKER.node_id]


def test_a_replacement_whose_port_was_taken_listens_elsewhere_and_the_next_one_asks_for_none():
    async def scenario():
        cluster, launcher = Cluster(HEAD), FakeLauncher()
        fleet = _fleet(cluster, launcher)
        await fleet.sync()
        old = fleet.registry()[HEAD.node_id]
        launcher.taken.add(old.port)
        launcher.kill(old.handle)
        await _settle()
        moved = fleet.registry()[HEAD.node_id]
        launcher.kill(moved.handle)
        await _settle()
        await fleet.stop()
        return launcher, old, moved

    launcher, old, moved = asyncio.run(scenario())
    assert moved.port != old.port
    assert launcher.asked_ports == [None, old.port, moved.port]


def test_a_death_seen_by_both_the_watch_and_a_sync_starts_one_successor():
    async def scenario():
        cluster, launcher = Cluster(HEAD), FakeLauncher()
        fleet = _fleet(cluster, launcher)
        await fleet.sync()
        launcher.kill(fleet.registry()[HEAD.node_id].handle)
        await asyncio.gather(fleet.sync(), fleet.sync())
        await _settle()
        await fleet.stop()
        return launcher

    assert len(asyncio.run(scenario()).started) == 2


def test_stopped_gateways_are_not_replaced():
    async def scenario():
        cluster, launcher = Cluster(HEAD, WORKER), FakeLauncher()
        fleet = _fleet(cluster, launcher)
        await fleet.sync()
        handles = [g.handle for g in fleet.registry().values()]
        await fleet.stop()
        for handle in handles:  # stopping ends them: their watches fail
            launcher.kill(handle)
        await _settle()
        await fleet.sync()
        return launcher

    assert len(asyncio.run(scenario()).started) == 2


def test_an_adopted_gateway_is_watched_too():
    async def scenario():
        cluster, launcher = Cluster(HEAD), FakeLauncher()
        launcher.left_running = [("old-head", HEAD.node_id, 8100, "old-head")]
        fleet = _fleet(cluster, launcher)
        await fleet.adopt()
        launcher.kill("old-head")
        await _settle()
        new = fleet.registry()[HEAD.node_id]
        await fleet.stop()
        return launcher, new

    launcher, new = asyncio.run(scenario())
    assert new.gateway_id != "old-head" and new.port == 8100 and launcher.asked_ports == [8100]


def test_a_gateway_that_could_not_start_is_tried_again_at_the_next_sync():
    cluster, launcher = Cluster(HEAD, WORKER), FakeLauncher()
    launcher.failing.add(WORKER.node_id)
    fleet = _fleet(cluster, launcher)
    asyncio.run(fleet.sync())
    assert set(fleet.registry()) == {HEAD.node_id}
    launcher.failing.clear()
    asyncio.run(fleet.sync())
    assert set(fleet.registry()) == {HEAD.node_id, WORKER.node_id}


def test_overlapping_syncs_start_a_node_once():
    async def scenario():
        cluster, launcher = Cluster(HEAD), FakeLauncher()
        launcher.gate = asyncio.Event()
        fleet = _fleet(cluster, launcher)
        first = asyncio.create_task(fleet.sync())
        for _ in range(5):
            await asyncio.sleep(0)
        await fleet.sync()  # the first is still starting the head's gateway
        launcher.gate.set()
        await first
        return launcher.started, fleet.registry()

    started, registry = asyncio.run(scenario())
    assert len(started) == 1 and set(registry) == {HEAD.node_id}


def test_stop_stops_every_gateway():
    cluster, launcher = Cluster(HEAD, WORKER), FakeLauncher()
    fleet = _fleet(cluster, launcher)
    asyncio.run(fleet.sync())
    handles = {g.handle for g in fleet.registry().values()}
    asyncio.run(fleet.stop())
    assert set(launcher.stopped) == handles and fleet.registry() == {}


def test_a_restarted_controller_adopts_the_running_gateways_instead_of_starting_more():
    cluster, launcher = Cluster(HEAD, WORKER), FakeLauncher()
    launcher.left_running = [
        ("old-head", HEAD.node_id, 8100, "old-head"),
        ("old-head-twin", HEAD.node_id, 8101, "old-head-twin"),  # one per node: the second goes
        ("old-gone", "a-node-that-left", 8102, "old-gone"),
    ]
    fleet = _fleet(cluster, launcher)
    assert asyncio.run(fleet.adopt()) == 1
    assert sorted(launcher.stopped) == ["old-gone", "old-head-twin"]
    assert fleet.registry()[HEAD.node_id].url == "http://10.0.0.1:8100"
    asyncio.run(fleet.sync())  # only the node without a gateway gets a new one
    assert [node for node, _ in launcher.started] == [WORKER.node_id]
