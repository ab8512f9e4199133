"""Endpoint lifecycle: bring stored endpoints to life on Serve and keep them there.

Creating → InService | Failed, Updating → InService (the old version serves until the
new one has loaded its model; a failed update rolls back), Deleting → gone. The same
code reconciles after a restart: whatever the store says is brought back. While an
update's new version waits for room the idle old version holds, the old version is
released at once (see :mod:`~serverless_ray.control.update_room`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from typing import Callable

from serverless_ray.autoscaling.scaler import Autoscaler
from serverless_ray.cluster_names import is_platform_app
from serverless_ray.control.app_backend import AppBackend
from serverless_ray.control.launch import Launcher, LaunchResult
from serverless_ray.control.route_board import RouteBoard
from serverless_ray.control.update_room import ROOM_CHECK_S, NewVariant, OldApp, RoomWatch
from serverless_ray.messages import Route, VariantRoute
from serverless_ray.settings import PlatformSettings
from serverless_ray.spec.container_environment import model_server_timeout_s
from serverless_ray.spec.endpoint import EndpointStatus
from serverless_ray.store import Deployment, EndpointRecord, Store

log = logging.getLogger(__name__)


class Rollout:
    """Runs at most one lifecycle task per endpoint and publishes routes as states change."""

    def __init__(
        self,
        settings: PlatformSettings,
        store: Store,
        backend: AppBackend,
        autoscaler: Autoscaler,
        routes: RouteBoard,
        *,
        clock: Callable[[], float] = time.time,
        room_check_s: float | None = ROOM_CHECK_S,
    ) -> None:
        """``room_check_s``: how often an update's launch checks whether the old version
        holds the room the new one waits for (None: never; the new one waits)."""
        self._settings = settings
        self._room_check_s = room_check_s
        self._clock = clock  # wall-clock time of status changes
        self._store = store
        self._backend = backend
        self._autoscaler = autoscaler
        self._routes = routes
        self._launcher = Launcher(settings, backend)
        self._tasks: dict[str, asyncio.Task] = {}
        self._again: set[str] = set()
        self._released: set[str] = set()  # endpoints whose old version gave up its floor for an update

    # --- task management -------------------------------------------------------------

    def start(self, endpoint: str) -> None:
        """Move ``endpoint`` toward its stored state (again, if a task is already running)."""
        key = endpoint.lower()
        running = self._tasks.get(key)
        if running is not None and not running.done():
            self._again.add(key)
            return
        self._tasks[key] = asyncio.create_task(self._run(key))

    async def _run(self, key: str) -> None:
        while True:
            self._again.discard(key)
            try:
                await self._step(key)
            except Exception:
                log.exception("lifecycle step for endpoint %s failed", key)
            if key not in self._again:
                break
        self._tasks.pop(key, None)

    async def reconcile_all(self) -> None:
        """After a start: adopt or redeploy every stored endpoint, delete stray apps."""
        states = await asyncio.to_thread(self._backend.app_states)
        wanted = set()
        for record in self._store.endpoints.all():
            for deployment in (record.current, record.pending):
                if deployment is not None:
                    wanted.update(deployment.apps())
            self.start(record.name)
        for app_name in states:
            if is_platform_app(app_name) and app_name not in wanted:
                self._backend.delete(app_name)
        self.publish_routes()

    async def wait_idle(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    # --- one step toward the stored state ---------------------------------------------

    async def _step(self, key: str) -> None:
        record = self._store.endpoints.get(key)
        if record is None:
            return
        if record.status == EndpointStatus.DELETING:
            await self._delete(record)
        elif record.status in (EndpointStatus.CREATING, EndpointStatus.UPDATING) and record.pending is not None:
            await self._deploy(record, record.pending)
        elif record.status == EndpointStatus.IN_SERVICE and record.current is not None:
            await self._ensure_running(record, record.current)

    async def _deploy(self, record: EndpointRecord, deployment: Deployment) -> None:
        current = record.current
        in_place = current is not None and current.app_name == deployment.app_name
        if in_place:
            assert current is not None
            result = await self._launcher.resize(current, deployment)
            running = self._autoscaler.target(record.name) or 0
            result = LaunchResult(result.ok, result.reason, {deployment.app_name: running})
        else:
            result = await self._launch_beside(record, deployment)
        latest = self._store.endpoints.get(record.name)
        if latest is None or latest.pending != deployment:
            # Deleted or superseded while loading; whoever changed it owns what runs now.
            if not in_place and (latest is None or latest.current != deployment):
                self._delete_apps(deployment)
            self._restore_floor(record.name)
            return
        now = self._clock()
        if result.ok:
            previous = latest.current
            latest = latest.model_copy(update={
                "current": deployment, "pending": None, "status": EndpointStatus.IN_SERVICE, "modified": now,
                "failure_reason": None,
            })
            self._store.endpoints.put(latest.name, latest)
            self._released.discard(latest.name.lower())
            self._track(latest.name, deployment, running=result.running)
            self.publish_routes()
            if previous is not None and previous.app_name != deployment.app_name:
                self._delete_apps(previous)
            return
        if in_place:
            assert current is not None
            await self._launcher.resize(deployment, current)  # back to the counts that served
        else:
            self._delete_apps(deployment)
        if latest.current is None:
            update = {"status": EndpointStatus.FAILED, "failure_reason": result.reason, "modified": now}
        else:  # roll back: the previous version keeps serving
            update = {"status": EndpointStatus.IN_SERVICE, "pending": None, "modified": now,
                      "failure_reason": f"Update to endpoint configuration '{deployment.config_name}' failed "
                                        f"and was rolled back. {result.reason}"[:1024]}
        self._store.endpoints.put(latest.name, latest.model_copy(update=update))
        self._restore_floor(latest.name)
        self.publish_routes()

    async def _launch_beside(self, record: EndpointRecord, deployment: Deployment) -> LaunchResult:
        """Launch ``deployment``; if an old version serves, watch for room meanwhile."""
        launch = asyncio.ensure_future(self._launcher.launch(record.name, deployment))
        watch = self._room_watch(record, deployment)
        if watch is None:
            return await launch
        watching = asyncio.ensure_future(watch.run())
        try:
            await asyncio.wait({launch, watching}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            launch.cancel()
            watching.cancel()
            raise
        if launch.done() or watching.exception() is not None:
            watching.cancel()
            return await launch
        # The watch ended first: the new version can never fit, so stop waiting for it.
        launch.cancel()
        await asyncio.gather(launch, return_exceptions=True)
        return LaunchResult(False, watching.result())

    def _room_watch(self, record: EndpointRecord, deployment: Deployment) -> RoomWatch | None:
        current = record.current
        if self._room_check_s is None or current is None or not current.is_serverless:
            return None  # instance-based versions keep their instances; they have no cold path
        key = record.name.lower()

        async def release() -> bool:
            self._released.add(key)
            self._autoscaler.set_limits(key, floor=0)
            before = self._autoscaler.target(key)
            return await self._autoscaler.release_warm(key) != before

        return RoomWatch(
            self._backend,
            new=[NewVariant(v, deployment.app_for(v.VariantName), self._launcher.resources(v))
                 for v in deployment.variants],
            old=[OldApp(current.app_name, self._launcher.resources(current.variant))],
            is_idle=lambda: self._autoscaler.demand(key) == 0,
            release=release,
            check_s=self._room_check_s,
        )

    def _restore_floor(self, endpoint: str) -> None:
        """An update that released the old version and did not replace it: the old
        version's provisioned floor holds again (the next tick scales back up to it)."""
        key = endpoint.lower()
        if key not in self._released:
            return
        self._released.discard(key)
        record = self._store.endpoints.get(endpoint)
        serverless = record.current.variant.ServerlessConfig if record and record.current else None
        if serverless is not None:
            self._autoscaler.set_limits(key, floor=serverless.ProvisionedConcurrency or 0)

    async def _ensure_running(self, record: EndpointRecord, deployment: Deployment) -> None:
        states = await asyncio.to_thread(self._backend.app_states)
        running: dict[str, int] = {}
        healthy = True
        for app in deployment.apps():
            state = states.get(app)
            if state is not None and state.status == "deploying":
                state = await self._backend.wait(app, timeout_s=self._settings.model_ready_timeout_s)
            if state is None or state.status != "running":
                healthy = False
                break
            running[app] = state.running_replicas
        if not healthy:
            result = await self._launcher.launch(record.name, deployment)
            if not result.ok:
                log.error("endpoint %s could not be brought back: %s", record.name, result.reason)
                self.publish_routes()
                return
            running = result.running
        self._track(record.name, deployment, running=running)
        self.publish_routes()

    async def _delete(self, record: EndpointRecord) -> None:
        self._autoscaler.untrack(record.name)
        self.publish_routes()
        apps = {app for d in (record.current, record.pending) if d is not None for app in d.apps()}
        for app_name in apps:
            self._backend.delete(app_name)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settings.invocation_timeout_s + 30
        while loop.time() < deadline:
            states = await asyncio.to_thread(self._backend.app_states)
            if not apps & states.keys():
                break
            await asyncio.sleep(0.25)
        self._store.endpoints.delete(record.name)

    def _delete_apps(self, deployment: Deployment) -> None:
        for app_name in deployment.apps():
            self._backend.delete(app_name)

    # --- routing and scaling ---------------------------------------------------------

    def _track(self, endpoint: str, deployment: Deployment, *, running: dict[str, int]) -> None:
        """Serverless endpoints scale with demand; instance-based ones keep their counts."""
        serverless = deployment.variant.ServerlessConfig
        if serverless is None:
            self._autoscaler.untrack(endpoint)
            return
        self._autoscaler.track(
            endpoint,
            app_name=deployment.app_name,
            floor=serverless.ProvisionedConcurrency or 0,
            cap=serverless.MaxConcurrency,
            running=running.get(deployment.app_name, 0),
        )

    def publish_routes(self) -> None:
        routes: dict[str, Route] = {}
        for record in self._store.endpoints.all():
            route = route_for(record)
            if route is not None and route.serverless and route.app_name and record.current is not None:
                # Entry points hand this to a standby when the endpoint is cold.
                spec = self._launcher.replica_spec(record.name, record.current, route.variant_name)
                route = replace(route, replica=spec)
            if route is not None:
                routes[record.name.lower()] = route
        self._routes.publish(routes)


