"""code/requirements.txt is installed into the replicas' environment: a layered one, built
over the platform's packages (serverless_ray.environments)."""

from __future__ import annotations

import json
import os
import tarfile
import urllib.request

from conftest import SCALE_TO_ZERO_AFTER_S
from support import metric_value, replica_gauge, wait_for
from wheels import pure_wheel

from serverless_ray import environments


def test_requirements_are_installed_for_the_model(tmp_path, platform, runtime, deployer):
    wheel = pure_wheel(tmp_path, "tinydep", "1.0", "ANSWER = 42\n")
    code = tmp_path / "model" / "code"
    code.mkdir(parents=True)
    (code / "requirements.txt").write_text(f"{wheel}\n")
    (code / "inference.py").write_text(
        "import json, sys, tinydep\n"
        "def model_fn(model_dir):\n    return tinydep.ANSWER\n"
        "def transform_fn(model, body, content_type, accept):\n"
        "    return json.dumps({'answer': model, 'prefix': sys.prefix}), 'application/json'\n"
    )
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(code, arcname="code")
    name = deployer.serverless(str(archive))
    reply = runtime.invoke_endpoint(EndpointName=name, ContentType="application/json", Body=b"{}")
    answer = json.loads(reply["Body"].read())
    assert answer["answer"] == 42
    # The replica's interpreter is the layered environment's, not a copy of the platform's.
    layered = os.environ[environments.DIRECTORY_VARIABLE]
    assert os.path.commonpath([answer["prefix"], layered]) == layered

    # Cold again: a standby lacks the endpoint's environment, so Serve starts a replica.
    wait_for(lambda: replica_gauge(platform.url, name) == 0, timeout_s=SCALE_TO_ZERO_AFTER_S + 20,
             what="scale to zero")
    reply = runtime.invoke_endpoint(EndpointName=name, ContentType="application/json", Body=b"{}")
    assert json.loads(reply["Body"].read()) == answer
    metrics = urllib.request.urlopen(f"{platform.url}/metrics", timeout=10).read().decode()
    labels = dict(endpoint_name=name, variant_name="AllTraffic")
    assert metric_value(metrics, "serverless_ray_standby_invocations_total", **labels) == 0  # counted from 0
    assert metric_value(metrics, "serverless_ray_model_setup_time_microseconds_count", **labels) == 1
