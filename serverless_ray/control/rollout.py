"""Endpoint lifecycle: bring stored endpoints to life on Serve and keep them there.

Creating → InService | Failed, Updating → InService (the old version serves until the
new one has loaded its model; a failed update rolls back), Deleting → gone. The same
code reconciles after a restart: whatever the store says is brought back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from serverless_ray.autoscaling.scaler import Autoscaler
from serverless_ray.control.routes import Route, RouteBoard
from serverless_ray.control.serve_backend import AppState, ServeBackend, is_platform_app
from serverless_ray.errors import ValidationException
from serverless_ray.runtime.artifacts import ArtifactError, materialize, read_requirements
from serverless_ray.runtime.replica import ReplicaSpec
from serverless_ray.settings import PlatformSettings
from serverless_ray.spec import CreateEndpointConfigInput, CreateModelInput
from serverless_ray.store import Deployment, EndpointRecord, Store

log = logging.getLogger(__name__)


class Rollout:
    """Runs at most one lifecycle task per endpoint and publishes routes as states change."""

    def __init__(
        self,
        settings: PlatformSettings,
        store: Store,
        backend: ServeBackend,
        autoscaler: Autoscaler,
        routes: RouteBoard,
    ) -> None:
        self._settings = settings
        self._store = store
        self._backend = backend
        self._autoscaler = autoscaler
        self._routes = routes
        self._tasks: dict[str, asyncio.Task] = {}
        self._again: set[str] = set()

    # --- rules checked before anything is stored -------------------------------------

    @staticmethod
    def check_deployable(config: CreateEndpointConfigInput, models: dict[str, CreateModelInput]) -> None:
        """Reject model/config pairs this platform cannot run, before anything is created."""
        for variant_name, model in models.items():
            containers = model.containers
            if len(containers) > 1:
                raise ValidationException(
                    f"Model '{model.ModelName}' has {len(containers)} containers: inference pipelines "
                    "are not supported for serverless endpoints."
                )
            container = containers[0]
            if container.Mode == "MultiModel":
                raise ValidationException(
                    f"Model '{model.ModelName}' uses Mode=MultiModel: multi-model endpoints are not "
                    "supported for serverless endpoints."
                )
            if container.ModelPackageName:
                raise ValidationException(
                    f"Model '{model.ModelName}' names ModelPackageName '{container.ModelPackageName}': "
                    "model packages are not supported by this platform yet."
                )
            if not container.ModelDataUrl:
                raise ValidationException(
                    f"Model '{model.ModelName}' (variant '{variant_name}') has no ModelDataUrl: this "
                    "platform runs the SageMaker inference handler contract from model data "
                    "(model.tar.gz with code/inference.py) and does not pull container images."
                )

    @staticmethod
    def can_update_in_place(current: Deployment, new: Deployment) -> bool:
        """True when only concurrency limits change: the running replicas can stay."""
        old_variant, new_variant = current.variant, new.variant
        if old_variant.VariantName != new_variant.VariantName:
            return False
        if current.model != new.model:
            return False
        old_cfg, new_cfg = old_variant.ServerlessConfig, new_variant.ServerlessConfig
        return bool(old_cfg and new_cfg and old_cfg.MemorySizeInMB == new_cfg.MemorySizeInMB)

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
                    wanted.add(deployment.app_name)
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
        if record.status == "Deleting":
            await self._delete(record)
        elif record.status in ("Creating", "Updating") and record.pending is not None:
            await self._deploy(record, record.pending)
        elif record.status == "InService" and record.current is not None:
            await self._ensure_running(record, record.current)

    async def _deploy(self, record: EndpointRecord, deployment: Deployment) -> None:
        in_place = record.current is not None and record.current.app_name == deployment.app_name
        if in_place:
            state = AppState("running", "", self._autoscaler.target(record.name) or 0)
        else:
            state = await self._launch(record.name, deployment)
        latest = self._store.endpoints.get(record.name)
        if latest is None or latest.pending != deployment:
            # Deleted or superseded while loading; whoever changed it owns what runs now.
            if not in_place and (latest is None or latest.current != deployment):
                self._backend.delete(deployment.app_name)
            return
        now = time.time()
        if state.status == "running":
            previous = latest.current
            latest = latest.model_copy(update={
                "current": deployment, "pending": None, "status": "InService", "modified": now,
                "failure_reason": None,
            })
            self._store.endpoints.put(latest.name, latest)
            self._track(latest.name, deployment, running=state.running_replicas)
            self.publish_routes()
            if previous is not None and previous.app_name != deployment.app_name:
                self._backend.delete(previous.app_name)
            return
        reason = _failure_reason(deployment, state)
        self._backend.delete(deployment.app_name)
        if latest.current is None:
            update = {"status": "Failed", "failure_reason": reason, "modified": now}
        else:  # roll back: the previous version keeps serving
            update = {"status": "InService", "pending": None, "modified": now,
                      "failure_reason": f"Update to endpoint configuration '{deployment.config_name}' failed "
                                        f"and was rolled back. {reason}"}
        self._store.endpoints.put(latest.name, latest.model_copy(update=update))
        self.publish_routes()

    async def _ensure_running(self, record: EndpointRecord, deployment: Deployment) -> None:
        states = await asyncio.to_thread(self._backend.app_states)
        state = states.get(deployment.app_name)
        if state is None or state.status in ("failed", "deleting"):
            state = await self._launch(record.name, deployment)
        elif state.status == "deploying":
            state = await self._backend.wait(deployment.app_name, timeout_s=self._settings.model_ready_timeout_s)
        if state.status == "running":
            self._track(record.name, deployment, running=state.running_replicas)
        else:
            log.error("endpoint %s could not be brought back: %s", record.name, state.message)
        self.publish_routes()

    async def _delete(self, record: EndpointRecord) -> None:
        self._autoscaler.untrack(record.name)
        self.publish_routes()
        apps = {d.app_name for d in (record.current, record.pending) if d is not None}
        for app_name in apps:
            self._backend.delete(app_name)
        deadline = time.monotonic() + self._settings.invocation_timeout_s + 30
        while time.monotonic() < deadline:
            states = await asyncio.to_thread(self._backend.app_states)
            if not apps & states.keys():
                break
            await asyncio.sleep(0.25)
        self._store.endpoints.delete(record.name)

    async def _launch(self, endpoint: str, deployment: Deployment) -> AppState:
        variant = deployment.variant
        container = deployment.model.containers[0]
        cache_dir = Path(self._settings.artifact_cache_dir)
        try:
            model_dir = await asyncio.to_thread(materialize, container.ModelDataUrl, cache_dir)
            requirements = read_requirements(model_dir)
        except ArtifactError as exc:
            return AppState("failed", f"Failed to download model data: {exc}", 0)
        environment = {"SAGEMAKER_REGION": self._settings.region, **container.Environment}
        spec = ReplicaSpec(
            endpoint_name=endpoint,
            variant_name=variant.VariantName,
            model_data_url=container.ModelDataUrl,
            cache_dir=str(cache_dir),
            environment=environment,
        )
        serverless = variant.ServerlessConfig
        assert serverless is not None
        try:
            await asyncio.to_thread(
                self._backend.deploy,
                deployment.app_name,
                spec,
                memory_size_mb=serverless.MemorySizeInMB,
                initial_replicas=max(1, serverless.ProvisionedConcurrency or 0),
                pip_requirements=requirements,
            )
        except Exception as exc:  # Serve refused the application
            return AppState("failed", f"{type(exc).__name__}: {exc}", 0)
        return await self._backend.wait(deployment.app_name, timeout_s=self._settings.model_ready_timeout_s)

    # --- routing and scaling ---------------------------------------------------------

    def _track(self, endpoint: str, deployment: Deployment, *, running: int) -> None:
        serverless = deployment.variant.ServerlessConfig
        assert serverless is not None
        self._autoscaler.track(
            endpoint,
            app_name=deployment.app_name,
            floor=serverless.ProvisionedConcurrency or 0,
            cap=serverless.MaxConcurrency,
            running=running,
        )

    def publish_routes(self) -> None:
        routes: dict[str, Route] = {}
        for record in self._store.endpoints.all():
            route = _route(record)
            if route is not None:
                routes[record.name.lower()] = route
        self._routes.publish(routes)


def _route(record: EndpointRecord) -> Route | None:
    if record.status == "Creating" and record.pending is not None:
        return Route(record.name, record.pending.variant.VariantName, None, 0)
    if record.status in ("InService", "Updating") and record.current is not None:
        variant = record.current.variant
        serverless = variant.ServerlessConfig
        return Route(
            endpoint_name=record.name,
            variant_name=variant.VariantName,
            app_name=record.current.app_name,
            max_concurrency=serverless.MaxConcurrency if serverless else 0,
            provisioned_concurrency=(serverless.ProvisionedConcurrency or 0) if serverless else 0,
        )
    return None


def _failure_reason(deployment: Deployment, state: AppState) -> str:
    detail = _last_error_line(state.message) or "the model did not become ready"
    return (
        f"The primary container for production variant {deployment.variant.VariantName} did not pass "
        f"the ping health check: {detail}"
    )[:1024]


def _last_error_line(message: str) -> str:
    """Serve reports constructor failures with a traceback; its last line says what happened."""
    lines = [line.strip() for line in (message or "").splitlines() if line.strip()]
    for line in reversed(lines):
        if "Error" in line or "Exception" in line:
            return line
    return lines[-1] if lines else ""
