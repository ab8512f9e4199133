"""The gateway process: one uvicorn server inside a Ray actor, one per node.

The composition root of the gateway: whoever starts it (the controller's fleet, or a
test) hands it the controller's and the quota ledger's handles; it builds the invocation
service (routes, admission, demand, dispatch to Serve or a standby, metrics) and serves
the SageMaker APIs over HTTP and InvokeEndpoint to Python handles, both through it. It
also keeps up its node's confined replicas (``replica_upkeep.py``): why one died, the
clean-up after dead ones, their utilization in ``/metrics``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import Any

import ray
import uvicorn
from prometheus_client import generate_latest

from serverless_ray.auth.authenticator import Authenticator
from serverless_ray.auth.tls import uvicorn_tls_options
from serverless_ray.errors import ServiceError
from serverless_ray.gateway import serve_replicas
from serverless_ray.gateway.app import build_app
from serverless_ray.gateway.cold_start_bridge import ColdStartBridge
from serverless_ray.gateway.controller_client import CONTROLLER, ControllerClient
from serverless_ray.gateway.demand import DemandTracker
from serverless_ray.gateway.dispatch import ReplicaDispatcher
from serverless_ray.gateway.in_flight import InFlight
from serverless_ray.gateway.invocation_types import InvocationReply, InvocationRequest
from serverless_ray.gateway.invocations import InvocationService
from serverless_ray.gateway.metering import MeteringHook
from serverless_ray.gateway.platform_health import PlatformHealth
from serverless_ray.gateway.replica_upkeep import ReplicaUpkeep
from serverless_ray.gateway.routing import RouteCache
from serverless_ray.gateway.standby_pool import StandbyPool, ray_spawner
from serverless_ray.gateway.standby_pools import StandbyPools
from serverless_ray.messages import Route
from serverless_ray.gateway.telemetry_shipper import TelemetryShipper
from serverless_ray.metrics.invocations import InvocationMetrics
from serverless_ray.observability.invocation_recorder import InvocationMetricsHook
from serverless_ray.observability.recorder import MetricRecorder
from serverless_ray.quota.admission import LocalAdmission
from serverless_ray.quota.ledger import Reclaimed

from serverless_ray.quota.ledger_client import HEARTBEAT_S, LEDGER, LedgerActorClient
from serverless_ray.settings import PlatformSettings

log = logging.getLogger(__name__)

# Serve's handles re-record their own gauges every 100 ms by default, each of them: with
# a handle per endpoint that is most of an idle entry point's CPU. Ray exports metrics
# every few seconds anyway.
_HANDLE_METRICS_ENV = {"RAY_SERVE_METRICS_EXPORT_INTERVAL_MS": "5000"}
LISTEN_BACKLOG = 2048  # uvicorn's


@ray.remote(num_cpus=0, max_concurrency=100_000, runtime_env={"env_vars": _HANDLE_METRICS_ENV})
class Gateway:
    def __init__(self, settings: PlatformSettings, gateway_id: str, controller: Any, ledger: Any = None) -> None:
        """``controller`` and ``ledger``: actor handles of the controller and the quota
        ledger (the ledger may be None when concurrency limits are not enforced)."""
        self._settings = settings
        self._gateway_id = gateway_id
        pings = {CONTROLLER: lambda: controller.ping.remote()}
        if ledger is not None:
            pings[LEDGER] = lambda: ledger.ping.remote()
        # Both actors may be restarted by Ray while this gateway serves on.
        self._health = PlatformHealth(pings)
        self._controller = ControllerClient(controller, self._health)
        self._ledger = ledger
        self._port: int | None = None
        self._server: uvicorn.Server | None = None
        self._serving: asyncio.Task | None = None
        self._service: InvocationService | None = None
        self._routes: RouteCache | None = None
        self._demand: DemandTracker | None = None
        self._admission: LocalAdmission | None = None
        self._pool: StandbyPools | None = None
        self._bridge: ColdStartBridge | None = None
        self._meter: MeteringHook | None = None
        self._shipper: TelemetryShipper | None = None
        self._upkeep: ReplicaUpkeep | None = None
        self._unsubscribe = lambda: None
        self._ready = False

    async def start(self, *, reuse_port: bool = False, port: int | None = None) -> int:
        """Bind, start serving and return the port (useful when ``settings.port`` is 0).
        ``port``: bind this one instead of ``settings.port`` (a dead gateway's, so that
        its clients' URL stays valid), or ``settings.port`` if it is taken."""
        settings, controller, gateway_id = self._settings, self._controller, self._gateway_id
        # Bound first: the port is this gateway's from now on. Listening too (unless other
        # gateways share the port, which should take its connections meanwhile): clients
        # that connect while it starts wait in the backlog instead of being refused.
        sock = self._bind(reuse_port, port)
        if not reuse_port:
            sock.listen(LISTEN_BACKLOG)
        in_flight = InFlight()
        metrics = InvocationMetrics()
        metrics.watch_in_flight(in_flight.by_variant)
        # This node's confined replicas: why one died, cleaning up after it, its utilization.
        self._upkeep = upkeep = ReplicaUpkeep(settings, ray.get_runtime_context().get_node_id())
        upkeep.register_metrics(metrics.registry)
        upkeep.start()
        self._bridge = self._start_standbys(metrics)
        dispatcher = ReplicaDispatcher(
            timeout_s=settings.invocation_timeout_s, bridge=self._bridge, verdicts=upkeep.verdict,
        )
        pools = self._pool

        def follow(routes: dict[str, Route]) -> None:
            dispatcher.follow(routes)
            if pools is not None:  # standbys in the framework environments the endpoints run in
                pools.follow(routes)

        self._routes = RouteCache(controller, on_change=follow)

        async def report(reports: dict[str, tuple[int, int]]) -> None:
            await controller.report_demand(gateway_id, reports)

        self._demand = DemandTracker(report, in_flight=in_flight)
        if settings.enforce_concurrency_limits:
            if self._ledger is None:
                raise ValueError("a gateway that enforces concurrency limits needs the quota ledger's handle")
            me = ray.get_runtime_context().current_actor
            self._admission = LocalAdmission(gateway_id, LedgerActorClient(self._ledger, me), heartbeat_s=HEARTBEAT_S)
            await self._ledger.register.remote(gateway_id, me)
            self._admission.start()
        self._meter = MeteringHook(controller.record_usage)
        self._service = InvocationService(
            settings, routes=self._routes, dispatcher=dispatcher, demand=self._demand, metrics=metrics,
            admission=self._admission, hooks=[self._meter],
        )
        recorder = MetricRecorder()
        if settings.observability:
            self._service.add_hook(InvocationMetricsHook(recorder))

        async def ship(batch, snapshot) -> None:
            await controller.ingest(gateway_id, batch, snapshot)

        self._shipper = shipper = TelemetryShipper(recorder, metrics.registry, ship,
                                                   sample_utilization=settings.observability)
        await self._routes.start()
        self._demand.start()
        self._meter.start()
        shipper.start()

        async def metrics_text() -> bytes:
            # The whole cluster's series, this gateway's counted up to this moment; only
            # this gateway's while the controller is down.
            try:
                return await controller.metrics(gateway_id, shipper.snapshot())
            except ServiceError:
                return generate_latest(metrics.registry)

        app = build_app(invocations=self._service, control=controller, metrics_text=metrics_text,
                        ready=lambda: self._ready, unavailable=self._health.down,
                        authenticator=_authenticator(settings))
        self._health.start()
        self._port = await self._serve(app, sock)
        return self._port

    def _bind(self, reuse_port: bool, port: int | None) -> socket.socket:
        """A socket bound to ``port`` if given and free, else to the configured port."""
        host = self._settings.host
        if port is not None and port != self._settings.port:
            try:
                return _bound_socket(host, port, reuse_port)
            except OSError as exc:
                log.warning("gateway %s cannot bind port %d again (%s); binding %d", self._gateway_id, port, exc,
                            self._settings.port)
        return _bound_socket(host, self._settings.port, reuse_port)

    async def _serve(self, app, sock: socket.socket) -> int:
        settings = self._settings
        logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
        config = uvicorn.Config(
            app, host=settings.host, port=sock.getsockname()[1], loop="none",
            lifespan="off", access_log=False, log_config=None, timeout_keep_alive=60,
            **uvicorn_tls_options(settings.tls_cert, settings.tls_key),
        )
        server = uvicorn.Server(config)
        # Signals belong to the process that runs the platform, not to this actor.
        server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self._serving = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
        while not server.started:
            if self._serving.done():
                self._serving.result()
            await asyncio.sleep(0.01)
        self._server = server
        self._ready = True
        return sock.getsockname()[1]

    def _start_standbys(self, metrics: InvocationMetrics) -> ColdStartBridge | None:
        """This node's standby pool and the bridge that lends it to cold endpoints."""
        settings = self._settings
        if settings.warm_pool_size == 0:
            return None
        node_id = ray.get_runtime_context().get_node_id()
        scratch = (str(settings.replica_runtime_dir), settings.ephemeral_storage_mb, settings.isolation != "off")
        base = StandbyPool(settings.warm_pool_size, ray_spawner(node_id, settings.warm_pool_preload, scratch))

        def environment_pool(environment: tuple[str, ...], preload: tuple[str, ...]) -> StandbyPool:
            spawn = ray_spawner(node_id, (*settings.warm_pool_preload, *preload), scratch, environment=environment)
            return StandbyPool(settings.environment_standbys, spawn)

        self._pool = StandbyPools(base, environment_pool if settings.environment_standbys else None)
        # Through the module: this actor's methods are pickled by value, the registry must not be.
        counts = serve_replicas.REPLICA_COUNTS
        bridge = ColdStartBridge(
            self._pool.pool_for, counts.get,
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

    async def watch(self) -> None:
        """Never returns: the controller's fleet keeps one call outstanding, which Ray
        fails the moment this gateway dies (and the platform object in the caller's
        process does the same to find this node's next gateway)."""
        await asyncio.Event().wait()

    async def describe(self) -> tuple[str, str, int | None]:
        """(gateway id, node id, port): what a restarted controller needs to adopt this
        gateway (the port is None until it serves)."""
        return self._gateway_id, ray.get_runtime_context().get_node_id(), self._port

    async def pid(self) -> int:
        """This gateway's process (for fault-injection tests)."""
        return os.getpid()

    async def standby_pids(self) -> list[int]:
        """Processes of this node's idle standbys (for fault-injection tests)."""
        if self._pool is None:
            return []
        pids = await asyncio.gather(*(s.pid() for s in self._pool.idle_standbys()), return_exceptions=True)
        return [pid for pid in pids if isinstance(pid, int)]  # a dead one is left out

    async def unavailable(self) -> dict[str, str]:
        """Platform actors this gateway cannot reach now, and why."""
        return self._health.down()

    async def invoke(
        self, endpoint: str, body: bytes, *, content_type: str | None = None, accept: str | None = None,
        custom_attributes: str | None = None, target_variant: str | None = None,
    ) -> InvocationReply | ServiceError:
        """InvokeEndpoint without HTTP (for Python handles), through the same invocation
        service. A ``ServiceError`` is returned, not raised, so that it reaches the caller
        as itself; the caller raises it."""
        assert self._service is not None, "the gateway has not started"
        try:
            return await self._service.invoke(InvocationRequest(
                endpoint_name=endpoint, body=body, content_type=content_type, accept=accept,
                custom_attributes=custom_attributes, target_variant=target_variant,
            ))
        except ServiceError as error:
            return error

    async def stream(
        self, endpoint: str, body: bytes, *, content_type: str | None = None, accept: str | None = None,
        custom_attributes: str | None = None, target_variant: str | None = None,
    ):
        """InvokeEndpointWithResponseStream without HTTP (for Python handles), called with
        ``num_returns="streaming"``: yields the parts as bytes. A ``ServiceError``, before
        the first part or after, is yielded as the last item (the caller raises it).
        Cancelling the call closes the stream (slot freed, model's generator closed)."""
        assert self._service is not None, "the gateway has not started"
        try:
            reply = await self._service.invoke_stream(InvocationRequest(
                endpoint_name=endpoint, body=body, content_type=content_type, accept=accept,
                custom_attributes=custom_attributes, target_variant=target_variant,
            ))
        except ServiceError as error:
            yield error
            return
        assert reply.parts is not None
        try:
            async for part in reply.parts:
                yield part
        except ServiceError as error:
            yield error
        finally:
            await reply.parts.aclose()

    async def reclaim(self, keys: list[str] | None = None) -> Reclaimed | None:
        """The ledger asks for idle tokens back (another gateway is short of them)."""
        if self._admission is None:
            return None
        return self._admission.reclaim(keys)

    async def stop(self) -> None:
        self._ready = False
        self._health.stop()
        if self._shipper is not None:
            await self._shipper.stop()  # what it counted reaches the controller before it goes
        for part in (self._routes, self._demand, self._admission, self._upkeep):
            if part is not None:
                part.stop()
        self._unsubscribe()
        if self._bridge is not None:
            self._bridge.stop()
        if self._pool is not None:
            self._pool.stop()
        if self._server is not None and self._serving is not None:
            self._server.should_exit = True
            await asyncio.wait_for(self._serving, timeout=10)
        if self._meter is not None:
            await self._meter.stop()  # after the server: invocations that finished while it stopped are sent too


def _bound_socket(host: str, port: int, reuse_port: bool) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        # A dead gateway's connections may linger in TIME_WAIT; its successor binds anyway.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _authenticator(settings: PlatformSettings) -> Authenticator | None:
    """The check every HTTP request passes when the platform has credentials."""
    if settings.credentials is None:
        return None
    return Authenticator.for_platform(
        settings.credentials, region=settings.region, account_id=settings.account_id,
        internal=settings.internal_principal, model_data_roots=settings.model_data_roots,
    )
