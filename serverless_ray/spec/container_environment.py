"""The SageMaker Python SDK's conventions for a model container's ``Environment``.

The SDK tells a framework container where the inference code is with two variables:
``SAGEMAKER_PROGRAM`` (the script) and ``SAGEMAKER_SUBMIT_DIRECTORY`` (where it lies).
The latter is either a path inside the container's model directory (``/opt/ml/model/code``,
when the SDK repacked the code into the model data) or the URL of a ``sourcedir.tar.gz``
the SDK uploaded apart from the model data (``s3://``, or ``file://`` in local mode).
It also sets the model server's ``SAGEMAKER_CONTAINER_LOG_LEVEL`` (the level of the
container's Python logging), ``SAGEMAKER_MODEL_SERVER_TIMEOUT`` (seconds per invocation)
and ``SAGEMAKER_MODEL_SERVER_WORKERS``; :func:`check_conventions` refuses values a
container could not use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import urlsplit

PROGRAM = "SAGEMAKER_PROGRAM"
SUBMIT_DIRECTORY = "SAGEMAKER_SUBMIT_DIRECTORY"
#: The Hugging Face container's pipeline task, and the model it loads instead of the model
#: data (a Hub model id there; here only a local directory).
HF_TASK = "HF_TASK"
HF_MODEL_ID = "HF_MODEL_ID"
#: Where a SageMaker container finds the unpacked model data.
CONTAINER_MODEL_DIR = PurePosixPath("/opt/ml/model")
# Where code shipped apart can be fetched from: as model data is ("" is a plain path).
_SOURCE_SCHEMES = frozenset({"s3", "https", "http", "file", ""})


@dataclass(frozen=True)
class CodeLocation:
    """Where a model's inference code is: ``in_model_data`` (a directory relative to the
    model data's root, ``code`` by default) or ``source`` (the URL of code shipped apart)."""

    in_model_data: PurePosixPath | None = PurePosixPath("code")
    source: str | None = None


def code_location(environment: Mapping[str, str]) -> CodeLocation:
    """Where ``SAGEMAKER_SUBMIT_DIRECTORY`` puts the code (``code/`` of the model data when
    unset). A path under ``/opt/ml/model`` that would leave the model data is refused."""
    value = (environment.get(SUBMIT_DIRECTORY) or "").strip()
    if not value:
        return CodeLocation()
    path = PurePosixPath(value)
    if path == CONTAINER_MODEL_DIR or path.is_relative_to(CONTAINER_MODEL_DIR):
        inside = path.relative_to(CONTAINER_MODEL_DIR)
        if ".." in inside.parts:
            raise ValueError(f"Environment.{SUBMIT_DIRECTORY} '{value}' leaves the model directory {CONTAINER_MODEL_DIR}")
        return CodeLocation(in_model_data=inside)
    scheme = urlsplit(value).scheme.lower()
    if scheme not in _SOURCE_SCHEMES:
        raise ValueError(
            f"Environment.{SUBMIT_DIRECTORY} '{value}' is neither under {CONTAINER_MODEL_DIR} nor a sourcedir.tar.gz at "
            "s3://, https://, file:// or an absolute path"
        )
    if scheme == "" and not path.is_absolute():
        raise ValueError(f"Environment.{SUBMIT_DIRECTORY} '{value}' is a relative path; give an absolute path or a file:// URL")
    return CodeLocation(in_model_data=None, source=value)


# The model server's settings that the SageMaker containers read from the environment.
CONTAINER_LOG_LEVEL = "SAGEMAKER_CONTAINER_LOG_LEVEL"
MODEL_SERVER_TIMEOUT = "SAGEMAKER_MODEL_SERVER_TIMEOUT"
MODEL_SERVER_WORKERS = "SAGEMAKER_MODEL_SERVER_WORKERS"
_LEVELS = {"CRITICAL": 50, "FATAL": 50, "ERROR": 40, "WARNING": 30, "WARN": 30, "INFO": 20, "DEBUG": 10, "NOTSET": 0}


def container_log_level(environment: Mapping[str, str]) -> int | None:
    """``SAGEMAKER_CONTAINER_LOG_LEVEL`` as a :mod:`logging` level (the SDK sets ``20``,
    INFO); ``None`` when unset."""
    value = (environment.get(CONTAINER_LOG_LEVEL) or "").strip()
    if not value:
        return None
    if value.isdigit() and int(value) <= 50:
        return int(value)
    if value.upper() in _LEVELS:
        return _LEVELS[value.upper()]
    raise ValueError(f"Environment.{CONTAINER_LOG_LEVEL} '{value}' is not a logging level: give a number from 0 to 50 "
                     "(10 DEBUG, 20 INFO, 30 WARNING, 40 ERROR, 50 CRITICAL) or one of those names")


def model_server_timeout_s(environment: Mapping[str, str]) -> int | None:
    """``SAGEMAKER_MODEL_SERVER_TIMEOUT``: the seconds one invocation may take in the model
    server; ``None`` when unset."""
    return _positive(environment, MODEL_SERVER_TIMEOUT, "seconds")


def model_server_workers(environment: Mapping[str, str]) -> int | None:
    """``SAGEMAKER_MODEL_SERVER_WORKERS``: the model server's worker processes; ``None``
    when unset. A serverless replica runs one, whatever is asked (as on SageMaker)."""
    return _positive(environment, MODEL_SERVER_WORKERS, "workers")


def check_conventions(environment: Mapping[str, str]) -> None:
    """A ``ValueError`` naming the variable and what is allowed for any convention variable
    of ``environment`` that the container could not use."""
    code_location(environment)
    container_log_level(environment)
    model_server_timeout_s(environment)
    model_server_workers(environment)


def _positive(environment: Mapping[str, str], name: str, unit: str) -> int | None:
    value = (environment.get(name) or "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"Environment.{name} '{value}' is not a whole number of {unit} of at least 1")
    return int(value)
