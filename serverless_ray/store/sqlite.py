"""A small SQLite store: one table per resource kind, JSON records, WAL journal."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Generic, Iterator, Mapping, TypeVar

from serverless_ray.store.loading import Migration, load_record
from serverless_ray.store.records import (
    EndpointConfigRecord,
    EndpointRecord,
    ModelPackageGroupRecord,
    ModelPackageRecord,
    ModelRecord,
    StoredRecord,
    TagSet,
)
from serverless_ray.store.usage import UsageTable

R = TypeVar("R", bound=StoredRecord)


class Store:
    """The platform's durable state.

    Keys are lower-cased names: SageMaker names are unique regardless of case (ARNs
    carry the lower-cased name). ``synchronous=FULL`` so that an acknowledged
    mutation survives a crash of the process or the machine.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self.models = Table(self, "models", ModelRecord)
        self.endpoint_configs = Table(self, "endpoint_configs", EndpointConfigRecord)
        self.endpoints = Table(self, "endpoints", EndpointRecord)
        self.model_package_groups = Table(self, "model_package_groups", ModelPackageGroupRecord)
        self.model_packages = Table(self, "model_packages", ModelPackageRecord)
        self.tags = Table(self, "tags", TagSet)
        self.usage = UsageTable(self)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _execute(self, sql: str, args: tuple = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, args)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Statements run in the block commit together, or not at all."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")


class Table(Generic[R]):
    """Records of one kind, keyed by lower-cased name; ``migrations`` bring older layouts
    of the records up to date when they are read."""

    def __init__(
        self, store: Store, name: str, record: type[R], *, migrations: Mapping[int, Migration] | None = None
    ) -> None:
        self._store = store
        self._name = name
        self._record = record
        self._migrations = dict(migrations or {})
        store._execute(f"CREATE TABLE IF NOT EXISTS {name} (key TEXT PRIMARY KEY, doc TEXT NOT NULL)")

    def get(self, name: str) -> R | None:
        row = self._store._execute(f"SELECT doc FROM {self._name} WHERE key = ?", (name.lower(),)).fetchone()
        return self._load(row[0]) if row else None

    def insert(self, name: str, record: R) -> bool:
        """Add ``record``; False (and nothing written) if the name is taken."""
        try:
            self._store._execute(
                f"INSERT INTO {self._name} (key, doc) VALUES (?, ?)", (name.lower(), record.model_dump_json())
            )
        except sqlite3.IntegrityError:
            return False
        return True

    def put(self, name: str, record: R) -> None:
        self._store._execute(
            f"INSERT OR REPLACE INTO {self._name} (key, doc) VALUES (?, ?)",
            (name.lower(), record.model_dump_json()),
        )

    def delete(self, name: str) -> bool:
        cur = self._store._execute(f"DELETE FROM {self._name} WHERE key = ?", (name.lower(),))
        return cur.rowcount > 0

    def all(self) -> list[R]:
        rows = self._store._execute(f"SELECT doc FROM {self._name}").fetchall()
        return [self._load(r[0]) for r in rows]

    def _load(self, doc: str) -> R:
        return load_record(self._record, doc, self._migrations)

    def __iter__(self) -> Iterator[R]:
        return iter(self.all())

    def __len__(self) -> int:
        return self._store._execute(f"SELECT COUNT(*) FROM {self._name}").fetchone()[0]
