"""A TensorFlow SavedModel deploys through the SageMaker Python SDK's ``TensorFlowModel`` with
the TensorFlow Serving container's image and answers as TensorFlow Serving's REST API does;
a script's ``input_handler`` and ``output_handler`` wrap it as in the container. TensorFlow
comes from the package registries into a runtime environment of its own."""

from __future__ import annotations

import json

import pytest
import ray
from botocore.exceptions import ClientError
from sagemaker import image_uris
from support import ROLE, in_s3, model_archive, sdk_serverless, sdk_session, unique

from serverless_ray import environments
from serverless_ray.frameworks import recognise, requirements

VERSION = "2.19"
IMAGE = image_uris.retrieve("tensorflow", "us-east-1", VERSION, image_scope="inference", instance_type="ml.m5.large")
ROWS = [[0.5, 1.0, -1.0], [2.0, 0.0, 0.25]]


@ray.remote(num_cpus=0, runtime_env=environments.runtime_env(requirements(recognise(IMAGE))))
def _saved_model() -> dict:
    """A linear model with random weights saved as a SavedModel (version 1) with two
    Predict signatures, a Classify and a Regress one, and their outputs on ``ROWS``: in
    the environment the endpoint runs in."""
    import pathlib
    import tempfile

    import tensorflow as tf

    tf.random.set_seed(7)
    spec = tf.TensorSpec([None, 3], tf.float32, name="x")
    examples = tf.TensorSpec([None], tf.string, name="examples")
    features = {"x": tf.io.FixedLenFeature([3], tf.float32), "shift": tf.io.FixedLenFeature([1], tf.int64)}

    class Linear(tf.Module):
        def __init__(self):
            super().__init__()
            self.weights = tf.Variable(tf.random.normal([3, 2]))
            self.bias = tf.Variable([0.5, -0.5])

        @tf.function(input_signature=[spec])
        def scores(self, x):
            return {"scores": tf.matmul(x, self.weights) + self.bias}

        @tf.function(input_signature=[spec])
        def doubled(self, x):
            return {"scores": 2 * (tf.matmul(x, self.weights) + self.bias), "total": tf.reduce_sum(x, axis=1)}

        # The Classify and Regress APIs' signatures: serialized tf.Example protos in.
        @tf.function(input_signature=[examples])
        def classify(self, serialized):
            parsed = tf.io.parse_example(serialized, features)
            logits = tf.matmul(parsed["x"], self.weights) + self.bias + tf.cast(parsed["shift"], tf.float32)
            labels = tf.tile([[b"low", b"high"]], [tf.shape(logits)[0], 1])
            return {"classes": labels, "scores": tf.nn.softmax(logits)}

        @tf.function(input_signature=[examples])
        def regress(self, serialized):
            parsed = tf.io.parse_example(serialized, features)
            first = (tf.matmul(parsed["x"], self.weights) + self.bias)[:, 0]
            return {"outputs": first + tf.cast(parsed["shift"][:, 0], tf.float32)}

    module = Linear()
    with tempfile.TemporaryDirectory() as scratch:
        directory = pathlib.Path(scratch)
        tf.saved_model.save(module, str(directory / "1"),
                            signatures={"serving_default": module.scores, "doubled": module.doubled,
                                        "classify": module.classify, "regress": module.regress})
        files = {str(path.relative_to(directory)): path.read_bytes() for path in directory.rglob("*") if path.is_file()}
    rows = tf.constant(ROWS)
    doubled = module.doubled(rows)
    # The protos made here with TensorFlow's own API, shift 2 from the context of the requests below.
    protos = [tf.train.Example(features=tf.train.Features(feature={
        "x": tf.train.Feature(float_list=tf.train.FloatList(value=row)),
        "shift": tf.train.Feature(int64_list=tf.train.Int64List(value=[2]))})).SerializeToString() for row in ROWS]
    classified = module.classify(tf.constant(protos))
    return {"files": files, "scores": module.scores(rows)["scores"].numpy().tolist(),
            "doubled": doubled["scores"].numpy().tolist(), "total": doubled["total"].numpy().tolist(),
            "classified": classified["scores"].numpy().tolist(),
            "regressed": module.regress(tf.constant(protos))["outputs"].numpy().tolist(), "version": tf.__version__}


def _close(got, expected) -> bool:
    flat = [v for row in got for v in row]
    return flat == pytest.approx([v for row in expected for v in row], rel=1e-5, abs=1e-6)


