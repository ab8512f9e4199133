"""Every replica held to its tier: memory and CPU in a cgroup of its own, a capped scratch
disk, a bounded model cache, and timeouts that free the replica.

The session platform runs with small disk, model-size and cache limits (conftest); the
timeout test goes through an entry point of its own with a 2 s invocation timeout. All
of it on this machine's real cgroups (a writable memory and cpu cgroup: root).
"""

from __future__ import annotations

import io
import os
import tarfile
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import EPHEMERAL_STORAGE_MB as STORAGE_MB
from conftest import EXAMPLE_MODEL, MODELS, _client, make_tarball
from conftest import MAX_MODEL_SIZE_MB as MAX_MODEL_MB
from support import Background, Latch, metric_value, unique, wait_for
from support import invoke_outcome as _call

from serverless_ray.isolation.cgroups import CgroupUnavailable, detect

TIMEOUT_S = 2.0


def _cgroups_writable() -> bool:
    try:
        detect("probe")
    except CgroupUnavailable:
        return False
    return os.geteuid() == 0


pytestmark = pytest.mark.skipif(not _cgroups_writable(), reason="needs a writable memory and cpu cgroup (root)")


@pytest.fixture(scope="module")
def short_timeout_runtime(platform):
    """A runtime client of an entry point whose invocation timeout is 2 s."""
    import ray

    gateway, port = platform.platform.add_gateway("short-timeout", port=0, invocation_timeout_s=TIMEOUT_S)
    yield _client("sagemaker-runtime", f"http://127.0.0.1:{port}")
    try:
        ray.get(gateway.stop.remote(), timeout=15)
    finally:
        ray.kill(gateway)


def _memory_cgroup(payload: dict) -> Path:
    """The v1 memory cgroup directory the model's process runs in."""
    for line in payload["cgroups"].splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return Path("/sys/fs/cgroup/memory") / path.lstrip("/")
    raise AssertionError(f"no memory cgroup in {payload['cgroups']!r}")


def test_memory_past_the_tier_fails_alone(runtime, deployer, model_urls):
    hog = deployer.serverless(model_urls["limits"], memory=1024, max_concurrency=1)
    neighbour = deployer.serverless(model_urls["echo"], memory=1024, max_concurrency=4)

    code, payload, _ = _call(runtime, hog)
    assert code == "ok"
    group = _memory_cgroup(payload)
    assert int((group / "memory.limit_in_bytes").read_text()) == 1024 * 1024 * 1024
    assert group.parent.name.startswith("serverless-ray-")

    def neighbour_client(stop_after: list) -> list[str]:
        outcomes = []
        while not stop_after and len(outcomes) < 200:
            outcomes.append(_call(runtime, neighbour, {"n": len(outcomes)})[0])
        return outcomes

    done: list = []
    with Background() as background:
        clients = [background.submit(neighbour_client, done) for _ in range(3)]
        wait_for(lambda: all(c.running() or c.done() for c in clients), timeout_s=10, what="clients started")
        code, message, _ = _call(runtime, hog, {"allocate_mb": 1536})
        done.append(True)
        outcomes = [o for c in clients for o in c.result(timeout=120)]
    assert code == "ModelError"
    assert "memory size of 1024 MB" in message
    assert outcomes and set(outcomes) == {"ok"}  # the neighbour answered every call

    # The replica was replaced: the next small call is answered.
    code, payload, _ = _call(runtime, hog)
    assert code == "ok"
    # The dead replica's cgroup is removed.
    wait_for(lambda: not group.exists(), timeout_s=30, what="the OOM-killed replica's cgroup to be removed")


def test_tier_vcpus_become_a_cpu_quota(runtime, deployer, model_urls):
    name = deployer.serverless(model_urls["limits"], memory=2048, max_concurrency=1)
    code, payload, _ = _call(runtime, name)
    assert code == "ok"
    for line in payload["cgroups"].splitlines():
        _, controllers, path = line.split(":", 2)
        if "cpu" in controllers.split(","):
            group = Path("/sys/fs/cgroup/cpu") / path.lstrip("/")
            break
    else:
        raise AssertionError("no cpu cgroup")
    # 2048 MB at the default 0.5 vCPU per GB: one CPU's worth of each period.
    quota = int((group / "cpu.cfs_quota_us").read_text())
    period = int((group / "cpu.cfs_period_us").read_text())
    assert quota == period


def test_scratch_disk_is_capped_and_removed(runtime, deployer, model_urls, sm):
    name = deployer.serverless(model_urls["limits"], max_concurrency=1)
    code, payload, _ = _call(runtime, name, {"write_mb": 1})
    assert code == "ok"
    scratch = Path(payload["tmpdir"])
    assert payload["cwd"] == payload["tmpdir"] and payload["written"].startswith(str(scratch))
    assert os.path.ismount(scratch)

    code, message, _ = _call(runtime, name, {"write_mb": STORAGE_MB * 2})
    assert code == "ModelError"
    assert "No space left on device" in message

    sm.delete_endpoint(EndpointName=name)
    deployer.endpoints.remove(name)
    sm.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    wait_for(lambda: not scratch.exists(), timeout_s=30, what="the scratch directory to be removed")


