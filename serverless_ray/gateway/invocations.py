"""The invocation service: InvokeEndpoint from lookup to reply, whatever the transport.

It owns the whole invocation: the route (which variant, if several), the request limits,
admission against ``MaxConcurrency`` and the account pool, the in-flight count that
demand reports and metrics read, dispatch to Serve or a standby (through a
:class:`Dispatcher`), the endpoint metrics and every error a client sees, as a typed
``ServiceError``. The HTTP routes and the Python handles are thin adapters over
:meth:`InvocationService.invoke` and :meth:`InvocationService.invoke_stream` (the same
steps, the reply sent part by part); :class:`InvocationHook` s see every invocation.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from contextlib import AbstractAsyncContextManager, aclosing, asynccontextmanager, contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from typing import Any, AsyncGenerator, AsyncIterator, Callable, Iterator, Protocol, Sequence

from serverless_ray.errors import (
    InternalStreamFailure,
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
    StreamedReply,
)
from serverless_ray.gateway.streaming import StreamTally, client_gone, model_raised, part_too_large, stream_error
from serverless_ray.gateway.variants import choose_variant
from serverless_ray.messages import InvocationResult, ReplicaCall, ReplicaReply, Route, StreamEnd
from serverless_ray.metrics.invocations import InvocationMetrics
from serverless_ray.quota.admission import Throttled
from serverless_ray.quota.limits import account_throttle, endpoint_throttle, recovering_throttle
from serverless_ray.settings import PlatformSettings
from serverless_ray.spec.arns import log_group_name, log_stream_arn

log = logging.getLogger(__name__)

MAX_CUSTOM_ATTRIBUTES = 1024


class RouteLookup(Protocol):
    async def lookup(self, endpoint: str) -> Route | None: ...


class Dispatcher(Protocol):
    """Sends a call to a replica of ``route`` (Serve's, or a standby); ModelError if none
    answers (``ModelTimedOut`` if not within the invocation timeout)."""

    async def invoke(self, route: Route, call: ReplicaCall) -> ReplicaReply: ...

    def stream(self, route: Route, call: ReplicaCall) -> AsyncIterator[Any]:
        """The streamed reply's items: a ``ReplicaReply`` head (no body), the parts as
        ``bytes``, a ``StreamEnd``; closing it stops the replica's stream. The timeout
        applies to the whole stream."""
        ...


class Admission(Protocol):
    def slot(self, endpoint: str, limit: int) -> AbstractAsyncContextManager[None]: ...


@dataclass
class _Progress:
    """What an invocation has learnt so far, for its outcome."""

    variant_name: str | None = None
    reply: ReplicaReply | None = None
    tally: StreamTally | None = field(default=None)  # set for a streamed invocation
    provisioned: bool | None = None
    route: Route | None = None
    dispatched: bool = False


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
        await self._start_hooks(request, started, progress)
        with self._finished_if_failed(request, started, progress, "invocation of %s failed"):
            reply = await self._invoke(request, started, progress)
        self._finish(request, started, progress, reply=reply)
        return reply

    async def invoke_stream(self, request: InvocationRequest) -> StreamedReply:
        """InvokeEndpointWithResponseStream: the reply's head once the model produced its
        first part, with the parts to read; until then, the ``ServiceError`` InvokeEndpoint
        would raise. The admission slot is held until the parts are read or closed."""
        started = self.clock() if request.received_at is None else request.received_at
        progress = _Progress(tally=StreamTally())
        await self._start_hooks(request, started, progress)
        stream = self._stream(request, started, progress)
        head = await anext(stream)
        assert isinstance(head, StreamedReply)
        return replace(head, parts=stream)

    async def _start_hooks(self, request: InvocationRequest, started: float, progress: _Progress) -> None:
        with self._finished_if_failed(request, started, progress, "an invocation hook refused %s"):
            for hook in self._hooks:
                await hook.on_start(request)

    @contextmanager
    def _finished_if_failed(
        self, request: InvocationRequest, started: float, progress: _Progress, log_message: str
    ) -> Iterator[None]:
        """A failure in the block finishes the invocation (its metrics and hooks) and is
        raised as the ``ServiceError`` the client sees: an unexpected one as an
        ``InternalFailure``, logged with ``log_message`` (``%s``: the endpoint's name)."""
        try:
            yield
        except ServiceError as error:
            self._finish(request, started, progress, error=error)
            raise
        except Exception as exc:
            log.exception(log_message, request.endpoint_name)
            error = internal_failure("running InvokeEndpoint", exc)
            self._finish(request, started, progress, error=error)
            raise error from exc

    # --- the invocation --------------------------------------------------------------

    async def _invoke(self, request: InvocationRequest, started: float, progress: _Progress) -> InvocationReply:
        route = await self._route(request)
        progress.variant_name, progress.route = route.variant_name, route
        call = self._call(request)
        labels = (route.endpoint_name, route.variant_name)
        metrics = self._metrics
        metrics.start_counting(labels)
        metrics.invocations.labels(*labels).inc()
        try:
            # The slot is held from admission until the reply is ready, cold start included.
            async with self._occupying(route, progress):
                reply = progress.reply = await self._dispatcher.invoke(route, call)
        except ModelError:
            metrics.errors_5xx.labels(*labels).inc()
            raise
        self._observe_replica(labels, reply)
        self._observe_latencies(labels, reply, started)
        result = reply.result
        if not result.ok:
            (metrics.errors_4xx if 400 <= result.status < 500 else metrics.errors_5xx).labels(*labels).inc()
            raise self._model_error(route.endpoint_name, result, reply.log_stream)
        if len(result.body) > self._settings.max_payload_bytes:
            raise self._too_large(labels, result.status, len(result.body))
        return InvocationReply(
            body=result.body, content_type=result.content_type, variant_name=route.variant_name,
            request_id=request.request_id, custom_attributes=result.custom_attributes,
        )

    @asynccontextmanager
    async def _occupying(self, route: Route, progress: _Progress) -> AsyncIterator[None]:
        """Admitted and counted in flight (demand, provisioned-concurrency metrics) for the
        block; a ThrottlingException if not admitted."""
        labels = (route.endpoint_name, route.variant_name)
        try:
            async with self._admitted(route):
                try:
                    with self._demand.track(route.endpoint_name, route.variant_name):
                        progress.provisioned = self._observe_provisioned(route, started=True)
                        progress.dispatched = True  # compute is used from here on: metered
                        yield
                finally:
                    self._observe_provisioned(route, started=False)
        except Throttled as throttled:
            self._metrics.throttles.labels(*labels, throttled.short_of).inc()
            raise self._throttle_error(route, throttled) from None

    # --- the streamed invocation -----------------------------------------------------

    async def _stream(
        self, request: InvocationRequest, started: float, progress: _Progress
    ) -> AsyncGenerator[StreamedReply | bytes, None]:
        """The head (a ``StreamedReply`` without parts), then the parts. Every way it ends
        is reported to the hooks here, once."""
        tally = progress.tally
        assert tally is not None
        head: StreamedReply | None = None
        error: ServiceError | None = None
        try:
            route = await self._route(request)
            progress.variant_name, progress.route = route.variant_name, route
            labels = (route.endpoint_name, route.variant_name)
            self._metrics.start_counting(labels)
            self._metrics.invocations.labels(*labels).inc()
            async with self._occupying(route, progress):
                items = self._dispatcher.stream(route, self._call(request))
                try:
                    first = await self._stream_head(route, items, progress, started)
                    head = StreamedReply(
                        content_type=progress.reply.result.content_type,  # type: ignore[union-attr]
                        variant_name=route.variant_name, request_id=request.request_id,
                        custom_attributes=progress.reply.result.custom_attributes,  # type: ignore[union-attr]
                    )
                    yield head
                    async with aclosing(self._stream_parts(labels, items, first, progress, started)) as parts:
                        async for part in parts:
                            yield part
                finally:
                    await items.aclose()  # type: ignore[attr-defined]
        except (GeneratorExit, asyncio.CancelledError):
            error = client_gone(tally.parts)
            raise
        except ServiceError as exc:
            error = exc if head is None else stream_error(exc, tally.parts)
            if error is exc:
                raise
            raise error from exc
        except Exception as exc:
            log.exception("streamed invocation of %s failed", request.endpoint_name)
            error = internal_failure("running InvokeEndpointWithResponseStream", exc) if head is None \
                else stream_error(exc, tally.parts)
            raise error from exc
        finally:
            self._finish(request, started, progress, reply=head if error is None else None, error=error)

    async def _stream_head(
        self, route: Route, items: AsyncIterator[Any], progress: _Progress, started: float
    ) -> bytes | StreamEnd:
        """Wait for the model's head and first part (or end): a failure until then is
        InvokeEndpoint's. Returns the first part (or the end of an empty stream)."""
        labels = (route.endpoint_name, route.variant_name)
        head = await self._next(items, labels)
        if not isinstance(head, ReplicaReply):
            raise RuntimeError(f"a streamed reply began with {type(head).__name__}")
        progress.reply = head
        self._observe_replica(labels, head)
        result = head.result
        if not result.ok:
            self._observe_latencies(labels, head, started)
            (self._metrics.errors_4xx if 400 <= result.status < 500 else self._metrics.errors_5xx).labels(*labels).inc()
            raise self._model_error(route.endpoint_name, result, head.log_stream)
        first = await self._next(items, labels)
        if isinstance(first, bytes) and len(first) > self._settings.max_payload_bytes:
            raise self._too_large(labels, result.status, len(first))
        return first

    async def _stream_parts(
        self, labels: tuple[str, str], items: AsyncIterator[Any], item: Any, progress: _Progress, started: float,
    ) -> AsyncGenerator[bytes, None]:
        """The parts from ``item`` (the first) on, counted, each within the size limit."""
        tally, metrics, limit = progress.tally, self._metrics, self._settings.max_payload_bytes
        assert tally is not None and progress.reply is not None
        while True:
            if isinstance(item, StreamEnd):
                # ModelLatency of a stream: the model's time up to its last part.
                progress.reply = replace(progress.reply, model_seconds=item.model_seconds)
                self._observe_latencies(labels, progress.reply, started)
                if item.error is not None:
                    metrics.errors_5xx.labels(*labels).inc()
                    raise model_raised(item.error, tally.parts)
                return
            if not isinstance(item, bytes):
                raise RuntimeError(f"a streamed reply carried {type(item).__name__}")
            if len(item) > limit:
                metrics.errors_5xx.labels(*labels).inc()
                raise part_too_large(len(item), limit, tally.parts)
            if tally.parts == 0:
                metrics.time_to_first_byte.labels(*labels).observe((self.clock() - started) * 1e6)
            tally.add(item)
            metrics.streamed_parts.labels(*labels).inc()
            metrics.streamed_bytes.labels(*labels).inc(len(item))
            yield item
            item = await self._next(items, labels)

    async def _next(self, items: AsyncIterator[Any], labels: tuple[str, str]) -> Any:
        """The stream's next item; a replica that failed is counted as a 5xx."""
        try:
            return await anext(items)
        except StopAsyncIteration:
            raise InternalStreamFailure("The model's stream ended before its last part was announced.") from None
        except ModelError:
            self._metrics.errors_5xx.labels(*labels).inc()
            raise

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

    def _too_large(self, labels: tuple[str, str], status: int, size: int) -> ModelError:
        self._metrics.errors_5xx.labels(*labels).inc()
        return ModelError(
            f"Received a response of {size} bytes from primary; the limit for serverless "
            f"endpoints is {self._settings.max_payload_bytes} bytes.",
            OriginalStatusCode=status, OriginalMessage="", ErrorCode="SERVER_ERROR_FROM_MODEL",
        )

    def _admitted(self, route: Route) -> AbstractAsyncContextManager[None]:
        """Admission for serverless endpoints; instance-based ones have no concurrency quota."""
        if self._admission is None or not route.serverless:
            return nullcontext()
        return self._admission.slot(route.endpoint_name, route.max_concurrency)

    # --- metrics and errors ----------------------------------------------------------

    def _observe_provisioned(self, route: Route, *, started: bool) -> bool | None:
        return self._metrics.observe_provisioned(
            (route.endpoint_name, route.variant_name), self._demand.in_flight(route.endpoint_name),
            route.provisioned_concurrency, started=started,
        )

    def _observe_latencies(self, labels: tuple[str, str], reply: ReplicaReply, started: float) -> None:
        metrics = self._metrics
        total_us = (self.clock() - started) * 1e6
        model_us = reply.model_seconds * 1e6
        metrics.model_latency.labels(*labels).observe(model_us)
        metrics.overhead_latency.labels(*labels, str(reply.cold).lower()).observe(max(0.0, total_us - model_us))

    def _observe_replica(self, labels: tuple[str, str], reply: ReplicaReply) -> None:
        """What the replica's answer says of how it was served (known at a stream's head)."""
        if reply.setup_seconds is not None:
            self._metrics.model_setup_time.labels(*labels).observe(reply.setup_seconds * 1e6)
        if reply.standby:
            self._metrics.standby_invocations.labels(*labels).inc()

    def _throttle_error(self, route: Route, throttled: Throttled) -> ServiceError:
        if throttled.short_of == "endpoint":
            return endpoint_throttle(route.endpoint_name, throttled.limit or route.max_concurrency)
        if throttled.short_of == "account":
            return account_throttle(throttled.limit or self._settings.pool)
        return recovering_throttle()

    def _model_error(self, endpoint: str, result: InvocationResult, log_stream: str | None) -> ModelError:
        region, account = self._settings.region, self._settings.account_id
        kind = "client" if 400 <= result.status < 500 else "server"
        text = result.body.decode("utf-8", errors="replace")
        log_group = log_group_name(endpoint)
        return ModelError(
            f'Received {kind} error ({result.status}) from primary with message "{text}". '
            f"See the log group {log_group} in account {account} for more information.",
            OriginalStatusCode=result.status,
            OriginalMessage=text,
            LogStreamArn=log_stream_arn(region, account, endpoint, log_stream),
            ErrorCode=f"{kind.upper()}_ERROR_FROM_MODEL",
        )

    # --- hooks -----------------------------------------------------------------------

    def _finish(
        self, request: InvocationRequest, started: float, progress: _Progress, *,
        reply: InvocationReply | StreamedReply | None = None, error: ServiceError | None = None,
    ) -> None:
        if not self._hooks:
            return
        replica, tally = progress.reply, progress.tally
        outcome = InvocationOutcome(
            request=request, variant_name=progress.variant_name, duration_s=self.clock() - started,
            reply=reply, error=error, model_seconds=replica.model_seconds if replica else None,
            cold=bool(replica and replica.cold), standby=bool(replica and replica.standby),
            parts=tally.parts if tally else None, streamed_bytes=tally.bytes if tally else 0,
            setup_seconds=replica.setup_seconds if replica else None, provisioned=progress.provisioned,
            log_stream=replica.log_stream if replica else None, route=progress.route,
            dispatched=progress.dispatched,
        )
        for hook in self._hooks:
            try:
                hook.on_finish(outcome)
            except Exception:  # a hook must never change what the client gets
                log.exception("invocation hook %r failed", hook)
