import pytest

from runtime_testutil import build_tarball, s3  # noqa: F401 (s3 is a fixture)
from serverless_ray.runtime import artifacts
from serverless_ray.runtime.artifacts import ArtifactError, materialize

BUCKET = "models"  # the s3 fixture's bucket


def test_s3_download_unpack_and_cache(tmp_path, s3, monkeypatch):
    archive = build_tarball(tmp_path / "model.tar.gz", {"model.pt": b"w", "code/inference.py": "x = 1\n"})
    s3.upload_file(str(archive), BUCKET, "m/model.tar.gz")
    cache = tmp_path / "cache"
    model_dir = materialize(f"s3://{BUCKET}/m/model.tar.gz", cache)
    assert (model_dir / "model.pt").read_bytes() == b"w"
    assert (model_dir / "code" / "inference.py").read_text() == "x = 1\n"

    downloads = []
    monkeypatch.setattr(artifacts, "_extract", lambda *a: downloads.append(a))
    assert materialize(f"s3://{BUCKET}/m/model.tar.gz", cache) == model_dir
    assert downloads == []


def test_s3_new_object_version_is_unpacked_again(tmp_path, s3):
    url = f"s3://{BUCKET}/model.tar.gz"
    s3.upload_file(str(build_tarball(tmp_path / "a.tar.gz", {"v": "1"})), BUCKET, "model.tar.gz")
    first = materialize(url, tmp_path / "cache")
    s3.upload_file(str(build_tarball(tmp_path / "b.tar.gz", {"v": "2"})), BUCKET, "model.tar.gz")
    second = materialize(url, tmp_path / "cache")
    assert first != second and (second / "v").read_text() == "2"


def test_s3_missing_key(tmp_path, s3):
    url = f"s3://{BUCKET}/absent.tar.gz"
    with pytest.raises(ArtifactError) as info:
        materialize(url, tmp_path / "cache")
    assert url in str(info.value) and "key 'absent.tar.gz' does not exist" in str(info.value)


def test_s3_missing_bucket(tmp_path, s3):
    with pytest.raises(ArtifactError, match="s3://no-such-bucket/k.*bucket 'no-such-bucket' does not exist"):
        materialize("s3://no-such-bucket/k.tar.gz", tmp_path / "cache")


def test_s3_url_without_key(tmp_path):
    with pytest.raises(ArtifactError, match="expected s3://bucket/key"):
        materialize(f"s3://{BUCKET}/", tmp_path / "cache")
