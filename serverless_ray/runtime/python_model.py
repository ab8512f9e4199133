"""Python classes and functions as models: the handler contract for decorated endpoints.

An endpoint declared with :func:`serverless_ray.endpoint` runs through the same replica
runtime as SageMaker inference code: a generated ``code/inference.py`` calls
:func:`handlers`, which imports the user's object and adapts it to ``model_fn`` and
``transform_fn``. A class is instantiated once per replica (``__init__`` loads the model)
and called per request; a function is called per request.

Requests reach ``__call__`` decoded: JSON bodies as Python objects, ``text/*`` bodies as
``str``, anything else as ``bytes``. Replies: ``bytes`` go out as they are (with the
request's Accept, default ``application/octet-stream``), ``str`` as ``text/plain``, other
values (dicts, lists, numbers, numpy arrays) as JSON. A generator (or any iterator) streams:
each item is a part (with the request's Accept, default ``application/octet-stream``).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any, Callable

from serverless_ray.runtime.codecs import encode, media_type
from serverless_ray.runtime.streaming import is_stream


def load_object(module: str, qualname: str, source_file: str | None = None) -> Any:
    """Import ``module`` (or, for a script run as ``__main__``, its ``source_file``) and
    return the object named ``qualname`` in it."""
    if module == "__main__" or module not in sys.modules and source_file and not _importable(module):
        if not source_file:
            raise ImportError(f"cannot import {qualname!r}: it was defined in a script without a file")
        private = f"_serverless_ray_user_{abs(hash(source_file))}"
        loaded = sys.modules.get(private)
        if loaded is None:
            spec = importlib.util.spec_from_file_location(private, source_file)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load {source_file}")
            loaded = importlib.util.module_from_spec(spec)
            sys.modules[private] = loaded
            spec.loader.exec_module(loaded)  # ``__name__`` is not "__main__": scripts' run() guards hold
    else:
        loaded = importlib.import_module(module)
    target: Any = loaded
    for part in qualname.split("."):
        target = getattr(target, part)
    return target


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def handlers(module: str, qualname: str, source_file: str | None = None) -> tuple[Callable, Callable]:
    """``(model_fn, transform_fn)`` for the decorated object ``module:qualname``."""
    if source_file:
        sys.path.insert(0, str(Path(source_file).parent))

    def model_fn(model_dir: str) -> Callable:
        target = load_object(module, qualname, source_file)
        target = getattr(target, "__wrapped__", target)  # the class or function under @endpoint
        return target() if isinstance(target, type) else target

    def transform_fn(model: Callable, request_body: Any, content_type: str, accept: str) -> tuple[bytes, str]:
        kind = media_type(content_type)
        if kind == "application/json":
            data = json.loads(request_body) if request_body else None
        elif isinstance(request_body, (bytes, bytearray)) and kind.startswith("text/"):
            data = bytes(request_body).decode("utf-8")
        else:
            data = request_body
        result = model(data)
        if is_stream(result):  # a generator streams its items as parts
            return result, _accepted(accept)
        if isinstance(result, (bytes, bytearray)):
            return bytes(result), _accepted(accept)
        if isinstance(result, str):
            return result.encode("utf-8"), "text/plain"
        return encode(result, "application/json"), "application/json"

    return model_fn, transform_fn


def _accepted(accept: str) -> str:
    wanted = media_type(accept)
    return wanted if wanted and wanted != "*/*" else "application/octet-stream"
