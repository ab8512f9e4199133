"""The invocation service: InvokeEndpoint from lookup to reply, whatever the transport.

It owns the whole invocation: the route (which variant, if several), the request limits,
admission against ``MaxConcurrency`` and the account pool, the in-flight count that
demand reports and metrics read, dispatch to Serve or a standby (through a
:class:`Dispatcher`), the endpoint metrics and every error a client sees, as a typed
``ServiceError``. The HTTP route and the Python handles are thin adapters over
:meth:`InvocationService.invoke`; :class:`InvocationHook` s see every invocation of both.
"""

from __future__ import annotations

import logging
import random
import time
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

from serverless_ray.errors import (
    ModelError,
    ModelNotReadyException,
    RuntimeValidationError,
    ServiceError,
    internal_failure,
)
from serverless_ray.gateway.demand import DemandTracker
from serverless_ray.gateway.invocation_types import (
    CUSTOM_ATTRIBUTES,
    InvocationHook,
    InvocationOutcome,
    InvocationReply,
    InvocationRequest,
)
from serverless_ray.gateway.variants import choose_variant
from serverless_ray.messages import InvocationResult, ReplicaCall, ReplicaReply, Route
from serverless_ray.metrics.invocations import InvocationMetrics
from serverless_ray.quota.admission import Throttled
from serverless_ray.quota.limits import account_throttle, endpoint_throttle, recovering_throttle
from serverless_ray.settings import PlatformSettings

log = logging.getLogger(__name__)

MAX_CUSTOM_ATTRIBUTES = 1024


class RouteLookup(Protocol):
    async def lookup(self, endpoint: str) -> Route | None: ...


class Dispatcher(Protocol):
    """Sends a call to a replica of ``route`` (Serve's, or a standby); ModelError if none answers."""

    async def invoke(self, route: Route, call: ReplicaCall) -> ReplicaReply: ...


class Admission(Protocol):
    def slot(self, endpoint: str, limit: int) -> AbstractAsyncContextManager[None]: ...


@dataclass
class _Progress:
    """What an invocation has learnt so far, for its outcome."""

    variant_name: str | None = None
    reply: ReplicaReply | None = None
    route: Route | None = None
    dispatched: bool = False
    on_provisioned: bool = False


