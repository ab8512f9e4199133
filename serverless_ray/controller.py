"""The controller process: the control plane as one Ray actor on the head node.

The composition root of the controller. It owns the SQLite store, the endpoint
lifecycle, the autoscaler, Application Auto Scaling, the route board, and the processes
it starts: the quota ledger and the entry points (one gateway per node, see
``gateway/fleet.py``), each handed this actor's and the ledger's handles. Gateways on any
node call it for ``SageMaker.*`` and ``AnyScaleFrontendService.*`` operations, long-poll
it for routes and report demand to it.

The data plane does not share its fate. The ledger and the gateways are detached named
actors, and Serve's replicas belong to Serve. If this process dies, Ray restarts it (same
actor, same handle); the new process rebuilds everything from the store, finds the ledger
and the running gateways by name and adopts them, and adopts the running Serve apps as an
`up` on an existing state directory does. Until then the gateways serve the endpoints they
know and answer control-plane calls with ``ServiceUnavailable``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from serverless_ray.autoscaling.capacity import EndpointCapacity
from serverless_ray.autoscaling.floor import FloorWatch
from serverless_ray.autoscaling.provisioned import ProvisionedScaler
from serverless_ray.autoscaling.records import ScalingTables
from serverless_ray.autoscaling.scaler import Autoscaler, DemandReport
from serverless_ray.autoscaling.service import ScalingService
from serverless_ray.billing.book import UsageBook
from serverless_ray.billing.prices import PriceTable
from serverless_ray.billing.provisioned import Level
from serverless_ray.billing.usage import UsageRow, bucket_of
from serverless_ray.cluster_names import NAMESPACE, QUOTA_LEDGER_NAME
from serverless_ray.control.lifecycle_journal import EndpointState, LifecycleJournal
from serverless_ray.control.operations import run_operation
from serverless_ray.control.plane import ControlPlane
from serverless_ray.control.platform_ops import PlatformOperations
from serverless_ray.control.rollout import Rollout
from serverless_ray.control.route_board import RouteBoard
from serverless_ray.control.serve_backend import ServeBackend
from serverless_ray.control.telemetry import Telemetry
from serverless_ray.errors import ServiceError, ServiceUnavailable
from serverless_ray.gateway.fleet import GatewayFleet, GatewayInfo
from serverless_ray.gateway.ray_fleet import RayGatewayLauncher, alive_nodes, end_leftovers, fleet_gateway_names
from serverless_ray.messages import LogLine, MetricDatum, Route
from serverless_ray.metrics.platform import PlatformMetrics
from serverless_ray.quota.ledger_actor import QuotaLedger
from serverless_ray.settings import PlatformSettings
from serverless_ray.observability.federation import SnapshotRow
from serverless_ray.spec.services import APPLICATION_AUTOSCALING, CLOUDWATCH, LOGS, SAGEMAKER, SERVERLESS_RAY
from serverless_ray.store import Store

log = logging.getLogger(__name__)

HOUSEKEEPING_INTERVAL_S = 1.0
GAUGE_IDLE_REFRESH_S = 15.0
# How soon a node that joined gets its gateway (and a dead node's gateway is forgotten).
NODE_WATCH_INTERVAL_S = 5.0
# How long a control-plane call waits for a restarted controller to be ready before it is
# answered ServiceUnavailable (gateways stop sending them once they see it down).
READY_WAIT_S = 10.0
# Usage older than this is kept per hour instead of per minute (checked once an hour).
USAGE_MINUTES_KEPT_S = 2 * 86400
USAGE_COMPACT_INTERVAL_S = 3600.0


def _log_failed_start(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the restarted controller could not start", exc_info=task.exception())


# Restarted by Ray whenever it dies; calls that were running on the dead process fail
# (they are not retried: an operation may have been half done), new ones wait for the
# new process.
@ray.remote(num_cpus=0, max_concurrency=1000, max_restarts=-1)
class PlatformController:
    """Remote methods return values, never raise: a ``ServiceError`` comes back as a value
    so that its wire identity crosses the process boundary intact."""

    def __init__(self, settings: PlatformSettings) -> None:
        logging.basicConfig(level=logging.INFO)
        self._restarted = ray.get_runtime_context().was_current_actor_reconstructed
        self._settings = settings
        self._store = Store(settings.database_path)
        self._telemetry = Telemetry(settings)
        self._journal = LifecycleJournal(self._endpoint_states())
        self._backend = ServeBackend(vcpu_per_gb=settings.vcpu_per_gb)
        self._autoscaler = Autoscaler(self._scale, keep_warm_s=settings.scale_to_zero_after_s)
        self._routes = RouteBoard(first_version=time.time_ns() // 1_000_000)  # see RouteBoard
        self._rollout = Rollout(settings, self._store, self._backend, self._autoscaler, self._routes)
        self._floors = FloorWatch()
        self._plane = ControlPlane(settings, self._store, self._rollout, floors=self._floors)
        tables = ScalingTables(self._store)
        capacity = EndpointCapacity(self._store, self._plane.set_provisioned_concurrency)
        self._provisioned = ProvisionedScaler(tables, capacity, self._autoscaler.demand)
        self._scaling = ScalingService(
            region=settings.region, account_id=settings.account_id, tables=tables, capacity=capacity,
            on_target_change=self._provisioned.on_target_change,
        )
        self._book = UsageBook(self._store.usage, PriceTable.load(settings.prices_file))
        self._replica_counts: dict[tuple[str, str], int] = {}
        self._platform_ops = PlatformOperations(
            self._book, self._autoscaler, self._routes, lambda: dict(self._replica_counts)
        )
        self._services = {
            SAGEMAKER: self._plane.call, APPLICATION_AUTOSCALING: self._scaling.call,
            CLOUDWATCH: self._telemetry.call_cloudwatch, LOGS: self._telemetry.call_logs,
            SERVERLESS_RAY: self._platform_ops.call,
        }
        self._metrics = PlatformMetrics()
        self._metrics.registry.register(self._telemetry.federation)
        self._metrics.watch_usage(self._book.totals, self._book.prices.priced())
        self._compacted_at = 0.0
        self._journal_seen = -1
        self._busy: dict[str, bool] = {}  # endpoints with demand at the last tick
        self._fleet: GatewayFleet | None = None
        self._ledger = None
        self._background: list[asyncio.Task] = []
        self._gauge_converged = False
        self._gauge_seen: tuple[int, int] = (-1, -1)
        self._gauge_due = 0.0
        self._ready = asyncio.Event()
        self._starting: asyncio.Task | None = None
        if self._restarted:
            # Nobody calls start() on a process Ray restarted: it starts itself.
            log.warning("the controller was restarted; rebuilding from %s", settings.database_path)
            self._starting = asyncio.get_event_loop().create_task(self._start())
            self._starting.add_done_callback(_log_failed_start)

    async def start(self) -> None:
        """Start the quota ledger, bring stored endpoints back, and start a gateway on
        every alive node; returns once those gateways answer."""
        if self._starting is None:
            self._starting = asyncio.create_task(self._start())
        await asyncio.shield(self._starting)

    async def _start(self) -> None:
        """Start (or, after a restart, find) the ledger and the gateways, then adopt or
        redeploy every stored endpoint."""
        if self._restarted:
            self._ledger = self._find_ledger()
        else:
            # A platform that died without stopping may have left its detached actors.
            stale = end_leftovers([QUOTA_LEDGER_NAME, *fleet_gateway_names()])
            if stale:
                log.warning("ended actors of an earlier platform: %s", ", ".join(stale))
        if self._ledger is None:
            here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
            self._ledger = QuotaLedger.options(
                name=QUOTA_LEDGER_NAME, namespace=NAMESPACE, lifetime="detached", scheduling_strategy=here
            ).remote(self._settings.pool)
        launcher = RayGatewayLauncher(
            self._settings, controller=ray.get_runtime_context().current_actor, ledger=self._ledger
        )
        self._fleet = GatewayFleet(self._settings.host, launcher, list_nodes=alive_nodes, scheme=self._settings.scheme)
        if self._restarted:
            try:
                adopted = await self._fleet.adopt()
                log.warning("the restarted controller adopted %d running gateway(s)", adopted)
            except Exception:  # the fleet's sync starts gateways where none was adopted
                log.exception("adopting the running gateways failed")
        await self._rollout.reconcile_all()
        self._ready.set()  # routes are published: gateways may follow them again
        await self._fleet.sync()
        self._background = [asyncio.create_task(self._housekeep()), asyncio.create_task(self._watch_nodes())]

    @staticmethod
    def _find_ledger() -> Any:
        try:
            return ray.get_actor(QUOTA_LEDGER_NAME, namespace=NAMESPACE)
        except ValueError:
            return None

    async def ping(self) -> int:
        """This process's id, once started (a restarted controller answers when it has
        rebuilt); a watcher that sees it change knows the controller was restarted."""
        await self._ready.wait()
        return os.getpid()

    async def pid(self) -> int:
        """This controller's process (for fault-injection tests)."""
        return os.getpid()

    async def settings(self) -> PlatformSettings:
        return self._settings

    async def gateways(self) -> dict[str, GatewayInfo]:
        """Node id → the entry point running on that node."""
        return self._fleet.registry() if self._fleet is not None else {}

    async def ledger(self) -> Any:
        """The quota ledger's handle, for gateways started by others (tests, benchmarks)."""
        return self._ledger

    async def call(self, service: str, operation: str, payload: Any) -> dict[str, Any] | ServiceError:
        """An awsJson operation of ``service`` (``SageMaker`` or ``AnyScaleFrontendService``)."""
        if not await self._started_within(READY_WAIT_S):
            return ServiceUnavailable("The control plane is starting; try again shortly.")
        return await run_operation(self._services, service, operation, payload)

    async def watch_routes(self, version: int, timeout_s: float = 30.0) -> tuple[int, dict[str, Route]]:
        # Not before the stored endpoints' routes are published: a gateway must never
        # take a restarted controller's empty board for the truth.
        await self._ready.wait()
        return await self._routes.wait_newer(version, timeout_s)

    async def route(self, endpoint: str) -> Route | None:
        await self._ready.wait()
        return self._routes.get(endpoint)

    async def report_demand(self, gateway_id: str, reports: dict[str, tuple[int, int]]) -> None:
        await self._ready.wait()
        await self._autoscaler.report(
            gateway_id, {name: DemandReport(in_flight=c, peak=p) for name, (c, p) in reports.items()}
        )

    async def record_usage(self, rows: list[UsageRow]) -> None:
        """A gateway's metered usage: priced, committed, then counted."""
        self._book.record(rows)

    async def metrics(self, gateway_id: str | None = None, snapshot: list[SnapshotRow] | None = None) -> bytes:
        """Prometheus text of the whole cluster: the controller's series and every gateway's,
        summed (``snapshot``: the asking gateway's own series, as of now)."""
        if gateway_id is not None and snapshot is not None:
            self._telemetry.federation.update(gateway_id, snapshot)
        return self._metrics.render()

    async def ingest(self, gateway_id: str, batch: list[MetricDatum], snapshot: list[SnapshotRow] | None) -> None:
        """A gateway's datapoints (per second) and its Prometheus series."""
        await self._telemetry.ingest(batch, gateway_id, snapshot)

    async def ingest_logs(self, lines: list[LogLine]) -> None:
        """Lines a replica or standby wrote, for their endpoints' log groups."""
        await self._telemetry.ingest_logs(lines)

    async def _started_within(self, timeout_s: float) -> bool:
        if self._ready.is_set():
            return True
        try:
            await asyncio.wait_for(self._ready.wait(), timeout_s)
        except asyncio.TimeoutError:
            return False
        return True

    async def wait_idle(self) -> None:
        """Wait until no lifecycle work is running (used by tests and shutdown)."""
        await self._rollout.wait_idle()

    async def shutdown(self, teardown: bool = True) -> None:
        """Stop background work; with ``teardown`` also delete every endpoint's Serve app.

        The store is untouched either way, so a restart brings every endpoint back.
        """
        for task in self._background:
            task.cancel()
        if self._fleet is not None:
            await self._fleet.stop()  # gateways send the usage they still hold
        self._book.flush()
        if self._ledger is not None:
            ray.kill(self._ledger, no_restart=True)
            self._ledger = None
        if teardown:
            for app_name, _ in (await asyncio.to_thread(self._backend.app_states)).items():
                self._backend.delete(app_name)
        self._telemetry.close()
        self._store.close()

    async def _housekeep(self) -> None:
        while True:
            try:
                await self._autoscaler.tick()
                await self._provisioned.tick()
                self._meter_provisioned()
                await self._refresh_replica_gauge()
                await self._record_telemetry()
            except Exception:
                log.exception("housekeeping failed")
            await asyncio.sleep(HOUSEKEEPING_INTERVAL_S)

    def _meter_provisioned(self) -> None:
        """Provisioned concurrency accrues while it is configured, used or not."""
        levels = {
            (route.endpoint_name, route.variant_name): Level(route.memory_size_mb, self._autoscaler.floor(route.endpoint_name))
            for route in self._routes.snapshot()[1].values() if route.serverless and route.memory_size_mb
        }
        self._book.observe_provisioned(levels)
        now = time.monotonic()
        if now - self._compacted_at >= USAGE_COMPACT_INTERVAL_S:
            self._compacted_at = now
            self._store.usage.compact(bucket_of(time.time() - USAGE_MINUTES_KEPT_S, 3600))

    async def _watch_nodes(self) -> None:
        assert self._fleet is not None
        while True:
            await asyncio.sleep(NODE_WATCH_INTERVAL_S)
            try:
                await self._fleet.sync()
            except Exception:
                log.exception("gateway fleet sync failed")

    async def _scale(self, app_name: str, replicas: int) -> None:
        """The autoscaler's decisions, applied on Serve and told in the endpoint's log group."""
        await self._backend.scale(app_name, replicas)
        for route in self._routes.snapshot()[1].values():
            for variant, app in route.targets():
                if app == app_name:
                    await self._telemetry.lifecycle(route.endpoint_name,
                                                    LifecycleJournal.scaled(variant, app_name, replicas))

    def _endpoint_states(self) -> dict[str, EndpointState]:
        states = {}
        for record in self._store.endpoints.all():
            deployment = record.pending or record.current
            states[record.name] = EndpointState(str(getattr(record.status, "value", record.status)),
                                                record.failure_reason,
                                                deployment.config_name if deployment else None)
        return states

    async def _record_telemetry(self) -> None:
        """Lifecycle events when an endpoint's state moved (routes are republished on every
        move), cluster-wide concurrency of busy variants, then the store's upkeep."""
        if self._routes.version != self._journal_seen:
            self._journal_seen = self._routes.version
            for endpoint, message in self._journal.observe(self._endpoint_states()):
                await self._telemetry.lifecycle(endpoint, message)
        for route in self._routes.snapshot()[1].values():
            if route.serverless and route.app_name:
                in_flight = self._autoscaler.demand(route.endpoint_name)
                key = route.endpoint_name.lower()
                if in_flight or self._busy.get(key):
                    self._telemetry.observe_utilization(
                        route.endpoint_name, route.variant_name, in_flight=in_flight,
                        max_concurrency=route.max_concurrency, provisioned=route.provisioned_concurrency)
                self._busy[key] = bool(in_flight)
        await self._telemetry.housekeep()

    async def _refresh_replica_gauge(self) -> None:
        """Replica counts and utilization for /metrics, read from Serve only when they may
        have changed: while some endpoint's replicas differ from its target, after demand
        or a target moved, and otherwise once every ``GAUGE_IDLE_REFRESH_S`` (a replica
        that died). Asking Serve costs in proportion to the number of endpoints."""
        now = time.monotonic()
        seen = (self._autoscaler.changes, self._routes.version)
        if self._gauge_converged and seen == self._gauge_seen and now < self._gauge_due:
            return
        self._gauge_seen, self._gauge_due = seen, now + GAUGE_IDLE_REFRESH_S
        states = await asyncio.to_thread(self._backend.app_states)
        targets = self._autoscaler.targets()
        self._gauge_converged = all(
            target is None or (states.get(app) is not None and states[app].running_replicas == target)
            for app, target in targets.items()
        )
        counts: dict[tuple[str, str], int] = {}
        utilization: dict[tuple[str, str], float] = {}
        floors: dict[tuple[str, str], tuple[int, int]] = {}
        reasons: dict[tuple[str, str], str] = {}
        for route in self._routes.snapshot()[1].values():
            for variant_name, app_name in route.targets():  # instance-based endpoints may have several
                state = states.get(app_name)
                labels = (route.endpoint_name, variant_name)
                counts[labels] = state.running_replicas if state else 0
                if route.max_concurrency:
                    utilization[labels] = self._autoscaler.demand(route.endpoint_name) / route.max_concurrency
                if route.serverless:
                    floors[labels] = (self._autoscaler.floor(route.endpoint_name), counts[labels])
                    reasons[labels] = state.message if state else ""
        self._replica_counts = counts
        self._floors.observe(floors, time.time(), reasons)
        self._metrics.set_endpoints(counts, utilization, {key: self._floors.missing(key) for key in floors})
