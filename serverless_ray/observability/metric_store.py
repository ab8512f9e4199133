"""Metric datapoints kept durably in SQLite: one row per series and second for recent
data, one per series and minute for older data, gone after the retention period.

Any process may own one (the controller does): ``add`` merges a batch of per-second
statistic sets into the rows of their seconds (gateways ship overlapping seconds, and
all of a second's samples end up in one row), ``query`` merges rows into the periods a
client asks for, ``compact`` rolls seconds older than ``high_resolution_s`` up into
minutes and drops what is older than the retention. Reads and writes take a lock: call
them from a worker thread in an event loop.

WAL with ``synchronous=NORMAL``: a crash of the process loses nothing committed; a
power loss may lose the last transactions (metrics are not worth an fsync per batch).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from serverless_ray.messages import MetricDatum
from serverless_ray.observability.aggregate import Aggregate
from serverless_ray.store.wal import open_wal

SECOND = 1
MINUTE = 60
DEFAULT_HIGH_RESOLUTION_S = 3 * 3600  # as CloudWatch keeps high-resolution data
DEFAULT_RETENTION_DAYS = 15.0  # as CloudWatch keeps one-minute data

Dimensions = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Series:
    namespace: str
    name: str
    dimensions: Dimensions  # sorted by name
    unit: str
    last_seen: int  # epoch second of its latest datapoint


def canonical(dimensions: Iterable[tuple[str, str]]) -> Dimensions:
    return tuple(sorted((str(n), str(v)) for n, v in dimensions))


class MetricStore:
    def __init__(
        self, path: Path, *, retention_days: float = DEFAULT_RETENTION_DAYS,
        high_resolution_s: int = DEFAULT_HIGH_RESOLUTION_S,
    ) -> None:
        self.path = path
        self.retention_s = int(retention_days * 86400)
        self.high_resolution_s = high_resolution_s
        self._lock = threading.Lock()
        self._db = open_wal(
            path,
            schema="""
            CREATE TABLE IF NOT EXISTS series (
                id INTEGER PRIMARY KEY, namespace TEXT NOT NULL, name TEXT NOT NULL,
                dimensions TEXT NOT NULL, unit TEXT NOT NULL, last_seen INTEGER NOT NULL,
                UNIQUE (namespace, name, dimensions, unit));
            CREATE TABLE IF NOT EXISTS points (
                series INTEGER NOT NULL, resolution INTEGER NOT NULL, ts INTEGER NOT NULL,
                data TEXT NOT NULL, PRIMARY KEY (series, resolution, ts)) WITHOUT ROWID;
            """
        )
        self._series_ids: dict[tuple[str, str, str, str], int] = {}

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- writing ---------------------------------------------------------------------

    def add(self, batch: Sequence[MetricDatum]) -> None:
        """Merge ``batch`` into the per-second rows (one transaction)."""
        if not batch:
            return
        merged: dict[tuple[int, int], Aggregate] = {}
        with self._lock:
            db = self._db
            db.execute("BEGIN")
            try:
                last_seen: dict[int, int] = {}
                for datum in batch:
                    series = self._series_id(datum)
                    key = (series, datum.timestamp)
                    aggregate = Aggregate.from_data(datum.aggregate)
                    if key in merged:
                        merged[key].merge(aggregate)
                    else:
                        merged[key] = aggregate
                    last_seen[series] = max(last_seen.get(series, 0), datum.timestamp)
                self._merge_rows(SECOND, merged)
                db.executemany(
                    "UPDATE series SET last_seen = MAX(last_seen, ?) WHERE id = ?",
                    [(ts, series) for series, ts in last_seen.items()],
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def _series_id(self, datum: MetricDatum) -> int:
        key = (datum.namespace, datum.name, json.dumps(canonical(datum.dimensions)), datum.unit)
        series = self._series_ids.get(key)
        if series is None:
            self._db.execute(
                "INSERT OR IGNORE INTO series (namespace, name, dimensions, unit, last_seen) VALUES (?, ?, ?, ?, 0)",
                key,
            )
            series = self._db.execute(
                "SELECT id FROM series WHERE namespace = ? AND name = ? AND dimensions = ? AND unit = ?", key
            ).fetchone()[0]
            self._series_ids[key] = series
        return series

    def _merge_rows(self, resolution: int, rows: dict[tuple[int, int], Aggregate]) -> None:
        db = self._db
        for (series, ts), aggregate in rows.items():
            found = db.execute(
                "SELECT data FROM points WHERE series = ? AND resolution = ? AND ts = ?", (series, resolution, ts)
            ).fetchone()
            if found is not None:
                aggregate.merge(Aggregate.from_data(json.loads(found[0])))
        db.executemany(
            "INSERT OR REPLACE INTO points (series, resolution, ts, data) VALUES (?, ?, ?, ?)",
            [(series, resolution, ts, _dump(a)) for (series, ts), a in rows.items()],
        )

    def compact(self, now: float) -> None:
        """Roll seconds older than the high-resolution window up into minutes; drop rows
        (and series without rows) older than the retention."""
        with self._lock:
            db = self._db
            db.execute("BEGIN")
            try:
                cutoff = int(now) - self.high_resolution_s
                cutoff -= cutoff % MINUTE
                old = db.execute(
                    "SELECT series, ts, data FROM points WHERE resolution = ? AND ts < ?", (SECOND, cutoff)
                ).fetchall()
                minutes: dict[tuple[int, int], Aggregate] = {}
                for series, ts, data in old:
                    key = (series, ts - ts % MINUTE)
                    aggregate = Aggregate.from_data(json.loads(data))
                    if key in minutes:
                        minutes[key].merge(aggregate)
                    else:
                        minutes[key] = aggregate
                self._merge_rows(MINUTE, minutes)
                db.execute("DELETE FROM points WHERE resolution = ? AND ts < ?", (SECOND, cutoff))
                expired = int(now) - self.retention_s
                db.execute("DELETE FROM points WHERE ts < ?", (expired,))
                db.execute("DELETE FROM series WHERE last_seen < ?", (expired,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self._series_ids.clear()

    # --- reading ---------------------------------------------------------------------

    def series(
        self, *, namespace: str | None = None, name: str | None = None, active_since: int | None = None
    ) -> list[Series]:
        sql = "SELECT namespace, name, dimensions, unit, last_seen FROM series WHERE 1=1"
        args: list = []
        for column, value in (("namespace", namespace), ("name", name)):
            if value is not None:
                sql += f" AND {column} = ?"
                args.append(value)
        if active_since is not None:
            sql += " AND last_seen >= ?"
            args.append(active_since)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY namespace, name, dimensions", args).fetchall()
        return [Series(ns, n, tuple(tuple(p) for p in json.loads(d)), u, last) for ns, n, d, u, last in rows]

    def query(
        self, namespace: str, name: str, dimensions: Iterable[tuple[str, str]], *, start: int, end: int,
        period: int, unit: str | None = None,
    ) -> list[tuple[int, Aggregate, str]]:
        """(period start, statistic set, unit) of every period in [start, end) with data,
        oldest first. Periods are aligned to multiples of ``period`` since the epoch; rows
        coarser than the period (older minutes, for a period under a minute) are left out."""
        dims = json.dumps(canonical(dimensions))
        sql = ("SELECT s.unit, p.resolution, p.ts, p.data FROM series s JOIN points p ON p.series = s.id "
               "WHERE s.namespace = ? AND s.name = ? AND s.dimensions = ? AND p.ts >= ? AND p.ts < ?")
        args: list = [namespace, name, dims, start, end]
        if unit is not None:
            sql += " AND s.unit = ?"
            args.append(unit)
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        periods: dict[tuple[int, str], Aggregate] = {}
        for row_unit, resolution, ts, data in rows:
            if resolution > period or period % resolution:
                continue
            key = (ts - ts % period, row_unit)
            aggregate = Aggregate.from_data(json.loads(data))
            if key in periods:
                periods[key].merge(aggregate)
            else:
                periods[key] = aggregate
        return [(ts, aggregate, row_unit) for (ts, row_unit), aggregate in sorted(periods.items())]


def _dump(aggregate: Aggregate) -> str:
    return json.dumps(aggregate.to_data(), separators=(",", ":"))
