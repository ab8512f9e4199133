"""Which production variant serves an invocation.

``X-Amzn-SageMaker-Target-Variant`` (boto3's ``TargetVariant``) names one; otherwise an
instance-based endpoint's variants share traffic in proportion to their weights, and a
serverless endpoint's single variant takes everything. The chosen variant is what the
response's ``x-Amzn-Invoked-Production-Variant`` names.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Callable

from serverless_ray.messages import Route
from serverless_ray.errors import RuntimeValidationError

TARGET_VARIANT = "X-Amzn-SageMaker-Target-Variant"


def choose_variant(route: Route, target: str | None, *, pick: Callable[[], float] = random.random) -> Route:
    """``route`` narrowed to the variant that serves this invocation."""
    if not route.variants:
        if target is not None and target != route.variant_name:
            raise _unknown_variant(route, target, [route.variant_name])
        return route
    if target is not None:
        for variant in route.variants:
            if variant.variant_name == target:
                return dataclasses.replace(route, variant_name=variant.variant_name, app_name=variant.app_name)
        raise _unknown_variant(route, target, [v.variant_name for v in route.variants])
    total = sum(v.weight for v in route.variants)
    if total <= 0:
        raise RuntimeValidationError(
            f"No production variant of endpoint {route.endpoint_name} has a weight above 0; "
            f"name one with {TARGET_VARIANT}."
        )
    point = pick() * total
    serving = [v for v in route.variants if v.weight > 0]
    chosen = serving[-1]  # where rounding leaves the point at the very end
    for variant in serving:
        if point < variant.weight:
            chosen = variant
            break
        point -= variant.weight
    return dataclasses.replace(route, variant_name=chosen.variant_name, app_name=chosen.app_name)


def _unknown_variant(route: Route, target: str, known: list[str]) -> RuntimeValidationError:
    return RuntimeValidationError(
        f"Variant {target} of endpoint {route.endpoint_name} not found; the endpoint's variants are {known}."
    )
