"""Helpers shared by the integration tests (plain functions, no fixtures)."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import time
import urllib.request
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, TypeVar

AWS = str(Path(sys.executable).parent / "aws")
T = TypeVar("T")


#: The execution role the SageMaker Python SDK is given (recorded, never assumed).
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
#: The SDK's defaults config (what ~/.config/sagemaker/config.yaml holds). It sends
#: telemetry to AWS unless told not to; these tests stay on this machine. The SDK names its
#: default bucket after the account, which it asks STS for at a fixed AWS address
#: (``sts_regional_endpoint``), ignoring endpoint settings; so the bucket is named here
#: (``DefaultS3Bucket``), as anyone without AWS STS does, and no STS call is needed.
SDK_DEFAULTS = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {
    "TelemetryOptOut": True,
    "Session": {"DefaultS3Bucket": "sagemaker-artifacts"},
}}}}


def sdk_session():
    """A SageMaker Python SDK session against the platform (see the ``sdk_environment``
    fixture, which points boto3 there)."""
    import boto3
    import sagemaker

    return sagemaker.Session(boto_session=boto3.Session(region_name="us-east-1"), sagemaker_config=SDK_DEFAULTS)


@contextmanager
def sdk_serverless(model, name: str, *, memory_mb: int = 2048, **deploy: Any) -> Iterator[Any]:
    """``model`` (an SDK ``Model``) deployed as the serverless endpoint ``name``, InService;
    its predictor. The endpoint and the model are deleted on the way out."""
    from sagemaker.serverless import ServerlessInferenceConfig

    session = model.sagemaker_session
    predictor = model.deploy(
        serverless_inference_config=ServerlessInferenceConfig(memory_size_in_mb=memory_mb, max_concurrency=2),
        endpoint_name=name, wait=False, **deploy,
    )
    try:
        # the SDK's own wait polls every 30 s
        assert session.wait_for_endpoint(name, poll=1)["EndpointStatus"] == "InService"
        yield predictor
    finally:
        predictor.delete_endpoint()
        session.sagemaker_client.get_waiter("endpoint_deleted").wait(
            EndpointName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        model.delete_model()


def model_archive(directory: Path, files: Mapping[str, bytes | str]) -> Path:
    """``directory``/model.tar.gz holding ``files`` (name in the archive, folders allowed →
    content) at the archive root, as SageMaker expects. The files are written to
    ``directory``/model first, which must not exist yet."""
    root = directory / "model"
    root.mkdir(parents=True)
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
    archive = directory / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                tar.add(path, arcname=str(path.relative_to(root)))
    return archive


def in_s3(archive: Path, url: str) -> str:
    """``archive`` uploaded to the session's local S3 (see the ``sdk_environment``
    fixture) at ``url``, ``s3://<bucket>/<key>``, the bucket made if need be; ``url``."""
    import boto3

    bucket, _, key = url.removeprefix("s3://").partition("/")
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)  # us-east-1 answers an existing bucket of its owner with success
    s3.upload_file(str(archive), bucket, key)
    return url


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def start_ray_node(start: Callable[[], T], attempts: int = 3) -> T:
    """Start a Ray node with ``start``, again if it does not register in time.

    Ray waits a fixed 30 s for a new raylet to register with the GCS and then raises,
    leaving the processes it started running. On a machine loaded far beyond its cores
    that can happen to a healthy node: end the processes this attempt started (our own
    children, by pid) and try again, so a slow start is not an error for every test.
    """
    import psutil

    me = psutil.Process()
    for attempt in range(1, attempts + 1):
        before = {child.pid for child in me.children(recursive=True)}
        try:
            return start()
        except Exception as error:  # Ray raises a bare Exception for this
            if "timed out during startup" not in str(error) or attempt == attempts:
                raise
            for child in me.children(recursive=True):
                if child.pid not in before:
                    child.kill()
    raise AssertionError("unreachable")


