"""One Prometheus view of the whole cluster, from every gateway's own series.

Each gateway sends a snapshot of its registry (with its batches of datapoints, and when
it is scraped). Counters, histograms and summaries are summed over gateways and never
go backwards: a gateway that restarted (its counters fell) or went away keeps
contributing what it had counted, and the totals are persisted, so a restart of the
whole platform continues from them. Gauges are summed over the gateways heard from in
the last ``gauge_ttl_s`` (a dead gateway's in-flight count is not in flight any more).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator

from prometheus_client.core import Metric

# (family name, type, help, sample name, labels, value)
SnapshotRow = tuple[str, str, str, str, tuple[tuple[str, str], ...], float]
SampleKey = tuple[str, tuple[tuple[str, str], ...]]
MONOTONIC = ("counter", "histogram", "summary")


def snapshot(registry) -> list[SnapshotRow]:
    """The rows of a prometheus_client registry, ready to travel."""
    rows: list[SnapshotRow] = []
    for family in registry.collect():
        for sample in family.samples:
            rows.append((family.name, family.type, family.documentation, sample.name,
                         tuple(sorted(sample.labels.items())), float(sample.value)))
    return rows


class Federation:
    def __init__(self, path: Path | None = None, *, gauge_ttl_s: float = 30.0, save_every_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._path = path
        self._save_every_s = save_every_s
        self._saved_at = float("-inf")
        self._gauge_ttl_s = gauge_ttl_s
        self._clock = clock
        self._families: dict[str, tuple[str, str]] = {}  # name → (type, help)
        self._family_of: dict[str, str] = {}  # sample name → family name
        self._base: dict[SampleKey, float] = {}
        self._last: dict[str, dict[SampleKey, float]] = {}
        self._gauges: dict[str, tuple[float, dict[SampleKey, float]]] = {}
        if path is not None and path.exists():
            self._load(path)

    def update(self, gateway_id: str, rows: Iterable[SnapshotRow]) -> None:
        counted: dict[SampleKey, float] = {}
        gauges: dict[SampleKey, float] = {}
        for family, kind, help_text, sample, labels, value in rows:
            self._families[family] = (kind, help_text)
            self._family_of[sample] = family
            (counted if kind in MONOTONIC else gauges)[(sample, labels)] = value
        previous = self._last.get(gateway_id)
        if previous is not None and any(counted.get(key, 0.0) < value for key, value in previous.items()):
            self._add_to_base(previous)  # it started again from zero under the same id
        self._last[gateway_id] = counted
        self._gauges[gateway_id] = (self._clock(), gauges)
        self._save()

    def totals(self) -> dict[SampleKey, float]:
        totals = dict(self._base)
        for counted in self._last.values():
            for key, value in counted.items():
                totals[key] = totals.get(key, 0.0) + value
        return totals

    def collect(self) -> Iterator[Metric]:
        """prometheus_client families of the cluster (register this with a registry)."""
        now = self._clock()
        values = self.totals()
        for seen, gauges in self._gauges.values():
            if now - seen <= self._gauge_ttl_s:
                for key, value in gauges.items():
                    values[key] = values.get(key, 0.0) + value
        by_family: dict[str, list[tuple[SampleKey, float]]] = {}
        for key, value in values.items():
            family = self._family_of.get(key[0])
            if family is not None:
                by_family.setdefault(family, []).append((key, value))
        for family in sorted(by_family):
            kind, help_text = self._families[family]
            metric = Metric(family, help_text, kind)
            for (sample, labels), value in sorted(by_family[family], key=_sample_order):
                metric.add_sample(sample, dict(labels), value)
            yield metric

    def _add_to_base(self, counted: dict[SampleKey, float]) -> None:
        for key, value in counted.items():
            self._base[key] = self._base.get(key, 0.0) + value

    def save(self) -> None:
        """Persist the totals now (the platform is stopping)."""
        self._save(force=True)

    def _save(self, *, force: bool = False) -> None:
        # At most once a second: a crash loses at most that second of counts.
        if self._path is None or (not force and self._clock() - self._saved_at < self._save_every_s):
            return
        self._saved_at = self._clock()
        doc = {
            "families": self._families, "samples": self._family_of,
            "totals": [[sample, list(map(list, labels)), value] for (sample, labels), value in self.totals().items()],
        }
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, separators=(",", ":")))
        os.replace(tmp, self._path)

    def _load(self, path: Path) -> None:
        doc = json.loads(path.read_text())
        self._families = {name: (kind, help_text) for name, (kind, help_text) in doc["families"].items()}
        self._family_of = dict(doc["samples"])
        # Every gateway of the previous run is gone: what they counted is the base now.
        self._base = {(sample, tuple(tuple(p) for p in labels)): value for sample, labels, value in doc["totals"]}


def _sample_order(item: tuple[SampleKey, float]) -> tuple:
    (sample, labels), _ = item
    other = tuple((k, v) for k, v in labels if k != "le")
    le = dict(labels).get("le")
    return (other, sample, float(le) if le is not None else 0.0)
