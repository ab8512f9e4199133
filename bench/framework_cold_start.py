"""Cold starts of framework containers' models: the first (Ray builds the framework's
runtime environment), later ones (the environment is reused), and warm latency.

For each framework the platform serves with its own stack, on an embedded Ray started here:
XGBoost, scikit-learn and PyTorch with a model whose ``model_fn`` fits it at load; Hugging
Face (a text-classification pipeline) and TensorFlow Serving (a SavedModel) with model data
that a Ray task makes in the framework's environment first, so that environment is built by
that task, whose time is printed as the environment build:

* **first cold start**: CreateEndpoint to InService for the first endpoint of the image on
  this node, whose replica waits for the framework's environment to be built (a layered
  environment, in a new directory for each run; with ``--ray-pip``, Ray's own ``pip``
  environment, which copies the platform's virtualenv first; both run pip with
  ``--no-cache-dir``: the figure includes the downloads, except torch's, which pip takes
  from the machine's local wheel folder); for Hugging Face and TensorFlow the
  environment is built by the task that makes the model, and this figure is the rest;
* **later endpoint**: CreateEndpoint to InService of a second endpoint of the same image;
* **cold invocations**: the endpoint scaled to zero, one invocation answered: by a standby
  of the framework's environment that adopts the model, or with ``--environment-standbys 0``
  by a replica Serve starts in that environment;
* **warm**: p50 and p99 of invocations over one keep-alive connection.

Prints the figures; asserts nothing. Usage::

    .venv/bin/python bench/framework_cold_start.py [--runs 3] [--warm 300] [--environment-standbys 1]
        [--frameworks huggingface pytorch sklearn tensorflow xgboost] [--ray-pip]
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import statistics
import tarfile
import tempfile
import time
from pathlib import Path

import boto3
from botocore.config import Config

from serverless_ray import environments
from serverless_ray.cluster_names import NAMESPACE
from serverless_ray.platform import Platform
from serverless_ray.settings import PlatformSettings

from bench_support import percentile

ROWS = b"0.1,0.2,0.3,0.4,0.5\n0.5,0.4,0.3,0.2,0.1\n"
SCRIPT = {"SAGEMAKER_PROGRAM": "inference.py"}
HUGGING_FACE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-inference:" \
               "2.6.0-transformers4.49.0-cpu-py312-ubuntu22.04"
TENSORFLOW = "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-inference:2.19-cpu"


def _in_environment(image: str):
    """A Ray task in the runtime environment that serves ``image``."""
    import ray

    from serverless_ray.frameworks import recognise, requirements

    return ray.remote(num_cpus=0, runtime_env=environments.runtime_env(requirements(recognise(image))))


def _tiny_classifier() -> dict[str, bytes]:
    """A one-layer BERT classifier with random weights and its tokenizer, as save_pretrained writes them."""
    import pathlib

    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    torch.manual_seed(0)
    root = pathlib.Path(tempfile.mkdtemp())
    (root / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "film"]))
    tokenizer = BertTokenizerFast(vocab_file=str(root / "vocab.txt"))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=32, num_labels=2)
    BertForSequenceClassification(config).eval().save_pretrained(root / "model")
    tokenizer.save_pretrained(root / "model")
    return {path.name: path.read_bytes() for path in (root / "model").iterdir()}


def _saved_model() -> dict[str, bytes]:
    """A linear SavedModel (version 1) taking the five columns of ``ROWS``."""
    import pathlib

    import tensorflow as tf

    class Linear(tf.Module):
        def __init__(self):
            super().__init__()
            self.weights = tf.Variable(tf.ones([5, 1]))

        @tf.function(input_signature=[tf.TensorSpec([None, 5], tf.float32, name="x")])
        def serve(self, x):
            return {"y": tf.matmul(x, self.weights)}

    root = pathlib.Path(tempfile.mkdtemp())
    module = Linear()
    tf.saved_model.save(module, str(root / "1"), signatures={"serving_default": module.serve})
    return {str(path.relative_to(root)): path.read_bytes() for path in root.rglob("*") if path.is_file()}


# image, how its model data is made, the model's environment, a request (body, content type).
# XGBoost, PyTorch and scikit-learn models are fitted at load by model_fn: no model needs
# making in the framework's environment beforehand (which would build it before the first endpoint).
FRAMEWORKS = {
    "xgboost": ("683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.0-5", """
import numpy as np, xgboost
def model_fn(model_dir):
    rng = np.random.default_rng(0)
    features = rng.random((200, 5))
    return xgboost.train({"max_depth": 3}, xgboost.DMatrix(features, label=features.sum(axis=1)), 20)
""", SCRIPT, (ROWS, "text/csv")),
    "pytorch": ("763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.3-cpu-py311", """
import torch
def model_fn(model_dir):
    torch.manual_seed(0)
    return torch.jit.script(torch.nn.Linear(5, 1)).eval()
""", SCRIPT, (ROWS, "text/csv")),
    "sklearn": ("683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3", """
import numpy as np
from sklearn.linear_model import Ridge
def model_fn(model_dir):
    rng = np.random.default_rng(0)
    features = rng.random((200, 5))
    return Ridge().fit(features, features.sum(axis=1))
