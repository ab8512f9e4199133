"""Integration fixtures: one real Ray cluster and one platform for the whole session.

The cluster is a head node of ``ray.cluster_utils.Cluster``, so that multi-node tests
can add worker nodes on this host (and remove them when done). The platform runs
exactly as `serverless-ray up` runs it (controller and gateway actors, real Serve
deployments) and is driven over HTTP on 127.0.0.1 by real boto3 clients.
"""

from __future__ import annotations

import os
import subprocess
import tarfile
import tempfile
from pathlib import Path

import boto3
import pytest
import ray
from botocore.config import Config

from serverless_ray import environments
from serverless_ray.cluster_names import NAMESPACE
from serverless_ray.platform import Platform
from serverless_ray.settings import PlatformSettings
from support import Deployer, start_ray_node

MODELS = Path(__file__).parent / "models"
EXAMPLE_MODEL = Path(__file__).parents[2] / "deployments" / "example" / "model"
SCALE_TO_ZERO_AFTER_S = 3.0
# Small limits for the whole session, so that the limit tests need no platform of their
# own (every other test model is far below them).
EPHEMERAL_STORAGE_MB = 32
MAX_MODEL_SIZE_MB = 16
ARTIFACT_CACHE_MB = 12

# As `serverless-ray up` does for its embedded cluster. Here, before the test modules are
# imported: their framework tasks read it when they are declared.
environments.register()


def make_tarball(source: Path, dest: Path) -> Path:
    """model.tar.gz with the directory's contents at the archive root, as SageMaker expects."""
    with tarfile.open(dest, "w:gz") as tar:
        for item in sorted(source.iterdir()):
            tar.add(item, arcname=item.name)
    return dest


