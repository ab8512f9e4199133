"""Sends an invocation to a replica and maps a replica that does not answer to ModelError.

An invocation goes to the endpoint's Serve deployment through its handle, unless the
endpoint is cold (no running replica) and a standby can take it: then the cold-start
bridge answers it (see :mod:`serverless_ray.gateway.cold_start_bridge`).

A call still running at the invocation timeout frees its replica (the replica is
replaced, :mod:`serverless_ray.gateway.replica_release`), so the next call is not stuck
behind it; a replica that died of a limit of its tier (memory, disk) is reported as such.
"""

from __future__ import annotations

import asyncio
from typing import Callable

from ray import serve
from ray.exceptions import RayActorError, RayTaskError

from serverless_ray.cluster_names import DEPLOYMENT_NAME
from serverless_ray.errors import ModelError
from serverless_ray.gateway.cold_start_bridge import ColdStartBridge
from serverless_ray.gateway.replica_release import release_replica
from serverless_ray.gateway.serve_replicas import REPLICA_COUNTS
from serverless_ray.isolation.records import ExitRecord
from serverless_ray.messages import ReplicaCall, ReplicaReply, Route

# Replica (actor) id → the limit it died of, if it did (see serverless_ray.isolation.verdicts).
VerdictFn = Callable[["str | None"], "ExitRecord | None"]


class ReplicaDispatcher:
    """``verdicts``: tells, for a replica that died under a call, the limit of its tier it
    broke (the gateway's :class:`~serverless_ray.gateway.replica_upkeep.ReplicaUpkeep`)."""

    def __init__(
        self, *, timeout_s: float, bridge: ColdStartBridge | None = None, verdicts: VerdictFn | None = None
    ) -> None:
        self._timeout_s = timeout_s
        self._bridge = bridge
        self._verdicts = verdicts or (lambda _: None)
        self._handles: dict[str, object] = {}

    def _handle(self, app_name: str):
        handle = self._handles.get(app_name)
        if handle is None:
            handle = serve.get_deployment_handle(DEPLOYMENT_NAME, app_name=app_name)
            self._handles[app_name] = handle
        return handle

    def follow(self, routes: dict[str, Route]) -> None:
        """Keep a handle for every application that serves traffic, dropping the rest.

        A handle subscribes to its deployment's replica set when it is created, so the
        entry point knows whether an endpoint is cold before the first invocation.
        """
        live = {app for route in routes.values() for _, app in route.targets()}
        for app_name in set(self._handles) - live:
            del self._handles[app_name]
            REPLICA_COUNTS.forget(app_name)
        for app_name in live - set(self._handles):
            self._handle(app_name)._init()

    async def invoke(self, route: Route, call: ReplicaCall) -> ReplicaReply:
        assert route.app_name is not None
        try:
            return await self._dispatch(route, call)
        except asyncio.TimeoutError:
            raise no_response(
                f"Your invocation timed out while waiting for a response from container primary "
                f"after {self._timeout_s:.0f} s."
            ) from None
        except (RayActorError, RayTaskError) as exc:
            verdict = self._verdicts(_dead_actor_id(exc))
            if verdict is not None:  # it went past a limit of its tier
                raise no_response(verdict.message) from None
            raise no_response(
                f"Amazon SageMaker could not get a response from the {route.endpoint_name} endpoint. "
                f"The replica failed: {type(exc).__name__}."
            ) from None

    async def _dispatch(self, route: Route, call: ReplicaCall) -> ReplicaReply:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout_s
        if self._bridge is not None:
            # A standby whose call times out is killed by the bridge itself.
            reply = await asyncio.wait_for(self._bridge.invoke(route, call), self._timeout_s)
            if reply is not None:
                return reply
        assert route.app_name is not None
        response = self._handle(route.app_name).invoke.remote(*call.args())
        waiter = asyncio.ensure_future(_result(response))
        try:
            await asyncio.wait({waiter}, timeout=max(0.0, deadline - loop.time()))
        except asyncio.CancelledError:  # the caller went away: do not leave it queued
            waiter.cancel()
            response.cancel()
            raise
        if waiter.done():
            return waiter.result()
        # Past the timeout: free the replica, so that the next call is not stuck behind this one.
        await release_replica(route.app_name, response, waiter)
        raise asyncio.TimeoutError


async def _result(response) -> ReplicaReply:
    return await response


def _dead_actor_id(exc: BaseException) -> str | None:
    """The id of the actor whose death failed the call (Ray puts it on the error)."""
    for candidate in (exc, getattr(exc, "cause", None)):
        actor_id = getattr(candidate, "actor_id", None)
        if isinstance(actor_id, str) and actor_id:
            return actor_id
    return None


def no_response(reason: str) -> ModelError:
    return ModelError(
        f'Received server error (0) from model with message "{reason}". See the endpoint\'s logs for more information.',
        OriginalStatusCode=0,
        OriginalMessage=reason,
        ErrorCode="SERVER_ERROR_FROM_MODEL",
    )
