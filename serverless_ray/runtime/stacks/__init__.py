"""Framework containers' default serving, chosen by the model's image.

On SageMaker the container image decides how a model is loaded and how requests are
decoded and answered. :func:`stack_for` makes the same choice from a recognised
:class:`~serverless_ray.frameworks.ServingImage`: it returns the :class:`ServingStack`
that :class:`~serverless_ray.runtime.InferenceHandler` serves the model with, or ``None``
for an image that keeps the inference-script contract.

Each stack imports its framework only when a replica loads a model, inside the runtime
environment that has it (see :func:`serverless_ray.frameworks.requirements`); importing
this package imports no framework.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Callable

from serverless_ray.frameworks import Framework, ServingImage, recognise, requirements

from .huggingface_stack import huggingface_stack
from .pytorch_stack import pytorch_stack
from .sklearn_stack import sklearn_stack
from .stack import ServingStack
from .tensorflow_stack import tensorflow_stack
from .xgboost_stack import xgboost_stack

_STACKS: dict[Framework, Callable[[ServingImage, Mapping[str, str]], ServingStack]] = {
    Framework.XGBOOST: xgboost_stack,
    Framework.XGBOOST_ALGORITHM: xgboost_stack,
    Framework.SKLEARN: sklearn_stack,
    Framework.PYTORCH: pytorch_stack,
    Framework.HUGGINGFACE: huggingface_stack,
    Framework.TENSORFLOW: tensorflow_stack,
}

#: The frameworks served by a stack of their own; the others' images keep the
#: inference-script contract.
SERVED: frozenset[Framework] = frozenset(_STACKS)

# What a standby in a framework's environment imports before it adopts a model.
_PRELOAD: dict[Framework, tuple[str, ...]] = {
    Framework.XGBOOST: ("xgboost",),
    Framework.XGBOOST_ALGORITHM: ("xgboost",),
    Framework.SKLEARN: ("sklearn",),
    Framework.PYTORCH: ("torch",),
    Framework.HUGGINGFACE: ("torch", "transformers.pipelines"),
    Framework.TENSORFLOW: ("tensorflow",),
}


def served_image(uri: str | None) -> ServingImage | None:
    """The framework container ``uri`` names if a stack serves it, else ``None`` (the
    inference-script contract, in the platform's own environment)."""
    image = recognise(uri) if uri else None
    return image if image is not None and image.framework in _STACKS else None


def environment_packages(uri: str | None) -> tuple[str, ...]:
    """The framework packages of the runtime environment a model with image ``uri`` runs in;
    ``()`` for the platform's own environment (an image no stack serves)."""
    image = served_image(uri)
    return requirements(image) if image is not None else ()


def preloaded_modules(uri: str | None) -> tuple[str, ...]:
    """The framework modules a standby in ``uri``'s environment imports in advance."""
    image = served_image(uri)
    return _PRELOAD.get(image.framework, ()) if image is not None else ()


def stack_for(image: ServingImage | None, environment: Mapping[str, str]) -> ServingStack | None:
    """The serving stack of ``image`` (``None``: the inference-script contract), with the
    model's ``environment`` (``SAGEMAKER_PROGRAM``, ``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT``)."""
    if image is None or image.framework not in _STACKS:
        return None
    return _STACKS[image.framework](image, environment)


__all__ = ["SERVED", "ServingStack", "environment_packages", "preloaded_modules", "served_image", "stack_for"]
