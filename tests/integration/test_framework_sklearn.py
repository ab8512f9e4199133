"""A scikit-learn model deploys through the SageMaker Python SDK's ``SKLearnModel`` with the
scikit-learn container's image: scikit-learn comes from the package registries into a
runtime environment of its own, and the script gets the container's default hooks."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import ray
from sagemaker import image_uris
from support import ROLE, in_s3, model_archive, sdk_serverless, sdk_session, unique

from serverless_ray import environments
from serverless_ray.frameworks import recognise, requirements

VERSION = "1.4-2"
IMAGE = image_uris.retrieve("sklearn", "us-east-1", VERSION)


@ray.remote(num_cpus=0, runtime_env=environments.runtime_env(requirements(recognise(IMAGE))))
def _fit() -> dict:
    """A regression fitted on random data in the environment the endpoint runs in, and its
    predictions on float32 rows (the container decodes CSV and JSON as float32)."""
    import joblib
    import sklearn
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(3)
    features = rng.random((100, 4))
    model = Ridge(alpha=0.1).fit(features, features @ np.array([1.0, -2.0, 3.0, 0.5]))
    saved = io.BytesIO()
    joblib.dump(model, saved)
    rows = rng.random((3, 4)).astype(np.float32)
    return {"model": saved.getvalue(), "rows": rows.tolist(), "predictions": model.predict(rows).tolist(),
            "version": sklearn.__version__}


def test_sklearn_model_deploys_serverless_and_predicts(sdk_environment, tmp_path, runtime, ray_cluster):
    from sagemaker.sklearn import SKLearnModel

    fitted = ray.get(_fit.remote(), timeout=240)
    assert fitted["version"] == "1.4.2"
    archive = model_archive(tmp_path, {"model.joblib": fitted["model"]})
    model_data = in_s3(archive, "s3://sklearn-output/job/model.tar.gz")
    source = tmp_path / "source"
    source.mkdir()
    # The container has no default model_fn: the script loads the model, and nothing else.
    (source / "serve.py").write_text(
        "import os, joblib\n"
        "def model_fn(model_dir):\n"
        "    return joblib.load(os.path.join(model_dir, 'model.joblib'))\n"
    )
    session = sdk_session()
    model = SKLearnModel(model_data=model_data, role=ROLE, entry_point="serve.py",
                         source_dir=str(source), framework_version=VERSION, sagemaker_session=session)
    name = unique("sdk-sklearn")
    with sdk_serverless(model, name, memory_mb=1024) as predictor:
        described = session.sagemaker_client.describe_model(ModelName=model.name)["PrimaryContainer"]
        assert described["Image"] == IMAGE
        # SKLearnPredictor's own formats: NPY both ways
        predicted = predictor.predict(np.array(fitted["rows"], dtype=np.float32))
        assert predicted.tolist() == pytest.approx(fitted["predictions"], rel=1e-5)
        # CSV in, JSON out (the container's default Accept), through boto3
        csv = "".join(",".join(repr(v) for v in row) + "\n" for row in fitted["rows"]).encode()
        reply = runtime.invoke_endpoint(EndpointName=name, Body=csv, ContentType="text/csv")
        assert reply["ContentType"] == "application/json"
        assert json.loads(reply["Body"].read()) == pytest.approx(fitted["predictions"], rel=1e-5)
