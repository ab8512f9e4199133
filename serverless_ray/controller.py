"""The controller process: the control plane as one Ray actor on the head node.

The composition root of the controller. It owns the SQLite store, the endpoint
lifecycle, the autoscaler, Application Auto Scaling, the route board, and the processes
it starts: the quota ledger and the entry points (one gateway per node, see
``gateway/fleet.py``), each handed this actor's and the ledger's handles. Gateways on any
node call it for ``SageMaker.*`` and ``AnyScaleFrontendService.*`` operations, long-poll
it for routes and report demand to it.
"""

from __future__ import annotations

import asyncio
import logging
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
from serverless_ray.control.plane import ControlPlane
from serverless_ray.control.platform_ops import PlatformOperations
from serverless_ray.control.rollout import Rollout
from serverless_ray.control.route_board import RouteBoard
from serverless_ray.control.serve_backend import ServeBackend
from serverless_ray.errors import ServiceError, UnknownOperationException, internal_failure
from serverless_ray.gateway.fleet import GatewayFleet, GatewayInfo
from serverless_ray.gateway.ray_fleet import RayGatewayLauncher, alive_nodes
from serverless_ray.messages import Route
from serverless_ray.metrics.platform import PlatformMetrics
from serverless_ray.quota.ledger_actor import QuotaLedger
from serverless_ray.settings import PlatformSettings
from serverless_ray.spec.services import APPLICATION_AUTOSCALING, SAGEMAKER, SERVERLESS_RAY
from serverless_ray.store import Store

log = logging.getLogger(__name__)

HOUSEKEEPING_INTERVAL_S = 1.0
GAUGE_IDLE_REFRESH_S = 15.0
# How soon a node that joined gets its gateway (and a dead node's gateway is forgotten).
NODE_WATCH_INTERVAL_S = 5.0
# Usage older than this is kept per hour instead of per minute (checked once an hour).
USAGE_MINUTES_KEPT_S = 2 * 86400
USAGE_COMPACT_INTERVAL_S = 3600.0


@ray.remote(num_cpus=0, max_concurrency=1000)
class PlatformController:
    """Remote methods return values, never raise: a ``ServiceError`` comes back as a value
    so that its wire identity crosses the process boundary intact."""

    def __init__(self, settings: PlatformSettings) -> None:
        logging.basicConfig(level=logging.INFO)
        self._settings = settings
        self._store = Store(settings.database_path)
        self._backend = ServeBackend(vcpu_per_gb=settings.vcpu_per_gb)
        self._autoscaler = Autoscaler(self._backend.scale, keep_warm_s=settings.scale_to_zero_after_s)
        self._routes = RouteBoard()
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
            SERVERLESS_RAY: self._platform_ops.call,
        }
        self._metrics = PlatformMetrics()
        self._metrics.watch_usage(self._book.totals, self._book.prices.priced())
        self._compacted_at = 0.0
        self._fleet: GatewayFleet | None = None
        self._ledger = None
        self._background: list[asyncio.Task] = []
        self._gauge_converged = False
        self._gauge_seen: tuple[int, int] = (-1, -1)
        self._gauge_due = 0.0

    async def start(self) -> None:
        """Start the quota ledger, bring stored endpoints back, and start a gateway on
        every alive node; returns once those gateways answer."""
        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
        self._ledger = QuotaLedger.options(
            name=QUOTA_LEDGER_NAME, namespace=NAMESPACE, scheduling_strategy=here
        ).remote(self._settings.pool)
        launcher = RayGatewayLauncher(
            self._settings, controller=ray.get_runtime_context().current_actor, ledger=self._ledger
        )
        self._fleet = GatewayFleet(self._settings.host, launcher, list_nodes=alive_nodes)
        await self._rollout.reconcile_all()
        await self._fleet.sync()
        self._background = [asyncio.create_task(self._housekeep()), asyncio.create_task(self._watch_nodes())]

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
        run = self._services.get(service)
        try:
            if run is None:
                raise UnknownOperationException(f"Operation {service}.{operation} is not supported by this platform.")
            return await run(operation, payload)
        except ServiceError as exc:
            return exc
        except Exception as exc:  # a bug, not the caller's fault: say so without details
            log.exception("operation %s.%s failed", service, operation)
            return internal_failure(f"running {operation}", exc)

    async def watch_routes(self, version: int, timeout_s: float = 30.0) -> tuple[int, dict[str, Route]]:
        return await self._routes.wait_newer(version, timeout_s)

    async def route(self, endpoint: str) -> Route | None:
        return self._routes.get(endpoint)

    async def report_demand(self, gateway_id: str, reports: dict[str, tuple[int, int]]) -> None:
        await self._autoscaler.report(
            gateway_id, {name: DemandReport(in_flight=c, peak=p) for name, (c, p) in reports.items()}
        )

    async def record_usage(self, rows: list[UsageRow]) -> None:
        """A gateway's metered usage: priced, committed, then counted."""
        self._book.record(rows)

    async def metrics(self) -> bytes:
        return self._metrics.render()

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
        self._store.close()

    async def _housekeep(self) -> None:
        while True:
            try:
                await self._autoscaler.tick()
                await self._provisioned.tick()
                self._meter_provisioned()
                await self._refresh_replica_gauge()
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
