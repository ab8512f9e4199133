"""Importing the user's inference module and binding its handler functions."""

from __future__ import annotations

import importlib.util
import inspect
import itertools
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

DEFAULT_PROGRAM = "inference.py"

# Handler hooks and the number of arguments each takes before the optional
# trailing ``context``.
HOOK_ARITY: dict[str, int] = {
    "pre_model_fn": 1,
    "model_fn": 1,
    "model_warmup_fn": 2,
    "input_fn": 2,
    "predict_fn": 2,
    "output_fn": 2,
    "transform_fn": 4,
}
_SPLIT_HOOKS = ("input_fn", "predict_fn", "output_fn")


class ModelLoadError(Exception):
    """The model could not be loaded; the message says which step failed."""


class InvalidHandlerError(ModelLoadError, ValueError):
    """The user module defines an invalid combination or signature of hooks."""


@dataclass
class InvocationContext:
    """Passed as the optional trailing ``context`` argument of every hook.

    ``custom_attributes`` holds the request's ``X-Amzn-SageMaker-Custom-Attributes``
    value (``None`` at load time).  User code may set
    ``context.response_custom_attributes`` to a string to return it as the
    response's custom attributes header.
    """

    model_dir: str
    environment: dict[str, str]
    custom_attributes: str | None = None
    request_id: str | None = None
    response_custom_attributes: str | None = field(default=None)


def program_module_name(program: str | None) -> str:
    """``"inference.py"`` → ``"inference"``; ``None``/empty → the default."""
    name = (program or DEFAULT_PROGRAM).strip()
    return name[: -len(".py")] if name.endswith(".py") else name


_counter = itertools.count()
_import_lock = threading.Lock()
# Code dirs imported so far; used to evict helper modules of other models that
# would shadow this model's helpers of the same name.
_loaded_code_dirs: set[Path] = set()


def _module_dir(module: ModuleType) -> Path | None:
    file = getattr(module, "__file__", None)
    return Path(file).resolve().parent if file else None


def _evict_shadowing_modules(code_dir: Path) -> None:
    """Drop cached helper modules of *other* models whose names exist in ``code_dir``.

    Without this, a second model's ``import utils`` would silently get the
    first model's ``utils`` from ``sys.modules``.  Modules already loaded keep
    their own references, so evicting the cache entry does not affect them.
    """
    others = _loaded_code_dirs - {code_dir}
    if not others:
        return
    local_names = {
        entry.name[: -len(".py")] if entry.name.endswith(".py") else entry.name
        for entry in code_dir.iterdir()
    }
    for name, module in list(sys.modules.items()):
        if name.split(".", 1)[0] not in local_names:
            continue
        where = _module_dir(module) if module is not None else None
        if where is not None and any(where == d or d in where.parents for d in others):
            del sys.modules[name]


def import_program(code_dir: Path, program: str | None) -> ModuleType:
    """Import ``<code_dir>/<program>.py`` under a process-unique module name.

    ``code_dir`` is put at the front of ``sys.path`` so the program can import
    helper modules shipped next to it.
    """
    module_name = program_module_name(program)
    source = code_dir / f"{module_name}.py"
    if not source.is_file():
        raise ModelLoadError(f"code/{module_name}.py not found in model data")
    code_dir = code_dir.resolve()
    with _import_lock:
        if str(code_dir) in sys.path:
            sys.path.remove(str(code_dir))
        sys.path.insert(0, str(code_dir))
        _evict_shadowing_modules(code_dir)
        _loaded_code_dirs.add(code_dir)
        unique = f"_serverless_ray_user_{module_name.replace('.', '_')}_{next(_counter)}"
        spec = importlib.util.spec_from_file_location(unique, source)
        if spec is None or spec.loader is None:
            raise ModelLoadError(f"code/{module_name}.py cannot be imported")
        module = importlib.util.module_from_spec(spec)
        # Registered before exec so dataclasses/pickle inside the module can
        # look it up by name, as with a normal import.
        sys.modules[unique] = module
        try:
            spec.loader.exec_module(module)
        except (Exception, SystemExit) as exc:
            sys.modules.pop(unique, None)
            raise ModelLoadError(
                f"importing code/{module_name}.py raised {type(exc).__name__}: {exc}"
            ) from exc
    return module


def _takes_context(name: str, func: Callable[..., Any]) -> bool:
    """Decide from the signature whether ``func`` wants the trailing context."""
    base = HOOK_ARITY[name]
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):  # builtins without signatures
        return False
    positional = [
        p for p in params
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    required = sum(p.default is inspect.Parameter.empty for p in positional)
    varargs = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params)
    if len(positional) >= base + 1 and required <= base + 1:
        return True
    if required <= base and (len(positional) >= base or varargs):
        return False
    raise InvalidHandlerError(
        f"{name} must take {base} arguments, or {base + 1} with a trailing context; "
        f"its signature is {name}{inspect.signature(func)}"
    )


@dataclass(frozen=True)
class BoundHook:
    """A user hook plus whether it is called with the context argument."""

    name: str
    func: Callable[..., Any]
    with_context: bool

    def __call__(self, context: InvocationContext, *args: Any) -> Any:
        if self.with_context:
            return self.func(*args, context)
        return self.func(*args)


def bind_stack_hooks(hooks: Mapping[str, Callable[..., Any]]) -> dict[str, BoundHook]:
    """A framework container's hooks, each called with the trailing context if it takes one."""
    return {name: BoundHook(name, func, _takes_context(name, func)) for name, func in hooks.items()}


def bind_hooks(
    module: ModuleType, program: str | None, *, defaults: Mapping[str, BoundHook] | None = None
) -> dict[str, BoundHook]:
    """Collect the hooks the module defines and validate their combination; ``defaults``
    (a framework container's) stand in for the hooks it does not define."""
    hooks: dict[str, BoundHook] = {}
    for name in HOOK_ARITY:
        func = getattr(module, name, None)
        if func is None:
            continue
        if not callable(func):
            raise InvalidHandlerError(f"{name} in code/{program_module_name(program)}.py is not callable")
        hooks[name] = BoundHook(name, func, _takes_context(name, func))
    source = f"code/{program_module_name(program)}.py"
    if "model_fn" not in hooks and "model_fn" not in (defaults or {}):
        raise ModelLoadError(
            f"{source} does not define model_fn(model_dir); "
            "no framework default model loader is available"
        )
    combined = [name for name in _SPLIT_HOOKS if name in hooks]
    if "transform_fn" in hooks and combined:
        raise InvalidHandlerError(
            f"{source} defines transform_fn together with {', '.join(combined)}; "
            "define either transform_fn or input_fn/predict_fn/output_fn, not both"
        )
    return {**(defaults or {}), **hooks}
