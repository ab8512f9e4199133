"""Calls a replica through its Serve deployment handle and maps failures to wire errors."""

from __future__ import annotations

import asyncio
import time

from ray import serve
from ray.exceptions import RayActorError, RayTaskError

from serverless_ray.control.routes import Route
from serverless_ray.control.serve_backend import DEPLOYMENT_NAME
from serverless_ray.errors import ModelError
from serverless_ray.runtime.replica import ReplicaReply


class Invoker:
    def __init__(self, *, timeout_s: float) -> None:
        self._timeout_s = timeout_s
        self._handles: dict[str, object] = {}

    def _handle(self, app_name: str):
        handle = self._handles.get(app_name)
        if handle is None:
            handle = serve.get_deployment_handle(DEPLOYMENT_NAME, app_name=app_name)
            self._handles[app_name] = handle
        return handle

    def forget(self, live_apps: set[str]) -> None:
        for app_name in set(self._handles) - live_apps:
            del self._handles[app_name]

    async def invoke(
        self,
        route: Route,
        body: bytes,
        *,
        content_type: str | None,
        accept: str | None,
        custom_attributes: str | None,
        request_id: str,
    ) -> ReplicaReply:
        assert route.app_name is not None
        response = self._handle(route.app_name).invoke.remote(
            body, content_type, accept, custom_attributes, request_id, time.time()
        )
        try:
            return await asyncio.wait_for(_result(response), self._timeout_s)
        except asyncio.TimeoutError:
            response.cancel()
            raise no_response(
                route, f"Your invocation timed out while waiting for a response from container primary "
                f"after {self._timeout_s:.0f} s."
            ) from None
        except (RayActorError, RayTaskError) as exc:
            raise no_response(
                route, f"Amazon SageMaker could not get a response from the {route.endpoint_name} endpoint. "
                f"The replica failed: {type(exc).__name__}."
            ) from None


async def _result(response) -> ReplicaReply:
    return await response


def no_response(route: Route, reason: str) -> ModelError:
    return ModelError(
        f'Received server error (0) from model with message "{reason}". See the endpoint\'s logs for more information.',
        OriginalStatusCode=0,
        OriginalMessage=reason,
        ErrorCode="SERVER_ERROR_FROM_MODEL",
    )
