"""The controller's lifecycle parts (store, control plane, rollout, autoscaler, routes),
wired as the controller wires them, over an in-memory Serve (:mod:`fake_serve`)."""

from __future__ import annotations

import asyncio

from fake_serve import FakeServeBackend

from serverless_ray.autoscaling.scaler import Autoscaler
from serverless_ray.control.plane import ControlPlane
from serverless_ray.control.rollout import Rollout
from serverless_ray.control.route_board import RouteBoard
from serverless_ray.control.update_room import ROOM_CHECK_S
from serverless_ray.settings import PlatformSettings
from serverless_ray.spec.endpoint import EndpointStatus
from serverless_ray.store import Store


class Platform:
    """The controller's lifecycle parts, as the controller wires them, without Ray."""

    def __init__(self, tmp_path, backend: FakeServeBackend | None = None, *,
                 room_check_s: float | None = ROOM_CHECK_S, model_ready_timeout_s: float = 5) -> None:
        self.settings = PlatformSettings(state_dir=tmp_path / "state", artifact_cache_dir=tmp_path / "cache",
                                         model_ready_timeout_s=model_ready_timeout_s)
        self.store = Store(self.settings.database_path)
        self.backend = backend or FakeServeBackend()
        self.autoscaler = Autoscaler(self.backend.scale, keep_warm_s=60)
        self.routes = RouteBoard()
        self.rollout = Rollout(self.settings, self.store, self.backend, self.autoscaler, self.routes,
                               clock=lambda: 1000.0, room_check_s=room_check_s)
        self.plane = ControlPlane(self.settings, self.store, self.rollout)
        self.model_dir = tmp_path / "model"
        (self.model_dir / "code").mkdir(parents=True, exist_ok=True)
        (self.model_dir / "code" / "requirements.txt").write_text("tiny-lib==1.0  # pinned\n")

    async def call(self, operation: str, payload: dict) -> dict:
        return await self.plane.call(operation, payload)

    async def config(self, name: str, *, memory: int = 1024, max_concurrency: int = 2, model: str = "",
                     provisioned: int | None = None) -> None:
        if not model:
            model = f"m-{name}"
            await self.call("CreateModel", {"ModelName": model, "PrimaryContainer": {
                "Image": "sagemaker-inference:test", "ModelDataUrl": str(self.model_dir)}})
        serverless: dict = {"MemorySizeInMB": memory, "MaxConcurrency": max_concurrency}
        if provisioned is not None:
            serverless["ProvisionedConcurrency"] = provisioned
        await self.call("CreateEndpointConfig", {"EndpointConfigName": name, "ProductionVariants": [{
            "VariantName": "AllTraffic", "ModelName": model, "ServerlessConfig": serverless}]})

    async def settle(self) -> None:
        await self.rollout.wait_idle()

    def status(self, endpoint: str = "ep") -> EndpointStatus:
        return self.store.endpoints.get(endpoint).status

    def route_app(self, endpoint: str = "ep") -> str | None:
        route = self.routes.get(endpoint)
        return route.app_name if route else None


def run(scenario):
    return asyncio.run(scenario())
