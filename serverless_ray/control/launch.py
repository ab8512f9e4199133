"""Start the Serve applications of one deployment: one per production variant.

For each variant: reserve its resources (memory-sized for serverless, the instance
type's for instance-based), check that some node could hold a replica, read the model's
``code/requirements.txt`` (streamed from the model data, which the controller never
downloads whole: only replicas load models) and, for a recognised framework container's
image, add that framework's packages (:mod:`serverless_ray.frameworks`), deploy, and wait until it has loaded its
model. Any variant's failure fails the whole deployment with a reason that names the
variant. The model-ready timeout bounds all of it, and each replica is handed the limits
it is held to (its tier, scratch disk, load deadline; see :mod:`serverless_ray.isolation`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from serverless_ray.control.app_backend import AppBackend, AppState
from serverless_ray.frameworks import with_model_requirements
from serverless_ray.isolation.messages import not_ready
from serverless_ray.messages import ArtifactPolicy, ReplicaLimits, ReplicaSpec
from serverless_ray.resources import GIB, MIB, ReplicaResources, capacity_shortfall, instance_resources
from serverless_ray.runtime.artifacts import ArtifactError, requirements_of
from serverless_ray.runtime.stacks import environment_packages
from serverless_ray.settings import PlatformSettings
from serverless_ray.spec.container_environment import code_location
from serverless_ray.spec import ProductionVariant
from serverless_ray.store import Deployment


@dataclass(frozen=True)
class LaunchResult:
    """Whether a deployment's variants run; if not, the FailureReason that says why."""

    ok: bool
    reason: str = ""
    running: dict[str, int] = field(default_factory=dict)  # app name → running replicas


