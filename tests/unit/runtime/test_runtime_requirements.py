"""code/requirements.txt read without unpacking the model: in place for a directory,
from the node's cache when unpacked there, else by streaming the archive up to it."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from runtime_testutil import build_tarball, s3, write_model_dir  # noqa: F401 (s3 is a fixture)
from serverless_ray.runtime import artifacts
from serverless_ray.runtime.artifacts import ArtifactError, materialize, member_text, requirements_of

REQUIREMENTS = "# pinned\nnumpy==2.0\n  requests>=2  # http\n"
EXPECTED = ["numpy==2.0", "requests>=2"]


class CountingStream(io.BytesIO):
    """A stream that counts the bytes read from it."""

    read_bytes = 0

    def read(self, size=-1):
        data = super().read(size)
        self.read_bytes += len(data)
        return data


def _archive_with_weights_after_requirements(weights: int) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in (("code/requirements.txt", REQUIREMENTS.encode()), ("weights.bin", os.urandom(weights))):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_an_archive_is_read_only_up_to_the_requirements(tmp_path):
    data = _archive_with_weights_after_requirements(4 * 1024 * 1024)  # random: gzip cannot shrink it
    stream = CountingStream(data)
    assert member_text(stream, Path('code') / artifacts.REQUIREMENTS_FILE, "m").splitlines()[1] == "numpy==2.0"
    assert stream.read_bytes < len(data) / 4


def test_a_local_archive_is_neither_unpacked_nor_cached(tmp_path):
    archive = build_tarball(tmp_path / "model.tar.gz", {"./code/requirements.txt": REQUIREMENTS, "model.pt": b"w"})
    cache = tmp_path / "cache"
    assert requirements_of(f"file://{archive}", cache) == EXPECTED
    assert not cache.exists()


def test_an_archive_without_requirements_has_none(tmp_path):
    archive = build_tarball(tmp_path / "model.tar.gz", {"code/inference.py": "x = 1\n"})
    assert requirements_of(str(archive), tmp_path / "cache") == []


def test_a_directory_is_read_in_place_and_an_unpacked_archive_from_the_cache(tmp_path, monkeypatch):
    model_dir = write_model_dir(tmp_path / "unpacked", {"code/requirements.txt": REQUIREMENTS})
    assert requirements_of(str(model_dir), tmp_path / "cache") == EXPECTED
    archive = build_tarball(tmp_path / "model.tar.gz", {"code/requirements.txt": REQUIREMENTS})
    cache = tmp_path / "cache"
    materialize(str(archive), cache)  # a replica on this node unpacked it already
    monkeypatch.setattr(artifacts, "member_text", lambda *a: pytest.fail("streamed despite the cache"))
    assert requirements_of(str(archive), cache) == EXPECTED


def test_bad_model_data_fails_as_unpacking_would(tmp_path):
    not_tar = tmp_path / "model.tar.gz"
    not_tar.write_bytes(b"definitely not a tarball")
    with pytest.raises(ArtifactError, match="is not a valid tar archive"):
        requirements_of(str(not_tar), tmp_path / "cache")
    with pytest.raises(ArtifactError, match="cannot read model data"):
        requirements_of(str(tmp_path / "missing.tar.gz"), tmp_path / "cache")
    with pytest.raises(ArtifactError, match="ModelDataUrl is required"):
        requirements_of(None, tmp_path / "cache")


def test_s3_model_data_is_streamed(tmp_path, s3):
    s3.put_object(Bucket="models", Key="m/model.tar.gz", Body=_archive_with_weights_after_requirements(1024))
    cache = tmp_path / "cache"
    assert requirements_of("s3://models/m/model.tar.gz", cache) == EXPECTED
    assert not cache.exists()


def test_the_requirements_of_code_shipped_apart_are_read_from_it(tmp_path):
    from runtime_testutil import build_tarball

    from serverless_ray.spec.container_environment import code_location

    model = build_tarball(tmp_path / "model.tar.gz", {"code/requirements.txt": "from-model\n", "w": "1"})
    source = build_tarball(tmp_path / "sourcedir.tar.gz", {"serve.py": "", "requirements.txt": "from-source\n"})
    shipped = code_location({"SAGEMAKER_SUBMIT_DIRECTORY": f"file://{source}"})
    assert artifacts.requirements_of(str(model), tmp_path / "cache", location=shipped) == ["from-source"]
    inside = code_location({"SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"})
    assert artifacts.requirements_of(str(model), tmp_path / "cache", location=inside) == ["from-model"]
    assert artifacts.requirements_of(str(model), tmp_path / "cache") == ["from-model"]
