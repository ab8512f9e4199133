"""Room for an update's new version on a cluster the old version fills.

An update starts the new version beside the old one and switches when the new one has
loaded its model. On a cluster that cannot hold both, the new version's replicas wait
for a node while the old version holds the room; left alone they wait until the old
version's keep-warm window runs out. While the new version launches, a
:class:`RoomWatch` looks every ``room_check_s`` and decides:

- no node of the cluster is large enough for one replica of a new variant (a node left
  since the launch began): the update fails, with a FailureReason that names the size
  and the largest node, and the old version keeps serving;
- a new replica waits for a node, no node has room for it now, one would if the old
  version's replicas were gone, and the old version has no invocation in flight: release
  the old version's replicas now (the next invocation finds it cold, as it would after
  its keep-warm window);
- anything else: wait. Ray places the replica once room appears; if other endpoints hold
  the room, releasing the old version would not make enough.

:func:`room_verdict` is the decision, pure; the watch reads the cluster and acts on it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Awaitable, Callable, Literal, Mapping, Sequence

from serverless_ray.control.app_backend import AppBackend, AppState
from serverless_ray.control.launch import placement_failure
from serverless_ray.resources import NodeRoom, ReplicaResources, capacity_shortfall, fits_on_some_node
from serverless_ray.spec import ProductionVariant

log = logging.getLogger(__name__)

ROOM_CHECK_S = 1.0


@dataclass(frozen=True)
class NewVariant:
    """One variant of the version being launched: its application and what a replica needs."""

    variant: ProductionVariant
    app_name: str
    needed: ReplicaResources


@dataclass(frozen=True)
class OldApp:
    """One application of the version that serves now, and what each of its replicas holds."""

    app_name: str
    per_replica: ReplicaResources


@dataclass(frozen=True)
class RoomVerdict:
    action: Literal["wait", "release", "fail"]
    reason: str = ""  # the FailureReason, when the action is "fail"


WAIT = RoomVerdict("wait")
RELEASE = RoomVerdict("release")


def room_verdict(
    new: Sequence[NewVariant],
    unplaced: Mapping[str, int],
    nodes: Sequence[NodeRoom],
    *,
    old_holds: ReplicaResources | None,
    old_idle: bool,
) -> RoomVerdict:
    """What to do about the new version's placement now.

    ``unplaced``: new application → its replicas still waiting for a node; ``nodes``: every
    live node's total and unclaimed resources; ``old_holds``: what the old version's
    running replicas hold together (None: it runs none); ``old_idle``: no invocation of
    the endpoint is in flight. Where the old replicas run is not known, so releasing them
    is counted as room on whichever node it helps most (exact on a single node; on
    several, a release may leave the new replica waiting all the same). Serve learns a
    replica's node only once its process runs, so one whose process is still starting
    (its runtime environment installing) counts as waiting: on a full cluster the idle
    old version may then go a little before it had to.
    """
    totals = [node.total for node in nodes]
    for part in new:
        shortfall = capacity_shortfall(part.needed, totals) if totals else None
        if shortfall is not None:
            return RoomVerdict("fail", placement_failure(part.variant, shortfall))
    if old_holds is None or not old_idle:
        return WAIT
    available = [node.available for node in nodes]
    for part in new:
        if (unplaced.get(part.app_name, 0) > 0 and not fits_on_some_node(part.needed, available)
                and fits_on_some_node(part.needed, available, freed=old_holds)):
            return RELEASE
    return WAIT


@dataclass
class RoomWatch:
    """Watches one launch beside an old version; see the module's description."""

    backend: AppBackend
    new: Sequence[NewVariant]
    old: Sequence[OldApp]
    is_idle: Callable[[], bool]
    release: Callable[[], Awaitable[bool]]  # True if it released replicas
    check_s: float = ROOM_CHECK_S

    async def run(self) -> str:
        """Until cancelled (the launch ended), release the idle old version whenever it is
        what keeps the new one waiting; returns a FailureReason if the new version can
        never fit."""
        while True:
            await asyncio.sleep(self.check_s)
            try:
                states, nodes = await asyncio.gather(
                    asyncio.to_thread(self.backend.app_states), asyncio.to_thread(self.backend.node_available))
                verdict = self.verdict(states, nodes)
                if verdict.action == "fail":
                    return verdict.reason
                if verdict.action == "release" and await self.release():
                    log.info("released the idle old version (%s) to make room for %s",
                             ", ".join(o.app_name for o in self.old), ", ".join(n.app_name for n in self.new))
            except Exception:  # a failed look must not fail the update; the next one may work
                log.exception("checking room for %s failed", ", ".join(n.app_name for n in self.new))

    def verdict(self, states: Mapping[str, AppState], nodes: Sequence[NodeRoom]) -> RoomVerdict:
        holds: ReplicaResources | None = None
        for app in self.old:
            state = states.get(app.app_name)
            if state is None or not state.running_replicas:
                continue
            held = app.per_replica.times(state.running_replicas)
            holds = held if holds is None else holds.plus(held)
        unplaced = {part.app_name: states[part.app_name].unplaced_replicas
                    for part in self.new if part.app_name in states}
        return room_verdict(self.new, unplaced, nodes, old_holds=holds, old_idle=self.is_idle())
