"""Models of the SageMaker XGBoost container deploy with its image URI and answer as the
container does: the framework's packages come from the package registries into a runtime
environment of their own, and the image decides how the model is served."""

from __future__ import annotations

import json
import pickle
import urllib.request

import pytest
import ray
from sagemaker import image_uris
from conftest import SCALE_TO_ZERO_AFTER_S
from support import (
    ROLE,
    in_s3,
    metric_value,
    model_archive,
    replica_gauge,
    sdk_serverless,
    sdk_session,
    unique,
    wait_for,
)

from serverless_ray import environments
from serverless_ray.frameworks import recognise, requirements

IMAGE = image_uris.retrieve("xgboost", "us-east-1", "3.0-5")
PIP = list(requirements(recognise(IMAGE)))
FEATURES = 5


@ray.remote(num_cpus=0, runtime_env=environments.runtime_env(PIP))
def _train(seed: int) -> dict:
    """Two boosters trained on random data, saved as a training job and a user would save
    them, and their predictions on a few rows: in the XGBoost environment the endpoints run
    in (the same pip list: Ray builds it once on the node)."""
    import numpy as np
    import xgboost

    rng = np.random.default_rng(seed)
    features = rng.random((200, FEATURES))
    labels = features @ np.arange(1.0, FEATURES + 1) + rng.normal(0, 0.1, 200)
    data = xgboost.DMatrix(features, label=labels)
    first = xgboost.train({"max_depth": 3, "eta": 0.3}, data, 20)
    second = xgboost.train({"max_depth": 2, "eta": 0.5}, data, 10)
    rows = rng.random((4, FEATURES))
    test = xgboost.DMatrix(rows)
    return {
        "pickled": pickle.dumps(first),
        "native": bytes(second.save_raw("ubj")),
        "rows": rows.tolist(),
        "first": first.predict(test).tolist(),
        "second": second.predict(test).tolist(),
        "version": xgboost.__version__,
    }


@pytest.fixture(scope="module")
def trained(ray_cluster) -> dict:
    return ray.get(_train.remote(7), timeout=240)


def _csv(rows: list[list[float]]) -> bytes:
    return "".join(",".join(repr(value) for value in row) + "\n" for row in rows).encode()


def _invoke(runtime, endpoint: str, body: bytes, content_type: str, accept: str | None = None):
    extra = {"Accept": accept} if accept else {}
    reply = runtime.invoke_endpoint(EndpointName=endpoint, Body=body, ContentType=content_type, **extra)
    return reply["ContentType"], reply["Body"].read().decode()


def test_a_trained_model_needs_no_inference_script(tmp_path, trained, runtime, deployer):
    """The built-in algorithm's model data (``xgboost-model``, here beside a second booster:
    an ensemble) with the image URI and nothing else, as the serverless example notebooks
    deploy it."""
    assert trained["version"] == "3.0.5"
    archive = model_archive(tmp_path, {"xgboost-model": trained["pickled"], "xgboost-model-2": trained["native"]})
    endpoint = deployer.endpoint(deployer.config(deployer.model(str(archive), image=IMAGE)))
    expected = [(a + b) / 2 for a, b in zip(trained["first"], trained["second"])]
    rows = trained["rows"]

    content_type, body = _invoke(runtime, endpoint, _csv(rows), "text/csv")  # no Accept: CSV
    assert content_type == "text/csv"
    assert [float(line) for line in body.splitlines()] == pytest.approx(expected, rel=1e-6)

    instances = json.dumps({"instances": [{"features": row} for row in rows]}).encode()
    content_type, body = _invoke(runtime, endpoint, instances, "application/json", "application/json")
    assert content_type == "application/json"
    assert [p["score"] for p in json.loads(body)["predictions"]] == pytest.approx(expected, rel=1e-6)

    libsvm = "".join("0 " + " ".join(f"{i}:{v!r}" for i, v in enumerate(row)) + "\n" for row in rows).encode()
    _, body = _invoke(runtime, endpoint, libsvm, "text/libsvm", "application/jsonlines")
    assert [json.loads(line)["score"] for line in body.splitlines()] == pytest.approx(expected, rel=1e-6)

    with pytest.raises(runtime.exceptions.ModelError) as refused:
        _invoke(runtime, endpoint, b"a,b", "text/plain")
    assert refused.value.response["OriginalStatusCode"] == 415
    assert "text/csv" in refused.value.response["Error"]["Message"]


