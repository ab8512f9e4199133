"""How many running replicas each Serve application has, as this process sees them.

Serve pushes every change of a deployment's replica set to the handles of each process
that calls it (a long poll, no polling here). The entry point's request router records
the count here, so that the entry point knows at once whether an endpoint is scaled to
zero, and learns the moment its first replica is running.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Callable

Listener = Callable[[str, int], None]


class ReplicaCounts:
    """Counts by application name, with listeners called on their own event loop."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._listeners: list[tuple[asyncio.AbstractEventLoop, Listener]] = []
        self._lock = threading.Lock()  # routers run on Serve's own router thread

    def get(self, app_name: str) -> int | None:
        """Running replicas of ``app_name``; None until this process's handle has heard."""
        return self._counts.get(app_name)

    def set(self, app_name: str, count: int) -> None:
        with self._lock:
            if self._counts.get(app_name) == count:
                return
            self._counts[app_name] = count
            listeners = list(self._listeners)
        for loop, listener in listeners:
            if not loop.is_closed():
                loop.call_soon_threadsafe(listener, app_name, count)

    def forget(self, app_name: str) -> None:
        with self._lock:
            self._counts.pop(app_name, None)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(app_name, count)`` on the running loop at every change; returns
        a function that unsubscribes."""
        entry = (asyncio.get_running_loop(), listener)
        with self._lock:
            self._listeners.append(entry)

        def unsubscribe() -> None:
            with self._lock:
                if entry in self._listeners:
                    self._listeners.remove(entry)

        return unsubscribe


# Process-wide: Serve creates the routers that update it, one per deployment handle.
REPLICA_COUNTS = ReplicaCounts()