class Launcher:
    """Starts and resizes the Serve applications of deployments (one per variant)."""

    def __init__(self, settings: PlatformSettings, backend: AppBackend) -> None:
        self._settings = settings
        self._backend = backend

    def resources(self, variant: ProductionVariant) -> ReplicaResources:
        """What one replica of ``variant`` reserves: memory-sized or the instance type's."""
        if variant.ServerlessConfig is not None:
            return self._backend.serverless_resources(variant.ServerlessConfig.MemorySizeInMB)
        assert variant.InstanceType is not None
        return instance_resources(variant.InstanceType)

    def replica_spec(self, endpoint: str, deployment: Deployment, variant_name: str) -> ReplicaSpec:
        """What a replica of ``variant_name`` loads: its model data and environment."""
        container = deployment.model_for(variant_name).containers[0]
        variant = deployment.find(variant_name)
        assert variant is not None
        return ReplicaSpec(
            endpoint_name=endpoint,
            variant_name=variant_name,
            model_data_url=container.ModelDataUrl,
            cache_dir=str(Path(self._settings.artifact_cache_dir)),
            environment={"SAGEMAKER_REGION": self._settings.region, **container.Environment},
            image=container.Image,
            limits=self.limits(variant),
            artifact_policy=self.artifact_policy(),
            capture_logs=self._settings.observability,
        )

    def limits(self, variant: ProductionVariant) -> ReplicaLimits:
        """What one replica of ``variant`` is held to: its tier (or instance type), the
        ephemeral storage and the model-ready timeout."""
        settings = self._settings
        resources = self.resources(variant)
        return ReplicaLimits(
            memory_mb=resources.memory_bytes // MIB,
            cpus=resources.num_cpus,
            ephemeral_storage_mb=settings.ephemeral_storage_mb,
            model_ready_timeout_s=settings.model_ready_timeout_s,
            runtime_dir=str(settings.replica_runtime_dir),
            isolation=settings.isolation,
        )

    def artifact_policy(self) -> ArtifactPolicy:
        """The bounds on model data every replica applies (and the controller, on what it streams)."""
        return ArtifactPolicy(
            max_unpacked_bytes=self._settings.max_model_size_mb * MIB,
            cache_bytes=self._settings.artifact_cache_mb * MIB,
        )

    async def launch(self, endpoint: str, deployment: Deployment) -> LaunchResult:
        """Deploy every variant of ``deployment`` and wait until all run (or one fails),
        within the model-ready timeout: downloading and unpacking the model data count."""
        timeout = self._settings.model_ready_timeout_s
        try:
            return await asyncio.wait_for(self._launch(endpoint, deployment), timeout)
        except asyncio.TimeoutError:
            unplaced = await self._never_placed(deployment, timeout)
            if unplaced is not None:
                return LaunchResult(False, unplaced)
            state = AppState("failed", not_ready(timeout), 0)
            return LaunchResult(False, health_check_failure(deployment.variants[0].VariantName, state))

    async def _never_placed(self, deployment: Deployment, timeout_s: float) -> str | None:
        """The FailureReason of a launch that timed out because a variant's replica never
        got a node (other replicas held the room), rather than a model that was slow to load."""
        try:
            states = await asyncio.to_thread(self._backend.app_states)
        except Exception:  # no better reason to give than the timeout
            return None
        for variant in deployment.variants:
            state = states.get(deployment.app_for(variant.VariantName))
            if state is not None and state.unplaced_replicas and not state.running_replicas:
                return waited_for_room(variant, self.resources(variant), timeout_s)
        return None

    async def _launch(self, endpoint: str, deployment: Deployment) -> LaunchResult:
        nodes = await asyncio.to_thread(self._backend.node_resources)
        apps = []
        for variant in deployment.variants:
            problem = await self._deploy_variant(endpoint, deployment, variant, nodes)
            if problem is not None:
                return LaunchResult(False, problem)
            apps.append((variant, deployment.app_for(variant.VariantName)))
        timeout = self._settings.model_ready_timeout_s
        states = await asyncio.gather(*(self._backend.wait(app, timeout_s=timeout) for _, app in apps))
        for (variant, _), state in zip(apps, states):
            if state.status != "running":
                return LaunchResult(False, health_check_failure(variant.VariantName, state))
        return LaunchResult(True, running={app: state.running_replicas for (_, app), state in zip(apps, states)})

    async def _deploy_variant(
        self, endpoint: str, deployment: Deployment, variant: ProductionVariant, nodes: list[dict[str, float]]
    ) -> str | None:
        name = variant.VariantName
        resources = self.resources(variant)
        shortfall = capacity_shortfall(resources, nodes) if nodes else None
        if shortfall is not None:
            return placement_failure(variant, shortfall)
        spec = self.replica_spec(endpoint, deployment, name)
        try:
            location = code_location(spec.environment)
            requirements = await asyncio.to_thread(
                requirements_of, spec.model_data_url, Path(spec.cache_dir),
                max_unpacked_bytes=spec.artifact_policy.max_unpacked_bytes if spec.artifact_policy else None,
                location=location,
            )
        except (ArtifactError, ValueError) as exc:
            return f"Failed to download model data for production variant {name}: {exc}"[:1024]
        framework = environment_packages(spec.image)
        if framework:  # the framework container's packages, under the model's own
            requirements = with_model_requirements(framework, requirements)
        if variant.ServerlessConfig is not None:
            replicas = max(1, variant.ServerlessConfig.ProvisionedConcurrency or 0)
        else:
            replicas = variant.InitialInstanceCount or 1
        try:
            await asyncio.to_thread(
                self._backend.deploy, deployment.app_for(name), spec,
                resources=resources, initial_replicas=replicas, pip_requirements=requirements,
            )
        except Exception as exc:  # Serve refused the application
            return health_check_failure(name, AppState("failed", f"{type(exc).__name__}: {exc}", 0))
        return None

    async def resize(self, current: Deployment, target: Deployment) -> LaunchResult:
        """Bring instance-based variants to ``target``'s instance counts, in place."""
        timeout = self._settings.model_ready_timeout_s
        for variant in target.variants:
            before = current.find(variant.VariantName)
            count = variant.InitialInstanceCount
            if variant.is_serverless or before is None or count is None or count == before.InitialInstanceCount:
                continue
            app = target.app_for(variant.VariantName)
            await self._backend.scale(app, count)
            state = await self._backend.wait_replicas(app, count, timeout_s=timeout)
            if state.status != "running":
                return LaunchResult(False, f"Scaling production variant {variant.VariantName} to {count} "
                                           f"instances failed: {_last_error_line(state.message)}"[:1024])
        return LaunchResult(True)


def placement_failure(variant: ProductionVariant, shortfall: str) -> str:
    """The FailureReason of a variant no node of the cluster could ever hold."""
    kind = f"instance type {variant.InstanceType}" if variant.InstanceType else "the variant"
    return (
        f"Unable to provision requested ML compute capacity for production variant {variant.VariantName}: "
        f"{kind} cannot be placed, as {shortfall}."
    )[:1024]


def waited_for_room(variant: ProductionVariant, needed: ReplicaResources, timeout_s: float) -> str:
    """The FailureReason of a variant whose replica waited the whole model-ready timeout
    for a node with room (the cluster could hold it, but other replicas filled it)."""
    return (
        f"Unable to provision requested ML compute capacity for production variant {variant.VariantName}: "
        f"no node of the Ray cluster had room for a replica ({needed.num_cpus:g} CPUs, "
        f"{needed.memory_bytes / GIB:g} GiB of memory) within the {timeout_s:g} s model-ready timeout; "
        "other endpoints' replicas hold the cluster's CPUs and memory."
    )[:1024]


def health_check_failure(variant_name: str, state: AppState) -> str:
    detail = _last_error_line(state.message) or "the model did not become ready"
    return (
        f"The primary container for production variant {variant_name} did not pass the ping health check: {detail}"
    )[:1024]


def _last_error_line(message: str) -> str:
    """Serve reports constructor failures with a traceback; its last line says what happened."""
    lines = [line.strip() for line in (message or "").splitlines() if line.strip()]
    for line in reversed(lines):
        if "Error" in line or "Exception" in line:
            return line
    return lines[-1] if lines else ""
