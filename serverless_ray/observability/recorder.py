"""Metric samples aggregated per second in the process that sees them, drained as
:class:`~serverless_ray.messages.MetricDatum` batches for the controller's store.

Recording a sample is a dictionary update: no I/O, no lock (the gateway records from
its event loop). Whoever owns the recorder drains it about once a second and ships the
batch; a batch that could not be shipped is put back and merged into the next one.
"""

from __future__ import annotations

import time
from typing import Callable

from serverless_ray.messages import MetricDatum
from serverless_ray.observability.aggregate import Aggregate
from serverless_ray.observability.catalog import MetricKind

SeriesKey = tuple[str, str, tuple[tuple[str, str], ...], str]


class MetricRecorder:
    def __init__(self, clock: Callable[[], float] = time.time, *, max_pending_s: int = 3600) -> None:
        self._clock = clock
        self._pending: dict[tuple[SeriesKey, int], Aggregate] = {}
        # A controller that stays away this long costs the oldest seconds, not memory.
        self._max_pending_s = max_pending_s

    def record(self, kind: MetricKind, dimensions: tuple[tuple[str, str], ...], value: float,
               at: float | None = None) -> None:
        second = int(self._clock() if at is None else at)
        key = ((kind.namespace, kind.name, dimensions, kind.unit), second)
        aggregate = self._pending.get(key)
        if aggregate is None:
            aggregate = self._pending[key] = Aggregate()
        aggregate.add(value)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def drain(self) -> list[MetricDatum]:
        """Everything recorded since the last drain (the recorder is empty afterwards)."""
        pending, self._pending = self._pending, {}
        return [
            MetricDatum(namespace, name, dims, unit, second, aggregate.to_data())
            for ((namespace, name, dims, unit), second), aggregate in pending.items()
        ]

    def put_back(self, batch: list[MetricDatum]) -> None:
        """A drained batch that did not reach the store: merged into what comes next."""
        oldest = int(self._clock()) - self._max_pending_s
        for datum in batch:
            if datum.timestamp < oldest:
                continue
            key = ((datum.namespace, datum.name, datum.dimensions, datum.unit), datum.timestamp)
            aggregate = Aggregate.from_data(datum.aggregate)
            existing = self._pending.get(key)
            if existing is None:
                self._pending[key] = aggregate
            else:
                existing.merge(aggregate)
