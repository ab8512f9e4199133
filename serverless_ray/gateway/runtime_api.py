"""``POST /endpoints/{name}/invocations``: the sagemaker-runtime InvokeEndpoint operation."""

from __future__ import annotations

import time
from contextlib import nullcontext
from typing import Mapping

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response

from serverless_ray.errors import ModelError, ModelNotReadyException, RuntimeValidationError
from serverless_ray.gateway.context import GatewayContext
from serverless_ray.gateway.variants import TARGET_VARIANT, choose_variant
from serverless_ray.gateway.wire import REST_JSON, error_response, new_request_id
from serverless_ray.runtime.handler import InvocationResult
from serverless_ray.control.routes import Route
from serverless_ray.errors import ServiceError
from serverless_ray.quota.admission import Throttled
from serverless_ray.quota.limits import account_throttle, endpoint_throttle, recovering_throttle

CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
MAX_CUSTOM_ATTRIBUTES = 1024


async def invoke_endpoint(request: Request) -> Response:
    ctx: GatewayContext = request.app.state.ctx
    started = time.perf_counter()
    return await invoke(ctx, request.path_params["name"], await request.body(), request.headers, started=started)


async def invoke(
    ctx: GatewayContext, name: str, body: bytes, headers: Mapping[str, str], *, started: float | None = None
) -> Response:
    """InvokeEndpoint, whatever the transport: HTTP here, an actor call from Python handles."""
    started = time.perf_counter() if started is None else started
    request_id = new_request_id()
    headers = Headers(headers) if not isinstance(headers, Headers) else headers
    try:
        return await _invoke(ctx, name, body, headers, request_id, started)
    except ServiceError as error:
        return error_response(error, request_id, media_type=REST_JSON)


async def _invoke(
    ctx: GatewayContext, name: str, body: bytes, headers: Headers, request_id: str, started: float
) -> Response:
    settings = ctx.settings
    route = await ctx.routes.lookup(name)
    if route is None:
        raise RuntimeValidationError(f"Endpoint {name} of account {settings.account_id} not found.")
    if route.app_name is None:
        raise ModelNotReadyException(
            f"Endpoint {name} is still being created; retry once its status is InService."
        )
    route = choose_variant(route, headers.get(TARGET_VARIANT))
    if len(body) > settings.max_payload_bytes:
        raise RuntimeValidationError(f"Request {request_id} has oversize body.")
    custom_attributes = headers.get(CUSTOM_ATTRIBUTES)
    if custom_attributes is not None and (len(custom_attributes) > MAX_CUSTOM_ATTRIBUTES or not custom_attributes.isascii()):
        raise RuntimeValidationError(
            f"{CUSTOM_ATTRIBUTES} must be at most {MAX_CUSTOM_ATTRIBUTES} ASCII characters."
        )
    labels = (route.endpoint_name, route.variant_name)
    metrics = ctx.metrics
    metrics.invocations.labels(*labels).inc()
    in_flight = metrics.in_flight.labels(*labels)
    try:
        # The slot is held from admission until the reply is ready, cold start included.
        async with _admitted(ctx, route):
            in_flight.inc()
            try:
                with ctx.demand.track(route.endpoint_name):
                    _provisioned_metrics(ctx, route, started=True)
                    reply = await ctx.invoker.invoke(
                        route, body,
                        content_type=headers.get("content-type"),
                        accept=headers.get("accept"),
                        custom_attributes=custom_attributes,
                        request_id=request_id,
                    )
            finally:
                in_flight.dec()
                _provisioned_metrics(ctx, route, started=False)
    except Throttled as throttled:
        metrics.throttles.labels(*labels, throttled.short_of).inc()
        raise _throttle_error(ctx, route, throttled) from None
    except ModelError:
        metrics.errors_5xx.labels(*labels).inc()
        raise
    total_us = (time.perf_counter() - started) * 1e6
    model_us = reply.model_seconds * 1e6
    metrics.model_latency.labels(*labels).observe(model_us)
    metrics.overhead_latency.labels(*labels, str(reply.setup_seconds is not None).lower()).observe(
        max(0.0, total_us - model_us)
    )
    if reply.setup_seconds is not None:
        metrics.model_setup_time.labels(*labels).observe(reply.setup_seconds * 1e6)
    if reply.standby:
        metrics.standby_invocations.labels(*labels).inc()
    result = reply.result
    if not result.ok:
        (metrics.errors_4xx if 400 <= result.status < 500 else metrics.errors_5xx).labels(*labels).inc()
        raise _model_error(ctx, route.endpoint_name, result)
    if len(result.body) > settings.max_payload_bytes:
        metrics.errors_5xx.labels(*labels).inc()
        raise ModelError(
            f"Received a response of {len(result.body)} bytes from primary; the limit for serverless "
            f"endpoints is {settings.max_payload_bytes} bytes.",
            OriginalStatusCode=result.status, OriginalMessage="", ErrorCode="SERVER_ERROR_FROM_MODEL",
        )
    # The model's content type goes out exactly as given (no charset added).
    headers = {
        "content-type": result.content_type,
        "x-Amzn-Invoked-Production-Variant": route.variant_name,
        "x-amzn-RequestId": request_id,
    }
    if result.custom_attributes:
        headers[CUSTOM_ATTRIBUTES] = result.custom_attributes
    return Response(result.body, status_code=200, headers=headers)


def _provisioned_metrics(ctx: GatewayContext, route: Route, *, started: bool) -> None:
    ctx.metrics.observe_provisioned(
        (route.endpoint_name, route.variant_name), ctx.demand.in_flight(route.endpoint_name),
        route.provisioned_concurrency, started=started,
    )


def _admitted(ctx: GatewayContext, route: Route):
    """Admission for serverless endpoints; instance-based ones have no concurrency quota."""
    if ctx.admission is None or not getattr(route, "serverless", True):
        return nullcontext()
    return ctx.admission.slot(route.endpoint_name, route.max_concurrency)


def _throttle_error(ctx: GatewayContext, route: Route, throttled: Throttled) -> ServiceError:
    if throttled.short_of == "endpoint":
        return endpoint_throttle(route.endpoint_name, throttled.limit or route.max_concurrency)
    if throttled.short_of == "account":
        return account_throttle(throttled.limit or ctx.settings.pool)
    return recovering_throttle()


def _model_error(ctx: GatewayContext, endpoint: str, result: InvocationResult) -> ModelError:
    region, account = ctx.settings.region, ctx.settings.account_id
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
