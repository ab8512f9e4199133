"""The statistics set of one metric over one period: what CloudWatch calls a
*statistic set* (SampleCount, Sum, Minimum, Maximum) plus a sketch of the samples for
percentiles. Aggregates of the same period from several gateways merge exactly (the
sketch within its relative accuracy)."""

from __future__ import annotations

from dataclasses import dataclass, field

from serverless_ray.observability.sketch import Sketch


@dataclass
class Aggregate:
    count: int = 0
    total: float = 0.0
    minimum: float = float("inf")
    maximum: float = float("-inf")
    sketch: Sketch = field(default_factory=Sketch)

    @classmethod
    def of(cls, *values: float) -> "Aggregate":
        aggregate = cls()
        for value in values:
            aggregate.add(value)
        return aggregate

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        if value < self.minimum:
            self.minimum = value
        if value > self.maximum:
            self.maximum = value
        self.sketch.add(value)

    def merge(self, other: "Aggregate") -> None:
        if other.count == 0:
            return
        self.count += other.count
        self.total += other.total
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)
        self.sketch.merge(other.sketch)

    @property
    def average(self) -> float:
        return self.total / self.count if self.count else 0.0

    def percentile(self, p: float) -> float | None:
        """The ``p``-th percentile (0–100), clamped to the exact minimum and maximum."""
        value = self.sketch.quantile(p / 100.0)
        if value is None:
            return None
        return min(max(value, self.minimum), self.maximum)

    def to_data(self) -> list:
        """A JSON-ready list (travels between processes and is stored as is)."""
        return [self.count, self.total, self.minimum, self.maximum, self.sketch.to_data()]

    @classmethod
    def from_data(cls, data: list) -> "Aggregate":
        count, total, minimum, maximum, sketch = data
        return cls(int(count), float(total), float(minimum), float(maximum), Sketch.from_data(sketch))
