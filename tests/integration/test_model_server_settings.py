"""The model server's settings that the SageMaker Python SDK puts in a model's environment:
``SAGEMAKER_CONTAINER_LOG_LEVEL`` (what the model's logging keeps) and
``SAGEMAKER_MODEL_SERVER_TIMEOUT`` (how long one invocation may take), acted on;
``SAGEMAKER_MODEL_SERVER_WORKERS`` accepted (a serverless replica runs one worker)."""

from __future__ import annotations

import json
import time

import pytest
from botocore.exceptions import ClientError
from conftest import _client
from support import unique, wait_for

SCRIPT = """
import json, logging, time
log = logging.getLogger("model")

def input_fn(body, content_type):
    return json.loads(body)

def model_fn(model_dir):
    return None

def predict_fn(data, model):
    log.info("info line %s", data["tag"])
    log.warning("warning line %s", data["tag"])
    time.sleep(data.get("sleep", 0))
    return {"ok": True}
"""


def _events(logs, group: str, pattern: str) -> list[dict]:
    try:
        return [e for page in logs.get_paginator("filter_log_events").paginate(
            logGroupName=group, filterPattern=pattern) for e in page["events"]]
    except logs.exceptions.ResourceNotFoundException:  # nothing shipped yet
        return []


def test_log_level_and_timeout_of_the_model_server(platform, runtime, deployer, tmp_path):
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "inference.py").write_text(SCRIPT)
    endpoint = deployer.endpoint(deployer.config(deployer.model(str(tmp_path), environment={
        "SAGEMAKER_CONTAINER_LOG_LEVEL": "30", "SAGEMAKER_MODEL_SERVER_TIMEOUT": "2",
        "SAGEMAKER_MODEL_SERVER_WORKERS": "4"})))
    tag = unique("t")

    def invoke(body: dict):
        reply = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="application/json", Body=json.dumps(body))
        return json.loads(reply["Body"].read())

    assert invoke({"tag": tag}) == {"ok": True}
    logs, group = _client("logs", platform.url), f"/aws/sagemaker/Endpoints/{endpoint}"
    wait_for(lambda: _events(logs, group, f'"warning line {tag}"'), timeout_s=30, what="the warning")
    assert _events(logs, group, f'"info line {tag}"') == []  # below the container's level: dropped

    started = time.monotonic()
    with pytest.raises(ClientError) as timed_out:
        invoke({"tag": tag, "sleep": 20})
    assert time.monotonic() - started < 15  # the model's 2 s, not the platform's 60 s
    error = timed_out.value.response
    assert error["Error"]["Code"] == "ModelError"
    assert "timed out while waiting for a response from container primary after 2 s" in error["Error"]["Message"]
