"""Opening a SQLite database the way the platform's stores use it: created with its
folder, shared across threads (callers hold their own lock), autocommit unless a
transaction is begun, write-ahead log."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_wal(path: Path, *, synchronous: str = "NORMAL", schema: str = "") -> sqlite3.Connection:
    """A connection to ``path`` with ``schema`` (idempotent DDL) applied.

    ``synchronous=NORMAL`` in WAL mode loses nothing committed when the process crashes,
    only the last transactions on a power loss: enough for metrics and logs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    if schema:
        db.executescript(schema)
    return db