class InvocationService:
    def __init__(
        self,
        settings: PlatformSettings,
        *,
        routes: RouteLookup,
        dispatcher: Dispatcher,
        demand: DemandTracker,
        metrics: InvocationMetrics,
        admission: Admission | None = None,
        hooks: Sequence[InvocationHook] = (),
        clock: Callable[[], float] = time.perf_counter,
        wall_clock: Callable[[], float] = time.time,
        pick_variant: Callable[[], float] = random.random,
    ) -> None:
        self._settings = settings
        self._routes = routes
        self._dispatcher = dispatcher
        self._demand = demand
        self._metrics = metrics
        self._admission = admission  # None: concurrency limits are not enforced
        self._hooks = list(hooks)
        self.clock = clock  # durations; transports stamp ``received_at`` with it
        self._wall_clock = wall_clock
        self._pick_variant = pick_variant

    def add_hook(self, hook: InvocationHook) -> None:
        self._hooks.append(hook)

    async def invoke(self, request: InvocationRequest) -> InvocationReply:
        """The reply, or the ``ServiceError`` the client sees (an unexpected failure is an
        ``InternalFailure``)."""
        started = self.clock() if request.received_at is None else request.received_at
        progress = _Progress()
        try:
            for hook in self._hooks:
                await hook.on_start(request)
            reply = await self._invoke(request, started, progress)
        except ServiceError as error:
            self._finish(request, started, progress, error=error)
            raise
        except Exception as exc:
            log.exception("invocation of %s failed", request.endpoint_name)
            error = internal_failure("running InvokeEndpoint", exc)
            self._finish(request, started, progress, error=error)
            raise error from exc
        self._finish(request, started, progress, reply=reply)
        return reply

    # --- the invocation --------------------------------------------------------------

    async def _invoke(self, request: InvocationRequest, started: float, progress: _Progress) -> InvocationReply:
        route = await self._route(request)
        progress.variant_name, progress.route = route.variant_name, route
        call = self._call(request)
        labels = (route.endpoint_name, route.variant_name)
        metrics = self._metrics
        metrics.invocations.labels(*labels).inc()
        try:
            # The slot is held from admission until the reply is ready, cold start included.
            async with self._admitted(route):
                try:
                    with self._demand.track(route.endpoint_name, route.variant_name):
                        progress.on_provisioned = self._observe_provisioned(route, started=True)
                        progress.dispatched = True
                        reply = progress.reply = await self._dispatcher.invoke(route, call)
                finally:
                    self._observe_provisioned(route, started=False)
        except Throttled as throttled:
            metrics.throttles.labels(*labels, throttled.short_of).inc()
            raise self._throttle_error(route, throttled) from None
        except ModelError:
            metrics.errors_5xx.labels(*labels).inc()
            raise
        self._observe_latencies(labels, reply, started)
        result = reply.result
        if not result.ok:
            (metrics.errors_4xx if 400 <= result.status < 500 else metrics.errors_5xx).labels(*labels).inc()
            raise self._model_error(route.endpoint_name, result)
        if len(result.body) > self._settings.max_payload_bytes:
            metrics.errors_5xx.labels(*labels).inc()
            raise ModelError(
                f"Received a response of {len(result.body)} bytes from primary; the limit for serverless "
                f"endpoints is {self._settings.max_payload_bytes} bytes.",
                OriginalStatusCode=result.status, OriginalMessage="", ErrorCode="SERVER_ERROR_FROM_MODEL",
            )
        return InvocationReply(
            body=result.body, content_type=result.content_type, variant_name=route.variant_name,
            request_id=request.request_id, custom_attributes=result.custom_attributes,
        )

    async def _route(self, request: InvocationRequest) -> Route:
        """The route of the variant that serves ``request``, once its limits are checked."""
        name = request.endpoint_name
        route = await self._routes.lookup(name)
        if route is None:
            raise RuntimeValidationError(f"Endpoint {name} of account {self._settings.account_id} not found.")
        if route.app_name is None:
            raise ModelNotReadyException(
                f"Endpoint {name} is still being created; retry once its status is InService."
            )
        route = choose_variant(route, request.target_variant, pick=self._pick_variant)
        if len(request.body) > self._settings.max_payload_bytes:
            raise RuntimeValidationError(f"Request {request.request_id} has oversize body.")
        attributes = request.custom_attributes
        if attributes is not None and (len(attributes) > MAX_CUSTOM_ATTRIBUTES or not attributes.isascii()):
            raise RuntimeValidationError(
                f"{CUSTOM_ATTRIBUTES} must be at most {MAX_CUSTOM_ATTRIBUTES} ASCII characters."
            )
        return route

    def _call(self, request: InvocationRequest) -> ReplicaCall:
        return ReplicaCall(
            request.body, request.content_type, request.accept, request.custom_attributes, request.request_id,
            self._wall_clock(),
        )

    def _admitted(self, route: Route) -> AbstractAsyncContextManager[None]:
        """Admission for serverless endpoints; instance-based ones have no concurrency quota."""
        if self._admission is None or not route.serverless:
            return nullcontext()
        return self._admission.slot(route.endpoint_name, route.max_concurrency)

    # --- metrics and errors ----------------------------------------------------------

    def _observe_provisioned(self, route: Route, *, started: bool) -> bool:
        """Records the provisioned-concurrency metrics; True if an invocation that starts
        now is served by provisioned concurrency."""
        in_flight = self._demand.in_flight(route.endpoint_name)
        self._metrics.observe_provisioned(
            (route.endpoint_name, route.variant_name), in_flight, route.provisioned_concurrency, started=started,
        )
        return 0 < in_flight <= route.provisioned_concurrency

    def _observe_latencies(self, labels: tuple[str, str], reply: ReplicaReply, started: float) -> None:
        metrics = self._metrics
        total_us = (self.clock() - started) * 1e6
        model_us = reply.model_seconds * 1e6
        metrics.model_latency.labels(*labels).observe(model_us)
        metrics.overhead_latency.labels(*labels, str(reply.cold).lower()).observe(max(0.0, total_us - model_us))
        if reply.setup_seconds is not None:
            metrics.model_setup_time.labels(*labels).observe(reply.setup_seconds * 1e6)
        if reply.standby:
            metrics.standby_invocations.labels(*labels).inc()

    def _throttle_error(self, route: Route, throttled: Throttled) -> ServiceError:
        if throttled.short_of == "endpoint":
            return endpoint_throttle(route.endpoint_name, throttled.limit or route.max_concurrency)
        if throttled.short_of == "account":
            return account_throttle(throttled.limit or self._settings.pool)
        return recovering_throttle()

    def _model_error(self, endpoint: str, result: InvocationResult) -> ModelError:
        region, account = self._settings.region, self._settings.account_id
        kind = "client" if 400 <= result.status < 500 else "server"
        text = result.body.decode("utf-8", errors="replace")
        log_group = f"/aws/sagemaker/Endpoints/{endpoint}"
        return ModelError(
            f'Received {kind} error ({result.status}) from primary with message "{text}". '
            f"See the log group {log_group} in account {account} for more information.",
            OriginalStatusCode=result.status,
            OriginalMessage=text,
            LogStreamArn=f"arn:aws:logs:{region}:{account}:log-group:{log_group}",
            ErrorCode=f"{kind.upper()}_ERROR_FROM_MODEL",
        )

    # --- hooks -----------------------------------------------------------------------

    def _finish(
        self, request: InvocationRequest, started: float, progress: _Progress, *,
        reply: InvocationReply | None = None, error: ServiceError | None = None,
    ) -> None:
        if not self._hooks:
            return
        replica = progress.reply
        outcome = InvocationOutcome(
            request=request, variant_name=progress.variant_name, duration_s=self.clock() - started,
            reply=reply, error=error, model_seconds=replica.model_seconds if replica else None,
            cold=bool(replica and replica.cold), standby=bool(replica and replica.standby),
            route=progress.route, dispatched=progress.dispatched, on_provisioned=progress.on_provisioned,
        )
        for hook in self._hooks:
            try:
                hook.on_finish(outcome)
            except Exception:  # a hook must never change what the client gets
                log.exception("invocation hook %r failed", hook)