class Deployer:
    """Creates models, configs and endpoints for one test and deletes them afterwards."""

    def __init__(self, sm) -> None:
        self.sm = sm
        self.endpoints: list[str] = []
        self.configs: list[str] = []
        self.models: list[str] = []

    def model(self, url: str, *, name: str | None = None, environment: dict | None = None,
              image: str = "sagemaker-inference:test") -> str:
        name = name or unique("m")
        container = {"Image": image, "ModelDataUrl": url}
        if environment:
            container["Environment"] = environment
        self.sm.create_model(ModelName=name, PrimaryContainer=container)
        self.models.append(name)
        return name

    def config(self, model: str, *, memory: int = 1024, max_concurrency: int = 2,
               provisioned: int | None = None, name: str | None = None) -> str:
        name = name or unique("c")
        serverless = {"MemorySizeInMB": memory, "MaxConcurrency": max_concurrency}
        if provisioned:
            serverless["ProvisionedConcurrency"] = provisioned
        self.sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
            "VariantName": "AllTraffic", "ModelName": model, "InitialVariantWeight": 1,
            "ServerlessConfig": serverless,
        }])
        self.configs.append(name)
        return name

    def endpoint(self, config: str, *, name: str | None = None, wait: bool = True) -> str:
        name = name or unique("ep")
        self.sm.create_endpoint(EndpointName=name, EndpointConfigName=config)
        self.endpoints.append(name)
        if wait:
            wait_in_service(self.sm, name)
        return name

    def serverless(self, url: str, **config_kwargs) -> str:
        """Model + config + endpoint in one go; returns the InService endpoint's name."""
        return self.endpoint(self.config(self.model(url), **config_kwargs))

    def cleanup(self) -> None:
        for name in self.endpoints:
            try:
                self.sm.delete_endpoint(EndpointName=name)
            except self.sm.exceptions.ClientError:
                continue
        for name in self.endpoints:
            try:
                self.sm.get_waiter("endpoint_deleted").wait(
                    EndpointName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
                )
            except Exception:
                pass
        for name in self.configs:
            try:
                self.sm.delete_endpoint_config(EndpointConfigName=name)
            except self.sm.exceptions.ClientError:
                pass
        for name in self.models:
            try:
                self.sm.delete_model(ModelName=name)
            except self.sm.exceptions.ClientError:
                pass


def invoke_outcome(runtime, endpoint: str, body: dict | None = None):
    """Invoke; returns ("ok", body, seconds), (error code, message, seconds), or
    ("connection", error, seconds) when the entry point went away mid-call."""
    import json

    from botocore.exceptions import BotoCoreError, ClientError

    started = time.monotonic()
    try:
        reply = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="application/json",
                                        Body=json.dumps(body or {}))
        return "ok", json.loads(reply["Body"].read()), time.monotonic() - started
    except ClientError as exc:
        return exc.response["Error"]["Code"], exc.response["Error"]["Message"], time.monotonic() - started
    except BotoCoreError as exc:
        return "connection", str(exc), time.monotonic() - started


def wait_in_service(sm, name: str) -> None:
    """boto3's waiter, with the endpoint's FailureReason in the error if it failed."""
    from botocore.exceptions import WaiterError

    try:
        sm.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 180})
    except WaiterError as exc:
        reason = (exc.last_response or {}).get("FailureReason")
        raise WaiterError(name=exc.kwargs.get("name"), reason=f"{exc.kwargs.get('reason')}; FailureReason: {reason}",
                          last_response=exc.last_response) from None


def replica_gauge(platform_url: str, endpoint: str) -> float | None:
    text = urllib.request.urlopen(f"{platform_url}/metrics", timeout=10).read().decode()
    for line in text.splitlines():
        if line.startswith("serverless_ray_replicas{") and f'endpoint_name="{endpoint}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return None


def wait_for(predicate, *, timeout_s: float, interval_s: float = 0.25, what: str = "condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """Most intervals open at one instant (an interval ending as another starts does not overlap)."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals],
                    key=lambda e: (e[0], e[1]))
    open_now = peak = 0
    for _, step in events:
        open_now += step
        peak = max(peak, open_now)
    return peak


