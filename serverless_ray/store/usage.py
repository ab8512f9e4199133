"""Metered usage in SQLite: one row per time bucket, endpoint, variant and memory size.

Rows only ever grow (an upsert adds to a bucket), in one transaction per batch, so the
totals read back after a restart are at least what was shown before it. Old minute
buckets are folded into hourly ones (``compact``) to keep the table small.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Sequence

from serverless_ray.billing.usage import Usage, UsageKey, UsageRow

_KEY = ("bucket", "endpoint_name", "variant_name", "memory_mb")
_QUANTITIES = tuple(f.name for f in fields(Usage))
_TYPES = {int: "INTEGER", float: "REAL", "int": "INTEGER", "float": "REAL"}


class UsageTable:
    """Implements :class:`serverless_ray.billing.book.UsageStore` over the platform's store."""

    NAME = "usage"

    def __init__(self, store: Any) -> None:  # the Store that holds this table
        self._store = store
        columns = ", ".join(f"{f.name} {_TYPES[f.type]} NOT NULL DEFAULT 0" for f in fields(Usage))
        store._execute(
            f"CREATE TABLE IF NOT EXISTS {self.NAME} (bucket INTEGER NOT NULL, endpoint_name TEXT NOT NULL, "
            f"variant_name TEXT NOT NULL, memory_mb INTEGER NOT NULL, {columns}, PRIMARY KEY ({', '.join(_KEY)}))"
        )

    def add_usage(self, rows: Sequence[UsageRow]) -> None:
        names = (*_KEY, *_QUANTITIES)
        updates = ", ".join(f"{q} = {q} + excluded.{q}" for q in _QUANTITIES)
        sql = (f"INSERT INTO {self.NAME} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))}) "
               f"ON CONFLICT ({', '.join(_KEY)}) DO UPDATE SET {updates}")
        values = [(row.bucket, row.key.endpoint_name, row.key.variant_name, row.key.memory_mb,
                   *(getattr(row.usage, q) for q in _QUANTITIES)) for row in rows]
        with self._store.transaction() as db:
            db.executemany(sql, values)

    def usage_totals(self, since_bucket: int | None = None) -> dict[UsageKey, Usage]:
        sums = ", ".join(f"SUM({q})" for q in _QUANTITIES)
        where, args = ("WHERE bucket >= ?", (since_bucket,)) if since_bucket is not None else ("", ())
        rows = self._store._execute(
            f"SELECT endpoint_name, variant_name, memory_mb, {sums} FROM {self.NAME} {where} "
            "GROUP BY endpoint_name, variant_name, memory_mb", args,
        ).fetchall()
        return {UsageKey(e, v, m): Usage(**dict(zip(_QUANTITIES, values))) for e, v, m, *values in rows}

    def rows(self) -> list[UsageRow]:
        """Every row, oldest first (for tests and exports)."""
        got = self._store._execute(
            f"SELECT {', '.join((*_KEY, *_QUANTITIES))} FROM {self.NAME} ORDER BY {', '.join(_KEY)}"
        ).fetchall()
        return [UsageRow(b, UsageKey(e, v, m), Usage(**dict(zip(_QUANTITIES, values)))) for b, e, v, m, *values in got]

    def compact(self, before: int, width_s: int = 3600) -> None:
        """Fold every bucket that starts before ``before`` (a multiple of ``width_s``) into
        buckets of ``width_s``: totals stay the same, the rows get fewer."""
        if before % width_s:
            raise ValueError(f"{before} is not a multiple of {width_s}")
        sums = ", ".join(f"SUM({q})" for q in _QUANTITIES)
        with self._store.transaction() as db:
            folded = db.execute(
                f"SELECT (bucket / {width_s}) * {width_s} AS b, endpoint_name, variant_name, memory_mb, {sums} "
                f"FROM {self.NAME} WHERE bucket < ? GROUP BY b, endpoint_name, variant_name, memory_mb", (before,),
            ).fetchall()
            db.execute(f"DELETE FROM {self.NAME} WHERE bucket < ?", (before,))
            db.executemany(
                f"INSERT INTO {self.NAME} ({', '.join((*_KEY, *_QUANTITIES))}) "
                f"VALUES ({', '.join('?' * (len(_KEY) + len(_QUANTITIES)))})", folded,
            )
