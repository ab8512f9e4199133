"""Bounds on model data: the unpacked size of one archive and the node's whole cache.

Each cache entry ``<cache_root>/<key>/`` has two small companions: ``.<key>.size`` (its
unpacked bytes) and ``.<key>.inuse``, a file that every process using the entry holds
a shared lock on for as long as it runs, and whose modification time is the entry's
last use. The kernel drops a dead process's locks, so an entry is in use exactly while
some live replica on the node holds it: eviction takes the lock exclusively, without
waiting, and skips the entry if it cannot. When the cache grows past its bound, the
entries no replica uses go first, least recently used first.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from serverless_ray.resources import MIB

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Entry:
    key: str
    size: int
    last_used: float


# Entries this process uses, held until it exits: key → open lock file.
_PINS: dict[tuple[str, str], int] = {}


def _inuse_path(cache_root: Path, key: str) -> Path:
    return cache_root / f".{key}.inuse"


def _size_path(cache_root: Path, key: str) -> Path:
    return cache_root / f".{key}.size"


def hold(cache_root: Path, key: str) -> int:
    """Take a shared lock on the entry (blocks only while an eviction of it runs) and
    mark it used now; returns the descriptor (``release`` it, or keep it for life)."""
    cache_root.mkdir(parents=True, exist_ok=True)
    fd = os.open(_inuse_path(cache_root, key), os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_SH)
    os.utime(fd)
    return fd


def release(fd: int) -> None:
    os.close(fd)  # closing drops the lock


def pin_for_process(cache_root: Path, key: str, fd: int) -> None:
    """Keep ``fd``'s lock for the rest of this process's life (a replica using the model)."""
    name = (str(cache_root), key)
    if name in _PINS:
        release(fd)
    else:
        _PINS[name] = fd


def record_size(cache_root: Path, key: str, size: int) -> None:
    _size_path(cache_root, key).write_text(str(size))


def entries(cache_root: Path) -> list[Entry]:
    found = []
    for path in cache_root.glob(".*.size"):
        key = path.name[1:-len(".size")]
        if not (cache_root / key).is_dir():
            continue
        try:
            size = int(path.read_text().strip() or 0)
            last_used = _inuse_path(cache_root, key).stat().st_mtime
        except (OSError, ValueError):
            continue
        found.append(Entry(key, size, last_used))
    return found


def evict(cache_root: Path, limit_bytes: int, *, keep: str) -> list[str]:
    """Bring the cache to ``limit_bytes`` or as close as the entries in use allow."""
    evicted: list[str] = []
    with FileLock(str(cache_root / ".evict.lock")):
        found = entries(cache_root)
        total = sum(e.size for e in found)
        for entry in sorted((e for e in found if e.key != keep), key=lambda e: e.last_used):
            if total <= limit_bytes:
                break
            if _evict_one(cache_root, entry.key):
                evicted.append(entry.key)
                total -= entry.size
        if total > limit_bytes:
            log.warning("artifact cache %s holds %d MB, over its %d MB bound: every other model is in use",
                        cache_root, total // MIB, limit_bytes // MIB)
    return evicted


def _evict_one(cache_root: Path, key: str) -> bool:
    fd = os.open(_inuse_path(cache_root, key), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # a replica on this node uses it
        # Renamed first: a reader that finds the directory finds it whole.
        doomed = cache_root / f".evicted-{key[:12]}-{time.time_ns()}"
        try:
            os.rename(cache_root / key, doomed)
        except FileNotFoundError:
            return False
        _size_path(cache_root, key).unlink(missing_ok=True)
        shutil.rmtree(doomed, ignore_errors=True)
        log.info("evicted model data %s from the artifact cache", key[:12])
        return True
    finally:
        os.close(fd)
