"""Which Serve replica each call of this process went to.

The request router records it the moment a replica accepts a call, so that when a call
runs past the invocation timeout the entry point can replace exactly the replica that
runs it (:mod:`serverless_ray.gateway.replica_release`).
"""

from __future__ import annotations

import threading
import weakref


class RoutedCalls:
    def __init__(self) -> None:
        self._replicas: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()  # routers run on Serve's own router thread

    def record(self, result, replica_id) -> None:
        with self._lock:
            self._replicas[result] = replica_id

    def replica_of(self, response):
        """The ``ReplicaID`` that accepted ``response``'s call; None while it is queued."""
        result = getattr(response, "_replica_result", None)
        if result is None:
            return None
        with self._lock:
            return self._replicas.get(result)


# Process-wide, reached through this module (the router's module is pickled by value).
ROUTED_CALLS = RoutedCalls()
