"""The CloudWatch metrics API over HTTP, in whichever of its protocols the client speaks
(see :mod:`serverless_ray.cloudwatch.wire`). The operations run in the controller; each
request's protocol also renders its errors (the app's one error handler asks it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from starlette.requests import Request
from starlette.responses import Response

from serverless_ray.cloudwatch import wire
from serverless_ray.errors import ServiceError, UnknownOperationException
from serverless_ray.gateway.control_api import ControlPlaneClient
from serverless_ray.gateway.wire import request_id_of
from serverless_ray.spec.services import CLOUDWATCH


@dataclass(frozen=True)
class Protocol:
    """How one protocol answers: a reply's body and an error's response."""

    media_type: str
    encode: Callable[[str, dict, str], bytes]
    error_body: Callable[[ServiceError, str], bytes]
    headers: tuple[tuple[str, str], ...] = ()

    def response(self, body: bytes, request_id: str, *, status: int = 200, extra: dict | None = None) -> Response:
        headers = {"x-amzn-RequestId": request_id, **dict(self.headers), **(extra or {})}
        return Response(body, status_code=status, media_type=self.media_type, headers=headers)

    def error_response(self, error: ServiceError, request_id: str) -> Response:
        return self.response(self.error_body(error, request_id), request_id, status=error.status,
                             extra=wire.query_error_header(error))


JSON = Protocol(wire.JSON_1_0, lambda op, reply, rid: wire.encode_json(op, reply),
               lambda error, rid: wire.json_error(error))
QUERY = Protocol(wire.XML, wire.encode_xml, wire.xml_error)
CBOR = Protocol(wire.CBOR, lambda op, reply, rid: wire.encode_cbor(op, reply),
                lambda error, rid: wire.cbor_error(error), (("smithy-protocol", "rpc-v2-cbor"),))


def is_query_request(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith(wire.FORM)


def is_json_request(request: Request) -> bool:
    return request.headers.get("x-amz-target", "").startswith(f"{CLOUDWATCH}.")


async def cloudwatch_json(request: Request) -> Response:
    request.state.protocol = JSON
    operation = request.headers["x-amz-target"].partition(".")[2]
    return await _run(request, JSON, operation, wire.decode_json(operation, await request.body()))


async def cloudwatch_query(request: Request) -> Response:
    request.state.protocol = QUERY
    operation, payload = wire.decode_query(await request.body())
    return await _run(request, QUERY, operation, payload)


async def cloudwatch_cbor(request: Request) -> Response:
    request.state.protocol = CBOR
    service, operation = request.path_params["service"], request.path_params["operation"]
    if service != CLOUDWATCH:
        raise UnknownOperationException(f"No RPC v2 CBOR service {service} is served here; only {CLOUDWATCH}.")
    return await _run(request, CBOR, operation, wire.decode_cbor(operation, await request.body()))


async def _run(request: Request, protocol: Protocol, operation: str, payload: dict) -> Response:
    control: ControlPlaneClient = request.app.state.control
    request_id = request_id_of(request)
    result = await control.call(CLOUDWATCH, operation, payload)
    if isinstance(result, ServiceError):
        raise result
    return protocol.response(protocol.encode(operation, result, request_id), request_id)
