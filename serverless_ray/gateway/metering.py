"""The gateway's cost meter: an invocation hook that meters every serverless invocation
that reached a replica, as SageMaker bills it, and sends the usage to the controller.

Usage is added up per minute, endpoint, variant and memory size, and sent in batches
(at most one a ``flush_interval_s``, and none while idle); the controller prices it and
makes it durable. A batch the controller could not take is kept and sent again; what a
gateway holds when it stops is sent before it goes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Awaitable, Callable

from serverless_ray.billing.meter import invocation_usage
from serverless_ray.billing.usage import UsageKey, UsageRow, add_up, bucket_of
from serverless_ray.gateway.invocation_types import InvocationHook, InvocationOutcome

log = logging.getLogger(__name__)

SendFn = Callable[[list[UsageRow]], Awaitable[None]]


class MeteringHook(InvocationHook):
    def __init__(
        self, send: SendFn, *, flush_interval_s: float = 1.0, wall_clock: Callable[[], float] = time.time
    ) -> None:
        self._send = send
        self._interval_s = flush_interval_s
        self._wall_clock = wall_clock
        self._pending: list[UsageRow] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None

    def on_finish(self, outcome: InvocationOutcome) -> None:
        route = outcome.route
        if not outcome.dispatched or route is None or not route.serverless or not route.memory_size_mb:
            return  # refused before any compute ran, or an instance-based variant (billed by the hour)
        usage = invocation_usage(
            route.memory_size_mb, outcome.duration_s, outcome.request_bytes + outcome.response_bytes,
            on_provisioned=bool(outcome.provisioned),
        )
        key = UsageKey(route.endpoint_name, outcome.variant_name or route.variant_name, route.memory_size_mb)
        self._pending.append(UsageRow(bucket_of(self._wall_clock()), key, usage))
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop sending in the background, and send what is left."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        await self.flush()

    async def flush(self) -> bool:
        """Send the usage metered so far; False (and kept for the next try) if it failed."""
        rows, self._pending = add_up(self._pending), []
        if not rows:
            return True
        try:
            await self._send(rows)
        except Exception as exc:
            log.warning("sending metered usage to the controller failed (kept for the next try): %s", exc)
            self._pending = rows + self._pending
            return False
        return True

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not await self.flush():
                self._wake.set()  # try again after the pause, even if no invocation comes
            await asyncio.sleep(self._interval_s)
