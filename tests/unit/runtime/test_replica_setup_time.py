"""ModelReplica and StandbyReplica's model: cold calls, one ModelSetupTime sample per start."""

from __future__ import annotations

import time

import pytest

from serverless_ray.messages import NotAdoptable, ReplicaSpec
from serverless_ray.runtime.replica import ModelReplica
from serverless_ray.runtime.standby import StandbyReplica

from runtime_testutil import write_model_dir

INFERENCE = """
    def model_fn(model_dir):
        return "ok"

    def transform_fn(model, body, content_type, accept):
        return model, "text/plain"
"""


def spec(tmp_path, files=None) -> ReplicaSpec:
    model = write_model_dir(tmp_path / "model", files or {"code/inference.py": INFERENCE})
    return ReplicaSpec("ep", "AllTraffic", str(model), str(tmp_path / "cache"))


def test_only_the_first_cold_call_reports_the_setup_time(tmp_path):
    sent_before_ready = time.time()
    replica = ModelReplica(spec(tmp_path), setup_from_process_start=False)
    first = replica.invoke(b"x", "text/plain", None, None, "r1", sent_before_ready)
    second = replica.invoke(b"x", "text/plain", None, None, "r2", sent_before_ready)
    warm = replica.invoke(b"x", "text/plain", None, None, "r3", time.time())
    assert first.cold and first.setup_seconds is not None and 0 <= first.setup_seconds < 10
    assert second.cold and second.setup_seconds is None  # waited too, but the start is counted once
    assert not warm.cold and warm.setup_seconds is None
    assert first.result.body == b"ok"


def test_a_standby_adopts_once_and_refuses_models_with_requirements(tmp_path):
    standby = StandbyReplica.__ray_actor_class__(preload=("json", "no_such_module_anywhere"))
    with pytest.raises(RuntimeError):
        standby.invoke(b"x", "text/plain", None, None, "r", None)
    assert standby.adopt(spec(tmp_path)) >= 0
    assert standby.invoke(b"x", "text/plain", None, None, "r", None).result.body == b"ok"
    with pytest.raises(RuntimeError):
        standby.adopt(spec(tmp_path))

    needs = spec(tmp_path / "other", {"code/inference.py": INFERENCE, "code/requirements.txt": "tinydep\n"})
    with pytest.raises(NotAdoptable):
        StandbyReplica.__ray_actor_class__().adopt(needs)


def test_code_shipped_apart_from_the_model_data_is_loaded_and_its_requirements_keep_standbys_away(
        tmp_path, monkeypatch):
    from runtime_testutil import build_tarball

    # A replica writes its model's environment into its process's: undone after the test.
    for name in ("SAGEMAKER_PROGRAM", "SAGEMAKER_SUBMIT_DIRECTORY"):
        monkeypatch.setenv(name, "")

    model = write_model_dir(tmp_path / "model", {"weights.txt": "w"})
    source = build_tarball(tmp_path / "sourcedir.tar.gz", {"serve.py": INFERENCE.replace('"ok"', '"shipped"')})
    environment = {"SAGEMAKER_PROGRAM": "serve.py", "SAGEMAKER_SUBMIT_DIRECTORY": f"file://{source}"}
    shipped = ReplicaSpec("ep", "AllTraffic", str(model), str(tmp_path / "cache"), environment=environment)
    standby = StandbyReplica.__ray_actor_class__()
    assert standby.adopt(shipped) >= 0
    assert standby.invoke(b"x", "text/plain", None, None, "r", None).result.body == b"shipped"

    with_requirements = build_tarball(tmp_path / "other.tar.gz", {"serve.py": INFERENCE, "requirements.txt": "x\n"})
    needs = ReplicaSpec("ep", "AllTraffic", str(model), str(tmp_path / "cache"),
                        environment={**environment, "SAGEMAKER_SUBMIT_DIRECTORY": str(with_requirements)})
    with pytest.raises(NotAdoptable, match="requirements.txt"):
        StandbyReplica.__ray_actor_class__().adopt(needs)


def test_a_standby_adopts_only_models_of_its_own_environment(tmp_path):
    xgboost = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
    model = write_model_dir(tmp_path / "model", {"xgboost-model": b"booster"})
    framework = ReplicaSpec("ep", "AllTraffic", str(model), str(tmp_path / "cache"), image=xgboost)
    with pytest.raises(NotAdoptable, match="environment of xgboost==1.7.4, numpy<2, this standby in that of the platform"):
        StandbyReplica.__ray_actor_class__().adopt(framework)
    in_xgboost = StandbyReplica.__ray_actor_class__(environment=("xgboost==1.7.4", "numpy<2"))
    with pytest.raises(NotAdoptable, match="environment of the platform, this standby in that of xgboost==1.7.4"):
        in_xgboost.adopt(spec(tmp_path))
    # another release of the framework is another environment
    in_other = StandbyReplica.__ray_actor_class__(environment=("xgboost-cpu==3.0.5",))
    with pytest.raises(NotAdoptable):
        in_other.adopt(framework)