def test_a_cold_endpoint_is_answered_by_a_standby_of_its_environment(tmp_path, trained, platform, runtime,
                                                                      deployer):
    """Scaled to zero, the endpoint's next invocation is adopted by a standby started in the
    XGBoost environment (with XGBoost imported), not by a Serve replica started for it."""
    archive = model_archive(tmp_path, {"xgboost-model": trained["native"]})
    endpoint = deployer.endpoint(deployer.config(deployer.model(str(archive), image=IMAGE)))

    def metrics() -> str:
        return urllib.request.urlopen(f"{platform.url}/metrics", timeout=10).read().decode()

    wait_for(lambda: replica_gauge(platform.url, endpoint) == 0, timeout_s=SCALE_TO_ZERO_AFTER_S + 30,
             what="scale to zero")
    # The platform's own pool (2 standbys) and one in the XGBoost environment.
    wait_for(lambda: metric_value(metrics(), "serverless_ray_standby_replicas", state="idle") >= 3,
             timeout_s=60, what="a standby in the XGBoost environment")
    _, body = _invoke(runtime, endpoint, _csv(trained["rows"]), "text/csv")
    assert [float(line) for line in body.splitlines()] == pytest.approx(trained["second"], rel=1e-6)
    labels = dict(endpoint_name=endpoint, variant_name="AllTraffic")
    assert metric_value(metrics(), "serverless_ray_standby_invocations_total", **labels) == 1


def test_an_inference_script_gets_the_framework_defaults(tmp_path, trained, runtime, deployer):
    """Framework mode: ``SAGEMAKER_PROGRAM`` names the script, which must load the model;
    requests decode into a DMatrix and predictions are encoded as the toolkit does."""
    archive = model_archive(tmp_path, {
        "model.ubj": trained["native"],
        "code/inference.py": (
            b"import os, xgboost\n"
            b"def model_fn(model_dir):\n"
            b"    booster = xgboost.Booster()\n"
            b"    booster.load_model(os.path.join(model_dir, 'model.ubj'))\n"
            b"    return booster\n"
        ),
    })
    model = deployer.model(str(archive), image=IMAGE, environment={"SAGEMAKER_PROGRAM": "inference.py"})
    endpoint = deployer.endpoint(deployer.config(model))
    content_type, body = _invoke(runtime, endpoint, _csv(trained["rows"]), "text/csv")  # no Accept: JSON
    assert content_type == "application/json"
    assert json.loads(body) == pytest.approx(trained["second"], rel=1e-6)


def test_the_sdks_xgboost_model_deploys_serverless_and_predicts(sdk_environment, tmp_path, trained):
    """``XGBoostModel`` with an entry point: the SDK uploads the script apart from the model
    data, as a ``sourcedir.tar.gz`` named by ``SAGEMAKER_SUBMIT_DIRECTORY``."""
    from sagemaker.deserializers import CSVDeserializer
    from sagemaker.serializers import CSVSerializer
    from sagemaker.xgboost import XGBoostModel

    archive = model_archive(tmp_path, {"xgboost-model": trained["native"]})
    model_data = in_s3(archive, "s3://xgboost-output/job/model.tar.gz")
    source = tmp_path / "source"
    source.mkdir()
    (source / "serve.py").write_text(
        "import os, xgboost\n"
        "def model_fn(model_dir):\n"
        "    booster = xgboost.Booster()\n"
        "    booster.load_model(os.path.join(model_dir, 'xgboost-model'))\n"
        "    return booster\n"
        "def output_fn(predictions, accept):\n"
        "    return ''.join(f'{p!r}\\n' for p in predictions.tolist()), 'text/csv'\n"
    )
    session = sdk_session()
    model = XGBoostModel(model_data=model_data, role=ROLE, entry_point="serve.py",
                         source_dir=str(source), framework_version="3.0-5", sagemaker_session=session)
    with sdk_serverless(model, unique("sdk-xgb"), memory_mb=1024, serializer=CSVSerializer(),
                        deserializer=CSVDeserializer()) as predictor:
        container = session.sagemaker_client.describe_model(ModelName=model.name)["PrimaryContainer"]
        assert container["Image"] == IMAGE
        assert container["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"].startswith("s3://sagemaker-artifacts/")
        assert container["Environment"]["SAGEMAKER_PROGRAM"] == "serve.py"
        predictions = [float(row[0]) for row in predictor.predict(trained["rows"])]
        assert predictions == pytest.approx(trained["second"], rel=1e-6)
