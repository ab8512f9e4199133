"""Sends an invocation to a replica (or streams its reply, :meth:`ReplicaDispatcher.stream`)
and maps a replica that does not answer to ModelError.

An invocation goes to the endpoint's Serve deployment through its handle, unless the
endpoint is cold (no running replica) and a standby can take it: then the cold-start
bridge answers it (see :mod:`serverless_ray.gateway.cold_start_bridge`).

A call still running at the invocation timeout frees its replica (the replica is
replaced, :mod:`serverless_ray.gateway.replica_release`), so the next call is not stuck
behind it; a replica that died of a limit of its tier (memory, disk) is reported as such.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

from ray.exceptions import RayActorError, RayTaskError
from ray.serve.handle import DeploymentHandle

from serverless_ray.cluster_names import DEPLOYMENT_NAME
from serverless_ray.gateway.cold_start_bridge import ColdStartBridge
from serverless_ray.gateway.replica_release import release_replica
from serverless_ray.gateway.replica_streams import serve_stream
from serverless_ray.gateway.serve_replicas import REPLICA_COUNTS
from serverless_ray.gateway.stream_dispatch import VerdictFn, replica_failed, stream_reply, timed_out
from serverless_ray.messages import ReplicaCall, ReplicaReply, Route


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
        self._closing: set[asyncio.Task] = set()

    def _handle(self, app_name: str):
        handle = self._handles.get(app_name)
        if handle is None:
            # Not ``serve.get_deployment_handle``: it asks Serve's controller whether the
            # deployment exists (a blocking call, stuck while that controller restarts) and
            # keeps every handle it made for the life of the process.
            handle = DeploymentHandle(DEPLOYMENT_NAME, app_name)
            self._handles[app_name] = handle
        return handle

    def follow(self, routes: dict[str, Route]) -> None:
        """Keep a handle for every application that serves traffic, dropping the rest.

        A handle subscribes to its deployment's replica set when it is created, so the
        entry point knows whether an endpoint is cold before the first invocation.
        """
        live = {app for route in routes.values() for _, app in route.targets()}
        for app_name in set(self._handles) - live:
            self._shut_down(self._handles.pop(app_name))
            REPLICA_COUNTS.forget(app_name)
        for app_name in live - set(self._handles):
            self._handle(app_name)._init()

    def _shut_down(self, handle) -> None:
        """Stop a dropped handle's router: until then it keeps reporting metrics to Serve's
        controller and stays subscribed to its deployment, and neither it nor its replicas'
        actor handles are freed (memory that grew with every endpoint ever deleted).
        Calls still in flight on it finish."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop, no router running
            return
        # Serve's shutdown leaves the router's own long poll running: it stops only once
        # the process's shared long poll takes the deployment over, which waits for the
        # shared poll's next round (up to a minute), and its callbacks hold the router.
        # Stopped, it ends with its current round: at the latest when the application is
        # deleted, which comes after its route is gone.
        own_poll = getattr(getattr(getattr(handle, "_router", None), "_asyncio_router", None), "long_poll_client", None)
        if own_poll is not None:
            own_poll.stop()
        task = loop.create_task(handle.shutdown_async())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def invoke(self, route: Route, call: ReplicaCall) -> ReplicaReply:
        assert route.app_name is not None
        try:
            return await self._dispatch(route, call)
        except asyncio.TimeoutError:
            raise timed_out(route.timeout_s(self._timeout_s)) from None
        except (RayActorError, RayTaskError) as exc:
            raise replica_failed(route, exc, self._verdicts) from None

    async def _dispatch(self, route: Route, call: ReplicaCall) -> ReplicaReply:
        loop = asyncio.get_running_loop()
        timeout_s = route.timeout_s(self._timeout_s)
        deadline = loop.time() + timeout_s
        if self._bridge is not None:
            # A standby whose call times out is killed by the bridge itself.
            reply = await asyncio.wait_for(self._bridge.invoke(route, call), timeout_s)
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

    def stream(self, route: Route, call: ReplicaCall) -> AsyncIterator[Any]:
        """A streamed reply (head, parts, end: see ``ModelReplica.stream_items``) from a
        standby if the endpoint is cold, else from Serve; the invocation timeout applies
        to the whole stream. See :mod:`serverless_ray.gateway.stream_dispatch`."""
        assert route.app_name is not None
        app_name = route.app_name

        def from_serve() -> AsyncIterator[Any]:
            return serve_stream(self._handle(app_name).options(stream=True).stream.remote(*call.args()))

        return stream_reply(route, call, bridge=self._bridge, from_serve=from_serve,
                            timeout_s=route.timeout_s(self._timeout_s),
                            verdicts=self._verdicts)


async def _result(response) -> ReplicaReply:
    return await response
