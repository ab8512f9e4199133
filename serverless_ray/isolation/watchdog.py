"""A replica's own watchdog: ends the process when it breaks a limit nothing else stops.

Two checks, every ``interval_s``, on one daemon thread:

* the model-ready deadline, while the replica loads its model (download, unpack and
  ``model_fn``): a load that hangs would otherwise hold its resources for ever;
* the scratch directory's size, when no filesystem caps it (:mod:`.scratch`).

Breaking either writes the cause to the replica's exit record and kills the process:
the call it was running fails, the entry point reads the cause, and Serve (or the
standby pool) replaces the replica.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from typing import Callable

log = logging.getLogger(__name__)

Check = Callable[[], "tuple[str, str] | None"]  # None, or (cause, message)


class Watchdog:
    def __init__(self, on_breach: Callable[[str, str], None], *, interval_s: float = 0.5) -> None:
        self._checks: dict[str, Check] = {}
        self._on_breach = on_breach
        self._interval_s = interval_s
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    def watch(self, name: str, check: Check) -> None:
        with self._lock:
            self._checks[name] = check
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="replica-watchdog", daemon=True)
            self._thread.start()

    def unwatch(self, name: str) -> None:
        with self._lock:
            self._checks.pop(name, None)

    def stop(self) -> None:
        self._stopped.set()

    def _run(self) -> None:
        while not self._stopped.wait(self._interval_s):
            with self._lock:
                checks = list(self._checks.values())
            for check in checks:
                try:
                    breach = check()
                except Exception:  # a failing check must not take the replica down
                    log.debug("watchdog check failed", exc_info=True)
                    continue
                if breach is not None:
                    self._on_breach(*breach)
                    return


def deadline_check(deadline: float, cause: str, message: str, clock: Callable[[], float] = time.monotonic) -> Check:
    return lambda: (cause, message) if clock() > deadline else None


def size_check(used: Callable[[], int], capacity_bytes: int, cause: str, message: str) -> Check:
    return lambda: (cause, message) if used() > capacity_bytes else None


def kill_self() -> None:
    """End this process at once, as the kernel's OOM killer would (no cleanup runs)."""
    os.kill(os.getpid(), signal.SIGKILL)