def test_tensorflow_model_deploys_serverless_and_predicts(sdk_environment, tmp_path, runtime, deployer, ray_cluster):
    from sagemaker.tensorflow import TensorFlowModel

    made = ray.get(_saved_model.remote(), timeout=400)
    assert made["version"].startswith(VERSION)
    model_data = in_s3(model_archive(tmp_path, made["files"]), "s3://tf-models/linear/model.tar.gz")
    session = sdk_session()
    model = TensorFlowModel(model_data=model_data, role=ROLE, framework_version=VERSION,
                            sagemaker_session=session)
    name = unique("sdk-tf")
    with sdk_serverless(model, name) as predictor:
        assert session.sagemaker_client.describe_model(ModelName=model.name)["PrimaryContainer"]["Image"] == IMAGE
        # TensorFlowPredictor's JSON: the Predict API's row format
        assert _close(predictor.predict({"instances": ROWS})["predictions"], made["scores"])

        def invoke(body, content_type="application/json", **extra):
            reply = runtime.invoke_endpoint(EndpointName=name, Body=body, ContentType=content_type, **extra)
            return reply["ContentType"], json.loads(reply["Body"].read())

        # CSV rows are instances, as the container's proxy makes them
        kind, answer = invoke("".join(",".join(map(str, row)) + "\n" for row in ROWS), "text/csv")
        assert kind == "application/json" and _close(answer["predictions"], made["scores"])
        # another signature, with two outputs: one object per instance
        _, answer = invoke(json.dumps({"signature_name": "doubled", "instances": ROWS}))
        assert _close([p["scores"] for p in answer["predictions"]], made["doubled"])
        assert [p["total"] for p in answer["predictions"]] == pytest.approx(made["total"], rel=1e-6)
        # columnar format, and the version the custom attributes name
        _, answer = invoke(json.dumps({"inputs": {"x": ROWS}}), CustomAttributes="tfs-model-version=1")
        assert _close(answer["outputs"], made["scores"])
        # what TensorFlow Serving refuses comes back as the model's 400
        with pytest.raises(ClientError) as refused:
            invoke(json.dumps({"signature_name": "missing", "instances": ROWS}))
        assert refused.value.response["Error"]["Code"] == "ModelError"
        assert refused.value.response["OriginalStatusCode"] == 400
        assert 'Serving signature name: "missing" not found' in refused.value.response["Error"]["Message"]
        # the Classify and Regress APIs: JSON examples, with a context, as tf.Example protos
        request = {"context": {"shift": 2}, "examples": [{"x": row} for row in ROWS]}
        _, answer = invoke(json.dumps({**request, "signature_name": "classify"}), CustomAttributes="tfs-method=classify")
        assert [[label for label, _ in classes] for classes in answer["result"]] == [["low", "high"]] * len(ROWS)
        assert _close([[score for _, score in classes] for classes in answer["result"]], made["classified"])
        _, answer = invoke(json.dumps({**request, "signature_name": "regress"}), CustomAttributes="tfs-method=regress")
        assert answer["result"] == pytest.approx(made["regressed"], rel=1e-5)
        with pytest.raises(ClientError) as refused:  # the Predict API's signature takes no examples
            invoke(json.dumps(request), CustomAttributes="tfs-method=regress")
        assert "needs a signature whose one input is a string tensor" in refused.value.response["Error"]["Message"]

    # code/inference.py's handlers around TensorFlow Serving, through boto3
    handlers = (
        "import json\n"
        "def input_handler(data, context):\n"
        "    rows = [[float(v) for v in line.split()] for line in data.read().decode().splitlines()]\n"
        "    return json.dumps({'instances': rows})\n"
        "def output_handler(response, context):\n"
        "    if response.status_code != 200:\n"
        "        raise ValueError(response.content.decode())\n"
        "    best = [row.index(max(row)) for row in response.json()['predictions']]\n"
        "    return ' '.join(map(str, best)), 'text/plain'\n"
    )
    archive = model_archive(tmp_path / "scripted", {**made["files"], "code/inference.py": handlers})
    endpoint = deployer.endpoint(deployer.config(deployer.model(str(archive), image=IMAGE)))
    reply = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/plain",
                                    Body="\n".join(" ".join(map(str, row)) for row in ROWS))
    assert reply["ContentType"] == "text/plain"
    assert reply["Body"].read().decode() == " ".join(str(row.index(max(row))) for row in made["scores"])