def route_for(record: EndpointRecord) -> Route | None:
    """Where ``record``'s invocations go now (None: nowhere, the endpoint is not found)."""
    if record.status == EndpointStatus.CREATING and record.pending is not None:
        return Route(record.name, record.pending.variant.VariantName, None, 0,
                     serverless=record.pending.is_serverless)
    if record.status not in (EndpointStatus.IN_SERVICE, EndpointStatus.UPDATING) or record.current is None:
        return None
    deployment = record.current
    first = deployment.variant
    if deployment.is_serverless:
        serverless = first.ServerlessConfig
        assert serverless is not None
        return Route(
            endpoint_name=record.name,
            variant_name=first.VariantName,
            app_name=deployment.app_name,
            max_concurrency=serverless.MaxConcurrency,
            provisioned_concurrency=serverless.ProvisionedConcurrency or 0,
            memory_size_mb=serverless.MemorySizeInMB,
            model_timeout_s=_model_timeout_s(deployment.model.containers[0].Environment),
        )
    variants = tuple(
        VariantRoute(v.VariantName, deployment.app_for(v.VariantName), v.weight) for v in deployment.variants
    )
    return Route(
        endpoint_name=record.name, variant_name=first.VariantName, app_name=deployment.app_for(first.VariantName),
        max_concurrency=0, serverless=False, variants=variants,
    )


def _model_timeout_s(environment: dict[str, str]) -> float | None:
    try:
        return model_server_timeout_s(environment)
    except ValueError:  # refused at CreateModel since; a model stored before keeps the platform's
        return None