def metric_value(text: str, name: str, **labels: str) -> float | None:
    """The value of sample ``name`` with exactly these ``labels`` in Prometheus text."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return None


class Latch:
    """A gate that test models wait at, so that a call stays in flight exactly as long as
    the test needs (instead of sleeping for a guessed time).

    The test model is given ``{"wait_for": latch.path}`` and blocks until the file exists
    (or its own bound passes); ``release()`` creates it. Replicas run on this host, so
    they see the same file system. ``announce`` paths let a model say that it started.
    """

    def __init__(self, directory) -> None:
        from pathlib import Path

        self._dir = Path(directory) / f"latch-{uuid.uuid4().hex[:8]}"
        self._dir.mkdir(parents=True)
        self.path = str(self._dir / f"release-{uuid.uuid4().hex[:8]}")

    def release(self) -> None:
        open(self.path, "w").close()

    def announce_path(self) -> str:
        """A fresh path for a call to write its pid to once it is running in the model."""
        return str(self._dir / f"started-{uuid.uuid4().hex[:8]}")

    def started(self) -> list[int]:
        """Pids written by calls that reached the model so far."""
        pids = []
        for path in sorted(self._dir.glob("started-*")):
            if path.suffix == ".partial":
                continue
            text = path.read_text().strip()
            if text:
                pids.append(int(text))
        return pids

    def body(self, **extra) -> dict:
        """A request body for the echo model that waits at this latch and announces itself."""
        return {"wait_for": self.path, "announce": self.announce_path(), **extra}

    def __enter__(self) -> "Latch":
        return self

    def __exit__(self, *exc) -> None:
        self.release()  # a test that failed half-way must not leave calls hanging


class Background:
    """Calls run in threads whose exceptions are re-raised when the test collects them,
    never swallowed: ``result()`` returns each call's value in submission order."""

    def __init__(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(64)
        self._futures = []

    def submit(self, fn, *args, **kwargs):
        future = self._pool.submit(fn, *args, **kwargs)
        self._futures.append(future)
        return future

    def results(self, timeout_s: float = 120) -> list:
        try:
            return [f.result(timeout=timeout_s) for f in self._futures]
        finally:
            self._pool.shutdown(wait=False)

    def __enter__(self) -> "Background":
        return self

    def __exit__(self, *exc) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def serve_replicas(endpoint: str) -> list[dict]:
    """Replicas Serve holds for ``endpoint``'s applications: state ("RUNNING", ...),
    node id and pid of each, read from Serve's controller (not through the platform)."""
    from ray.serve.context import _get_global_client

    details = _get_global_client().get_serve_details()
    prefix = f"sr-{endpoint.lower()}-g"
    return [
        {"state": str(getattr(replica.get("state"), "value", replica.get("state"))).rsplit(".", 1)[-1],
         "node_id": str(replica.get("node_id")), "pid": replica.get("pid")}
        for name, app in (details.get("applications") or {}).items() if name.startswith(prefix)
        for deployment in (app.get("deployments") or {}).values()
        for replica in deployment.get("replicas") or ()
    ]


class Cli:
    """Runs ``aws`` in a clean environment: test credentials, no user configuration."""

    def __init__(self, tmp_path: Path, platform_url: str, s3_url: str) -> None:
        self.platform_url = platform_url
        self.s3_url = s3_url
        self.env = {
            "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
            "HOME": str(tmp_path),
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(tmp_path / "aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_MAX_ATTEMPTS": "1",
        }

    def run(self, *args: str, url: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [AWS, *args, "--endpoint-url", url or self.platform_url, "--output", "json"],
            env=self.env, capture_output=True, text=True, timeout=60,
        )

    def __call__(self, *args: str, url: str | None = None) -> dict:
        done = self.run(*args, url=url)
        assert done.returncode == 0, f"aws {' '.join(args)} failed: {done.stderr}"
        out = done.stdout.strip()
        return json.loads(out) if out.startswith("{") else {}  # `aws s3` prints progress text

    def fails(self, *args: str) -> str:
        done = self.run(*args)
        assert done.returncode != 0, f"aws {' '.join(args)} succeeded: {done.stdout}"
        return done.stderr
