"""The SageMaker Python SDK's container conventions, checked at CreateModel: where a model's
inference code is (SAGEMAKER_SUBMIT_DIRECTORY), and the model server's log level, timeout
and workers."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from serverless_ray.errors import ValidationException
from serverless_ray.spec import CreateModelInput, parse
from serverless_ray.spec.container_environment import (
    CodeLocation,
    code_location,
    container_log_level,
    model_server_timeout_s,
    model_server_workers,
)


@pytest.mark.parametrize("environment, location", [
    ({}, CodeLocation(PurePosixPath("code"))),
    ({"SAGEMAKER_SUBMIT_DIRECTORY": ""}, CodeLocation(PurePosixPath("code"))),
    # the SDK repacked the code into the model data
    ({"SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}, CodeLocation(PurePosixPath("code"))),
    ({"SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model"}, CodeLocation(PurePosixPath("."))),
    ({"SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/src/serve"}, CodeLocation(PurePosixPath("src/serve"))),
    # the SDK uploaded a sourcedir.tar.gz apart (or, in local mode, names a directory)
    ({"SAGEMAKER_SUBMIT_DIRECTORY": "s3://b/p/sourcedir.tar.gz"}, CodeLocation(None, "s3://b/p/sourcedir.tar.gz")),
    ({"SAGEMAKER_SUBMIT_DIRECTORY": "file:///srv/code"}, CodeLocation(None, "file:///srv/code")),
    ({"SAGEMAKER_SUBMIT_DIRECTORY": "/srv/code.tar.gz"}, CodeLocation(None, "/srv/code.tar.gz")),
])
def test_the_code_is_where_the_sdk_put_it(environment, location):
    assert code_location(environment) == location


def _create(environment: dict) -> CreateModelInput:
    return parse(CreateModelInput, {"ModelName": "m", "PrimaryContainer": {
        "Image": "i", "ModelDataUrl": "s3://b/model.tar.gz", "Environment": environment}})


@pytest.mark.parametrize("value, says", [
    ("/opt/ml/model/../../etc", "leaves the model directory /opt/ml/model"),
    ("ftp://host/sourcedir.tar.gz", "s3://, https://, file:// or an absolute path"),
    ("src/code", "is a relative path"),
])
def test_create_model_refuses_code_it_could_not_fetch(value, says):
    with pytest.raises(ValidationException) as refused:
        _create({"SAGEMAKER_SUBMIT_DIRECTORY": value})
    assert f"Environment.SAGEMAKER_SUBMIT_DIRECTORY '{value}'" in str(refused.value)
    assert says in str(refused.value)
    assert _create({"SAGEMAKER_SUBMIT_DIRECTORY": "s3://b/sourcedir.tar.gz"}).PrimaryContainer is not None


def test_the_model_servers_settings_are_read_as_the_containers_read_them():
    assert container_log_level({}) is None and container_log_level({"SAGEMAKER_CONTAINER_LOG_LEVEL": "20"}) == 20
    assert container_log_level({"SAGEMAKER_CONTAINER_LOG_LEVEL": "warning"}) == 30
    assert model_server_timeout_s({"SAGEMAKER_MODEL_SERVER_TIMEOUT": "3600"}) == 3600
    assert model_server_timeout_s({}) is None and model_server_workers({"SAGEMAKER_MODEL_SERVER_WORKERS": "2"}) == 2


@pytest.mark.parametrize("name, value, says", [
    ("SAGEMAKER_CONTAINER_LOG_LEVEL", "loud", "is not a logging level: give a number from 0 to 50 (10 DEBUG"),
    ("SAGEMAKER_CONTAINER_LOG_LEVEL", "99", "is not a logging level"),
    ("SAGEMAKER_MODEL_SERVER_TIMEOUT", "0", "is not a whole number of seconds of at least 1"),
    ("SAGEMAKER_MODEL_SERVER_TIMEOUT", "1.5", "is not a whole number of seconds"),
    ("SAGEMAKER_MODEL_SERVER_WORKERS", "many", "is not a whole number of workers of at least 1"),
])
def test_create_model_refuses_model_server_settings_no_container_could_use(name, value, says):
    with pytest.raises(ValidationException) as refused:
        _create({name: value})
    assert f"Environment.{name} '{value}' {says}" in str(refused.value)
