"""Fetching and unpacking model data into a per-node cache.

An archive is unpacked into ``<cache_root>/<sha256>/`` exactly once per
content version, even when several processes on a node ask for it at the
same time: a file lock serialises the work, and the directory appears via an
atomic rename only once it is complete, so readers never see partial data.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

from filelock import FileLock

from serverless_ray.messages import ArtifactPolicy
from serverless_ray.resources import MIB
from serverless_ray.spec.container_environment import CodeLocation

from . import artifact_cache
from .sources import ArtifactError, Source, open_source

__all__ = ["ArtifactError", "code_directory", "code_requirements", "materialize", "read_requirements", "requirements_of"]

REQUIREMENTS_FILE = "requirements.txt"


def materialize(
    model_data_url: str | None,
    cache_root: Path,
    *,
    policy: ArtifactPolicy | None = None,
    pin: bool = False,
) -> Path:
    """Return a local directory holding the unpacked model data.

    ``model_data_url`` may be ``s3://bucket/key``, ``https://…``,
    ``file:///abs/model.tar.gz`` or a local path.  A local directory is
    returned in place (not copied); archives are unpacked into
    ``cache_root`` once and reused afterwards.

    ``policy`` caps the unpacked size of the archive and bounds the cache (evicting
    models no process on the node uses); ``pin`` marks the model in use by this
    process for as long as it runs (a replica), so it is never evicted under it.

    Raises :class:`ArtifactError` naming the URL and the cause when the data
    is missing, cannot be downloaded, is not a tar archive, unpacks to more than
    the cap, or contains members that would escape the model directory.
    """
    if not model_data_url:
        raise ArtifactError(
            "ModelDataUrl is required: the model data must contain code/inference.py"
        )
    with open_source(model_data_url) as source:
        if source.directory is not None:
            return source.directory
        return _unpack_once(source, Path(cache_root), policy or ArtifactPolicy(), pin=pin)


def cache_key(identity: str) -> str:
    """Directory name in the cache for a source identity."""
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()


def _unpack_once(source: Source, cache_root: Path, policy: ArtifactPolicy, *, pin: bool) -> Path:
    key = cache_key(source.identity)
    final = cache_root / key
    # Held while we look, unpack and (for a replica) run: an eviction skips the entry.
    held = artifact_cache.hold(cache_root, key)
    try:
        # Fast path without the unpack lock: the directory only exists once complete.
        if not final.is_dir():
            _unpack(source, cache_root, key, policy)
    except BaseException:
        artifact_cache.release(held)
        raise
    if pin:
        artifact_cache.pin_for_process(cache_root, key, held)
    else:
        artifact_cache.release(held)
    return final


def _unpack(source: Source, cache_root: Path, key: str, policy: ArtifactPolicy) -> None:
    final = cache_root / key
    with FileLock(str(cache_root / f".{key}.lock")):
        if final.is_dir():
            return
        work = Path(tempfile.mkdtemp(prefix=f".tmp-{key[:12]}-", dir=cache_root))
        try:
            archive = source.fetch(work)
            staging = work / "model"
            staging.mkdir()
            size = _extract(archive, staging, source.display, max_bytes=policy.max_unpacked_bytes)
            os.rename(staging, final)
            artifact_cache.record_size(cache_root, key, size)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    if policy.cache_bytes is not None:
        artifact_cache.evict(cache_root, policy.cache_bytes, keep=key)


def _unsafe_path(name: str) -> bool:
    path = PurePosixPath(name.replace("\\", "/"))
    return path.is_absolute() or ".." in path.parts


def _check_member(member: tarfile.TarInfo, display: str) -> None:
    if _unsafe_path(member.name):
        raise ArtifactError(
            f"refusing to unpack {display}: member {member.name!r} has an absolute "
            "path or '..' and would escape the model directory"
        )
    # Hard links name another archive member; symlink targets are checked
    # more precisely (relative to their directory) by tarfile's data filter.
    if member.islnk() and _unsafe_path(member.linkname):
        raise ArtifactError(
            f"refusing to unpack {display}: link {member.name!r} points outside the "
            f"model directory ({member.linkname!r})"
        )
    if member.issym() and PurePosixPath(member.linkname).is_absolute():
        raise ArtifactError(
            f"refusing to unpack {display}: symlink {member.name!r} has an absolute "
            f"target ({member.linkname!r})"
        )


def _extract(archive: Path, dest: Path, display: str, *, max_bytes: int | None = None) -> int:
    """Unpack ``archive`` into ``dest`` after validating every member; returns the
    unpacked size. Past ``max_bytes`` nothing is written: the members' sizes are read
    from the archive's headers (reading them decompresses the stream, but keeps
    nothing), and tar writes each member at exactly its declared size."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for member in members:
                _check_member(member, display)
            size = sum(member.size for member in members if member.isreg())
            _check_unpacked_size(size, max_bytes, display)
            tar.extractall(dest, members=members, filter="data")
    except tarfile.FilterError as exc:
        raise ArtifactError(f"refusing to unpack {display}: {exc}") from exc
    except tarfile.TarError as exc:
        raise ArtifactError(f"model data {display} is not a valid tar archive: {exc}") from exc
    except OSError as exc:
        raise ArtifactError(f"unpacking model data {display} failed: {exc}") from exc
    return size


