"""Serve request router that sends each invocation to an idle replica if there is one.

Replicas serve one invocation at a time. Serve's default power-of-two router samples two
replicas; when both are busy it probes them and backs off, although another replica may
be idle. Admission already keeps in-flight invocations at or below the replica count,
so the router looks at every replica's known queue length and picks an idle one; only
when none is known to be idle does it fall back to probing them all.

The router also records each application's running replica count for the entry point
(:mod:`serverless_ray.gateway.serve_replicas`), which uses it to tell cold endpoints,
and which replica took each call (:mod:`serverless_ray.gateway.replica_calls`), so that
a call past its timeout can have its replica replaced.
"""

from __future__ import annotations

from typing import List, Optional

from ray.serve.request_router import FIFOMixin, PendingRequest, RequestRouter, RunningReplica

from serverless_ray.gateway import replica_calls, serve_replicas


# Serve pickles this module by value; the registry is reached through its own module so
# that routers update the one instance of the process they run in, not a copy.
class IdleReplicaRouter(FIFOMixin, RequestRouter):
    def update_replicas(self, replicas: List[RunningReplica]) -> None:
        super().update_replicas(replicas)
        serve_replicas.REPLICA_COUNTS.set(self.app_name, len(self.curr_replicas))

    def on_replica_actor_died(self, replica_id) -> None:
        super().on_replica_actor_died(replica_id)
        serve_replicas.REPLICA_COUNTS.set(self.app_name, len(self.curr_replicas))

    def on_request_routed(self, pending_request: PendingRequest, replica_id, result) -> None:
        super().on_request_routed(pending_request, replica_id, result)
        replica_calls.ROUTED_CALLS.record(result, replica_id)

    async def choose_replicas(
        self,
        candidate_replicas: List[RunningReplica],
        pending_request: Optional[PendingRequest] = None,
    ) -> List[List[RunningReplica]]:
        cache = self.replica_queue_len_cache
        best: RunningReplica | None = None
        best_len = None
        for replica in candidate_replicas:
            queue_len = cache.get(replica.replica_id)
            if queue_len is not None and queue_len < replica.max_ongoing_requests:
                if best_len is None or queue_len < best_len:
                    best, best_len = replica, queue_len
                    if queue_len == 0:
                        break
        if best is not None:
            return [[best]]
        return [list(candidate_replicas)]
