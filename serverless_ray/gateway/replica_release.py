"""Frees a Serve replica whose call ran past the invocation timeout.

A model call cannot be interrupted from outside (a thread in the replica runs it, and
may sit in C code), so the replica running it is killed: the call fails, this process's
request router drops the replica at once, Serve starts another, and meanwhile the next
call goes to another replica or, if there is none, to a standby that adopts the model.
A call that was still queued (no replica had accepted it) is only cancelled.
"""

from __future__ import annotations

import asyncio
import logging

import ray
from ray.serve._private.constants import SERVE_NAMESPACE

from serverless_ray.gateway.replica_calls import ROUTED_CALLS
from serverless_ray.gateway.serve_replicas import REPLICA_COUNTS

log = logging.getLogger(__name__)

# How long to wait for the router to drop the killed replica before answering the caller.
SETTLE_S = 5.0


async def release_replica(app_name: str, response, waiter: asyncio.Future, *, settle_s: float = SETTLE_S) -> bool:
    """Kill the replica that runs ``response``'s call; True if there was one."""
    replica_id = ROUTED_CALLS.replica_of(response)
    if replica_id is None:
        response.cancel()
        waiter.cancel()
        return False
    before = REPLICA_COUNTS.get(app_name)
    await asyncio.to_thread(_kill, replica_id.to_full_id_str())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settle_s
    # The call now fails with ActorDiedError, and that is how the router learns that the
    # replica is gone; wait for both so the next call is not routed to it.
    await asyncio.wait({waiter}, timeout=settle_s)
    if not waiter.done():
        waiter.cancel()
    elif not waiter.cancelled():
        waiter.exception()  # retrieved: the caller is told of the timeout instead
    while before is not None and (REPLICA_COUNTS.get(app_name) or 0) >= before and loop.time() < deadline:
        await asyncio.sleep(0.01)
    return True


def _kill(actor_name: str) -> None:
    try:
        ray.kill(ray.get_actor(actor_name, namespace=SERVE_NAMESPACE), no_restart=True)
    except ValueError:  # already gone
        pass
    except Exception:
        log.warning("could not kill replica %s after a timed-out call", actor_name, exc_info=True)
