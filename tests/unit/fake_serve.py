"""Ray Serve in memory, for unit tests of the endpoint lifecycle.

Applications run as soon as they are deployed, unless a test holds them (they stay
``deploying`` until released) or makes them fail. The waits are the real ones
(:class:`~serverless_ray.control.app_backend.AppBackend`), polling these states.
"""

from __future__ import annotations

from dataclasses import replace

from serverless_ray.control.app_backend import AppBackend, AppState
from serverless_ray.messages import ReplicaSpec
from serverless_ray.resources import GIB, ReplicaResources, replica_resources


class FakeServeBackend(AppBackend):
    poll_s = 0.001

    def __init__(self, *, cpus: float = 8, memory_gib: float = 32) -> None:
        self.apps: dict[str, AppState] = {}
        self.specs: dict[str, ReplicaSpec] = {}
        self.deployed: list[tuple[str, int]] = []  # (app, initial replicas), in order
        self.deleted: list[str] = []
        self.scaled: list[tuple[str, int]] = []
        self.failing: dict[str, str] = {}  # app → the error its replicas die of
        self.held: set[str] = set()  # apps that stay deploying until released
        self.pip: dict[str, list[str]] = {}
        self._nodes = [{"CPU": cpus, "memory": memory_gib * GIB}]

    def serverless_resources(self, memory_size_mb: int) -> ReplicaResources:
        return replica_resources(memory_size_mb, 0.5)

    def node_resources(self) -> list[dict[str, float]]:
        return list(self._nodes)

    def deploy(self, app_name, spec, *, resources, initial_replicas, pip_requirements) -> None:
        self.deployed.append((app_name, initial_replicas))
        self.specs[app_name] = spec
        self.pip[app_name] = list(pip_requirements)
        if app_name in self.failing:
            self.apps[app_name] = AppState("failed", f"Traceback ...\n{self.failing[app_name]}", 0)
        elif app_name in self.held:
            self.apps[app_name] = AppState("deploying", "", 0)
        else:
            self.apps[app_name] = AppState("running", "", max(1, initial_replicas))

    def release(self, app_name: str) -> None:
        """A held application has loaded its model."""
        self.held.discard(app_name)
        state = self.apps[app_name]
        self.apps[app_name] = AppState("running", "", max(1, state.running_replicas))

    def app_states(self) -> dict[str, AppState]:
        return dict(self.apps)

    def delete(self, app_name: str) -> None:
        self.deleted.append(app_name)
        self.apps.pop(app_name, None)

    async def scale(self, app_name: str, replicas: int) -> None:
        self.scaled.append((app_name, replicas))
        if app_name in self.apps:
            self.apps[app_name] = replace(self.apps[app_name], running_replicas=replicas)
