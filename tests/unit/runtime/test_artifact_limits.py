"""The unpacked-size cap of model archives and the bounded, LRU-evicting cache."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from serverless_ray.messages import ArtifactPolicy
from serverless_ray.runtime import artifact_cache
from serverless_ray.runtime.artifacts import ArtifactError, materialize, requirements_of

MIB = 1024 * 1024


def _archive(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_decompression_bomb_is_refused_before_anything_is_written(tmp_path):
    bomb = _archive(tmp_path / "bomb.tar.gz", {"code/inference.py": b"", "zeros.bin": bytes(8 * MIB)})
    assert bomb.stat().st_size < 64 * 1024
    cache = tmp_path / "cache"
    with pytest.raises(ArtifactError, match=r"unpacks to 8 MB, more than the 2 MB .*--max-model-size-mb"):
        materialize(str(bomb), cache, policy=ArtifactPolicy(max_unpacked_bytes=2 * MIB))
    written = sum(f.stat().st_size for f in cache.rglob("*") if f.is_file())
    assert written == 0


def test_the_controller_refuses_a_bomb_it_streams_past_without_writing(tmp_path):
    # No code/requirements.txt: the controller streams the whole archive, adding up sizes.
    bomb = _archive(tmp_path / "bomb.tar.gz", {"code/inference.py": b"", "zeros.bin": bytes(8 * MIB)})
    cache = tmp_path / "cache"
    with pytest.raises(ArtifactError, match=r"unpacks to 8 MB, more than the 2 MB .*--max-model-size-mb"):
        requirements_of(str(bomb), cache, max_unpacked_bytes=2 * MIB)
    assert not cache.exists()


def test_the_controller_stops_at_the_requirements_and_leaves_later_members_to_the_replica(tmp_path):
    archive = _archive(tmp_path / "late.tar.gz", {"code/requirements.txt": b"numpy\n", "zeros.bin": bytes(8 * MIB)})
    assert requirements_of(str(archive), tmp_path / "cache", max_unpacked_bytes=2 * MIB) == ["numpy"]
    with pytest.raises(ArtifactError, match=r"more than the 2 MB"):
        materialize(str(archive), tmp_path / "cache", policy=ArtifactPolicy(max_unpacked_bytes=2 * MIB))


def test_archive_within_the_cap_unpacks_and_records_its_size(tmp_path):
    archive = _archive(tmp_path / "ok.tar.gz", {"code/inference.py": b"x", "w.bin": bytes(MIB)})
    model_dir = materialize(str(archive), tmp_path / "cache", policy=ArtifactPolicy(max_unpacked_bytes=2 * MIB))
    assert (model_dir / "w.bin").stat().st_size == MIB
    [entry] = artifact_cache.entries(tmp_path / "cache")
    assert entry.size == MIB + 1


def _model(tmp_path: Path, tag: str) -> str:
    return str(_archive(tmp_path / f"{tag}.tar.gz", {"code/inference.py": b"", "tag.txt": tag.encode(),
                                                     "w.bin": os.urandom(MIB)}))


def _tags(cache: Path) -> set[str]:
    return {p.read_text() for p in cache.glob("*/tag.txt")}


def test_cache_evicts_least_recently_used_first(tmp_path):
    cache, policy = tmp_path / "cache", ArtifactPolicy(cache_bytes=int(2.5 * MIB))
    a, b, c = (_model(tmp_path, t) for t in "abc")
    materialize(a, cache, policy=policy)
    materialize(b, cache, policy=policy)
    os.utime(cache / f".{artifact_cache.entries(cache)[0].key}.inuse", (1, 1))  # whichever: make it oldest
    oldest = min(artifact_cache.entries(cache), key=lambda e: e.last_used)
    oldest_tag = (cache / oldest.key / "tag.txt").read_text()
    materialize(c, cache, policy=policy)
    assert _tags(cache) == {"a", "b", "c"} - {oldest_tag}


def test_cache_never_evicts_a_model_in_use(tmp_path):
    cache, policy = tmp_path / "cache", ArtifactPolicy(cache_bytes=int(1.5 * MIB))
    a, b = _model(tmp_path, "a"), _model(tmp_path, "b")
    materialize(a, cache, policy=policy)
    [entry] = artifact_cache.entries(cache)
    held = artifact_cache.hold(cache, entry.key)  # as a replica process holds it
    try:
        materialize(b, cache, policy=policy)
        assert _tags(cache) == {"a", "b"}  # over the bound, but "a" is in use
    finally:
        artifact_cache.release(held)
    materialize(_model(tmp_path, "c"), cache, policy=policy)
    assert "a" not in _tags(cache)  # released: now it can go
