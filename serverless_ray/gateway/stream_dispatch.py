"""Dispatch of a streamed invocation: from a standby if the endpoint is cold, else from
Serve, item by item, under the invocation timeout for the whole stream.

The items are those of ``ModelReplica.stream_items``: a :class:`ReplicaReply` head, the
parts as ``bytes``, a :class:`StreamEnd`. A replica that fails or does not finish in time
raises the ``ModelError`` InvokeEndpoint would (:class:`ModelTimedOut` for the timeout);
the invocation service decides what that means once parts were sent.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any, AsyncGenerator, AsyncIterator, Callable

from ray.exceptions import RayActorError, RayTaskError

from serverless_ray.errors import ModelError, ModelTimedOut, no_response
from serverless_ray.gateway.cold_start_bridge import ColdStartBridge, Lease
from serverless_ray.isolation.records import ExitRecord
from serverless_ray.messages import ReplicaCall, ReplicaReply, Route

# Replica (actor) id → the limit it died of, if it did (see serverless_ray.isolation.verdicts).
VerdictFn = Callable[["str | None"], "ExitRecord | None"]


def timed_out(timeout_s: float) -> ModelTimedOut:
    return no_response(  # type: ignore[return-value]
        f"Your invocation timed out while waiting for a response from container primary after {timeout_s:.0f} s.",
        kind=ModelTimedOut,
    )


def replica_failed(route: Route, exc: BaseException, verdicts: VerdictFn | None = None) -> ModelError:
    """The ModelError of a replica that died under a call; it names the limit of its
    tier the replica broke, if ``verdicts`` knows of one."""
    verdict = verdicts(_dead_actor_id(exc)) if verdicts is not None else None
    if verdict is not None:
        return no_response(verdict.message)
    return no_response(
        f"Amazon SageMaker could not get a response from the {route.endpoint_name} endpoint. "
        f"The replica failed: {type(exc).__name__}."
    )


def _dead_actor_id(exc: BaseException) -> str | None:
    """The id of the actor whose death failed the call (Ray puts it on the error)."""
    for candidate in (exc, getattr(exc, "cause", None)):
        actor_id = getattr(candidate, "actor_id", None)
        if isinstance(actor_id, str) and actor_id:
            return actor_id
    return None


async def stream_reply(
    route: Route,
    call: ReplicaCall,
    *,
    bridge: ColdStartBridge | None,
    from_serve: Callable[[], AsyncIterator[Any]],
    timeout_s: float,
    verdicts: VerdictFn | None = None,
) -> AsyncGenerator[Any, None]:
    """The items of ``call``'s streamed reply; closing this cancels the replica's stream."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    lease: Lease | None = None
    source: AsyncIterator[Any] | None = None
    broken = False
    try:
        if bridge is not None:
            lease = await asyncio.wait_for(bridge.lease(route, call), timeout_s)
        source = lease.standby.stream(call) if lease is not None else from_serve()
        while True:
            try:
                item = await asyncio.wait_for(anext(source), max(0.0, deadline - loop.time()))
            except StopAsyncIteration:
                return
            if lease is not None and isinstance(item, ReplicaReply):
                item = replace(item, standby=True)
            yield item
    except asyncio.TimeoutError:
        broken = True
        raise timed_out(timeout_s) from None
    except (RayActorError, RayTaskError) as exc:
        broken = True
        raise replica_failed(route, exc, verdicts) from None
    finally:
        if source is not None:
            await source.aclose()  # type: ignore[attr-defined]
        if lease is not None:
            lease.release(broken=broken)
