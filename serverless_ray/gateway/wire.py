"""HTTP responses in SageMaker's wire formats; the one place errors become responses."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from serverless_ray.errors import ServiceError
from serverless_ray.gateway.invocation_types import new_request_id

AWS_JSON = "application/x-amz-json-1.1"
REST_JSON = "application/json"


def request_id_of(request: Request) -> str:
    """The request's ``x-amzn-RequestId``, the same wherever it is asked for (kept in the
    request's state, which the app's error handlers see too)."""
    request_id = getattr(request.state, "request_id", None)
    if request_id is None:
        request_id = request.state.request_id = new_request_id()
    return request_id


def json_response(body: dict[str, Any], request_id: str, *, status: int = 200) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        media_type=AWS_JSON,
        headers={"x-amzn-RequestId": request_id},
    )


def error_response(
    error: ServiceError, request_id: str, *, media_type: str = AWS_JSON, status: int | None = None
) -> Response:
    """Render ``error`` so that every SDK reads the right code.

    botocore's JSON parser takes the code from body ``__type`` (control plane) and the
    rest-json parser from the ``x-amzn-ErrorType`` header (runtime); send both.
    ``status`` overrides the error's own (an unknown path answered with another status).
    """
    return Response(
        json.dumps(error.body(), separators=(",", ":")),
        status_code=status or error.status,
        media_type=media_type,
        headers={"x-amzn-RequestId": request_id, "x-amzn-ErrorType": error.code},
    )
