"""Cold starts of framework containers' models: the first (Ray builds the framework's
runtime environment), later ones (the environment is reused), and warm latency.

For each framework the platform serves with its own stack (XGBoost so far), on an
embedded Ray started here:

* **first cold start**: CreateEndpoint to InService for the first endpoint of the image on
  this node, whose replica waits for Ray to build the framework's environment (pip's own
  download cache, if warm, still serves the wheels: the figure is the install, not the
  download, on a machine that fetched them before);
* **later endpoint**: CreateEndpoint to InService of a second endpoint of the same image;
* **cold invocations**: the endpoint scaled to zero, one invocation answered (Serve starts
  a replica in the environment: standbys run in the platform's environment and do not
  adopt framework models);
* **warm**: p50 and p99 of invocations over one keep-alive connection.

Prints the figures; asserts nothing. Usage::

    .venv/bin/python bench/framework_cold_start.py [--runs 3] [--warm 300]
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
import ray
from botocore.config import Config

from serverless_ray.frameworks import recognise, requirements
from serverless_ray.platform import Platform
from serverless_ray.settings import PlatformSettings

from bench_support import percentile

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.0-5"
ROWS = b"0.1,0.2,0.3,0.4,0.5\n0.5,0.4,0.3,0.2,0.1\n"

# A model whose model_fn trains its booster: the first endpoint needs no booster made in
# the framework's environment beforehand (which would build that environment first).
TRAINING_SCRIPT = """
import numpy as np, xgboost
def model_fn(model_dir):
    rng = np.random.default_rng(0)
    features = rng.random((200, 5))
    return xgboost.train({"max_depth": 3}, xgboost.DMatrix(features, label=features.sum(axis=1)), 20)
"""


@ray.remote(num_cpus=0, runtime_env={"pip": list(requirements(recognise(IMAGE)))})
def _booster() -> bytes:
    import numpy as np
    import xgboost

    rng = np.random.default_rng(1)
    features = rng.random((200, 5))
    return bytes(xgboost.train({"max_depth": 3}, xgboost.DMatrix(features, label=features.sum(axis=1)), 20)
                 .save_raw("ubj"))


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


def _create(sm, name: str, archive: Path, environment: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    sm.create_model(ModelName=name, PrimaryContainer={
        "Image": IMAGE, "ModelDataUrl": str(archive), "Environment": environment or {}})
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

    def replicas(self) -> float:
        import urllib.request

        for line in urllib.request.urlopen(f"{self.url}/metrics").read().decode().splitlines():
            if line.startswith("serverless_ray_replicas{") and f'"{self.name}"' in line:
                return float(line.rsplit(" ", 1)[1])
        return -1

    def wait_cold(self) -> None:
        while self.replicas() != 0:
            time.sleep(0.2)
        time.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="cold invocations after scale to zero")
    parser.add_argument("--warm", type=int, default=300, help="warm invocations")
    args = parser.parse_args()
    settings = PlatformSettings(port=0, state_dir=Path(tempfile.mkdtemp()), scale_to_zero_after_s=2, num_cpus=4)
    platform = Platform(settings).start()
    sm = boto3.client("sagemaker", endpoint_url=platform.url, region_name="us-east-1",
                      aws_access_key_id="x", aws_secret_access_key="x", config=Config(retries={"max_attempts": 0}))
    ms = lambda x: f"{x * 1000:.0f} ms"  # noqa: E731
    try:
        first = _create(sm, "xgb-first", _archive({"code/inference.py": TRAINING_SCRIPT.encode()}),
                        {"SAGEMAKER_PROGRAM": "inference.py"})
        print(f"XGBoost 3.0-5: first endpoint (environment build) InService after {first:.1f} s", flush=True)
        booster = ray.get(_booster.remote())
        later = _create(sm, "xgb-later", _archive({"xgboost-model": booster}))
        print(f"XGBoost 3.0-5: a later endpoint (environment reused) InService after {later:.1f} s", flush=True)
        endpoint = Endpoint(platform.url, "xgb-later")
        warm = [endpoint.invoke() for _ in range(args.warm)]
        print(f"XGBoost 3.0-5: warm p50 {ms(percentile(warm, .5))}, p99 {ms(percentile(warm, .99))} "
              f"({args.warm} invocations of 2 CSV rows, one keep-alive connection)", flush=True)
        cold = []
        for _ in range(args.runs):
            endpoint.wait_cold()
            cold.append(endpoint.invoke())
        print(f"XGBoost 3.0-5: cold invocation after scale to zero: median {ms(statistics.median(cold))} "
              f"(min {ms(min(cold))}, max {ms(max(cold))}, {args.runs} runs)", flush=True)
    finally:
        platform.stop()


if __name__ == "__main__":
    main()
