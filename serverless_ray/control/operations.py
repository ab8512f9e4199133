"""One awsJson operation of any service the platform speaks, answered as the wire needs it.

The controller runs this for every control-plane call; it is a function of its own so
that the edge tests run the very same error mapping without Ray.
"""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Mapping

from serverless_ray.errors import ServiceError, UnknownOperationException, internal_failure

log = logging.getLogger(__name__)

ServiceCall = Callable[[str, Any], Awaitable[dict[str, Any]]]
"""A service's ``call(operation, payload)``; raises ``ServiceError`` for what the caller got wrong."""


async def run_operation(
    services: Mapping[str, ServiceCall], service: str, operation: str, payload: Any
) -> dict[str, Any] | ServiceError:
    """The answer of ``service``'s ``operation``: its result, or the ``ServiceError`` (as a
    value, so that its wire identity crosses a process boundary intact). A bug is an
    ``InternalFailure`` that says nothing of its details."""
    run = services.get(service)
    try:
        if run is None:
            raise UnknownOperationException(f"Operation {service}.{operation} is not supported by this platform.")
        return await run(operation, payload)
    except ServiceError as exc:
        return exc
    except Exception as exc:
        log.exception("operation %s.%s failed", service, operation)
        return internal_failure(f"running {operation}", exc)
