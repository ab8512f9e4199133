"""A gateway: one uvicorn server inside a Ray actor, one per node."""

from __future__ import annotations

import asyncio
import logging
import socket

import ray
import uvicorn

from serverless_ray.control.actor import CONTROLLER_NAME, NAMESPACE
from serverless_ray.gateway.app import build_app
from serverless_ray.gateway.cold_start_bridge import ColdStartBridge
from serverless_ray.gateway.context import GatewayContext
from serverless_ray.gateway.demand import DemandTracker
from serverless_ray.gateway.invoker import Invoker
from serverless_ray.gateway.replica_upkeep import ReplicaUpkeep
from serverless_ray.gateway.routing import RouteCache
from serverless_ray.gateway import serve_replicas
from serverless_ray.gateway.standby_pool import StandbyPool, ray_spawner
from serverless_ray.metrics.invocations import InvocationMetrics
from serverless_ray.quota.admission import LocalAdmission
from serverless_ray.quota.ledger_actor import HEARTBEAT_S, QUOTA_LEDGER_NAME, LedgerActorClient
from serverless_ray.settings import PlatformSettings


# Serve's handles re-record their own gauges every 100 ms by default, each of them: with
# a handle per endpoint that is most of an idle entry point's CPU. Ray exports metrics
# every few seconds anyway.
_HANDLE_METRICS_ENV = {"RAY_SERVE_METRICS_EXPORT_INTERVAL_MS": "5000"}


@ray.remote(num_cpus=0, max_concurrency=100_000, runtime_env={"env_vars": _HANDLE_METRICS_ENV})
class Gateway:
    def __init__(self, settings: PlatformSettings, gateway_id: str) -> None:
        self._settings = settings
        self._gateway_id = gateway_id
        self._server: uvicorn.Server | None = None
        self._serving: asyncio.Task | None = None
        self._ctx: GatewayContext | None = None
        self._pool: StandbyPool | None = None
        self._bridge: ColdStartBridge | None = None
        self._upkeep: ReplicaUpkeep | None = None
        self._unsubscribe = lambda: None

    async def start(self, *, reuse_port: bool = False) -> int:
        """Bind, start serving and return the port (useful when ``settings.port`` is 0)."""
        controller = ray.get_actor(CONTROLLER_NAME, namespace=NAMESPACE)
        gateway_id = self._gateway_id

        async def report(reports):
            await controller.report_demand.remote(gateway_id, reports)

        metrics = InvocationMetrics()
        self._upkeep = upkeep = ReplicaUpkeep(self._settings, ray.get_runtime_context().get_node_id())
        upkeep.register_metrics(metrics.registry)
        upkeep.start()
        self._bridge = self._start_standbys(metrics)
        invoker = Invoker(timeout_s=self._settings.invocation_timeout_s, bridge=self._bridge,
                          verdicts=upkeep.verdict)
        ctx = GatewayContext(
            settings=self._settings,
            controller=controller,
            routes=RouteCache(controller, on_change=invoker.follow),
            demand=DemandTracker(report),
            invoker=invoker,
            metrics=metrics,
        )
        if self._settings.enforce_concurrency_limits:
            ledger = ray.get_actor(QUOTA_LEDGER_NAME, namespace=NAMESPACE)
            me = ray.get_runtime_context().current_actor
            ctx.admission = LocalAdmission(gateway_id, LedgerActorClient(ledger, me), heartbeat_s=HEARTBEAT_S)
            await ledger.register.remote(gateway_id, me)
            ctx.admission.start()
        await ctx.routes.start()
        ctx.demand.start()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((self._settings.host, self._settings.port))
        logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
        config = uvicorn.Config(
            build_app(ctx), host=self._settings.host, port=self._settings.port, loop="none",
            lifespan="off", access_log=False, log_config=None, timeout_keep_alive=60,
        )
        server = uvicorn.Server(config)
        # Signals belong to the process that runs the platform, not to this actor.
        server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self._serving = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
        while not server.started:
            if self._serving.done():
                self._serving.result()
            await asyncio.sleep(0.01)
        self._server, self._ctx = server, ctx
        ctx.ready = True
        return sock.getsockname()[1]

    def _start_standbys(self, metrics: InvocationMetrics) -> ColdStartBridge | None:
        """This node's standby pool and the bridge that lends it to cold endpoints."""
        settings = self._settings
        if settings.warm_pool_size == 0:
            return None
        node_id = ray.get_runtime_context().get_node_id()
        scratch = (str(settings.replica_runtime_dir), settings.ephemeral_storage_mb, settings.isolation != "off")
        self._pool = StandbyPool(settings.warm_pool_size, ray_spawner(node_id, settings.warm_pool_preload, scratch))
        # Through the module: this actor's methods are pickled by value, the registry must not be.
        counts = serve_replicas.REPLICA_COUNTS
        bridge = ColdStartBridge(
            self._pool, counts.get,
            adopt_timeout_s=settings.model_ready_timeout_s,
            call_timeout_s=settings.invocation_timeout_s,
            release_idle_after_s=max(1.0, settings.scale_to_zero_after_s),
        )
        self._unsubscribe = counts.subscribe(bridge.on_serve_replicas)
        metrics.watch_standbys(lambda: self._pool.idle, lambda: self._pool.in_use)
        self._pool.start()
        return bridge

    async def ping(self) -> bool:
        """Liveness, for the controller's gateway fleet."""
        return True

    async def invoke(
        self, endpoint: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        """InvokeEndpoint without HTTP (for Python handles): admission, routing and errors
        exactly as over HTTP. Returns status, headers and body."""
        from serverless_ray.gateway.runtime_api import invoke

        assert self._ctx is not None, "the gateway has not started"
        response = await invoke(self._ctx, endpoint, body, headers)
        return response.status_code, dict(response.headers), bytes(response.body)

    async def reclaim(self, keys: list[str] | None = None) -> int:
        """The ledger asks for idle tokens back (another gateway is short of them)."""
        if self._ctx is None or self._ctx.admission is None:
            return 0
        return self._ctx.admission.reclaim(keys)

    async def stop(self) -> None:
        if self._ctx is not None:
            self._ctx.ready = False
            self._ctx.routes.stop()
            self._ctx.demand.stop()
            if self._ctx.admission is not None:
                self._ctx.admission.stop()
        self._unsubscribe()
        if self._upkeep is not None:
            self._upkeep.stop()
        if self._bridge is not None:
            self._bridge.stop()
        if self._pool is not None:
            self._pool.stop()
        if self._server is not None and self._serving is not None:
            self._server.should_exit = True
            await asyncio.wait_for(self._serving, timeout=10)
