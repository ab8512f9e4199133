"""The SageMaker XGBoost container's serving, for the built-in algorithm and the framework.

Follows aws/sagemaker-xgboost-container:

* **Algorithm mode** (no ``SAGEMAKER_PROGRAM``; always for the built-in algorithm): every
  file at the top of the model directory is a booster, pickled or saved by
  ``Booster.save_model`` (a training job leaves one, ``xgboost-model``); several are an
  ensemble whose predictions are averaged. Requests are decoded and responses encoded by
  :mod:`serverless_ray.frameworks.xgboost_codecs`, ``text/csv`` when a request names no
  ``Accept``.
* **Framework mode** (``SAGEMAKER_PROGRAM`` names a script in ``code/``): the script must
  define ``model_fn``, as the container requires. Its other hooks default to: requests
  decoded as in algorithm mode into a ``DMatrix``, ``model.predict(data,
  validate_features=False)``, and the inference toolkit's encoders (JSON, CSV, NPY).

XGBoost is imported only when a model loads, in the runtime environment that installs it.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from serverless_ray.frameworks import Framework, ServingImage, xgboost_codecs
from serverless_ray.runtime import codecs

from serverless_ray.spec.container_environment import PROGRAM

from .stack import ServingStack

DEFAULT_ACCEPT_ENV = "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"


def xgboost_stack(image: ServingImage, environment: Mapping[str, str]) -> ServingStack:
    """The XGBoost container of ``image``, in the mode ``environment`` selects."""
    program = environment.get(PROGRAM) or None
    if image.framework is Framework.XGBOOST_ALGORITHM:
        program = None  # the built-in algorithm runs no script
    in_accept_type = xgboost_codecs.answers_in_accept_type(image)
    default_accept = environment.get(DEFAULT_ACCEPT_ENV)

    def output_fn(predictions: Any, accept: str) -> tuple[bytes, str]:
        encoded = xgboost_codecs.encode(predictions, accept, in_accept_type=in_accept_type,
                                        default_accept=default_accept)
        return encoded.body, encoded.content_type

    name = f"XGBoost {image.version}" + (" (built-in algorithm)" if program is None else "")
    return ServingStack(
        name=name,
        program=program,
        script_defaults={"input_fn": to_dmatrix, "predict_fn": predict, "output_fn": codecs.encode},
        scriptless={"model_fn": load_boosters, "input_fn": to_dmatrix, "predict_fn": predict_average,
                    "output_fn": output_fn},
        default_accept=xgboost_codecs.DEFAULT_ACCEPT if program is None else codecs.JSON,
        default_content_type=xgboost_codecs.CSV,
    )


def load_boosters(model_dir: str | Path) -> list[Any]:
    """Every model file at the top of ``model_dir`` as a ``Booster`` (hidden files and
    directories such as ``code/`` are not models)."""
    directory = Path(model_dir)
    files = sorted(path for path in directory.iterdir() if path.is_file() and not path.name.startswith("."))
    if not files:
        raise FileNotFoundError(
            f"the model data holds no model file: XGBoost loads every file at its top level "
            f"(a training job leaves xgboost-model), and {directory} has "
            f"{', '.join(sorted(p.name for p in directory.iterdir())) or 'nothing'}"
        )
    return [load_booster(path) for path in files]


def load_booster(path: Path) -> Any:
    """A booster pickled (``pickle.dump`` of a ``Booster`` or an ``XGBModel``) or saved by
    ``save_model`` in any of XGBoost's formats (JSON, UBJSON, the legacy binary)."""
    import xgboost

    data = path.read_bytes()
    try:
        model = pickle.loads(data)
    except Exception as exc:
        pickled_error: Exception | None = exc
        model = None
    else:
        pickled_error = None
    if isinstance(model, xgboost.XGBModel):
        model = model.get_booster()
    if not isinstance(model, xgboost.Booster):
        model = xgboost.Booster()
        try:
            # From a buffer XGBoost tells its formats apart by content, whatever the file's name.
            model.load_model(bytearray(data))
        except Exception as exc:
            reason = f"unpickling failed ({pickled_error})" if pickled_error else "it unpickles to no booster"
            raise ValueError(
                f"model file {path.name} is neither a pickled booster ({reason}) nor one saved by "
                f"Booster.save_model ({exc})"
            ) from exc
    # As the container: one thread per model server worker.
    model.set_param("nthread", 1)
    return model


def to_dmatrix(body: bytes | str, content_type: str) -> Any:
    """A request body as a ``DMatrix`` (see :func:`serverless_ray.frameworks.xgboost_codecs.decode`)."""
    import xgboost

    # One thread, as the booster's: XGBoost's default is a thread per core of the node,
    # more than a replica's CPU share.
    return xgboost.DMatrix(xgboost_codecs.decode(body, content_type), nthread=1)


def predict(data: Any, model: Any) -> Any:
    """The framework container's default ``predict_fn``."""
    return model.predict(data, validate_features=False)


def predict_average(data: Any, boosters: list[Any]) -> Any:
    """One booster's predictions, or an ensemble's averaged as the container does."""
    predictions = [predict(data, booster) for booster in boosters]
    return predictions[0] if len(predictions) == 1 else np.mean(predictions, axis=0)