""", SCRIPT, (ROWS, "text/csv")),
    "huggingface": (HUGGING_FACE, _tiny_classifier, {"HF_TASK": "text-classification"},
                    (b"inputs\ngood film\nbad film\n", "text/csv")),
    "tensorflow": (TENSORFLOW, _saved_model, {}, (ROWS, "text/csv")),
}


def _archive(files: dict[str, bytes]) -> Path:
    root = Path(tempfile.mkdtemp())
    archive = root / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, data in files.items():
            path = root / "files" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            tar.add(path, arcname=name)
    return archive


def _create(sm, name: str, image: str, archive: Path, environment: dict[str, str]) -> float:
    started = time.perf_counter()
    sm.create_model(ModelName=name, PrimaryContainer={
        "Image": image, "ModelDataUrl": str(archive), "Environment": environment})
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": name,
        "ServerlessConfig": {"MemorySizeInMB": 1024, "MaxConcurrency": 2}}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    sm.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 0.5, "MaxAttempts": 1200})
    return time.perf_counter() - started


class Endpoint:
    def __init__(self, url: str, name: str, request: tuple[bytes, str]) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.url, self.name, self.request = url, name, request
        self.conn = http.client.HTTPConnection(host, int(port), timeout=300)

    def invoke(self) -> float:
        started = time.perf_counter()
        body, content_type = self.request
        self.conn.request("POST", f"/endpoints/{self.name}/invocations", body, {"Content-Type": content_type})
        response = self.conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {body[:300]!r}")
        return time.perf_counter() - started

    def _metric(self, prefix: str, label: str) -> float:
        import urllib.request

        for line in urllib.request.urlopen(f"{self.url}/metrics").read().decode().splitlines():
            if line.startswith(prefix) and label in line:
                return float(line.rsplit(" ", 1)[1])
        return -1

    def wait_cold(self, standbys: int) -> None:
        """Until no replica holds the model and ``standbys`` are idle (a standby that served
        is replaced by a fresh one once released)."""
        while (self._metric("serverless_ray_replicas{", f'"{self.name}"') != 0
               or self._metric("serverless_ray_standby_replicas{", '"idle"') < standbys):
            time.sleep(0.2)
        time.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="cold invocations after scale to zero")
    parser.add_argument("--warm", type=int, default=300, help="warm invocations")
    parser.add_argument("--frameworks", nargs="+", choices=sorted(FRAMEWORKS), default=sorted(FRAMEWORKS))
    parser.add_argument("--environment-standbys", type=int, default=PlatformSettings().environment_standbys,
                        help="standbys per framework environment (0: cold starts go to Serve)")
    parser.add_argument("--ray-pip", action="store_true",
                        help="Ray's own pip environments instead of layered ones (for comparison)")
    args = parser.parse_args()
    # Every run builds its environments anew, so that the first cold start is a first.
    os.environ[environments.DIRECTORY_VARIABLE] = tempfile.mkdtemp(prefix="bench-environments-")
    if args.ray_pip:
        import ray

        # Ray started here, without the plugin: the platform's replicas get Ray's pip environments.
        ray.init(address="local", num_cpus=4, include_dashboard=False, namespace=NAMESPACE, log_to_driver=False)
    settings = PlatformSettings(port=0, state_dir=Path(tempfile.mkdtemp()), scale_to_zero_after_s=2, num_cpus=4,
                                environment_standbys=args.environment_standbys)
    platform = Platform(settings).start()
    sm = boto3.client("sagemaker", endpoint_url=platform.url, region_name="us-east-1",
                      aws_access_key_id="x", aws_secret_access_key="x", config=Config(retries={"max_attempts": 0}))
    ms = lambda x: f"{x * 1000:.0f} ms"  # noqa: E731
    try:
        for framework in args.frameworks:
            image, model, environment, request = FRAMEWORKS[framework]
            if callable(model):
                started = time.perf_counter()
                import ray

                files = ray.get(_in_environment(image)(model).remote())
                print(f"{framework}: environment build, and the model made in it, {time.perf_counter() - started:.1f} s",
                      flush=True)
            else:
                files = {"code/inference.py": model.encode()}
            archive = _archive(files)
            first = _create(sm, f"{framework}-first", image, archive, environment)
            built = "environment built before" if callable(model) else "environment build"
            print(f"{framework}: first endpoint ({built}) InService after {first:.1f} s", flush=True)
            later = _create(sm, f"{framework}-later", image, archive, environment)
            print(f"{framework}: a later endpoint (environment reused) InService after {later:.1f} s", flush=True)
            endpoint = Endpoint(platform.url, f"{framework}-later", request)
            warm = [endpoint.invoke() for _ in range(args.warm)]
            print(f"{framework}: warm p50 {ms(percentile(warm, .5))}, p99 {ms(percentile(warm, .99))} "
                  f"({args.warm} invocations of 2 CSV rows, one keep-alive connection)", flush=True)
            cold = []
            for _ in range(args.runs):
                endpoint.wait_cold(settings.warm_pool_size + args.environment_standbys)
                cold.append(endpoint.invoke())
            print(f"{framework}: cold invocation after scale to zero ({args.environment_standbys} standbys of its "
                  f"environment): median {ms(statistics.median(cold))} (min {ms(min(cold))}, "
                  f"max {ms(max(cold))}, {args.runs} runs)", flush=True)
            for name in (f"{framework}-first", f"{framework}-later"):
                sm.delete_endpoint(EndpointName=name)
    finally:
        platform.stop()
        shutil.rmtree(os.environ[environments.DIRECTORY_VARIABLE], ignore_errors=True)


if __name__ == "__main__":
    main()