@pytest.fixture(scope="session")
def s3_server():
    """A local S3 (moto's server) so that s3:// model data is fetched for real."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def ray_cluster(s3_server, tmp_path_factory):
    # Replicas and the controller inherit this environment from the embedded cluster.
    os.environ.update({
        "AWS_ENDPOINT_URL_S3": s3_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "SERVERLESS_RAY_CACHE": str(tmp_path_factory.mktemp("artifact-cache")),
        "SERVERLESS_RAY_REPLICAS": str(tmp_path_factory.mktemp("replicas")),
    })
    # Cluster records its address in <temp dir>/ray/ray_current_cluster, where any
    # `ray.init()` on this host would find and join it (and, once it is gone, hang on it):
    # a private temp directory keeps other Ray users on the machine out of this cluster.
    ray_tmp = tempfile.mkdtemp(prefix="sr-ray-")
    os.environ["RAY_TMPDIR"] = ray_tmp
    # The framework environments go with the cluster's temp directory.
    os.environ[environments.DIRECTORY_VARIABLE] = os.path.join(ray_tmp, "environments")
    from ray.cluster_utils import Cluster

    cluster = start_ray_node(lambda: Cluster(initialize_head=True, head_node_args={
        "num_cpus": 8, "node_ip_address": "127.0.0.1", "include_dashboard": False,
    }))
    ray.init(address=cluster.address, namespace=NAMESPACE, log_to_driver=False)
    yield cluster
    from ray import serve

    serve.shutdown()
    ray.shutdown()
    cluster.shutdown()
    _remove_in_background(ray_tmp)
    # Replicas killed with the cluster left their scratch mounts and cgroups behind.
    from serverless_ray.isolation import reaper
    from support import wait_for

    replicas = Path(os.environ["SERVERLESS_RAY_REPLICAS"])
    _end_leftover_replicas(replicas)
    wait_for(lambda: reaper.sweep(replicas) >= 0 and not list(replicas.glob("*/*/scratch")), timeout_s=30,
             interval_s=0.5, what="the replicas' scratch disks to be removed")


def _remove_in_background(directory: str) -> None:
    """Remove the stopped cluster's temp directory without waiting for it: it holds the
    virtualenvs Ray built for the framework tests' runtime environments, GBs in tens of
    thousands of files, which take longer to delete than the rest of the session's teardown.
    The ``rm`` ends by itself once they are gone."""
    subprocess.Popen(["rm", "-rf", "--", directory], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, start_new_session=True)


def _end_leftover_replicas(replicas: Path) -> None:
    """Replica processes of the stopped cluster that have not noticed yet (a worker busy in
    a framework's import, say): this session started them, so it ends them, by pid."""
    import signal

    from serverless_ray.isolation import records

    for scope in (entry.name for entry in replicas.iterdir() if entry.is_dir()):
        for home in records.homes(replicas, scope):
            record = records.read_record(home)
            if record is not None and records.is_alive(record):
                try:
                    os.kill(record.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


class PlatformUnderTest:
    """The session's platform; tests may restart it on the same state directory."""

    def __init__(self, state_dir: Path, cache_dir: Path, replicas_dir: Path) -> None:
        self.settings = PlatformSettings(
            port=0, state_dir=state_dir, artifact_cache_dir=cache_dir, replica_runtime_dir=replicas_dir,
            scale_to_zero_after_s=SCALE_TO_ZERO_AFTER_S, ephemeral_storage_mb=EPHEMERAL_STORAGE_MB,
            max_model_size_mb=MAX_MODEL_SIZE_MB, artifact_cache_mb=ARTIFACT_CACHE_MB,
        )
        self.platform = Platform(self.settings).start()

    @property
    def url(self) -> str:
        return self.platform.url

    def restart(self) -> None:
        self.platform.stop()
        self.platform = Platform(self.settings).start()

    def restart_stopped(self) -> None:
        """Start again after ``self.platform.stop()`` (same state directory)."""
        self.platform = Platform(self.settings).start()

    def stop(self) -> None:
        self.platform.stop()


@pytest.fixture(scope="session")
def platform(ray_cluster, tmp_path_factory):
    under_test = PlatformUnderTest(
        tmp_path_factory.mktemp("state"), Path(os.environ["SERVERLESS_RAY_CACHE"]),
        Path(os.environ["SERVERLESS_RAY_REPLICAS"]),
    )
    yield under_test
    under_test.stop()


def _client(service: str, url: str):
    return boto3.client(
        service, endpoint_url=url, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
        # No retries: tests count throttles and errors exactly as the platform sent them.
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=90),
    )


@pytest.fixture
def sm(platform):
    return _client("sagemaker", platform.url)


@pytest.fixture
def runtime(platform):
    return _client("sagemaker-runtime", platform.url)


@pytest.fixture(scope="session")
def model_urls(tmp_path_factory, s3_server, ray_cluster):
    """ModelDataUrls of the test models, in each form SageMaker users give them."""
    tmp = tmp_path_factory.mktemp("models")
    linear = make_tarball(EXAMPLE_MODEL, tmp / "linear.tar.gz")
    echo = make_tarball(MODELS / "echo", tmp / "echo.tar.gz")
    broken = make_tarball(MODELS / "broken", tmp / "broken.tar.gz")
    chatty = make_tarball(MODELS / "chatty", tmp / "chatty.tar.gz")
    limits = make_tarball(MODELS / "limits", tmp / "limits.tar.gz")
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="models")
    s3.upload_file(str(echo), "models", "echo/model.tar.gz")
    return {
        "linear": f"file://{linear}",
        "echo": str(echo),
        "echo_s3": "s3://models/echo/model.tar.gz",
        "broken": f"file://{broken}",
        "chatty": f"file://{chatty}",
        "limits": str(limits),
    }


@pytest.fixture
def sdk_environment(platform, s3_server, monkeypatch):
    """The SageMaker Python SDK pointed at the platform as any boto3-based tool is: per-service
    endpoint URLs in the environment (the platform for SageMaker and its runtime, the local
    S3 for S3, where the SDK uploads code and repacks models)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", platform.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", platform.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_server)
    # Nothing here should leave the machine: any https request would go to a dead local proxy.
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("SAGEMAKER_SUPPRESS_V2_WARNING", "1")


@pytest.fixture
def deployer(sm):
    d = Deployer(sm)
    yield d
    d.cleanup()
