"""``POST /`` with ``X-Amz-Target``: the awsJson 1.1 control-plane protocol.

The operations run in the controller; errors are raised here and rendered by the app's
exception handlers (:mod:`serverless_ray.gateway.app`).
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response

from serverless_ray.errors import SerializationException, ServiceError, UnknownOperationException
from serverless_ray.gateway.wire import json_response, request_id_of
from serverless_ray.spec.services import SERVICES


class ControlPlaneClient(Protocol):
    async def call(self, service: str, operation: str, payload: Any) -> dict[str, Any] | ServiceError: ...


async def aws_json(request: Request) -> Response:
    control: ControlPlaneClient = request.app.state.control
    request_id = request_id_of(request)
    target = request.headers.get("x-amz-target", "")
    service, _, operation = target.partition(".")
    if service not in SERVICES or not operation:
        raise UnknownOperationException(
            f"Unknown X-Amz-Target '{target}'; this endpoint serves "
            f"{', '.join(repr(s + '.<Operation>') for s in SERVICES)}."
        )
    raw = await request.body()
    try:
        payload = json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError as exc:
        raise SerializationException(f"The request body is not valid JSON: {exc.msg}.") from None
    except UnicodeDecodeError:
        raise SerializationException("The request body is not valid JSON: it is not UTF-8 text.") from None
    except RecursionError:
        raise SerializationException("The request body is not valid JSON: it is nested too deeply.") from None
    result = await control.call(service, operation, payload)
    if isinstance(result, ServiceError):
        raise result
    return json_response(result, request_id)
