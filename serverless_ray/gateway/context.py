"""What every request handler of an entry point shares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from serverless_ray.gateway.demand import DemandTracker
from serverless_ray.gateway.invoker import Invoker
from serverless_ray.gateway.routing import RouteCache
from serverless_ray.metrics.invocations import InvocationMetrics
from serverless_ray.quota.admission import LocalAdmission
from serverless_ray.settings import PlatformSettings


@dataclass
class GatewayContext:
    settings: PlatformSettings
    controller: Any  # ActorHandle of PlatformController
    routes: RouteCache
    demand: DemandTracker
    invoker: Invoker
    metrics: InvocationMetrics
    admission: LocalAdmission | None = None  # None: limits not enforced
    ready: bool = False
