"""This node's standby pools: one in the platform's environment, and one in each framework
container's runtime environment that an endpoint runs in.

A standby adopts only models of its own environment (see
:mod:`serverless_ray.runtime.standby`): a framework model's cold start needs a standby
that has the framework installed and imported. So the entry point follows the routes: when
an endpoint whose image runs in a framework's environment appears, a small pool
(``environment_standbys``) starts in that environment; when the last such endpoint goes,
the pool is stopped and its standbys are ended.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Callable

from serverless_ray.gateway.standby_pool import Standby, StandbyPool
from serverless_ray.messages import ReplicaSpec, Route
from serverless_ray.runtime.stacks import environment_packages, preloaded_modules

log = logging.getLogger(__name__)

#: Makes the pool of one environment: (its packages, the modules to preload) → a pool.
PoolFactory = Callable[[tuple[str, ...], tuple[str, ...]], StandbyPool]


class StandbyPools:
    """The platform environment's pool plus one pool per framework environment in use."""

    def __init__(self, base: StandbyPool, make_pool: PoolFactory | None) -> None:
        self._base = base
        self._make_pool = make_pool  # None: framework models' cold starts go to Serve
        self._pools: dict[tuple[str, ...], StandbyPool] = {}
        self._started = False

    def pool_for(self, spec: ReplicaSpec) -> StandbyPool | None:
        """The pool whose standbys can adopt ``spec``'s model (None: none on this node)."""
        environment = environment_packages(spec.image)
        return self._pools.get(environment) if environment else self._base

    def follow(self, routes: Mapping[str, Route]) -> None:
        """Have a pool for each framework environment the routed endpoints run in, and no other."""
        if self._make_pool is None:
            return
        wanted = _environments(route.replica for route in routes.values() if route.replica is not None)
        for environment in set(self._pools) - set(wanted):
            log.info("no endpoint runs in the environment of %s any more: stopping its standbys",
                     ", ".join(environment))
            self._pools.pop(environment).stop()
        for environment, preload in wanted.items():
            if environment not in self._pools:
                pool = self._pools[environment] = self._make_pool(environment, preload)
                if self._started:
                    pool.start()

    @property
    def idle(self) -> int:
        """Standbys ready to adopt a model now, in every environment."""
        return sum(pool.idle for pool in self._all())

    @property
    def in_use(self) -> int:
        return sum(pool.in_use for pool in self._all())

    def environments(self) -> dict[tuple[str, ...], int]:
        """Idle standbys of each framework environment (for metrics and tests)."""
        return {environment: pool.idle for environment, pool in self._pools.items()}

    def idle_standbys(self) -> list[Standby]:
        """The platform environment's idle standbys (for fault-injection tests)."""
        return self._base.idle_standbys()

    def start(self) -> None:
        self._started = True
        for pool in self._all():
            pool.start()

    def stop(self) -> None:
        for pool in self._all():
            pool.stop()
        self._pools.clear()

    def _all(self) -> list[StandbyPool]:
        return [self._base, *self._pools.values()]


def _environments(specs: Iterable[ReplicaSpec]) -> dict[tuple[str, ...], tuple[str, ...]]:
    """Framework environment → the modules its standbys preload, for the models of ``specs``."""
    wanted: dict[tuple[str, ...], tuple[str, ...]] = {}
    for spec in specs:
        environment = environment_packages(spec.image)
        if environment:
            wanted[environment] = preloaded_modules(spec.image)
    return wanted
