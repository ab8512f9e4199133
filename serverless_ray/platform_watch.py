"""Tells, in the log of the process that runs the platform, when one of its actors (the
controller, the quota ledger) stops answering and when it answers again.

Ray restarts both on its own; the process that runs the platform (``serverless-ray up``)
keeps running meanwhile and only says so. Pure: the probe and the clock are injected.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

log = logging.getLogger("serverless_ray.platform")

WATCH_INTERVAL_S = 2.0

Probe = Callable[[], dict[str, "str | None"]]
"""Actor name → why it does not answer now, or None if it does."""


class PlatformWatch:
    def __init__(self, probe: Probe, *, clock: Callable[[], float] = time.monotonic,
                 logger: logging.Logger = log) -> None:
        self._probe = probe
        self._clock = clock
        self._log = logger
        self._down_since: dict[str, float] = {}

    def down(self) -> list[str]:
        """The actors down at the last poll."""
        return list(self._down_since)

    def poll(self) -> dict[str, str]:
        """Probe once; log every actor that went down or came back since the last poll.
        Returns name → why for those down now."""
        try:
            state = self._probe()
        except Exception as exc:  # the probe itself failed (Ray is busy): try again later
            self._log.warning("could not check the platform's actors: %s", exc)
            return {}
        now = self._clock()
        down = {}
        for name, reason in state.items():
            if reason is not None:
                down[name] = reason
                if name not in self._down_since:
                    self._down_since[name] = now
                    self._log.warning("the %s is down (%s); Ray restarts it, invocations of running "
                                      "endpoints go on", name, reason)
            elif name in self._down_since:
                since = self._down_since.pop(name)
                self._log.warning("the %s is back after %.1f s", name, now - since)
        return down
