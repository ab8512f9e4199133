"""The platform's own operations (``ServerlessRay.*``), run in the controller.

``GetCostAndUsage`` answers `serverless-ray cost` and the benchmark from the usage book;
``ListEndpointCapacity`` says how many replicas each serverless variant runs;
``ReleaseWarmCapacity`` ends an endpoint's keep-warm window at once, which is what the
``--scale-to-zero-after`` window does when it runs out (the benchmark uses it to measure
cold starts without waiting out the window): replicas not serving an invocation are
released down to the provisioned concurrency, and nothing else changes.
"""

from __future__ import annotations

import time
from typing import Any, Awaitable, Callable

from serverless_ray.autoscaling.scaler import Autoscaler
from serverless_ray.billing.book import UsageBook
from serverless_ray.billing.usage import Usage, by_variant
from serverless_ray.control.route_board import RouteBoard
from serverless_ray.errors import UnknownOperationException, ValidationException
from serverless_ray.spec.platform_api import (
    GetCostAndUsageInput,
    ListEndpointCapacityInput,
    ReleaseWarmCapacityInput,
)
from serverless_ray.spec.services import SERVERLESS_RAY
from serverless_ray.spec.validation import parse

ReplicaCounts = Callable[[], dict[tuple[str, str], int]]


class PlatformOperations:
    def __init__(
        self, book: UsageBook, autoscaler: Autoscaler, routes: RouteBoard, replicas: ReplicaCounts,
        *, clock: Callable[[], float] = time.time,
    ) -> None:
        self._book = book
        self._autoscaler = autoscaler
        self._routes = routes
        self._replicas = replicas
        self._clock = clock
        self.operations: dict[str, tuple[type, Callable[[Any], Awaitable[dict[str, Any]]]]] = {
            "GetCostAndUsage": (GetCostAndUsageInput, self.get_cost_and_usage),
            "ListEndpointCapacity": (ListEndpointCapacityInput, self.list_endpoint_capacity),
            "ReleaseWarmCapacity": (ReleaseWarmCapacityInput, self.release_warm_capacity),
        }

    async def call(self, operation: str, payload: Any) -> dict[str, Any]:
        if operation not in self.operations:
            raise UnknownOperationException(
                f"Operation {SERVERLESS_RAY}.{operation} is not supported by this platform; "
                f"it serves {', '.join(sorted(self.operations))}."
            )
        shape, handler = self.operations[operation]
        return await handler(parse(shape, payload))

    async def get_cost_and_usage(self, req: GetCostAndUsageInput) -> dict[str, Any]:
        now = self._clock()
        since = now - req.SinceSeconds if req.SinceSeconds else None
        usage = by_variant(self._book.since(since))
        if req.EndpointName is not None:
            usage = {k: v for k, v in usage.items() if k[0].lower() == req.EndpointName.lower()}
        prices = self._book.prices
        rows = [_usage_item(endpoint, variant, u) for (endpoint, variant), u in sorted(usage.items())]
        return {
            "Since": since, "Until": now, "Currency": prices.currency,
            "PriceTable": prices.model_dump(mode="json"),
            "PricedComponents": [c.value for c in prices.priced()],
            "UnpricedComponents": [c.value for c in prices.unpriced()],
            "Usage": rows,
            "Total": _usage_item(None, None, sum(usage.values(), Usage())),
        }

    async def list_endpoint_capacity(self, req: ListEndpointCapacityInput) -> dict[str, Any]:
        running = self._replicas()
        items = []
        for route in sorted(self._routes.snapshot()[1].values(), key=lambda r: r.endpoint_name):
            for variant, _ in route.targets():
                items.append({
                    "EndpointName": route.endpoint_name, "VariantName": variant,
                    "Serverless": route.serverless,
                    "RunningReplicas": running.get((route.endpoint_name, variant), 0),
                    "TargetReplicas": self._autoscaler.target(route.endpoint_name) if route.serverless else None,
                    "ProvisionedConcurrency": self._autoscaler.floor(route.endpoint_name) if route.serverless else 0,
                    "MemorySizeInMB": route.memory_size_mb or None,
                    "MaxConcurrency": route.max_concurrency or None,
                })
        return {"Endpoints": items}

    async def release_warm_capacity(self, req: ReleaseWarmCapacityInput) -> dict[str, Any]:
        route = self._routes.get(req.EndpointName)
        target = await self._autoscaler.release_warm(req.EndpointName) if route and route.serverless else None
        if route is None or target is None:
            raise ValidationException(
                f"Could not find a serverless endpoint named {req.EndpointName} that is InService."
            )
        return {"EndpointName": route.endpoint_name, "TargetReplicas": target}


def _usage_item(endpoint: str | None, variant: str | None, usage: Usage) -> dict[str, Any]:
    item = {
        "Invocations": usage.invocations,
        "BilledGbSeconds": usage.gb_seconds,
        "ProvisionedComputeGbSeconds": usage.provisioned_compute_gb_seconds,
        "ProcessedBytes": usage.processed_bytes,
        "ProvisionedGbSeconds": usage.provisioned_gb_seconds,
        "CostUsd": {component.value: value for component, value in usage.costs().items()},
        "TotalCostUsd": usage.total_cost,
    }
    return item if endpoint is None else {"EndpointName": endpoint, "VariantName": variant, **item}
