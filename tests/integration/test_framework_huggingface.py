"""A Hugging Face model deploys through the SageMaker Python SDK's ``HuggingFaceModel`` with
the Hugging Face inference container's image and ``HF_TASK``: the pipeline is loaded from
the model data, and answers the toolkit's request shapes. ``transformers`` and PyTorch come
from the package registries into a runtime environment of their own."""

from __future__ import annotations

import json

import pytest
import ray
from sagemaker import image_uris
from support import ROLE, in_s3, model_archive, sdk_serverless, sdk_session, unique

from serverless_ray import environments
from serverless_ray.frameworks import recognise, requirements

TRANSFORMERS, PYTORCH = "4.49.0", "2.6.0"
IMAGE = image_uris.retrieve("huggingface", "us-east-1", version=TRANSFORMERS, base_framework_version=f"pytorch{PYTORCH}",
                            image_scope="inference", instance_type="ml.m5.xlarge")
TEXTS = ["a fine film", "a dull plot", "fine acting and a dull film"]


@ray.remote(num_cpus=0, runtime_env=environments.runtime_env(requirements(recognise(IMAGE))))
def _tiny_classifier() -> dict:
    """A randomly initialised one-layer BERT classifier and its tokenizer, saved as
    ``save_pretrained`` saves them, and the pipeline's answers on ``TEXTS``: in the
    environment the endpoint runs in."""
    import pathlib
    import tempfile

    import torch
    import transformers
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast, pipeline

    torch.manual_seed(11)
    words = sorted({word for text in TEXTS for word in text.split()})
    with tempfile.TemporaryDirectory() as scratch:
        directory = pathlib.Path(scratch)
        vocabulary = directory / "vocab.txt"
        vocabulary.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
        tokenizer = BertTokenizerFast(vocab_file=str(vocabulary))
        vocabulary.unlink()
        config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=16, num_hidden_layers=1,
                            num_attention_heads=2, intermediate_size=32, max_position_embeddings=32, num_labels=2)
        BertForSequenceClassification(config).eval().save_pretrained(directory / "model")
        tokenizer.save_pretrained(directory / "model")
        classify = pipeline("text-classification", model=str(directory / "model"), device=-1)
        files = {path.name: path.read_bytes() for path in (directory / "model").iterdir()}
        return {"files": files, "answers": classify(TEXTS), "version": transformers.__version__}


def _same(answers: list[dict], expected: list[dict]) -> bool:
    return [a["label"] for a in answers] == [e["label"] for e in expected] and [a["score"] for a in answers] == (
        pytest.approx([e["score"] for e in expected], rel=1e-4))


def test_hugging_face_model_deploys_serverless_and_predicts(sdk_environment, tmp_path, runtime, deployer,
                                                           ray_cluster):
    from sagemaker.huggingface import HuggingFaceModel

    made = ray.get(_tiny_classifier.remote(), timeout=300)
    assert made["version"] == TRANSFORMERS
    model_data = in_s3(model_archive(tmp_path / "sdk", made["files"]), "s3://hf-models/tiny/model.tar.gz")
    session = sdk_session()
    model = HuggingFaceModel(model_data=model_data, role=ROLE,
                             env={"HF_TASK": "text-classification"}, transformers_version=TRANSFORMERS,
                             pytorch_version=PYTORCH, py_version="py312", sagemaker_session=session)
    name = unique("sdk-hf")
    with sdk_serverless(model, name) as predictor:
        assert session.sagemaker_client.describe_model(ModelName=model.name)["PrimaryContainer"]["Image"] == IMAGE
        # HuggingFacePredictor's own formats: JSON both ways, the toolkit's request shape
        assert _same(predictor.predict({"inputs": TEXTS}), made["answers"])
        # CSV with an "inputs" header in, CSV out, through boto3
        reply = runtime.invoke_endpoint(EndpointName=name, Body="inputs\n" + "\n".join(TEXTS) + "\n",
                                        ContentType="text/csv", Accept="text/csv")
        assert reply["ContentType"] == "text/csv"
        lines = reply["Body"].read().decode().splitlines()
        assert lines[0] == "label,score"
        assert _same([{"label": label, "score": float(score)} for label, score in
                      (line.split(",") for line in lines[1:])], made["answers"])
        # parameters go to the pipeline: every label's score
        reply = runtime.invoke_endpoint(EndpointName=name, ContentType="application/json",
                                        Body=json.dumps({"inputs": TEXTS[0], "parameters": {"top_k": None}}))
        assert sorted(answer["label"] for answer in json.loads(reply["Body"].read())) == ["LABEL_0", "LABEL_1"]

    # Without HF_TASK the task comes from config.json's architecture; code/inference.py
    # overrides the hooks it defines and keeps the toolkit's others.
    override = "import json\ndef output_fn(prediction, accept):\n    return json.dumps([p['label'] for p in prediction])\n"
    archive = model_archive(tmp_path / "override", {**made["files"], "code/inference.py": override})
    endpoint = deployer.endpoint(deployer.config(deployer.model(str(archive), image=IMAGE)))
    reply = runtime.invoke_endpoint(EndpointName=endpoint, Body=json.dumps({"inputs": TEXTS}),
                                    ContentType="application/json")
    assert json.loads(reply["Body"].read()) == [answer["label"] for answer in made["answers"]]
