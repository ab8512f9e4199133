"""HTTP responses in SageMaker's wire formats; the one place errors become responses."""

from __future__ import annotations

import json
import uuid
from typing import Any

from starlette.responses import Response

from serverless_ray.errors import ServiceError

AWS_JSON = "application/x-amz-json-1.1"
REST_JSON = "application/json"


def new_request_id() -> str:
    return str(uuid.uuid4())


def json_response(body: dict[str, Any], request_id: str, *, status: int = 200) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        media_type=AWS_JSON,
        headers={"x-amzn-RequestId": request_id},
    )


def error_response(error: ServiceError, request_id: str, *, media_type: str = AWS_JSON) -> Response:
    """Render ``error`` so that every SDK reads the right code.

    botocore's JSON parser takes the code from body ``__type`` (control plane) and the
    rest-json parser from the ``x-amzn-ErrorType`` header (runtime); send both.
    """
    return Response(
        json.dumps(error.body(), separators=(",", ":")),
        status_code=error.status,
        media_type=media_type,
        headers={"x-amzn-RequestId": request_id, "x-amzn-ErrorType": error.code},
    )
