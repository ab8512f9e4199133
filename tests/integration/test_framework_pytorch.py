"""A TorchScript module deploys through the SageMaker Python SDK's ``PyTorchModel`` with the
PyTorch inference container's image and no inference script, and answers as the PyTorch
inference toolkit does. PyTorch comes from the
package registries' CPU build into a runtime environment of its own."""

from __future__ import annotations

import json

import numpy as np
import pytest
import ray
from sagemaker import image_uris
from support import ROLE, in_s3, model_archive, sdk_serverless, sdk_session, unique

from serverless_ray import environments
from serverless_ray.frameworks import recognise, requirements

IMAGE = image_uris.retrieve("pytorch", "us-east-1", "2.3", image_scope="inference", instance_type="ml.m5.large",
                            py_version="py311")


@ray.remote(num_cpus=0, runtime_env=environments.runtime_env(requirements(recognise(IMAGE))))
def _script_module() -> dict:
    """A small network with random weights, saved with TorchScript, and its outputs on a few
    rows: in the environment the endpoint runs in."""
    import io

    import torch

    torch.manual_seed(5)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2)).eval()
    scripted = torch.jit.script(model)
    saved = io.BytesIO()
    torch.jit.save(scripted, saved)
    rows = torch.rand(3, 4)
    with torch.no_grad():
        outputs = scripted(rows)
    return {"module": saved.getvalue(), "rows": rows.tolist(), "outputs": outputs.tolist(),
            "version": str(torch.__version__)}


def test_a_torchscript_module_needs_no_inference_script(sdk_environment, tmp_path, runtime, ray_cluster):
    from sagemaker.pytorch import PyTorchModel

    made = ray.get(_script_module.remote(), timeout=300)
    assert made["version"].startswith("2.13.0")
    model_data = in_s3(model_archive(tmp_path, {"model.pt": made["module"]}), "s3://torch-models/module/model.tar.gz")
    session = sdk_session()
    # No entry_point: the toolkit's own model_fn loads model.pt.
    model = PyTorchModel(model_data=model_data, role=ROLE, framework_version="2.3",
                         py_version="py311", sagemaker_session=session)
    endpoint = unique("sdk-torch")
    with sdk_serverless(model, endpoint) as predictor:
        assert session.sagemaker_client.describe_model(ModelName=model.name)["PrimaryContainer"]["Image"] == IMAGE
        # PyTorchPredictor's own formats: NPY both ways
        predicted = predictor.predict(np.array(made["rows"], dtype=np.float32))
        assert predicted.ravel().tolist() == pytest.approx(
            [value for row in made["outputs"] for value in row], rel=1e-5, abs=1e-6)

        reply = runtime.invoke_endpoint(EndpointName=endpoint, Body=json.dumps(made["rows"]),
                                        ContentType="application/json")
        assert reply["ContentType"] == "application/json"  # the toolkit's default Accept
        outputs = json.loads(reply["Body"].read())
        assert [value for row in outputs for value in row] == pytest.approx(
            [value for row in made["outputs"] for value in row], rel=1e-5, abs=1e-6)

        csv = "".join(",".join(repr(v) for v in row) + "\n" for row in made["rows"]).encode()
        reply = runtime.invoke_endpoint(EndpointName=endpoint, Body=csv, ContentType="text/csv", Accept="text/csv")
        lines = reply["Body"].read().decode().splitlines()
        assert [[float(v) for v in line.split(",")] for line in lines] == [
            pytest.approx(row, rel=1e-5, abs=1e-6) for row in made["outputs"]]
