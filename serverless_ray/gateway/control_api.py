"""``POST /`` with ``X-Amz-Target``: the awsJson 1.1 control-plane protocol."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response

from serverless_ray.errors import SerializationException, ServiceError, UnknownOperationException
from serverless_ray.gateway.context import GatewayContext
from serverless_ray.gateway.wire import error_response, json_response, new_request_id

# X-Amz-Target prefix -> the controller method that serves that service's operations.
_SERVICES = {
    "SageMaker.": "call",
    "AnyScaleFrontendService.": "call_autoscaling",  # Application Auto Scaling
}


async def aws_json(request: Request) -> Response:
    ctx: GatewayContext = request.app.state.ctx
    request_id = new_request_id()
    try:
        target = request.headers.get("x-amz-target", "")
        service, _, operation = target.partition(".")
        remote = _SERVICES.get(service + ".")
        if remote is None or not operation:
            raise UnknownOperationException(
                f"Unknown X-Amz-Target '{target}'; this endpoint serves "
                f"{', '.join(repr(p + '<Operation>') for p in _SERVICES)}."
            )
        raw = await request.body()
        try:
            payload = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError as exc:
            raise SerializationException(f"The request body is not valid JSON: {exc.msg}.") from None
        result = await getattr(ctx.controller, remote).remote(operation, payload)
        if isinstance(result, ServiceError):
            raise result
        return json_response(result, request_id)
    except ServiceError as error:
        return error_response(error, request_id)
