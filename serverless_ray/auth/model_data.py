"""The fence around local model data for callers from outside the cluster.

A model is code the platform runs, and a ``file://`` or plain-path ``ModelDataUrl`` makes
a replica read (and run) whatever that path holds on the node. Once callers are
authenticated, such paths are accepted only under the directories the operator listed
(``--model-data-root``). Every ``ModelDataUrl`` anywhere in a request is checked, so
``CreateModel``'s containers and ``CreateModelPackage``'s inference specification alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Sequence
from urllib.parse import unquote, urlsplit

from serverless_ray.errors import ValidationException

MEMBER = "ModelDataUrl"


def model_data_urls(payload: Any) -> Iterator[str]:
    """Every ``ModelDataUrl`` string at any depth of a request."""
    if isinstance(payload, dict):
        for key, value in payload.items():
            if key == MEMBER and isinstance(value, str):
                yield value
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
        for url in model_data_urls(payload):
            path = local_path(url)
            if path is not None and not self._inside(path):
                raise ValidationException(self._refusal(url))

    def _inside(self, path: str) -> bool:
        candidate = Path(path).expanduser()
        if not candidate.is_absolute():
            return False  # relative to which process's directory? Refuse.
        # resolve() follows symbolic links: a link inside a root to elsewhere is outside.
        resolved = candidate.resolve()
        return any(resolved == root or resolved.is_relative_to(root) for root in self._roots)

    def _refusal(self, url: str) -> str:
        if not self._roots:
            return (f"{MEMBER} '{url}' is a local path; this platform reads local model data only under "
                    "directories given with --model-data-root, and none is configured. Use s3:// or https:// "
                    "model data, or start the platform with --model-data-root DIR.")
        roots = ", ".join(str(root) for root in self._roots)
        return (f"{MEMBER} '{url}' is outside the allowed model data roots ({roots}); local model data "
                "(file:// or a path) must be an absolute path under one of them.")
