"""The SageMaker Python SDK's conventions for a model container's ``Environment``.

The SDK tells a framework container where the inference code is with two variables:
``SAGEMAKER_PROGRAM`` (the script) and ``SAGEMAKER_SUBMIT_DIRECTORY`` (where it lies).
The latter is either a path inside the container's model directory (``/opt/ml/model/code``,
when the SDK repacked the code into the model data) or the URL of a ``sourcedir.tar.gz``
the SDK uploaded apart from the model data (``s3://``, or ``file://`` in local mode).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import urlsplit

PROGRAM = "SAGEMAKER_PROGRAM"
SUBMIT_DIRECTORY = "SAGEMAKER_SUBMIT_DIRECTORY"
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
