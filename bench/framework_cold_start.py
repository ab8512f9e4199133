"""Cold starts of framework containers' models: the first (Ray builds the framework's
runtime environment), later ones (the environment is reused), and warm latency.

For each framework the platform serves with its own stack (XGBoost, scikit-learn, PyTorch), on
an embedded Ray started here, with a model whose ``model_fn`` fits it at load:

* **first cold start**: CreateEndpoint to InService for the first endpoint of the image on
  this node, whose replica waits for Ray to build the framework's environment (pip's own
  download cache, if warm, still serves the wheels: the figure is the install, not the
  download, on a machine that fetched them before);
* **later endpoint**: CreateEndpoint to InService of a second endpoint of the same image;
* **cold invocations**: the endpoint scaled to zero, one invocation answered: by a standby
  of the framework's environment that adopts the model, or with ``--environment-standbys 0``
  by a replica Serve starts in that environment;
* **warm**: p50 and p99 of invocations over one keep-alive connection.

Prints the figures; asserts nothing. Usage::

    .venv/bin/python bench/framework_cold_start.py [--runs 3] [--warm 300] [--environment-standbys 1]
        [--frameworks pytorch sklearn xgboost]
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import tarfile
import tempfile
import time
from pathlib import Path

import boto3
from botocore.config import Config

from serverless_ray.platform import Platform
from serverless_ray.settings import PlatformSettings

from bench_support import percentile

ROWS = b"0.1,0.2,0.3,0.4,0.5\n0.5,0.4,0.3,0.2,0.1\n"

# Models whose model_fn fits them at load: no model needs making in the framework's
# environment beforehand (which would build that environment before the first endpoint).
FRAMEWORKS = {
    "xgboost": ("683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.0-5", """
import numpy as np, xgboost
def model_fn(model_dir):
    rng = np.random.default_rng(0)
    features = rng.random((200, 5))
    return xgboost.train({"max_depth": 3}, xgboost.DMatrix(features, label=features.sum(axis=1)), 20)
"""),
    "pytorch": ("763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.3-cpu-py311", """
import torch
def model_fn(model_dir):
    torch.manual_seed(0)
    return torch.jit.script(torch.nn.Linear(5, 1)).eval()
"""),
    "sklearn": ("683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3", """
import numpy as np
from sklearn.linear_model import Ridge
def model_fn(model_dir):
    rng = np.random.default_rng(0)
    features = rng.random((200, 5))
    return Ridge().fit(features, features.sum(axis=1))
"""),
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


def _create(sm, name: str, image: str, archive: Path) -> float:
    started = time.perf_counter()
    sm.create_model(ModelName=name, PrimaryContainer={
        "Image": image, "ModelDataUrl": str(archive), "Environment": {"SAGEMAKER_PROGRAM": "inference.py"}})
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": name,
        "ServerlessConfig": {"MemorySizeInMB": 1024, "MaxConcurrency": 2}}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    sm.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 0.5, "MaxAttempts": 1200})
    return time.perf_counter() - started


class Endpoint:
    def __init__(self, url: str, name: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.url, self.name = url, name
        self.conn = http.client.HTTPConnection(host, int(port), timeout=300)

    def invoke(self) -> float:
        started = time.perf_counter()
        self.conn.request("POST", f"/endpoints/{self.name}/invocations", ROWS, {"Content-Type": "text/csv"})
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
    args = parser.parse_args()
    settings = PlatformSettings(port=0, state_dir=Path(tempfile.mkdtemp()), scale_to_zero_after_s=2, num_cpus=4,
                                environment_standbys=args.environment_standbys)
    platform = Platform(settings).start()
    sm = boto3.client("sagemaker", endpoint_url=platform.url, region_name="us-east-1",
                      aws_access_key_id="x", aws_secret_access_key="x", config=Config(retries={"max_attempts": 0}))
    ms = lambda x: f"{x * 1000:.0f} ms"  # noqa: E731
    try:
        for framework in args.frameworks:
            image, script = FRAMEWORKS[framework]
            archive = _archive({"code/inference.py": script.encode()})
            first = _create(sm, f"{framework}-first", image, archive)
            print(f"{framework}: first endpoint (environment build) InService after {first:.1f} s", flush=True)
            later = _create(sm, f"{framework}-later", image, archive)
            print(f"{framework}: a later endpoint (environment reused) InService after {later:.1f} s", flush=True)
            endpoint = Endpoint(platform.url, f"{framework}-later")
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


if __name__ == "__main__":
    main()