def _check_unpacked_size(size: int, max_bytes: int | None, display: str) -> None:
    if max_bytes is not None and size > max_bytes:
        raise ArtifactError(
            f"refusing to unpack {display}: it unpacks to {_mb(size)} MB, more than the "
            f"{_mb(max_bytes)} MB a model may unpack to (--max-model-size-mb)"
        )


def _mb(size: int) -> str:
    return f"{size / MIB:.0f}" if size >= MIB else f"{size / MIB:.2f}"


def read_requirements(model_dir: Path) -> list[str]:
    """Requirement lines of the model data's ``code/requirements.txt``; ``[]`` if absent."""
    return code_requirements(Path(model_dir) / "code")


def code_requirements(code_dir: Path) -> list[str]:
    """Requirement lines of ``requirements.txt`` in the code directory; ``[]`` if absent.

    Blank lines and comments (whole-line or trailing `` #``) are dropped.
    """
    return _read_lines(Path(code_dir) / REQUIREMENTS_FILE)


def code_directory(
    model_dir: Path, location: CodeLocation, cache_root: Path, *, policy: ArtifactPolicy | None = None,
    pin: bool = False,
) -> Path:
    """The directory the inference code is in: under the model data, or code shipped apart
    (a ``sourcedir.tar.gz``) fetched and unpacked like model data."""
    if location.source is None:
        assert location.in_model_data is not None
        return Path(model_dir) / location.in_model_data
    return materialize(location.source, cache_root, policy=policy, pin=pin)


def requirements_of(
    model_data_url: str | None, cache_root: Path, *, max_unpacked_bytes: int | None = None,
    location: CodeLocation = CodeLocation(),
) -> list[str]:
    """Requirement lines of the code's ``requirements.txt``, without unpacking the archive
    that holds it (the model data's, or the code's shipped apart: see ``location``).

    For the controller, which must know them to build the replicas' runtime environment
    but never runs the model: a directory is read in place, an archive already unpacked in
    this node's cache is read there, and otherwise the archive is streamed only up to that
    member (all of it only when it has none). Errors are those of :func:`materialize`;
    members streamed past before that one that unpack to more than ``max_unpacked_bytes``
    fail it early (the replica, which unpacks the whole archive, checks all of them).
    """
    url = location.source or model_data_url
    if not url:
        raise ArtifactError("ModelDataUrl is required: the model data must contain code/inference.py")
    member = _requirements_member(location)
    with open_source(url) as source:
        if source.directory is not None:
            return _read_lines(source.directory / member)
        cached = Path(cache_root) / cache_key(source.identity)
        if cached.is_dir():
            return _read_lines(cached / member)
        assert source.open_stream is not None
        with source.open_stream() as stream:
            text = member_text(stream, member, source.display, max_bytes=max_unpacked_bytes)
    return _requirement_lines(text) if text is not None else []


def _requirements_member(location: CodeLocation) -> Path:
    if location.source is not None:
        return Path(REQUIREMENTS_FILE)
    assert location.in_model_data is not None
    return Path(location.in_model_data) / REQUIREMENTS_FILE


def _read_lines(path: Path) -> list[str]:
    return _requirement_lines(path.read_text(encoding="utf-8")) if path.is_file() else []


def member_text(stream, member: Path, display: str, *, max_bytes: int | None = None) -> str | None:
    """The text of ``member`` of the tar archive read from ``stream`` (None if absent);
    reading stops at that member, or once the members read so far would unpack to more
    than ``max_bytes`` (an :class:`ArtifactError`)."""
    wanted = PurePosixPath(member.as_posix())
    unpacked = 0
    try:
        with tarfile.open(fileobj=stream, mode="r|*") as tar:
            for info in tar:
                unpacked += info.size if info.isreg() else 0
                _check_unpacked_size(unpacked, max_bytes, display)
                if PurePosixPath(info.name) == wanted and info.isfile():
                    data = tar.extractfile(info)
                    return data.read().decode("utf-8") if data is not None else None
    except tarfile.TarError as exc:
        raise ArtifactError(f"model data {display} is not a valid tar archive: {exc}") from exc
    except OSError as exc:
        raise ArtifactError(f"reading model data {display} failed: {exc}") from exc
    return None


def _requirement_lines(text: str) -> list[str]:
    requirements = []
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            requirements.append(line)
    return requirements
