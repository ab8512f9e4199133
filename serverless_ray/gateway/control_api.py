"""``POST /`` with ``X-Amz-Target``: the awsJson 1.1 control-plane protocol."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response

from serverless_ray.errors import SerializationException, ServiceError, UnknownOperationException
from serverless_ray.gateway.context import GatewayContext
from serverless_ray.gateway.wire import error_response, json_response, new_request_id

SAGEMAKER_PREFIX = "SageMaker."


async def aws_json(request: Request) -> Response:
    ctx: GatewayContext = request.app.state.ctx
    request_id = new_request_id()
    try:
        target = request.headers.get("x-amz-target", "")
        service, _, operation = target.partition(".")
        if service + "." != SAGEMAKER_PREFIX or not operation:
            raise UnknownOperationException(
                f"Unknown X-Amz-Target '{target}'; this endpoint serves 'SageMaker.<Operation>'."
            )
        raw = await request.body()
        try:
            payload = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError as exc:
            raise SerializationException(f"The request body is not valid JSON: {exc.msg}.") from None
        result = await ctx.controller.call.remote(operation, payload)
        if isinstance(result, ServiceError):
            raise result
        return json_response(result, request_id)
    except ServiceError as error:
        return error_response(error, request_id)
