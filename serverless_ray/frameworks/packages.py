"""The pip requirements of the Ray runtime environment that serves a recognised image.

A framework is never a dependency of the platform: each :class:`~.images.ServingImage`
gets a runtime environment of its own, and :func:`requirements` names what that
environment installs. The replicas run CPython 3.11 on manylinux x86_64, so each pin is the
framework release that the image's container runs where a wheel for that platform exists,
else the nearest later release that has one. The tables below are that mapping, with the
reason for every entry that differs from the container's own release.
"""

from __future__ import annotations

import re
from typing import Mapping, Sequence

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from .images import Framework, ServingImage

#: PyPI's Linux x86_64 ``torch`` wheels are CUDA builds that pull several GB of NVIDIA
#: libraries; the one CPU build for CPython 3.11 within reach is 2.13.0, in the machine's
#: local wheel folder (``pip install torch==2.13.0`` takes it there; ``==2.13.0`` also
#: matches its ``+cpu`` local label). So every PyTorch-based image runs on this release:
#: TorchScript and ``torch.save`` files from older releases load in newer ones.
TORCH = "torch==2.13.0"

#: The releases whose CPU build for CPython 3.11 is reachable; an image whose PyTorch
#: version is one of these runs on it instead of :data:`TORCH`.
TORCH_CPU_RELEASES: frozenset[str] = frozenset({"2.13.0"})

# XGBoost releases before 2.1 call np.array(..., copy=False), which NumPy 2 turns into an
# error whenever a copy is needed; 2.1 is the first release built for NumPy 2.
_NUMPY_1 = "numpy<2"

#: Container version → requirements. The release is the one the container installs
#: (``docker/<version>/base/Dockerfile.cpu`` of aws/sagemaker-xgboost-container), so a
#: booster answers as it does on SageMaker. Every ``xgboost`` wheel before 2.1 is tagged
#: ``py3-none-manylinux``, so each installs on CPython 3.11. From 2.1 on, the
#: ``xgboost`` wheel depends on ``nvidia-nccl-cu12``; ``xgboost-cpu`` is the same
#: release without it.
XGBOOST: Mapping[str, tuple[str, ...]] = {
    "0.90-1": ("xgboost==0.90", _NUMPY_1),
    "0.90-2": ("xgboost==0.90", _NUMPY_1),
    # the Dockerfile asks for xgboost==1.0, which is 1.0.0
    "1.0-1": ("xgboost==1.0.0", _NUMPY_1),
    "1.2-1": ("xgboost==1.2.0", _NUMPY_1),
    "1.2-2": ("xgboost==1.2.0", _NUMPY_1),
    "1.3-1": ("xgboost==1.3.3", _NUMPY_1),
    "1.5-1": ("xgboost==1.5.2", _NUMPY_1),
    "1.7-1": ("xgboost==1.7.4", _NUMPY_1),
    "3.0-5": ("xgboost-cpu==3.0.5",),
}

#: The built-in algorithm's version → requirements. Its ``1`` runs XGBoost 0.72, which
#: PyPI has as an sdist only; 0.72.1 is the nearest release with a wheel.
XGBOOST_ALGORITHM: Mapping[str, tuple[str, ...]] = {"1": ("xgboost==0.72.1", _NUMPY_1)}

# scikit-learn before 1.4.2 is compiled against NumPy 1 and fails to import beside NumPy 2.
#: Container version → requirements, from the ``requirements.txt`` of each branch of
#: aws/sagemaker-scikit-learn-container. scikit-learn's first wheels for CPython 3.11 are
#: 1.1.3's, so the containers before 1.2-1 (0.20.0, 0.23.2 and 1.0.2) get 1.1.3.
SKLEARN: Mapping[str, tuple[str, ...]] = {
    "0.20.0": ("scikit-learn==1.1.3", _NUMPY_1),
    "0.23-1": ("scikit-learn==1.1.3", _NUMPY_1),
    "1.0-1": ("scikit-learn==1.1.3", _NUMPY_1),
    "1.2-1": ("scikit-learn==1.2.1", _NUMPY_1),
    "1.4-2": ("scikit-learn==1.4.2",),
}

#: The TensorFlow release of each short image version (the SDK's ``version_aliases``
#: for ``tensorflow`` inference); a tag with all three numbers names its release itself.
TENSORFLOW_RELEASES: Mapping[str, str] = {
    "1.4": "1.4.1", "1.5": "1.5.0", "1.6": "1.6.0", "1.7": "1.7.0", "1.8": "1.8.0",
    "1.9": "1.9.0", "1.10": "1.10.0", "1.11": "1.11.0", "1.12": "1.12.0", "1.13": "1.13.0",
    "1.14": "1.14.0", "1.15": "1.15.5", "2.0": "2.0.4", "2.1": "2.1.3", "2.2": "2.2.2",
    "2.3": "2.3.2", "2.4": "2.4.3", "2.5": "2.5.1", "2.6": "2.6.3", "2.7": "2.7.0",
    "2.8": "2.8.4", "2.9": "2.9.3", "2.10": "2.10.1", "2.11": "2.11.1", "2.12": "2.12.1",
    "2.13": "2.13.0", "2.14": "2.14.1", "2.16": "2.16.1", "2.18": "2.18.0", "2.19": "2.19.0",
}

