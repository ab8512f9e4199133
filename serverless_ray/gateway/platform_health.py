"""Whether the platform actors this gateway depends on (the controller, the quota ledger)
answer, as this gateway sees them (asyncio, no Ray).

Each actor is pinged in the background. A call that fails because the actor died (a
ping, or any call elsewhere in the gateway: ``mark_down``) marks it down; the next ping
that answers marks it up again. A slow answer is not a death: a call to an actor that Ray
is restarting waits for the new process, so a ping that times out changes nothing. While the
controller is down the gateway keeps serving invocations of the endpoints it knows,
answers control-plane calls with ``ServiceUnavailable`` at once instead of letting them
wait for a restart, and ``/healthz`` says which actor is down and why.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

log = logging.getLogger(__name__)

PING_INTERVAL_S = 1.0
# A ping that takes longer is given up and sent again; it changes nothing: a busy actor
# (a loaded machine) is slow, not down, and one that died was seen failing already.
PING_TIMEOUT_S = 10.0

Ping = Callable[[], Awaitable[object]]


class PlatformHealth:
    """Name → ping of each platform actor; ``down()`` says which do not answer now."""

    def __init__(
        self, pings: dict[str, Ping], *, interval_s: float = PING_INTERVAL_S, timeout_s: float = PING_TIMEOUT_S
    ) -> None:
        self._pings = pings
        self._interval_s = interval_s
        self._timeout_s = timeout_s
        self._down: dict[str, str] = {}
        self._task: asyncio.Task | None = None

    def down(self) -> dict[str, str]:
        """Name → why, for every actor that does not answer now."""
        return dict(self._down)

    def is_down(self, name: str) -> bool:
        return name in self._down

    def mark_down(self, name: str, reason: str) -> None:
        """A call to ``name`` failed: it counts as down until a ping answers."""
        if name not in self._down:
            log.warning("platform actor %s is unreachable: %s", name, reason)
        self._down[name] = reason

    def mark_up(self, name: str) -> None:
        if self._down.pop(name, None) is not None:
            log.warning("platform actor %s answers again", name)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def check(self) -> None:
        """Ping every actor once (concurrently) and record the answers."""
        await asyncio.gather(*(self._check(name, ping) for name, ping in self._pings.items()))

    async def _check(self, name: str, ping: Ping) -> None:
        try:
            await asyncio.wait_for(ping(), self._timeout_s)
        except asyncio.CancelledError:
            raise
        except asyncio.TimeoutError:
            pass  # slow (busy, or still restarting): as it was
        except Exception as exc:
            self.mark_down(name, _reason(exc))
        else:
            self.mark_up(name)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            await self.check()


def _reason(exc: BaseException) -> str:
    """A short why: the error's kind and its first line (Ray's messages run long)."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first[:200]}" if first else type(exc).__name__
