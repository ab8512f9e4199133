"""code/requirements.txt is installed into the replicas' environment."""

from __future__ import annotations

import base64
import hashlib
import json
import tarfile
import urllib.request
import zipfile
from pathlib import Path

from conftest import SCALE_TO_ZERO_AFTER_S
from support import metric_value, replica_gauge, wait_for


def _wheel(directory: Path) -> Path:
    """A minimal pure-Python wheel (no build step, no index needed to install it)."""
    path = directory / "tinydep-1.0-py3-none-any.whl"
    files = {
        "tinydep/__init__.py": b"ANSWER = 42\n",
        "tinydep-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: tinydep\nVersion: 1.0\n",
        "tinydep-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    with zipfile.ZipFile(path, "w") as wheel:
        for name, data in files.items():
            wheel.writestr(name, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{name},sha256={digest},{len(data)}")
        record.append("tinydep-1.0.dist-info/RECORD,,")
        wheel.writestr("tinydep-1.0.dist-info/RECORD", "\n".join(record) + "\n")
    return path


def test_requirements_are_installed_for_the_model(tmp_path, platform, runtime, deployer):
    wheel = _wheel(tmp_path)
    code = tmp_path / "model" / "code"
    code.mkdir(parents=True)
    (code / "requirements.txt").write_text(f"{wheel}\n")
    (code / "inference.py").write_text(
        "import json, tinydep\n"
        "def model_fn(model_dir):\n    return tinydep.ANSWER\n"
        "def transform_fn(model, body, content_type, accept):\n"
        "    return json.dumps({'answer': model}), 'application/json'\n"
    )
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(code, arcname="code")
    name = deployer.serverless(str(archive))
    reply = runtime.invoke_endpoint(EndpointName=name, ContentType="application/json", Body=b"{}")
    assert json.loads(reply["Body"].read()) == {"answer": 42}

    # Cold again: a standby lacks the endpoint's environment, so Serve starts a replica.
    wait_for(lambda: replica_gauge(platform.url, name) == 0, timeout_s=SCALE_TO_ZERO_AFTER_S + 20,
             what="scale to zero")
    reply = runtime.invoke_endpoint(EndpointName=name, ContentType="application/json", Body=b"{}")
    assert json.loads(reply["Body"].read()) == {"answer": 42}
    metrics = urllib.request.urlopen(f"{platform.url}/metrics", timeout=10).read().decode()
    labels = dict(endpoint_name=name, variant_name="AllTraffic")
    assert metric_value(metrics, "serverless_ray_standby_invocations_total", **labels) == 0  # counted from 0
    assert metric_value(metrics, "serverless_ray_model_setup_time_microseconds_count", **labels) == 1
