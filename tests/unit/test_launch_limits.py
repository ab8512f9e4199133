"""The launch of a deployment: the replica limits it hands out, and the model-ready
timeout that bounds the whole of it (download and unpack included). No Ray: a fake
Serve backend that never reports the application running."""

from __future__ import annotations

import asyncio
import tarfile
import time

from plane_harness import Harness

from serverless_ray.control.launch import Launcher
from serverless_ray.control.app_backend import AppState
from serverless_ray.resources import replica_resources


class NeverReady:
    """A Serve backend whose applications stay 'deploying' for ever."""

    def __init__(self) -> None:
        self.deployed: list = []

    def node_resources(self):
        return [{"CPU": 8.0, "memory": 32 * 2**30}]

    def serverless_resources(self, memory_size_mb: int):
        return replica_resources(memory_size_mb, 0.5)

    def deploy(self, app_name, spec, **kwargs) -> None:
        self.deployed.append(spec)
        self.pip = kwargs["pip_requirements"]

    async def wait(self, app_name, *, timeout_s):
        await asyncio.sleep(3600)
        return AppState("running", "", 1)


class ReadyAtOnce(NeverReady):
    """A Serve backend whose applications run as soon as they are deployed."""

    async def wait(self, app_name, *, timeout_s):
        return AppState("running", "", 1)


def _deployment(tmp_path, harness: Harness, memory: int = 2048, requirements: str | None = None, **container):
    source = tmp_path / "model"
    (source / "code").mkdir(parents=True)
    (source / "code" / "inference.py").write_text("def model_fn(d):\n    return None\n")
    if requirements is not None:
        (source / "code" / "requirements.txt").write_text(requirements)
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source / "code", arcname="code")
    harness.model("m", ModelDataUrl=str(archive), **container)
    harness.serverless_config("c", "m")
    harness.endpoint("e", "c")
    return harness.store.endpoints.get("e").pending


def test_model_ready_timeout_bounds_the_whole_launch(tmp_path):
    harness = Harness(tmp_path)
    deployment = _deployment(tmp_path, harness)
    settings = harness.plane._settings.model_copy(update={"model_ready_timeout_s": 0.5})
    backend = NeverReady()
    started = time.monotonic()
    result = asyncio.run(Launcher(settings, backend).launch("e", deployment))  # type: ignore[arg-type]
    assert not result.ok
    assert "did not become ready within 0.5 s" in result.reason and "download and unpack included" in result.reason
    assert time.monotonic() - started < 30  # bounded by the timeout, not the hour the backend would take


def test_replicas_are_given_their_tier_disk_and_load_deadline(tmp_path):
    harness = Harness(tmp_path)
    deployment = _deployment(tmp_path, harness)
    # A generous timeout: the launch must reach the backend however loaded the machine is.
    settings = harness.plane._settings.model_copy(update={
        "model_ready_timeout_s": 120.0, "ephemeral_storage_mb": 64, "max_model_size_mb": 100})
    backend = ReadyAtOnce()
    result = asyncio.run(Launcher(settings, backend).launch("e", deployment))  # type: ignore[arg-type]
    assert result.ok, result.reason
    [spec] = backend.deployed
    limits = spec.limits
    assert (limits.memory_mb, limits.cpus, limits.ephemeral_storage_mb) == (2048, 1.0, 64)
    assert limits.model_ready_timeout_s == 120.0 and limits.isolation == "auto"
    assert spec.artifact_policy.max_unpacked_bytes == 100 * 2**20


def test_a_framework_image_gets_its_packages_under_the_models_own(tmp_path):
    harness = Harness(tmp_path)
    image = "683313688378.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1"
    deployment = _deployment(tmp_path, harness, requirements="numpy==1.26.4\npandas\n", Image=image)
    backend = ReadyAtOnce()
    result = asyncio.run(Launcher(harness.plane._settings, backend).launch("e", deployment))  # type: ignore[arg-type]
    assert result.ok, result.reason
    assert backend.deployed[0].image == image
    # the model's numpy pin replaces the container's numpy<2
    assert backend.pip == ["xgboost==1.7.4", "numpy==1.26.4", "pandas"]


def test_an_image_without_a_stack_installs_only_the_models_requirements(tmp_path):
    harness = Harness(tmp_path)
    # the Hugging Face LLM container: recognised by no stack, so it runs the inference script
    image = "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference:2.1-tgi1.4-gpu-py310-cu121-ubuntu22.04"
    deployment = _deployment(tmp_path, harness, requirements="pandas\n", Image=image)
    backend = ReadyAtOnce()
    assert asyncio.run(Launcher(harness.plane._settings, backend).launch("e", deployment)).ok  # type: ignore[arg-type]
    assert backend.pip == ["pandas"]
