"""Declaring endpoints in Python: ``@serverless_ray.endpoint(...)`` and ``serverless_ray.run``.

.. code-block:: python

    import serverless_ray

    @serverless_ray.endpoint(name="iris", memory_size_mb=2048, max_concurrency=20,
                             provisioned_concurrency=1)
    class Iris:
        def __init__(self):              # once per replica: load the model
            self.weights = [0.5, -1.0, 2.0]

        def __call__(self, rows):        # per invocation: JSON in, JSON out
            return [sum(w * x for w, x in zip(self.weights, row)) for row in rows]

    if __name__ == "__main__":
        iris = serverless_ray.run(Iris)  # starts the platform if needed; waits for InService
        print(iris.invoke_json([[1, 2, 3]]))

The endpoint is an ordinary endpoint: it is created through the SageMaker API (so it is
listed, described, invoked over HTTP and throttled like any other) and its arguments are
validated by the same models as the wire API, with the same errors.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import ray

from serverless_ray.declarative import EndpointDeclaration, apply_declarations, in_cluster_access
from serverless_ray.errors import ServiceError, ValidationException
from serverless_ray.spec import EndpointNameInput, ServerlessConfig, parse


@dataclass(frozen=True)
class EndpointApp:
    """A class or function declared as a serverless endpoint (see :func:`endpoint`)."""

    target: Any
    name: str
    memory_size_mb: int
    max_concurrency: int
    provisioned_concurrency: int | None
    environment: dict[str, str]

    def declaration(self, code_root: Path) -> EndpointDeclaration:
        """The endpoint as an endpoints-file entry, with generated model code under ``code_root``."""
        model_dir, digest = _write_model_code(self.target, code_root / self.name)
        return EndpointDeclaration(
            name=self.name, model_data=str(model_dir), memory_size_mb=self.memory_size_mb,
            max_concurrency=self.max_concurrency, provisioned_concurrency=self.provisioned_concurrency,
            # The source's digest makes changed code a changed model, so run() updates the endpoint.
            environment={**self.environment, "SERVERLESS_RAY_SOURCE_DIGEST": digest},
            image="serverless-ray/python",
        )

    @property
    def __wrapped__(self) -> Any:
        return self.target

    def __call__(self, *args, **kwargs):  # the decorated object stays usable locally
        return self.target(*args, **kwargs)


def endpoint(
    *,
    name: str,
    memory_size_mb: int = 2048,
    max_concurrency: int = 5,
    provisioned_concurrency: int | None = None,
    environment: dict[str, str] | None = None,
) -> Callable[[Any], EndpointApp]:
    """Declare a class (``__init__`` loads, ``__call__`` predicts) or a function as a
    serverless endpoint. Raises ``ValidationException`` for arguments the SageMaker API
    would refuse (name pattern, memory tier, concurrency limits)."""
    parse(EndpointNameInput, {"EndpointName": name})
    serverless: dict[str, Any] = {"MemorySizeInMB": memory_size_mb, "MaxConcurrency": max_concurrency}
    if provisioned_concurrency is not None:
        serverless["ProvisionedConcurrency"] = provisioned_concurrency
    parse(ServerlessConfig, serverless)

    def wrap(target: Any) -> EndpointApp:
        if not callable(target):
            raise ValidationException(f"@endpoint needs a class or a function, got {type(target).__name__}")
        return EndpointApp(target, name, memory_size_mb, max_concurrency, provisioned_concurrency,
                           dict(environment or {}))

    return wrap


class EndpointHandle:
    """Invoke an endpoint from Python through a gateway actor, without HTTP. Admission,
    limits and errors are those of InvokeEndpoint."""

    def __init__(self, name: str, gateway=None, *, gateway_of: Callable[[], Any] | None = None) -> None:
        """``gateway``: the gateway actor to call; or ``gateway_of``: what gives the one to
        call now (a platform's ``gateway``, which follows its node's gateway when one dies
        and is replaced)."""
        if (gateway is None) == (gateway_of is None):
            raise ValueError("give either gateway or gateway_of")
        self.name = name
        self._gateway_of = gateway_of or (lambda: gateway)

    @property
    def _gateway(self):
        return self._gateway_of()

    def invoke(self, body: bytes | str, *, content_type: str = "application/json", accept: str | None = None) -> bytes:
        """The model's reply; raises the ``ServiceError`` InvokeEndpoint would answer with."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        reply = ray.get(self._gateway.invoke.remote(self.name, data, content_type=content_type, accept=accept))
        if isinstance(reply, ServiceError):
            raise reply
        return reply.body

    def stream(
        self, body: bytes | str, *, content_type: str = "application/json", accept: str | None = None
    ) -> Iterator[bytes]:
        """The model's reply part by part, as it streams (InvokeEndpointWithResponseStream).

        Raises the ``ServiceError`` the operation would answer with: before the first part
        as InvokeEndpoint would, after it a ``ModelStreamError`` or ``InternalStreamFailure``.
        Closing the iterator early ends the invocation (the model's generator is closed).
        """
        data = body.encode("utf-8") if isinstance(body, str) else body
        call = self._gateway.stream.options(num_returns="streaming").remote(
            self.name, data, content_type=content_type, accept=accept)
        return _parts(call)

    def invoke_json(self, payload: Any) -> Any:
        return json.loads(self.invoke(json.dumps(payload), accept="application/json"))

    __call__ = invoke_json


def _parts(call) -> Iterator[bytes]:
    finished = False
    try:
        for ref in call:
            item = ray.get(ref)
            if isinstance(item, ServiceError):
                finished = True
                raise item
            yield item
        finished = True
    finally:
        if not finished:
            ray.cancel(call)


def run(*apps: EndpointApp, platform=None, settings=None, code_root: str | Path | None = None):
    """Create (or update) ``apps`` on a platform and wait until they are InService.

    Uses ``platform`` if given, else starts one (``settings`` or the defaults: an embedded
    Ray, loopback only) that lives as long as this process. Returns one
    :class:`EndpointHandle` per app (just the handle for a single app).
    """
    from serverless_ray.platform import Platform
    from serverless_ray.settings import PlatformSettings

    global _platform
    if platform is None:
        if _platform is None:
            _platform = Platform(settings or PlatformSettings()).start()
        platform = _platform
    root = Path(code_root) if code_root else platform.settings.state_dir / "python-endpoints"
    apply_declarations([app.declaration(root) for app in apps], platform.url, echo=lambda _: None,
                       access=in_cluster_access(platform.settings))
    handles = [EndpointHandle(app.name, gateway_of=lambda: platform.gateway) for app in apps]
    return handles[0] if len(handles) == 1 else handles


_platform = None


def _write_model_code(target: Any, model_dir: Path) -> tuple[Path, str]:
    """A model directory whose ``code/inference.py`` loads ``target``."""
    module = target.__module__
    qualname = target.__qualname__
    try:
        source_file = os.path.abspath(inspect.getsourcefile(target) or "")
    except TypeError:
        source_file = ""
    code = (
        '"""Generated by serverless_ray.endpoint: adapts a Python object to the handler contract."""\n'
        "from serverless_ray.runtime.python_model import handlers\n\n"
        f"model_fn, transform_fn = handlers({module!r}, {qualname!r}, {source_file or None!r})\n"
    )
    path = model_dir / "code" / "inference.py"
    if not path.exists() or path.read_text() != code:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(code)
    digest = hashlib.sha256(code.encode() + (Path(source_file).read_bytes() if source_file else b"")).hexdigest()
    return model_dir, digest[:16]

