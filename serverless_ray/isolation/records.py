"""The node-local record of every confined replica.

Each replica keeps a directory of its own, its *home*: ``<runtime_dir>/<scope>/<id>/``
with ``replica.json`` (who it is, its limits, its cgroup), its scratch disk and, once
it has died of a limit, ``exit.json`` (why). ``<id>`` is the replica's Ray actor id, the
one an ``ActorDiedError`` names, so the entry point that sees a call fail can look up
why. ``<scope>`` tells this Ray cluster's replicas from those of any other cluster on
the same machine: nothing outside our own scope is ever read, changed or removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

RECORD = "replica.json"
EXIT = "exit.json"


def cluster_scope() -> str:
    """A short name for this Ray cluster (its session), the same in all its processes."""
    try:
        import ray

        session = ray.get_runtime_context().get_session_name() if ray.is_initialized() else ""
    except Exception:  # no Ray: a process of its own
        session = ""
    session = session or f"pid-{os.getpid()}"
    return hashlib.sha1(session.encode()).hexdigest()[:12]


def scope_dir(runtime_dir: str | Path, scope: str) -> Path:
    return Path(runtime_dir) / scope


def home_of(runtime_dir: str | Path, scope: str, replica_id: str) -> Path:
    return scope_dir(runtime_dir, scope) / replica_id


def homes(runtime_dir: str | Path, scope: str) -> Iterator[Path]:
    directory = scope_dir(runtime_dir, scope)
    try:
        entries = list(directory.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry.is_dir():
            yield entry


@dataclass
class ReplicaRecord:
    replica_id: str
    pid: int
    started: float  # the process's start time: a pid reused by another process is not us
    node_id: str | None
    storage_mb: int
    scratch_mounted: bool = False
    endpoint: str | None = None  # None: a standby that has not adopted a model
    variant: str | None = None
    memory_mb: int | None = None
    cpus: float | None = None
    mode: str = "none"  # how memory is held: cgroup-v2, cgroup-v1, rlimit or none
    cgroup: dict | None = None  # Group.to_record()
    adopted_at: float | None = None
    extra: dict = field(default_factory=dict)


def write_record(home: Path, record: ReplicaRecord) -> None:
    _write_json(home / RECORD, asdict(record))


def read_record(home: Path) -> ReplicaRecord | None:
    data = _read_json(home / RECORD)
    if data is None:
        return None
    try:
        return ReplicaRecord(**data)
    except TypeError:
        return None


@dataclass(frozen=True)
class ExitRecord:
    """Why a replica ended itself or was ended, in words a client can be shown."""

    cause: str  # memory | disk | model-ready-timeout
    message: str
    at: float


def write_exit(home: Path, cause: str, message: str) -> None:
    if (home / EXIT).exists():
        return  # the first cause stands
    _write_json(home / EXIT, {"cause": cause, "message": message, "at": time.time()})


def read_exit(home: Path) -> ExitRecord | None:
    data = _read_json(home / EXIT)
    if data is None:
        return None
    return ExitRecord(str(data.get("cause")), str(data.get("message")), float(data.get("at", 0)))


def is_alive(record: ReplicaRecord) -> bool:
    """The recorded process still runs (and is the same process, not a reused pid)."""
    import psutil

    try:
        return abs(psutil.Process(record.pid).create_time() - record.started) < 1.0
    except (psutil.NoSuchProcess, psutil.AccessDenied, ProcessLookupError):
        return False


def _write_json(path: Path, data: dict) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data))
    os.replace(partial, path)  # readers never see half a record


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
