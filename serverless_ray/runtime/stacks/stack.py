"""What a framework container brings to a model: where its script is, the default hooks
under a script, and how it serves a model that brings none."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable

#: A hook as a script's: its arguments, then optionally the trailing invocation context.
Hook = Callable[..., Any]


@dataclass(frozen=True)
class ServingStack:
    """One framework container's serving behaviour.

    ``program``: the inference script the container imports, or ``None`` when it serves
    the model without one (its algorithm mode). ``script_defaults``: the hooks a script
    that does not define them gets (no ``model_fn`` there: the script must define it).
    ``scriptless``: the complete hooks (``model_fn`` included) of a model served without a
    script; ``None`` when the container requires a script.
    ``default_script``: a script the container runs when it is there although the
    environment names none (``inference.py`` for the PyTorch toolkit); without it, such a
    container serves the model with ``scriptless``. ``default_accept`` and
    ``default_content_type`` stand in for a request that names none
    (``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT`` still wins for the former).
    ``script_hooks``: for a container whose scripts define hooks of their own rather than
    the inference toolkit's (TensorFlow Serving's ``input_handler``/``output_handler``),
    the hooks made of the imported script (its module, and its path for messages); such a
    container gets no ``script_defaults``.
    """

    name: str
    program: str | None
    script_defaults: Mapping[str, Hook] = field(default_factory=dict)
    scriptless: Mapping[str, Hook] | None = None
    default_script: str | None = None
    default_accept: str = "application/json"
    default_content_type: str = "application/octet-stream"
    script_hooks: Callable[[ModuleType, str], Mapping[str, Hook]] | None = None
