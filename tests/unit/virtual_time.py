"""An asyncio event loop on virtual time, for tests of timing-based protocols.

Its clock moves only when every task waits: instead of sleeping until the next timer,
the loop jumps to it. What the code under test does then depends on its timers and its
own randomness alone, not on how fast a loaded machine happens to run it (a protocol
that must act "within 0.1 s" is given exactly 0.1 s of loop time, however long the
process was descheduled).
"""

from __future__ import annotations

import asyncio
import selectors


class _JumpingSelector(selectors.DefaultSelector):
    def __init__(self, loop: "VirtualTimeLoop") -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout=None):
        ready = super().select(0)  # never block on the real clock
        if not ready and timeout:
            self._loop.advance(timeout)  # nothing to do before the next timer: go there
        return ready


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """``loop.time()`` starts at 0 and advances to each timer as the loop reaches it."""

    def __init__(self) -> None:
        self._now = 0.0
        super().__init__(selector=_JumpingSelector(self))

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds


def run_in_virtual_time(coro):
    """``asyncio.run`` on a :class:`VirtualTimeLoop`."""
    with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
        return runner.run(coro)
