"""What the endpoint lifecycle needs of Ray Serve, as an interface.

:class:`~serverless_ray.control.serve_backend.ServeBackend` implements it over Ray Serve;
unit tests of the lifecycle implement it in memory. Waiting is written once, here, over
``app_states``.
"""

from __future__ import annotations

import abc
import asyncio
from dataclasses import dataclass
from typing import Literal

from serverless_ray.messages import ReplicaSpec
from serverless_ray.resources import NodeRoom, ReplicaResources

AppStatus = Literal["deploying", "running", "failed", "deleting", "missing"]


@dataclass(frozen=True)
class AppState:
    status: AppStatus
    message: str
    running_replicas: int
    unplaced_replicas: int = 0  # started but still waiting for a node with room for them


MISSING = AppState("missing", "", 0)


class AppBackend(abc.ABC):
    """Endpoint deployments as Serve applications: deploy, scale, delete, read their states."""

    poll_s: float = 0.25  # how often the waits below read the states

    @abc.abstractmethod
    def serverless_resources(self, memory_size_mb: int) -> ReplicaResources:
        """What one replica of a serverless variant with ``memory_size_mb`` reserves."""

    @abc.abstractmethod
    def node_resources(self) -> list[dict[str, float]]:
        """Total resources of every live node of the cluster."""

    @abc.abstractmethod
    def node_available(self) -> list[NodeRoom]:
        """Total and unclaimed resources of every live node of the cluster."""

    @abc.abstractmethod
    def deploy(
        self, app_name: str, spec: ReplicaSpec, *, resources: ReplicaResources, initial_replicas: int,
        pip_requirements: list[str],
    ) -> None:
        """Start (or replace) ``app_name`` with ``initial_replicas`` replicas; returns at once."""

    @abc.abstractmethod
    def app_states(self) -> dict[str, AppState]:
        """State of every platform application."""

    @abc.abstractmethod
    def delete(self, app_name: str) -> None:
        """Delete ``app_name``; in-flight requests finish first."""

    @abc.abstractmethod
    async def scale(self, app_name: str, replicas: int) -> None:
        """Set the replica count of ``app_name``."""

    async def wait_replicas(self, app_name: str, replicas: int, *, timeout_s: float) -> AppState:
        """Wait until ``app_name`` runs exactly ``replicas`` replicas (after a resize)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            state = (await asyncio.to_thread(self.app_states)).get(app_name, MISSING)
            if state.status == "failed" or (state.status == "running" and state.running_replicas == replicas):
                return state
            if loop.time() > deadline:
                return AppState(
                    "failed", f"timed out after {timeout_s:.0f} s with {state.running_replicas} of "
                    f"{replicas} replicas running: {state.message}", state.running_replicas,
                )
            await asyncio.sleep(self.poll_s)

    async def wait(self, app_name: str, *, timeout_s: float) -> AppState:
        """Wait until ``app_name`` runs or fails (or ``timeout_s`` passes)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            state = (await asyncio.to_thread(self.app_states)).get(app_name, MISSING)
            if state.status in ("running", "failed"):
                return state
            if loop.time() > deadline:
                return AppState("failed", f"timed out after {timeout_s:.0f} s; last status {state.status}: {state.message}", 0)
            await asyncio.sleep(self.poll_s)
