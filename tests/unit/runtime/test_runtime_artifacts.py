import functools
import http.server
import multiprocessing
import os
import tarfile
import threading
import time

import pytest

from runtime_testutil import add_raw_member, build_tarball, write_model_dir
from serverless_ray.runtime import artifacts
from serverless_ray.runtime.artifacts import ArtifactError, materialize, read_requirements

FILES = {"model.pt": b"\x00weights", "code/inference.py": "def model_fn(d): return 1\n"}


@pytest.fixture
def archive(tmp_path):
    return build_tarball(tmp_path / "src" / "model.tar.gz", FILES)


@pytest.fixture
def extractions(monkeypatch):
    """Counts real extractions by wrapping the extraction step."""
    calls = []
    real = artifacts._extract

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(artifacts, "_extract", counting)
    return calls


def assert_model_dir(path):
    assert (path / "model.pt").read_bytes() == b"\x00weights"
    assert (path / "code" / "inference.py").is_file()


def test_none_is_rejected(tmp_path):
    with pytest.raises(ArtifactError, match="ModelDataUrl is required"):
        materialize(None, tmp_path)


def test_file_url_is_unpacked_into_cache(tmp_path, archive):
    cache = tmp_path / "cache"
    model_dir = materialize(f"file://{archive}", cache)
    assert model_dir.parent == cache
    assert_model_dir(model_dir)
    # No temporary work directories are left behind.
    assert [p for p in cache.iterdir() if p.is_dir()] == [model_dir]


def test_plain_path_is_unpacked(tmp_path, archive):
    assert_model_dir(materialize(str(archive), tmp_path / "cache"))


def test_directory_is_used_in_place(tmp_path):
    model_dir = write_model_dir(tmp_path / "unpacked", FILES)
    cache = tmp_path / "cache"
    assert materialize(str(model_dir), cache) == model_dir.resolve()
    assert materialize(f"file://{model_dir}", cache) == model_dir.resolve()
    assert not cache.exists()


def test_cache_hit_does_not_re_extract(tmp_path, archive, extractions):
    cache = tmp_path / "cache"
    first = materialize(str(archive), cache)
    marker = first / "marker"
    marker.write_text("still here")
    second = materialize(str(archive), cache)
    assert second == first and marker.exists()
    assert len(extractions) == 1


def test_changed_archive_gets_a_new_directory(tmp_path, archive, extractions):
    cache = tmp_path / "cache"
    first = materialize(str(archive), cache)
    build_tarball(archive, {**FILES, "model.pt": b"new weights!"})
    os.utime(archive, ns=(time.time_ns(), time.time_ns() + 10**9))
    second = materialize(str(archive), cache)
    assert second != first and (second / "model.pt").read_bytes() == b"new weights!"
    assert len(extractions) == 2


def test_concurrent_threads_extract_once(tmp_path, archive, extractions):
    cache = tmp_path / "cache"
    barrier = threading.Barrier(8)
    results = []

    def worker():
        barrier.wait()
        results.append(materialize(str(archive), cache))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8 and len(set(results)) == 1
    assert len(extractions) == 1


def _process_worker(url, cache, counter_file, out_file, barrier):
    real = artifacts._extract

    def counting(*args, **kwargs):
        with open(counter_file, "a") as f:
            f.write("x\n")
        time.sleep(0.2)  # widen the window in which a second extraction could start
        return real(*args, **kwargs)

    artifacts._extract = counting
    barrier.wait()
    out_file.write_text(str(materialize(url, cache)))


def test_concurrent_processes_extract_once(tmp_path, archive):
    ctx = multiprocessing.get_context("fork")
    cache = tmp_path / "cache"
    counter = tmp_path / "extractions.txt"
    barrier = ctx.Barrier(4)
    outs = [tmp_path / f"out{i}.txt" for i in range(4)]
    procs = [
        ctx.Process(target=_process_worker, args=(str(archive), cache, counter, out, barrier))
        for out in outs
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=30)
        assert proc.exitcode == 0
    assert len({out.read_text() for out in outs}) == 1
    assert counter.read_text().count("x") == 1
    assert_model_dir(cache / os.path.basename(outs[0].read_text()))


@pytest.mark.parametrize("name", ["../escape.txt", "code/../../escape.txt", "/tmp/abs-escape.txt"])
def test_path_traversal_is_rejected(tmp_path, name):
    bad = add_raw_member(tmp_path / "bad.tar.gz", tarfile.TarInfo(name), b"evil")
    cache = tmp_path / "cache"
    with pytest.raises(ArtifactError, match="escape the model directory"):
        materialize(str(bad), cache)
    assert not (tmp_path / "escape.txt").exists()
    assert [p for p in cache.iterdir() if p.is_dir()] == []


def test_absolute_symlink_is_rejected(tmp_path):
    info = tarfile.TarInfo("link")
    info.type = tarfile.SYMTYPE
    info.linkname = "/etc/passwd"
    bad = add_raw_member(tmp_path / "bad.tar.gz", info)
    with pytest.raises(ArtifactError, match="symlink 'link'"):
        materialize(str(bad), tmp_path / "cache")


def test_relative_symlink_escaping_is_rejected(tmp_path):
    info = tarfile.TarInfo("code/link")
    info.type = tarfile.SYMTYPE
    info.linkname = "../../outside"
    bad = add_raw_member(tmp_path / "bad.tar.gz", info)
    with pytest.raises(ArtifactError, match="refusing to unpack"):
        materialize(str(bad), tmp_path / "cache")


def test_not_a_tarball(tmp_path):
    path = tmp_path / "model.tar.gz"
    path.write_bytes(b"definitely not a tarball")
    with pytest.raises(ArtifactError, match="not a valid tar archive"):
        materialize(str(path), tmp_path / "cache")


def test_missing_file_names_url_and_cause(tmp_path):
    url = f"file://{tmp_path}/missing/model.tar.gz"
    with pytest.raises(ArtifactError) as info:
        materialize(url, tmp_path / "cache")
    assert url in str(info.value) and "No such file" in str(info.value)


def test_unsupported_scheme(tmp_path):
    with pytest.raises(ArtifactError, match="unsupported model data URL gs://b/k"):
        materialize("gs://b/k", tmp_path)


def test_read_requirements(tmp_path):
    model_dir = write_model_dir(
        tmp_path / "m",
        {"code/requirements.txt": "# pinned\nnumpy==2.0\n\n  requests>=2  # http\n-r other.txt\n"},
    )
    assert read_requirements(model_dir) == ["numpy==2.0", "requests>=2", "-r other.txt"]
    assert read_requirements(tmp_path / "empty") == []


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def http_root(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_download_and_cache(tmp_path, http_root, extractions):
    root, base = http_root
    build_tarball(root / "model.tar.gz", FILES)
    cache = tmp_path / "cache"
    first = materialize(f"{base}/model.tar.gz?X-Amz-Signature=one", cache)
    assert_model_dir(first)
    # A re-signed URL for the same unchanged object reuses the cache.
    assert materialize(f"{base}/model.tar.gz?X-Amz-Signature=two", cache) == first
    assert len(extractions) == 1


def test_http_missing_names_url_without_query(tmp_path, http_root):
    _, base = http_root
    with pytest.raises(ArtifactError) as info:
        materialize(f"{base}/nope.tar.gz?X-Amz-Signature=secret", tmp_path / "cache")
    message = str(info.value)
    assert f"{base}/nope.tar.gz" in message and "404" in message and "secret" not in message
