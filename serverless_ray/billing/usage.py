"""Usage as it is metered, added up and kept: per endpoint, variant and memory size, in
time buckets (one a minute), with its cost once the controller has priced it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Iterable, Mapping

from serverless_ray.billing.prices import Component

BUCKET_S = 60  # usage is kept per minute; `serverless-ray cost --since` counts whole minutes


def bucket_of(wall_time: float, width_s: int = BUCKET_S) -> int:
    """Start (epoch seconds) of the bucket ``wall_time`` falls in."""
    return int(math.floor(wall_time / width_s)) * width_s


@dataclass(frozen=True, order=True)
class UsageKey:
    endpoint_name: str
    variant_name: str
    memory_mb: int


@dataclass(frozen=True)
class Usage:
    """Additive quantities of a bill; costs are filled in when the usage is priced."""

    invocations: int = 0
    gb_seconds: float = 0.0  # billed inference duration x memory, on any capacity
    provisioned_compute_gb_seconds: float = 0.0  # the part of gb_seconds served by provisioned concurrency
    processed_bytes: int = 0  # request plus response
    provisioned_gb_seconds: float = 0.0  # provisioned concurrency kept: memory x units x time
    cost_compute: float = 0.0
    cost_provisioned_compute: float = 0.0
    cost_data_processing: float = 0.0
    cost_provisioned_concurrency: float = 0.0

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    @property
    def on_demand_gb_seconds(self) -> float:
        return self.gb_seconds - self.provisioned_compute_gb_seconds

    def costs(self) -> dict[Component, float]:
        return {
            Component.COMPUTE: self.cost_compute,
            Component.PROVISIONED_COMPUTE: self.cost_provisioned_compute,
            Component.DATA_PROCESSING: self.cost_data_processing,
            Component.PROVISIONED_CONCURRENCY: self.cost_provisioned_concurrency,
        }

    @property
    def total_cost(self) -> float:
        return sum(self.costs().values())

    def with_costs(self, costs: Mapping[Component, float]) -> "Usage":
        return replace(self, **{f"cost_{component.value}": value for component, value in costs.items()})


@dataclass(frozen=True)
class UsageRow:
    """Usage of one key in one bucket: what gateways send and the store keeps."""

    bucket: int
    key: UsageKey
    usage: Usage = field(default_factory=Usage)


def add_up(rows: Iterable[UsageRow]) -> list[UsageRow]:
    """Rows of the same bucket and key merged into one (in bucket, key order)."""
    merged: dict[tuple[int, UsageKey], Usage] = {}
    for row in rows:
        slot = (row.bucket, row.key)
        merged[slot] = merged.get(slot, Usage()) + row.usage
    return [UsageRow(bucket, key, usage) for (bucket, key), usage in sorted(merged.items())]


def by_variant(usage: Mapping[UsageKey, Usage]) -> dict[tuple[str, str], Usage]:
    """Usage per (endpoint, variant), memory sizes added together."""
    out: dict[tuple[str, str], Usage] = {}
    for key, value in usage.items():
        labels = (key.endpoint_name, key.variant_name)
        out[labels] = out.get(labels, Usage()) + value
    return out
