"""Runs SageMaker-style ``code/inference.py`` handlers, and framework containers' models.

The contract follows the SageMaker inference toolkit: ``model_fn`` once at
load, then per request either ``transform_fn`` or
``input_fn`` → ``predict_fn`` → ``output_fn``, with toolkit-like defaults for
the hooks the user does not define. A recognised framework container (a
:class:`~serverless_ray.runtime.stacks.ServingStack`) supplies its own defaults, and
serves a model that brings no script where the container does.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from serverless_ray.messages import InvocationResult

from . import codecs
from .stacks import ServingStack
from .streaming import HandlerStream, as_bytes, closing_chain, parts
from .usercode import (
    BoundHook,
    InvocationContext,
    ModelLoadError,
    bind_hooks,
    bind_stack_hooks,
    import_program,
    program_module_name,
)

logger = logging.getLogger(__name__)

DEFAULT_ACCEPT_ENV = "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"
PROGRAM_ENV = "SAGEMAKER_PROGRAM"


class _BadRequest(ValueError):
    status_code = 400


def _default_input_fn(request_body: Any, request_content_type: str) -> Any:
    return codecs.decode(request_body, request_content_type)


def _default_predict_fn(input_data: Any, model: Any) -> Any:
    if not callable(model):
        raise TypeError(
            f"the model returned by model_fn ({type(model).__name__}) is not callable "
            "and code/inference.py defines no predict_fn"
        )
    return model(input_data)


def _default_output_fn(prediction: Any, accept: str) -> Any:
    return codecs.encode(prediction, accept)


_DEFAULT_HOOKS = {
    "input_fn": BoundHook("input_fn", _default_input_fn, False),
    "predict_fn": BoundHook("predict_fn", _default_predict_fn, False),
    "output_fn": BoundHook("output_fn", _default_output_fn, False),
}


def error_status(exc: BaseException) -> int:
    """HTTP status for an exception: its ``status_code`` if 400–599, else 500."""
    code = getattr(exc, "status_code", None)
    if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599:
        return code
    return 500


class InferenceHandler:
    """A loaded model plus the user's hooks; create it with :meth:`load`.

    ``invoke`` may be called concurrently from several threads; each call gets
    its own :class:`InvocationContext`.
    """

    def __init__(
        self,
        *,
        model: Any,
        hooks: Mapping[str, BoundHook],
        model_dir: Path,
        environment: Mapping[str, str],
        default_accept: str = codecs.JSON,
        default_content_type: str = codecs.OCTET_STREAM,
    ) -> None:
        self._model = model
        self._hooks = dict(hooks)
        self._model_dir = model_dir
        self._environment = dict(environment)
        self._default_accept = self._environment.get(DEFAULT_ACCEPT_ENV) or default_accept
        self._default_content_type = default_content_type

    @property
    def model(self) -> Any:
        """The object returned by ``model_fn``."""
        return self._model

    @property
    def model_dir(self) -> Path:
        return self._model_dir

    @classmethod
    def load(
        cls,
        model_dir: Path,
        *,
        program: str | None = None,
        environment: Mapping[str, str] | None = None,
        stack: ServingStack | None = None,
        code_dir: Path | None = None,
    ) -> InferenceHandler:
        """Load the model of ``model_dir`` with its inference script or its ``stack``.

        Without a ``stack`` (an image that is no recognised framework container), imports
        ``<model_dir>/code/<program>``: ``program`` defaults to ``$SAGEMAKER_PROGRAM``
        from ``environment``, then ``inference.py``. With a ``stack``, the framework
        container decides: its script (``stack.program``) gets the container's default
        hooks for those it does not define, and a model with no script is served by the
        container's own hooks. ``environment`` (default: a snapshot of ``os.environ``) is
        exposed to hooks as ``context.environment`` and supplies
        ``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT``; it is not written into ``os.environ``.
        ``code_dir`` is where the script is (default: ``<model_dir>/code``).

        Runs ``pre_model_fn``, ``model_fn`` and ``model_warmup_fn``; any
        failure raises :class:`ModelLoadError` naming the failed step.
        """
        model_dir = Path(model_dir).resolve()
        env = dict(os.environ if environment is None else environment)
        if not model_dir.is_dir():
            raise ModelLoadError(f"model directory {model_dir} does not exist")
        code = Path(code_dir) if code_dir is not None else model_dir / "code"
        if stack is not None:
            program = stack.program
            if program is None and stack.default_script and (code / stack.default_script).is_file():
                program = stack.default_script
        if stack is not None and program is None and stack.scriptless is not None:
            hooks = bind_stack_hooks(stack.scriptless)
            served_by = f"the {stack.name} container"
        else:
            program = program or env.get(PROGRAM_ENV) or None
            served_by = f"code/{program_module_name(program)}.py"
            if stack is not None and stack.script_hooks is not None:
                hooks = bind_stack_hooks(stack.script_hooks(import_program(code, program), served_by))
            else:
                defaults = {} if stack is None else bind_stack_hooks(stack.script_defaults)
                hooks = bind_hooks(import_program(code, program), program, defaults=defaults)
            if stack is not None:
                served_by += f" in the {stack.name} container"
        context = InvocationContext(model_dir=str(model_dir), environment=env)

        def run(name: str, *args: Any) -> Any:
            try:
                return hooks[name](context, *args)
            except Exception as exc:
                raise ModelLoadError(f"{name} raised {type(exc).__name__}: {exc}") from exc

        if "pre_model_fn" in hooks:
            run("pre_model_fn", str(model_dir))
        model = run("model_fn", str(model_dir))
        if "model_warmup_fn" in hooks:
            run("model_warmup_fn", str(model_dir), model)
        logger.info("loaded model from %s using %s", model_dir, served_by)
        defaults_of_stack = {} if stack is None else {
            "default_accept": stack.default_accept, "default_content_type": stack.default_content_type}
        return cls(model=model, hooks=hooks, model_dir=model_dir, environment=env, **defaults_of_stack)

    def _resolve_accept(self, accept: str | None) -> str:
        if not accept or codecs.media_type(accept) in ("", codecs.ANY):
            return self._default_accept
        return accept

    def _hook(self, name: str) -> BoundHook:
        return self._hooks.get(name) or _DEFAULT_HOOKS[name]

    def invoke(
        self,
        body: bytes,
        *,
        content_type: str | None,
        accept: str | None,
        custom_attributes: str | None = None,
        request_id: str | None = None,
    ) -> InvocationResult:
        """Run one request through the hooks.

        Never raises for errors in user code or codecs: those become an
        error result (status 500, or the exception's ``status_code`` if it
        is an int in 400–599) with the message as a text/plain body.  A
        missing content type is treated as ``application/octet-stream``.
        The response's custom attributes are whatever the hooks set on
        ``context.response_custom_attributes``. A streaming result (an iterator or
        generator) is joined into one body.
        """
        context = self._context(custom_attributes, request_id)
        try:
            body_out, response_type = self._predict(context, body, content_type, accept)
            payload = as_bytes(body_out, response_type)
        except Exception as exc:
            return self._error_result(exc, request_id)
        return InvocationResult(200, payload, response_type, context.response_custom_attributes)

    def stream(
        self,
        body: bytes,
        *,
        content_type: str | None,
        accept: str | None,
        custom_attributes: str | None = None,
        request_id: str | None = None,
    ) -> HandlerStream:
        """Run one request through the hooks and stream its result part by part.

        The model runs up to its first part here: a failure until then is an error result
        exactly as :meth:`invoke` gives it, with no parts. Later failures are raised by
        ``parts``; closing ``parts`` closes the model's generator.
        """
        context = self._context(custom_attributes, request_id)
        try:
            body_out, response_type = self._predict(context, body, content_type, accept)
            rest = parts(body_out, response_type)
            first = next(rest, None)
        except Exception as exc:
            return HandlerStream(self._error_result(exc, request_id), iter(()))
        head = InvocationResult(200, b"", response_type, context.response_custom_attributes)
        return HandlerStream(head, closing_chain(first, rest))

    def _context(self, custom_attributes: str | None, request_id: str | None) -> InvocationContext:
        return InvocationContext(
            model_dir=str(self._model_dir),
            environment=self._environment,
            custom_attributes=custom_attributes,
            request_id=request_id,
        )

    def _predict(
        self, context: InvocationContext, body: bytes, content_type: str | None, accept: str | None
    ) -> tuple[Any, str]:
        """The hooks' result (not yet bytes) and its content type."""
        content_type = content_type or self._default_content_type
        accept = self._resolve_accept(accept)
        data = self._request_body(body, content_type)
        if "transform_fn" in self._hooks:
            result = self._hooks["transform_fn"](context, self._model, data, content_type, accept)
        else:
            decoded = self._hook("input_fn")(context, data, content_type)
            prediction = self._hook("predict_fn")(context, decoded, self._model)
            result = self._hook("output_fn")(context, prediction, accept)
        return self._response(result, accept)

    @staticmethod
    def _request_body(body: bytes | bytearray | memoryview, content_type: str) -> bytes | str:
        raw = bytes(body)
        if codecs.media_type(content_type) not in codecs.UTF8_TYPES:
            return raw
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _BadRequest(f"request body is not valid UTF-8 for content type {content_type}: {exc}") from exc

    @staticmethod
    def _response(result: Any, accept: str) -> tuple[Any, str]:
        # A (body, content_type) pair overrides the response content type.
        if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], str):
            return result[0], result[1]
        return result, accept

    @staticmethod
    def _error_result(exc: Exception, request_id: str | None) -> InvocationResult:
        status = error_status(exc)
        message = str(exc) or type(exc).__name__
        if status >= 500:
            logger.exception("invocation %s failed", request_id or "-")
        else:
            logger.warning("invocation %s rejected with %d: %s", request_id or "-", status, message)
        return InvocationResult.error(status, message, raised=type(exc).__name__)