def test_timed_out_call_frees_its_replica(short_timeout_runtime, deployer, model_urls):
    runtime = short_timeout_runtime
    name = deployer.serverless(model_urls["echo"], max_concurrency=2)
    with Background() as background:
        sleeper = background.submit(_call, runtime, name, {"sleep": 10})
        code, message, seconds = sleeper.result(timeout=60)
        failed_at = time.monotonic()
        assert code == "ModelError" and "timed out" in message
        assert seconds < 8  # about the 2 s timeout, not the 10 s sleep
        code, _, _ = _call(runtime, name, {"quick": True})
        assert code == "ok"
        # Answered long before the sleeper would have finished (it had ~8 s to go).
        assert time.monotonic() - failed_at < 6


def _bomb(path: Path, megabytes: int) -> Path:
    """A model archive whose one file of zeros unpacks to ``megabytes`` (it packs to ~KB)."""
    with tarfile.open(path, "w:gz") as tar:
        code = (EXAMPLE_MODEL / "code" / "inference.py").read_bytes()
        info = tarfile.TarInfo("code/inference.py")
        info.size = len(code)
        tar.addfile(info, io.BytesIO(code))
        zeros = tarfile.TarInfo("weights.bin")
        zeros.size = megabytes * 1024 * 1024
        tar.addfile(zeros, io.BytesIO(bytes(zeros.size)))
    return path


def test_decompression_bomb_is_refused(sm, deployer, tmp_path, platform):
    bomb = _bomb(tmp_path / "bomb.tar.gz", MAX_MODEL_MB * 4)
    assert bomb.stat().st_size < 1024 * 1024
    name = deployer.endpoint(deployer.config(deployer.model(str(bomb))), wait=False)
    wait_for(lambda: sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "Failed", timeout_s=60,
             what="the endpoint to fail")
    reason = sm.describe_endpoint(EndpointName=name)["FailureReason"]
    assert f"more than the {MAX_MODEL_MB} MB" in reason and "--max-model-size-mb" in reason
    # Nothing of it was written to the cache.
    cache = Path(platform.settings.artifact_cache_dir)
    assert not [p for p in cache.rglob("weights.bin")]


def _sized_model(tmp_path: Path, tag: str, megabytes: int) -> str:
    source = tmp_path / tag
    (source / "code").mkdir(parents=True)
    (source / "code" / "inference.py").write_bytes((MODELS / "limits" / "code" / "inference.py").read_bytes())
    (source / "tag.txt").write_text(tag)
    (source / "payload.bin").write_bytes(os.urandom(megabytes * 1024 * 1024))  # does not compress
    return str(make_tarball(source, tmp_path / f"{tag}.tar.gz"))


def _cached_tags(cache: Path) -> set[str]:
    return {p.read_text() for p in cache.glob("*/tag.txt")}


def test_cache_evicts_models_no_replica_uses(sm, deployer, tmp_path, platform):
    cache = Path(platform.settings.artifact_cache_dir)
    first = deployer.serverless(_sized_model(tmp_path, unique("first"), 5))
    first_tag = next(t for t in _cached_tags(cache) if t.startswith("first-"))
    second = deployer.serverless(_sized_model(tmp_path, unique("second"), 5))
    assert first_tag in _cached_tags(cache)  # 10 MB: both fit in 12

    sm.delete_endpoint(EndpointName=first)  # no replica uses the first model any more
    deployer.endpoints.remove(first)
    sm.get_waiter("endpoint_deleted").wait(EndpointName=first, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    deployer.serverless(_sized_model(tmp_path, unique("third"), 5))
    tags = _cached_tags(cache)
    assert first_tag not in tags  # least recently used and unused: evicted
    assert any(t.startswith("second-") for t in tags) and any(t.startswith("third-") for t in tags)
    assert second  # still in service, its model kept although the cache is over its bound


def _memory_utilization(url: str, endpoint: str) -> float | None:
    text = urllib.request.urlopen(f"{url}/metrics", timeout=10).read().decode()
    return metric_value(text, "serverless_ray_memory_utilization", endpoint_name=endpoint, variant_name="AllTraffic")


def test_utilization_metrics_move_when_a_model_allocates(runtime, deployer, model_urls, platform, tmp_path):
    name = deployer.serverless(model_urls["limits"], memory=1024, max_concurrency=1)
    assert _call(runtime, name)[0] == "ok"
    before = wait_for(lambda: _memory_utilization(platform.url, name), timeout_s=10, what="the memory metric")
    with Background() as background, Latch(tmp_path) as latch:
        held = background.submit(_call, runtime, name, {"allocate_mb": 400, **latch.body()})
        wait_for(lambda: latch.started(), timeout_s=30, what="the allocation in the model")
        during = _memory_utilization(platform.url, name)
        latch.release()
        assert held.result(timeout=60)[0] == "ok"
    assert during is not None and during > before + 25  # 400 MB of 1024: about 39 points
    text = urllib.request.urlopen(f"{platform.url}/metrics", timeout=10).read().decode()
    labels = {"endpoint_name": name, "variant_name": "AllTraffic"}
    assert metric_value(text, "serverless_ray_cpu_utilization", **labels) is not None
    assert metric_value(text, "serverless_ray_disk_utilization", **labels) is not None
