"""The fence around local model data for callers from outside the cluster.

A model is code the platform runs, and a ``file://`` or plain-path ``ModelDataUrl`` makes
a replica read (and run) whatever that path holds on the node. Once callers are
authenticated, such paths are accepted only under the directories the operator listed
(``--model-data-root``). Every ``ModelDataUrl`` anywhere in a request is checked, so
``CreateModel``'s containers and ``CreateModelPackage``'s inference specification alike,
and so is every ``SAGEMAKER_SUBMIT_DIRECTORY`` (inference code shipped apart from the
model data) and every ``HF_MODEL_ID`` that names a local directory (a Hugging Face model
loaded in place of the model data).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any, Iterator, Sequence
from urllib.parse import unquote, urlsplit

from serverless_ray.errors import ValidationException
from serverless_ray.spec.container_environment import CONTAINER_MODEL_DIR, HF_MODEL_ID, SUBMIT_DIRECTORY

MEMBER = "ModelDataUrl"


def model_data_urls(payload: Any) -> Iterator[tuple[str, str]]:
    """Every place model code is read from, at any depth of a request, with the member that
    names it: each ``ModelDataUrl``, and each container ``Environment``'s
    ``SAGEMAKER_SUBMIT_DIRECTORY`` (code the SDK shipped apart from the model data), and
    its ``HF_MODEL_ID`` when that is a local directory rather than a Hub model id."""
    if isinstance(payload, dict):
        for key, value in payload.items():
            if key == MEMBER and isinstance(value, str):
                yield MEMBER, value
            elif key == "Environment" and isinstance(value, dict):
                if isinstance(value.get(SUBMIT_DIRECTORY), str):
                    yield f"Environment.{SUBMIT_DIRECTORY}", value[SUBMIT_DIRECTORY]
                model_id = value.get(HF_MODEL_ID)
                if isinstance(model_id, str) and (model_id.startswith("/") or model_id.lower().startswith("file:")):
                    yield f"Environment.{HF_MODEL_ID}", model_id
            else:
                yield from model_data_urls(value)
    elif isinstance(payload, list):
        for item in payload:
            yield from model_data_urls(item)


def local_path(url: str) -> str | None:
    """The local path a ``file://`` URL or a plain path names (as the replica reads it),
    or None for remote model data (s3://, https://)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "file":
        return unquote(parts.path)
    if scheme == "":
        return url
    return None


class ModelDataFence:
    """Local model data only under ``roots``."""

    def __init__(self, roots: Sequence[Path]) -> None:
        self._roots = tuple(Path(root).expanduser().resolve() for root in roots)

    def check(self, payload: Any) -> None:
        """``ValidationException`` naming the allowed roots for any local ``ModelDataUrl`` outside them."""
        for member, url in model_data_urls(payload):
            path = local_path(url)
            if member != MEMBER and _in_container_model_dir(url):
                continue  # the code inside the model data, fenced as that is
            if path is not None and not self._inside(path):
                raise ValidationException(self._refusal(member, url))

    def _inside(self, path: str) -> bool:
        candidate = Path(path).expanduser()
        if not candidate.is_absolute():
            return False  # relative to which process's directory? Refuse.
        # resolve() follows symbolic links: a link inside a root to elsewhere is outside.
        resolved = candidate.resolve()
        return any(resolved == root or resolved.is_relative_to(root) for root in self._roots)

    def _refusal(self, member: str, url: str) -> str:
        if not self._roots:
            return (f"{member} '{url}' is a local path; this platform reads local model data only under "
                    "directories given with --model-data-root, and none is configured. Use s3:// or https:// "
                    "model data, or start the platform with --model-data-root DIR.")
        roots = ", ".join(str(root) for root in self._roots)
        return (f"{member} '{url}' is outside the allowed model data roots ({roots}); local model data "
                "(file:// or a path) must be an absolute path under one of them.")


def _in_container_model_dir(value: str) -> bool:
    path = PurePosixPath(value.strip())
    return path == CONTAINER_MODEL_DIR or path.is_relative_to(CONTAINER_MODEL_DIR)
