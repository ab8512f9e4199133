"""Log groups, streams and events kept durably in SQLite.

Groups and streams come into being with their first event (as the CloudWatch agent
creates them); events are ordered by timestamp, then by arrival. ``expire`` drops the
events older than each group's retention (``default_retention_days`` for groups that
were not given one). Methods take a lock and block: call them from a worker thread in
an event loop. WAL with ``synchronous=NORMAL``: a crashed process loses nothing
committed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from serverless_ray.messages import LogLine
from serverless_ray.store.wal import open_wal

# What CloudWatch counts per event on top of its message.
EVENT_OVERHEAD_BYTES = 26


@dataclass(frozen=True)
class LogGroup:
    name: str
    created_ms: int
    retention_days: int | None
    stored_bytes: int


@dataclass(frozen=True)
class LogStream:
    name: str
    created_ms: int
    first_event_ms: int | None
    last_event_ms: int | None
    last_ingestion_ms: int | None
    stored_bytes: int


@dataclass(frozen=True)
class LogEvent:
    event_id: int
    stream: str
    timestamp_ms: int
    ingestion_ms: int
    message: str

    @property
    def key(self) -> tuple[int, int]:
        """Where the event sits in its group's order."""
        return (self.timestamp_ms, self.event_id)


class LogStore:
    def __init__(self, path: Path, *, default_retention_days: int | None = 30) -> None:
        self.path = path
        self.default_retention_days = default_retention_days
        self._lock = threading.Lock()
        self._db = open_wal(
            path,
            schema="""
            CREATE TABLE IF NOT EXISTS groups (
                id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created INTEGER NOT NULL,
                retention_days INTEGER);
            CREATE TABLE IF NOT EXISTS streams (
                id INTEGER PRIMARY KEY, group_id INTEGER NOT NULL, name TEXT NOT NULL, created INTEGER NOT NULL,
                first_ts INTEGER, last_ts INTEGER, last_ingest INTEGER, stored_bytes INTEGER NOT NULL DEFAULT 0,
                UNIQUE (group_id, name));
            CREATE TABLE IF NOT EXISTS events (
                id INTEGER PRIMARY KEY AUTOINCREMENT, stream_id INTEGER NOT NULL, ts INTEGER NOT NULL,
                ingest INTEGER NOT NULL, message TEXT NOT NULL);
            CREATE INDEX IF NOT EXISTS events_by_stream ON events (stream_id, ts, id);
            """
        )
        self._streams: dict[tuple[str, str], int] = {}

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- writing ---------------------------------------------------------------------

    def append(self, lines: Sequence[tuple[str, LogLine]], ingested_ms: int) -> None:
        """Add ``(group, line)`` pairs, creating groups and streams as needed."""
        if not lines:
            return
        with self._lock:
            db = self._db
            db.execute("BEGIN")
            try:
                touched: dict[int, list[int]] = {}
                rows = []
                for group, line in lines:
                    stream = self._stream_id(group, line.stream, ingested_ms)
                    rows.append((stream, line.timestamp_ms, ingested_ms, line.message))
                    t = touched.setdefault(stream, [line.timestamp_ms, line.timestamp_ms, 0])
                    t[0], t[1] = min(t[0], line.timestamp_ms), max(t[1], line.timestamp_ms)
                    t[2] += len(line.message.encode("utf-8")) + EVENT_OVERHEAD_BYTES
                db.executemany("INSERT INTO events (stream_id, ts, ingest, message) VALUES (?, ?, ?, ?)", rows)
                db.executemany(
                    "UPDATE streams SET first_ts = MIN(COALESCE(first_ts, ?), ?), last_ts = MAX(COALESCE(last_ts, ?), ?),"
                    " last_ingest = ?, stored_bytes = stored_bytes + ? WHERE id = ?",
                    [(lo, lo, hi, hi, ingested_ms, size, stream) for stream, (lo, hi, size) in touched.items()],
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                self._streams.clear()
                raise

    def _stream_id(self, group: str, stream: str, now_ms: int) -> int:
        cached = self._streams.get((group, stream))
        if cached is not None:
            return cached
        db = self._db
        db.execute("INSERT OR IGNORE INTO groups (name, created) VALUES (?, ?)", (group, now_ms))
        group_id = db.execute("SELECT id FROM groups WHERE name = ?", (group,)).fetchone()[0]
        db.execute("INSERT OR IGNORE INTO streams (group_id, name, created) VALUES (?, ?, ?)",
                   (group_id, stream, now_ms))
        stream_id = db.execute("SELECT id FROM streams WHERE group_id = ? AND name = ?",
                               (group_id, stream)).fetchone()[0]
        self._streams[(group, stream)] = stream_id
        return stream_id

    def set_retention(self, group: str, days: int | None) -> bool:
        """False if the group does not exist."""
        with self._lock:
            cur = self._db.execute("UPDATE groups SET retention_days = ? WHERE name = ?", (days, group))
            return cur.rowcount > 0

    def delete_group(self, group: str) -> bool:
        with self._lock:
            db = self._db
            row = db.execute("SELECT id FROM groups WHERE name = ?", (group,)).fetchone()
            if row is None:
                return False
            db.execute("BEGIN")
            db.execute("DELETE FROM events WHERE stream_id IN (SELECT id FROM streams WHERE group_id = ?)", row)
            db.execute("DELETE FROM streams WHERE group_id = ?", row)
            db.execute("DELETE FROM groups WHERE id = ?", row)
            db.execute("COMMIT")
            self._streams = {k: v for k, v in self._streams.items() if k[0] != group}
            return True

    def expire(self, now_ms: int) -> int:
        """Drop events past their group's retention; returns how many went."""
        removed = 0
        with self._lock:
            db = self._db
            for group_id, days in db.execute("SELECT id, retention_days FROM groups").fetchall():
                days = days if days is not None else self.default_retention_days
                if days is None:
                    continue
                cutoff = now_ms - days * 86_400_000
                cur = db.execute(
                    "DELETE FROM events WHERE ts < ? AND stream_id IN (SELECT id FROM streams WHERE group_id = ?)",
                    (cutoff, group_id))
                removed += cur.rowcount
                if cur.rowcount:
                    db.execute(
                        "UPDATE streams SET first_ts = (SELECT MIN(ts) FROM events WHERE stream_id = streams.id),"
                        " stored_bytes = (SELECT COALESCE(SUM(LENGTH(CAST(message AS BLOB)) + ?), 0) FROM events"
                        " WHERE stream_id = streams.id) WHERE group_id = ?", (EVENT_OVERHEAD_BYTES, group_id))
        return removed

    # --- reading ---------------------------------------------------------------------

    def groups(self, prefix: str = "") -> list[LogGroup]:
        with self._lock:
            rows = self._db.execute(
                "SELECT g.name, g.created, g.retention_days, COALESCE(SUM(s.stored_bytes), 0) FROM groups g "
                "LEFT JOIN streams s ON s.group_id = g.id WHERE substr(g.name, 1, ?) = ? GROUP BY g.id ORDER BY g.name",
                (len(prefix), prefix)).fetchall()
        return [LogGroup(*row) for row in rows]

    def group(self, name: str) -> LogGroup | None:
        found = [g for g in self.groups(name) if g.name == name]
        return found[0] if found else None

    def streams(self, group: str) -> list[LogStream]:
        with self._lock:
            rows = self._db.execute(
                "SELECT s.name, s.created, s.first_ts, s.last_ts, s.last_ingest, s.stored_bytes FROM streams s "
                "JOIN groups g ON g.id = s.group_id WHERE g.name = ? ORDER BY s.name", (group,)).fetchall()
        return [LogStream(*row) for row in rows]

    def events(
        self, group: str, *, streams: Sequence[str] | None = None, start_ms: int | None = None,
        end_ms: int | None = None, after: tuple[int, int] | None = None, before: tuple[int, int] | None = None,
        descending: bool = False, chunk: int = 1000,
    ) -> Iterator[LogEvent]:
        """The group's events (of ``streams`` only, if given) in [start_ms, end_ms), in
        (timestamp, arrival) order (reversed if ``descending``), strictly after ``after``
        and before ``before``; read in chunks, so a caller may stop early."""
        sql = ("SELECT e.id, s.name, e.ts, e.ingest, e.message FROM events e JOIN streams s ON s.id = e.stream_id "
               "JOIN groups g ON g.id = s.group_id WHERE g.name = ?")
        args: list = [group]
        if streams is not None:
            if not streams:
                return
            sql += f" AND s.name IN ({','.join('?' * len(streams))})"
            args.extend(streams)
        if start_ms is not None:
            sql += " AND e.ts >= ?"
            args.append(start_ms)
        if end_ms is not None:
            sql += " AND e.ts < ?"
            args.append(end_ms)
        order = "DESC" if descending else "ASC"
        cursor_after, cursor_before = after, before
        while True:
            page_sql, page_args = sql, list(args)
            if cursor_after is not None:
                page_sql += " AND (e.ts > ? OR (e.ts = ? AND e.id > ?))"
                page_args += [cursor_after[0], cursor_after[0], cursor_after[1]]
            if cursor_before is not None:
                page_sql += " AND (e.ts < ? OR (e.ts = ? AND e.id < ?))"
                page_args += [cursor_before[0], cursor_before[0], cursor_before[1]]
            page_sql += f" ORDER BY e.ts {order}, e.id {order} LIMIT ?"
            page_args.append(chunk)
            with self._lock:
                rows = self._db.execute(page_sql, page_args).fetchall()
            for event_id, stream, ts, ingest, message in rows:
                yield LogEvent(event_id, stream, ts, ingest, message)
            if len(rows) < chunk:
                return
            last = (rows[-1][2], rows[-1][0])
            if descending:
                cursor_before = last
            else:
                cursor_after = last
