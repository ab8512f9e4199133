"""Ray Serve in memory, for unit tests of the endpoint lifecycle.

Applications run as soon as they are deployed, unless a test holds them (they stay
``deploying`` until released) or makes them fail. The waits are the real ones
(:class:`~serverless_ray.control.app_backend.AppBackend`), polling these states.

With ``placement=True`` the cluster is one node of ``cpus`` and ``memory_gib``, and
replicas take room on it: a replica that does not fit waits unplaced (its application
stays ``deploying``) until scaling down or deleting another application makes room.
"""

from __future__ import annotations

from dataclasses import replace

from serverless_ray.control.app_backend import AppBackend, AppState
from serverless_ray.messages import ReplicaSpec
from serverless_ray.resources import GIB, NodeRoom, ReplicaResources, fits, replica_resources


class FakeServeBackend(AppBackend):
    poll_s = 0.001

    def __init__(self, *, cpus: float = 8, memory_gib: float = 32, placement: bool = False) -> None:
        self.apps: dict[str, AppState] = {}
        self.specs: dict[str, ReplicaSpec] = {}
        self.deployed: list[tuple[str, int]] = []  # (app, initial replicas), in order
        self.deleted: list[str] = []
        self.scaled: list[tuple[str, int]] = []
        self.failing: dict[str, str] = {}  # app → the error its replicas die of
        self.held: set[str] = set()  # apps that stay deploying until released
        self.pip: dict[str, list[str]] = {}
        self._nodes = [{"CPU": cpus, "memory": memory_gib * GIB}]
        self.placement = placement
        self._needs: dict[str, ReplicaResources] = {}  # app → one replica's resources
        self._wanted: dict[str, int] = {}  # app → replicas asked for
        self._placed: dict[str, int] = {}  # app → replicas holding room on the node
        self._ran: set[str] = set()  # apps that ran (Serve keeps those running while they scale)

    def serverless_resources(self, memory_size_mb: int) -> ReplicaResources:
        return replica_resources(memory_size_mb, 0.5)

    def node_resources(self) -> list[dict[str, float]]:
        return list(self._nodes)

    def node_available(self) -> list[NodeRoom]:
        total = self._nodes[0]
        cpus = sum(self._needs[app].num_cpus * n for app, n in self._placed.items())
        memory = sum(self._needs[app].memory_bytes * n for app, n in self._placed.items())
        return [NodeRoom(total=dict(total), available={"CPU": total["CPU"] - cpus, "memory": total["memory"] - memory})]

    def node_resized(self, *, cpus: float) -> None:
        """The node now has ``cpus`` (as if a larger one left and a smaller one remains)."""
        self._nodes[0]["CPU"] = cpus

    def deploy(self, app_name, spec, *, resources, initial_replicas, pip_requirements) -> None:
        self.deployed.append((app_name, initial_replicas))
        self.specs[app_name] = spec
        self.pip[app_name] = list(pip_requirements)
        if app_name in self.failing:
            self.apps[app_name] = AppState("failed", f"Traceback ...\n{self.failing[app_name]}", 0)
        elif self.placement:
            self._needs[app_name] = resources
            self._wanted[app_name] = max(1, initial_replicas)
            self._placed.setdefault(app_name, 0)
            self._place()
        elif app_name in self.held:
            self.apps[app_name] = AppState("deploying", "", 0)
        else:
            self.apps[app_name] = AppState("running", "", max(1, initial_replicas))

    def release(self, app_name: str) -> None:
        """A held application has loaded its model."""
        self.held.discard(app_name)
        if self.placement:
            self._place()
            return
        state = self.apps[app_name]
        self.apps[app_name] = AppState("running", "", max(1, state.running_replicas))

    def app_states(self) -> dict[str, AppState]:
        return dict(self.apps)

    def delete(self, app_name: str) -> None:
        self.deleted.append(app_name)
        self.apps.pop(app_name, None)
        if self.placement:
            for table in (self._needs, self._wanted, self._placed):
                table.pop(app_name, None)
            self._ran.discard(app_name)
            self._place()

    async def scale(self, app_name: str, replicas: int) -> None:
        self.scaled.append((app_name, replicas))
        if self.placement and app_name in self._wanted:
            self._wanted[app_name] = replicas
            self._placed[app_name] = min(self._placed[app_name], replicas)
            self._place()
        elif app_name in self.apps:
            self.apps[app_name] = replace(self.apps[app_name], running_replicas=replicas)

    def _place(self) -> None:
        """Place waiting replicas, oldest application first, where they fit; then states."""
        for app in self._wanted:
            while self._placed[app] < self._wanted[app] and fits(self._needs[app], self.node_available()[0].available):
                self._placed[app] += 1
        for app, wanted in self._wanted.items():
            placed = self._placed[app]
            if app in self.held or (placed < wanted and app not in self._ran):
                self.apps[app] = AppState("deploying", "", 0 if app in self.held else placed, wanted - placed)
            else:
                self._ran.add(app)
                self.apps[app] = AppState("running", "", placed, wanted - placed)