#: ``tensorflow-cpu`` releases with a CPython 3.11 manylinux x86_64 wheel (the first is
#: 2.12.0). An image of an older TensorFlow gets 2.12.0: TensorFlow 2 loads the SavedModels
#: of TensorFlow 1.
TENSORFLOW_CPU_CP311: tuple[str, ...] = (
    "2.12.0", "2.12.1", "2.13.0", "2.13.1", "2.14.0", "2.14.1", "2.15.0", "2.15.1",
    "2.16.1", "2.16.2", "2.17.0", "2.17.1", "2.18.0", "2.18.1", "2.19.0", "2.19.1", "2.20.0",
)

#: TensorFlow before 2.20 caps protobuf below 6 (below 5 before 2.17), so its environment
#: runs an older protobuf than the platform's. Ray Serve's replicas import the platform's
#: ``grpcio-reflection``, whose code is generated for protobuf 6 and refuses an older
#: runtime; in such an environment pip takes the newest ``grpcio-reflection`` that the
#: environment's protobuf runs (1.71 for protobuf 5; older for protobuf 4).
TENSORFLOW_FIRST_PROTOBUF_6 = "2.20.0"
PROTOBUF_5_GRPC_REFLECTION = "grpcio-reflection<1.72"

#: The ``transformers`` release of each short image version (the SDK's ``version_aliases``
#: for ``huggingface``).
TRANSFORMERS_RELEASES: Mapping[str, str] = {
    "4.6": "4.6.1", "4.10": "4.10.2", "4.11": "4.11.0", "4.12": "4.12.3", "4.17": "4.17.0",
    "4.26": "4.26.0", "4.28": "4.28.1", "4.37": "4.37.0", "4.49": "4.49.0",
    "4.51": "4.51.3",
}

#: ``transformers`` wheels are pure Python, but releases before 4.17 require
#: ``tokenizers<0.11``, which has no CPython 3.11 wheel (its first is 0.13.2); 4.17.0 is
#: the first image release whose dependencies all install from wheels.
TRANSFORMERS_FIRST_CP311 = "4.17.0"


def requirements(image: ServingImage) -> tuple[str, ...]:
    """The pip requirements of the runtime environment that serves ``image``.

    A version the tables do not know gets the entry of the nearest later version they
    know, or of the newest one if it is later than all of them.
    """
    if image.framework is Framework.XGBOOST_ALGORITHM:
        return XGBOOST_ALGORITHM[_nearest_key(image.version, XGBOOST_ALGORITHM)]
    if image.framework is Framework.XGBOOST:
        return XGBOOST[_nearest_key(image.version, XGBOOST)]
    if image.framework is Framework.SKLEARN:
        return SKLEARN[_nearest_key(image.version, SKLEARN)]
    if image.framework is Framework.PYTORCH:
        return (_torch(image.version),)
    if image.framework is Framework.HUGGINGFACE:
        release = _release(image.version, TRANSFORMERS_RELEASES)
        if _key(release) < _key(TRANSFORMERS_FIRST_CP311):
            release = TRANSFORMERS_FIRST_CP311
        return (f"transformers=={release}", _torch(image.pytorch_version or ""))
    if image.framework is Framework.TENSORFLOW:
        release = _nearest(_release(image.version, TENSORFLOW_RELEASES), TENSORFLOW_CPU_CP311)
        if _key(release) < _key(TENSORFLOW_FIRST_PROTOBUF_6):
            return (f"tensorflow-cpu=={release}", PROTOBUF_5_GRPC_REFLECTION)
        return (f"tensorflow-cpu=={release}",)
    raise ValueError(f"no requirements known for {image.framework!r}")


def with_model_requirements(framework: Sequence[str], model: Sequence[str]) -> list[str]:
    """A runtime environment's pip list: the framework's pins, then the model's own
    ``code/requirements.txt`` lines. As in the container, where the model's requirements
    are installed over the framework, a project the model names itself is the model's
    choice: the framework's pin of it is dropped (pip refuses two pins of one project)."""
    named = {_project(line) for line in model} - {None}
    return [pin for pin in framework if _project(pin) not in named] + list(model)


def _project(line: str) -> str | None:
    """The normalised project name of a requirement line; ``None`` for a path, a URL or an
    option (``-r``, ``--index-url``), which name no project here."""
    try:
        return canonicalize_name(Requirement(line).name)
    except InvalidRequirement:
        return None


def _torch(version: str) -> str:
    full = version if version.count(".") == 2 else f"{version}.0"
    return f"torch=={full}" if full in TORCH_CPU_RELEASES else TORCH


def _release(version: str, short: Mapping[str, str]) -> str:
    """The full release an image version names: itself if it has three numbers, else the
    SDK's alias, else its ``.0`` release."""
    if version.count(".") >= 2:
        return version
    return short.get(version, f"{version}.0")


def _key(version: str) -> tuple[int, ...]:
    """Orders ``"1.7-1"``, ``"0.20.0"``, ``"2.13"``: the numbers in it, in turn."""
    return tuple(int(number) for number in re.findall(r"\d+", version))


def _nearest(version: str, known: tuple[str, ...] | list[str]) -> str:
    ordered = sorted(known, key=_key)
    for candidate in ordered:
        if _key(candidate) >= _key(version):
            return candidate
    return ordered[-1]


def _nearest_key(version: str, table: Mapping[str, tuple[str, ...]]) -> str:
    return version if version in table else _nearest(version, list(table))
