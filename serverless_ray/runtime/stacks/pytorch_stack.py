"""The SageMaker PyTorch inference container's serving.

Follows aws/sagemaker-pytorch-inference-toolkit: the script is ``SAGEMAKER_PROGRAM``, or
``code/inference.py`` when it is there, and any hook it leaves out (all of them, for a
model with no script) defaults to the toolkit's:

* ``model_fn``: the TorchScript module ``model.pt`` (else the one ``.pt`` or ``.pth``
  file) of the model directory, loaded on the CPU and put in eval mode;
* ``input_fn``: the toolkit's decoders (JSON, CSV, NPY) into a tensor, ``float32`` for
  JSON and CSV;
* ``predict_fn``: the model called on the tensor under ``torch.no_grad()``;
* ``output_fn``: a tensor as lists, encoded in the first ``Accept`` type the toolkit's
  encoders know (JSON by default, CSV, NPY).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from serverless_ray.frameworks import ServingImage
from serverless_ray.runtime import codecs
from serverless_ray.spec.container_environment import PROGRAM

from .stack import ServingStack

DEFAULT_MODEL_FILE = "model.pt"
MODEL_EXTENSIONS = (".pt", ".pth")
DEFAULT_SCRIPT = "inference.py"


def pytorch_stack(image: ServingImage, environment: Mapping[str, str]) -> ServingStack:
    """The PyTorch inference container of ``image``."""
    hooks = {"model_fn": load_torchscript, "input_fn": to_tensor, "predict_fn": predict, "output_fn": encode}
    return ServingStack(
        name=f"PyTorch {image.version}",
        program=environment.get(PROGRAM) or None,
        script_defaults=hooks,
        scriptless=hooks,
        default_script=DEFAULT_SCRIPT,
        default_accept=codecs.JSON,
    )


def load_torchscript(model_dir: str | Path) -> Any:
    """The toolkit's default ``model_fn``."""
    import torch

    directory = Path(model_dir)
    path = directory / DEFAULT_MODEL_FILE
    if not path.is_file():
        candidates = sorted(p.name for p in directory.iterdir() if p.is_file() and p.suffix in MODEL_EXTENSIONS)
        if len(candidates) != 1:
            raise ValueError(
                f"exactly one .pt or .pth file is required for a PyTorch model without model_fn, "
                f"or {DEFAULT_MODEL_FILE}; the model data has {candidates or 'none'}"
            )
        path = directory / candidates[0]
    try:
        model = torch.jit.load(str(path), map_location=torch.device("cpu"))
    except RuntimeError as exc:
        raise ValueError(f"failed to load {path.name}: save the model with TorchScript (torch.jit.save), "
                         f"or load it in model_fn ({exc})") from exc
    return model.eval()


def to_tensor(body: bytes | str, content_type: str) -> Any:
    """The toolkit's default ``input_fn``."""
    import torch

    array = codecs.decode(body, content_type)
    if codecs.media_type(content_type) in codecs.UTF8_TYPES:
        return torch.tensor(array, dtype=torch.float32)
    return torch.from_numpy(array)


def predict(data: Any, model: Any) -> Any:
    """The toolkit's default ``predict_fn``."""
    import torch

    with torch.no_grad():
        return model(data)


def encode(prediction: Any, accept: str) -> Any:
    """The toolkit's default ``output_fn``: the first type of ``Accept`` it can encode in."""
    if hasattr(prediction, "detach"):
        prediction = prediction.detach().cpu().numpy().tolist()
    for kind in (part.strip() for part in (accept or "").split(",")):
        if codecs.media_type(kind) in (codecs.JSON, codecs.CSV, codecs.NPY):
            return codecs.encode(prediction, kind), codecs.media_type(kind)
    raise codecs.UnsupportedFormatError("accept", accept, [codecs.JSON, codecs.CSV, codecs.NPY])
