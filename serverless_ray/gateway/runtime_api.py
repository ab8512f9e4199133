"""``POST /endpoints/{name}/invocations`` and ``.../invocations-response-stream``:
InvokeEndpoint and InvokeEndpointWithResponseStream over HTTP (rest-json).

Thin adapters: the request becomes an :class:`InvocationRequest` for the invocation
service, its reply the HTTP response (an event stream for the second); errors before
the reply are rendered by the app's exception handlers.
"""

from __future__ import annotations

from typing import Callable, Protocol

from starlette.requests import Request
from starlette.responses import Response

from serverless_ray.gateway.invocation_types import (
    CUSTOM_ATTRIBUTES,
    InvocationReply,
    InvocationRequest,
    StreamedReply,
)
from serverless_ray.gateway.stream_response import EventStreamResponse
from serverless_ray.gateway.variants import TARGET_VARIANT
from serverless_ray.gateway.wire import request_id_of

STREAM_ACCEPT = "X-Amzn-SageMaker-Accept"  # the streaming operation's Accept
INFERENCE_ID = "X-Amzn-SageMaker-Inference-Id"


class Invocations(Protocol):
    clock: Callable[[], float]  # ``received_at`` is stamped with it

    async def invoke(self, request: InvocationRequest) -> InvocationReply: ...

    async def invoke_stream(self, request: InvocationRequest) -> StreamedReply: ...


async def _invocation(request: Request, *, accept_header: str) -> InvocationRequest:
    invocations: Invocations = request.app.state.invocations
    received_at = invocations.clock()
    headers = request.headers
    return InvocationRequest(
        endpoint_name=request.path_params["name"],
        body=await request.body(),
        content_type=headers.get("content-type"),
        accept=headers.get(accept_header),
        custom_attributes=headers.get(CUSTOM_ATTRIBUTES),
        target_variant=headers.get(TARGET_VARIANT),
        request_id=request_id_of(request),
        received_at=received_at,
        inference_id=headers.get(INFERENCE_ID),
    )


async def invoke_endpoint_with_response_stream(request: Request) -> EventStreamResponse:
    invocations: Invocations = request.app.state.invocations
    return EventStreamResponse(await invocations.invoke_stream(await _invocation(request, accept_header=STREAM_ACCEPT)))


async def invoke_endpoint(request: Request) -> Response:
    invocations: Invocations = request.app.state.invocations
    reply = await invocations.invoke(await _invocation(request, accept_header="accept"))
    # The model's content type goes out exactly as given (no charset added).
    response_headers = {
        "content-type": reply.content_type,
        "x-Amzn-Invoked-Production-Variant": reply.variant_name,
        "x-amzn-RequestId": reply.request_id,
    }
    if reply.custom_attributes:
        response_headers[CUSTOM_ATTRIBUTES] = reply.custom_attributes
    return Response(reply.body, status_code=200, headers=response_headers)
