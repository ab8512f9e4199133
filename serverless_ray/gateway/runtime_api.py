"""``POST /endpoints/{name}/invocations``: InvokeEndpoint over HTTP (rest-json).

A thin adapter: the request becomes an :class:`InvocationRequest` for the invocation
service, its reply the HTTP response; errors are rendered by the app's exception handlers.
"""

from __future__ import annotations

from typing import Callable, Protocol

from starlette.requests import Request
from starlette.responses import Response

from serverless_ray.gateway.invocation_types import CUSTOM_ATTRIBUTES, InvocationReply, InvocationRequest
from serverless_ray.gateway.variants import TARGET_VARIANT
from serverless_ray.gateway.wire import request_id_of


class Invocations(Protocol):
    clock: Callable[[], float]  # ``received_at`` is stamped with it

    async def invoke(self, request: InvocationRequest) -> InvocationReply: ...


async def invoke_endpoint(request: Request) -> Response:
    invocations: Invocations = request.app.state.invocations
    received_at = invocations.clock()
    headers = request.headers
    reply = await invocations.invoke(InvocationRequest(
        endpoint_name=request.path_params["name"],
        body=await request.body(),
        content_type=headers.get("content-type"),
        accept=headers.get("accept"),
        custom_attributes=headers.get(CUSTOM_ATTRIBUTES),
        target_variant=headers.get(TARGET_VARIANT),
        request_id=request_id_of(request),
        received_at=received_at,
    ))
    # The model's content type goes out exactly as given (no charset added).
    response_headers = {
        "content-type": reply.content_type,
        "x-Amzn-Invoked-Production-Variant": reply.variant_name,
        "x-amzn-RequestId": reply.request_id,
    }
    if reply.custom_attributes:
        response_headers[CUSTOM_ATTRIBUTES] = reply.custom_attributes
    return Response(reply.body, status_code=200, headers=response_headers)
