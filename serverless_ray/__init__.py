"""serverless-ray: SageMaker Serverless Inference semantics and wire API on Ray Serve.

Python users declare endpoints with :func:`endpoint` and start them with :func:`run`;
everyone else uses the SageMaker API (``serverless-ray up``).

The names below are imported when first used, so that importing a part of the package
(``serverless_ray.spec``, ``serverless_ray.store``, ...) does not load Ray.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["EndpointApp", "EndpointHandle", "endpoint", "run"]

_LAZY = {name: "serverless_ray.decorator" for name in __all__}

if TYPE_CHECKING:  # for type checkers and editors only
    from serverless_ray.decorator import EndpointApp, EndpointHandle, endpoint, run  # noqa: F401


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'serverless_ray' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
