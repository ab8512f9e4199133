"""The entry point's ASGI application: routes, and every error rendered in one place.

Route handlers raise ``ServiceError`` s; the exception handlers registered here render
them in the AWS shape of the protocol the path belongs to (rest-json under
``/endpoints/``, awsJson elsewhere), answer unknown paths with
``UnknownOperationException``, and turn anything unexpected into ``InternalFailure``.
"""

from __future__ import annotations

import logging
from typing import Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from serverless_ray.auth.authenticator import Authenticator
from serverless_ray.auth.middleware import RequireSignature
from serverless_ray.errors import ServiceError, UnknownPath, internal_failure
from serverless_ray.gateway.cloudwatch_api import (
    cloudwatch_cbor,
    cloudwatch_json,
    cloudwatch_query,
    is_json_request,
    is_query_request,
)
from serverless_ray.gateway.control_api import ControlPlaneClient, aws_json
from serverless_ray.gateway.runtime_api import Invocations, invoke_endpoint, invoke_endpoint_with_response_stream
from serverless_ray.gateway.wire import AWS_JSON, REST_JSON, error_response, request_id_of

log = logging.getLogger(__name__)

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"
RUNTIME_PREFIX = "/endpoints/"
# Runtime operations of the SageMaker API this platform does not serve, by their path's last step.
_UNSERVED = {"async-invocations": "InvokeEndpointAsync"}


async def healthz(request: Request) -> Response:
    if not request.app.state.ready():
        return JSONResponse({"status": "starting"}, status_code=503)
    down = request.app.state.unavailable()
    if down:
        # Invocations of running endpoints are still served; the platform is not whole.
        return JSONResponse({"status": "unavailable", "unavailable": down}, status_code=503)
    return JSONResponse({"status": "ok"})


async def aws_post(request: Request) -> Response:
    """``POST /``: awsJson 1.1 by ``X-Amz-Target`` (SageMaker, Application Auto Scaling,
    CloudWatch Logs), CloudWatch's JSON 1.0, or CloudWatch's form-encoded query protocol."""
    if is_query_request(request):
        return await cloudwatch_query(request)
    if is_json_request(request):
        return await cloudwatch_json(request)
    return await aws_json(request)


async def metrics(request: Request) -> Response:
    return Response(await request.app.state.metrics(), media_type=PROMETHEUS_TEXT)


def build_app(
    *,
    invocations: Invocations,
    control: ControlPlaneClient,
    metrics_text: Callable[[], Awaitable[bytes]],
    ready: Callable[[], bool],
    unavailable: Callable[[], dict[str, str]] = dict,
    authenticator: Authenticator | None = None,
) -> Starlette:
    """The gateway's app over its invocation service and its client of the controller;
    ``metrics_text`` renders ``/metrics``, ``ready`` says whether ``/healthz`` is ok,
    ``unavailable`` which platform actors it cannot reach (``/healthz`` then says 503, why). With
    an ``authenticator`` every route but those two needs a signed, allowed request."""
    middleware = [] if authenticator is None else [
        Middleware(RequireSignature, authenticator=authenticator, refuse=_service_error),
    ]
    app = Starlette(
        middleware=middleware,
        routes=[
            Route("/", aws_post, methods=["POST"]),
            Route("/service/{service}/operation/{operation}", cloudwatch_cbor, methods=["POST"]),
            Route("/endpoints/{name}/invocations", invoke_endpoint, methods=["POST"]),
            Route("/endpoints/{name}/invocations-response-stream", invoke_endpoint_with_response_stream,
                  methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        exception_handlers={
            ServiceError: _service_error,
            HTTPException: _unknown_path,
            Exception: _internal_error,
        },
    )
    app.state.invocations = invocations
    app.state.control = control
    app.state.metrics = metrics_text
    app.state.ready = ready
    app.state.unavailable = unavailable
    return app


def _media_type(request: Request) -> str:
    return REST_JSON if request.url.path.startswith(RUNTIME_PREFIX) else AWS_JSON


async def _service_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, ServiceError)
    protocol = getattr(request.state, "protocol", None)  # set by CloudWatch's handlers
    if protocol is not None:
        return protocol.error_response(error, request_id_of(request))
    return error_response(error, request_id_of(request), media_type=_media_type(request))


async def _unknown_path(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    path, method = request.url.path, request.method
    operation = _UNSERVED.get(path.rstrip("/").rsplit("/", 1)[-1]) if path.startswith(RUNTIME_PREFIX) else None
    if operation is not None:
        message = (f"Operation {operation} is not supported by this platform; use InvokeEndpoint or "
                   "InvokeEndpointWithResponseStream.")
    else:
        message = (f"No operation is served at {method} {path}; this endpoint serves POST / (awsJson, "
                   "X-Amz-Target), POST /endpoints/<EndpointName>/invocations and "
                   "POST /endpoints/<EndpointName>/invocations-response-stream.")
    return error_response(UnknownPath(message), request_id_of(request), media_type=_media_type(request),
                          status=exc.status_code)


async def _internal_error(request: Request, exc: Exception) -> Response:
    # Starlette re-raises the exception once this answer is sent, so the server logs it.
    error = internal_failure(f"handling {request.method} {request.url.path}", exc)
    return await _service_error(request, error)
