"""The SageMaker scikit-learn container's serving.

Follows aws/sagemaker-scikit-learn-container: the inference script (``SAGEMAKER_PROGRAM``,
``inference.py`` when unset) must define ``model_fn``, as the container requires. The hooks
it leaves out default to the container's: the inference toolkit's decoders (JSON, CSV and
NPY; JSON and CSV as ``float32`` arrays), ``model.predict(data)``, and the toolkit's
encoders (JSON by default, CSV, NPY).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from serverless_ray.frameworks import ServingImage
from serverless_ray.runtime import codecs
from serverless_ray.spec.container_environment import PROGRAM

from .stack import ServingStack


def sklearn_stack(image: ServingImage, environment: Mapping[str, str]) -> ServingStack:
    """The scikit-learn container of ``image``."""
    return ServingStack(
        name=f"scikit-learn {image.version}",
        program=environment.get(PROGRAM) or None,
        script_defaults={"input_fn": decode, "predict_fn": predict, "output_fn": codecs.encode},
        scriptless=None,  # the container serves no model without a script
        default_accept=codecs.JSON,
    )


def decode(body: bytes | str, content_type: str) -> Any:
    """The container's default ``input_fn``: the toolkit's decoders, text as ``float32``."""
    array = codecs.decode(body, content_type)
    return array.astype(np.float32) if codecs.media_type(content_type) in codecs.UTF8_TYPES else array


def predict(data: Any, model: Any) -> Any:
    """The container's default ``predict_fn``."""
    return model.predict(data)
