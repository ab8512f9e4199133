"""Reading a replica's streamed reply item by item, and stopping it when the reader stops.

Two sources: Serve's streaming handles (``handle.options(stream=True)``, a
``DeploymentResponseGenerator``) for an endpoint's own replicas, and Ray's streaming
generator calls (``num_returns="streaming"``, an ``ObjectRefGenerator``) for a standby
answering a cold call. Either way items arrive as the replica yields them; nothing waits
for the whole answer. A reader that stops early (client gone, timeout) cancels the call,
which closes the model's generator in the replica.
"""

from __future__ import annotations

from typing import Any, AsyncGenerator

import ray


async def serve_stream(response) -> AsyncGenerator[Any, None]:
    """The items of a Serve streaming call; cancelled if not read to its end."""
    finished = False
    try:
        async for item in response:
            yield item
        finished = True
    finally:
        if not finished:
            response.cancel()


async def actor_stream(generator) -> AsyncGenerator[Any, None]:
    """The items of a Ray streaming generator call; cancelled if not read to its end."""
    finished = False
    try:
        async for ref in generator:
            yield await ref
        finished = True
    finally:
        if not finished:
            ray.cancel(generator)
