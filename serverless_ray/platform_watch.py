"""Tells, in the log of the process that runs the platform, when one of its actors (the
controller, the quota ledger) stops answering and when it answers again.

Ray restarts both on its own; the process that runs the platform (``serverless-ray up``)
keeps running meanwhile and only says so. Pure: the probe and the clock are injected.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

log = logging.getLogger("serverless_ray.platform")

WATCH_INTERVAL_S = 2.0



@dataclass(frozen=True)
class Probed:
    """One actor at one probe: why it does not answer (``down``), or the process that did."""

    down: str | None = None
    pid: int | None = None


Probe = Callable[[], dict[str, Probed]]
"""Actor name → what the probe found."""


class PlatformWatch:
    def __init__(self, probe: Probe, *, clock: Callable[[], float] = time.monotonic,
                 logger: logging.Logger = log) -> None:
        self._probe = probe
        self._clock = clock
        self._log = logger
        self._down_since: dict[str, float] = {}
        self._pids: dict[str, int | None] = {}
        self._last_poll: float | None = None

    def down(self) -> list[str]:
        """The actors down at the last poll."""
        return list(self._down_since)

    def poll(self) -> dict[str, str]:
        """Probe once; log every actor that went down or came back since the last poll
        (one that answers from another process than before was restarted in between).
        Returns name → why for those down now."""
        try:
            state = self._probe()
        except Exception as exc:  # the probe itself failed (Ray is busy): try again later
            self._log.warning("could not check the platform's actors: %s", exc)
            return {}
        now = self._clock()
        previous_poll, self._last_poll = self._last_poll, now
        down = {}
        for name, probed in state.items():
            if probed.down is not None:
                down[name] = probed.down
                self._went_down(name, probed.down, now)
                continue
            pid, last_pid = probed.pid, self._pids.get(name)
            self._pids[name] = pid
            if name not in self._down_since and last_pid is not None and pid != last_pid:
                # Ray restarted it between two polls, faster than a ping gives up: the
                # new process answers. It was down for at most the time since the last poll.
                self._went_down(name, f"its process {last_pid} ended; process {pid} answers now",
                                previous_poll if previous_poll is not None else now)
            if name in self._down_since:
                since = self._down_since.pop(name)
                self._log.warning("the %s is back after %.1f s", name, now - since)
        return down

    def _went_down(self, name: str, reason: str, since: float) -> None:
        if name not in self._down_since:
            self._down_since[name] = since
            self._log.warning("the %s is down (%s); Ray restarts it, invocations of running "
                              "endpoints go on", name, reason)
