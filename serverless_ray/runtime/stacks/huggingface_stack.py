"""The SageMaker Hugging Face inference container's serving.

Follows aws/sagemaker-huggingface-inference-toolkit's handler service: the script is
``SAGEMAKER_PROGRAM``, or ``code/inference.py`` when it is there, and any hook it leaves
out (all of them, for a model with no script) defaults to the toolkit's:

* ``model_fn``: a ``transformers`` pipeline for ``HF_TASK`` loaded from the model
  directory (model and tokenizer, or feature extractor for vision and audio tasks); without
  ``HF_TASK``, the task its ``config.json``'s architecture names. ``HF_MODEL_ID`` may name
  a local directory to load instead; nothing is downloaded from a hub, so a Hub model id is
  refused with a message saying how to ship the model;
* ``input_fn``/``output_fn``: :mod:`serverless_ray.frameworks.huggingface_codecs`;
* ``predict_fn``: ``pipeline(inputs, **parameters)`` for a ``{"inputs": ...,
  "parameters": {...}}`` request.

The toolkit itself is not imported: it needs the Multi Model Server and, to install, audio
libraries no text or vision model uses. Its behaviour is small and is kept here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from serverless_ray.frameworks import ServingImage, huggingface_codecs
from serverless_ray.spec.container_environment import CONTAINER_MODEL_DIR, HF_MODEL_ID, HF_TASK, PROGRAM

from .stack import ServingStack

DEFAULT_SCRIPT = "inference.py"
TRUST_REMOTE_CODE = "HF_TRUST_REMOTE_CODE"

#: Architecture name suffix → task, as the toolkit infers a task without ``HF_TASK``.
ARCHITECTURE_TASKS: tuple[tuple[str, str], ...] = (
    ("TapasForQuestionAnswering", "table-question-answering"),
    ("ForQuestionAnswering", "question-answering"),
    ("ForTokenClassification", "token-classification"),
    ("ForSequenceClassification", "text-classification"),
    ("ForMultipleChoice", "multiple-choice"),
    ("ForMaskedLM", "fill-mask"),
    ("ForCausalLM", "text-generation"),
    ("ForConditionalGeneration", "text2text-generation"),
    ("MTModel", "text2text-generation"),
    ("EncoderDecoderModel", "text2text-generation"),
    ("GPT2LMHeadModel", "text-generation"),
    ("T5WithLMHeadModel", "text2text-generation"),
)

# Tasks whose pipelines take a feature extractor where the others take a tokenizer.
_FEATURE_EXTRACTOR_TASKS = frozenset({
    "automatic-speech-recognition", "image-segmentation", "image-classification", "audio-classification",
    "object-detection", "zero-shot-image-classification",
})
# Tasks whose requests have nested inputs that a CSV row cannot hold.
_NO_CSV_TASKS = frozenset({"zero-shot-classification", "table-question-answering"})
_TRUE = frozenset({"y", "yes", "t", "true", "on", "1"})


def huggingface_stack(image: ServingImage, environment: Mapping[str, str]) -> ServingStack:
    """The Hugging Face inference container of ``image``."""
    task = environment.get(HF_TASK) or None
    hooks = {
        "model_fn": partial(load_pipeline, task=task, model_id=environment.get(HF_MODEL_ID) or None,
                            trust_remote_code=(environment.get(TRUST_REMOTE_CODE) or "").lower() in _TRUE),
        "input_fn": partial(decode, task=task),
        "predict_fn": predict,
        "output_fn": huggingface_codecs.encode,
    }
    return ServingStack(
        name=f"Hugging Face transformers {image.version} (PyTorch {image.pytorch_version})",
        program=environment.get(PROGRAM) or None,
        script_defaults=hooks,
        scriptless=hooks,
        default_script=DEFAULT_SCRIPT,
        default_accept=huggingface_codecs.JSON,
        # the toolkit's predictors send JSON; a request that names no type is read as JSON
        default_content_type=huggingface_codecs.JSON,
    )


def task_of(model_dir: Path) -> str:
    """The task the toolkit infers from ``config.json``'s first architecture."""
    config_file = model_dir / "config.json"
    if not config_file.is_file():
        raise ValueError(f"set the environment variable {HF_TASK} to the model's pipeline task "
                         "(text-classification, fill-mask, ...): the model data has no config.json to infer it from")
    architectures = json.loads(config_file.read_text()).get("architectures") or [None]
    architecture = architectures[0] or ""
    for suffix, task in ARCHITECTURE_TASKS:
        if architecture.endswith(suffix):
            return task
    known = ", ".join(suffix for suffix, _ in ARCHITECTURE_TASKS)
    raise ValueError(f"no task can be inferred from the architecture {architecture or '<none>'!r} in config.json "
                     f"(architectures ending with {known} can); set the environment variable {HF_TASK}")


def model_location(model_dir: Path, model_id: str | None) -> Path:
    """Where the pipeline loads from: ``HF_MODEL_ID`` when it names a local directory
    (an absolute path or a ``file://`` URL; under ``/opt/ml/model``, inside the model data),
    else the model directory."""
    if model_id is None:
        return model_dir
    parts = urlsplit(model_id)
    path = Path(unquote(parts.path)) if parts.scheme == "file" else Path(model_id)
    if path.is_relative_to(CONTAINER_MODEL_DIR):
        inside = path.relative_to(CONTAINER_MODEL_DIR)
        if ".." in inside.parts:
            raise ValueError(f"{HF_MODEL_ID} '{model_id}' leaves the model directory {CONTAINER_MODEL_DIR}")
        path = model_dir / inside
    if parts.scheme not in ("", "file") or not path.is_absolute():
        raise ValueError(
            f"{HF_MODEL_ID} '{model_id}' names a model on the Hugging Face Hub, and nothing is downloaded from a hub "
            f"here: ship the model's save_pretrained files as the model data (model.tar.gz), or set {HF_MODEL_ID} to "
            "a local directory (an absolute path or file:// URL)")
    if not path.is_dir():
        raise ValueError(f"{HF_MODEL_ID} '{model_id}' is not a directory on this node")
    return path


def load_pipeline(model_dir: str | Path, *, task: str | None, model_id: str | None,
                  trust_remote_code: bool = False) -> Any:
    """The toolkit's default ``model_fn``: the task's pipeline, on the CPU."""
    from transformers import pipeline
    from transformers.pipelines import check_task

    location = model_location(Path(model_dir), model_id)
    task = task or task_of(location)
    try:
        check_task(task)  # aliases (sentiment-analysis) and translation_xx_to_yy too
    except KeyError as exc:
        raise ValueError(f"{HF_TASK} '{task}' is no pipeline task of transformers: {exc.args[0]}") from None
    preprocessor = "feature_extractor" if task in _FEATURE_EXTRACTOR_TASKS else "tokenizer"
    return pipeline(task=task, model=str(location), device=-1, trust_remote_code=trust_remote_code,
                    **{preprocessor: str(location)})


def decode(body: bytes | str, content_type: str, *, task: str | None = None) -> Any:
    """The toolkit's default ``input_fn``."""
    if task in _NO_CSV_TASKS and huggingface_codecs.media_type(content_type) == huggingface_codecs.CSV:
        raise huggingface_codecs.HuggingFaceFormatError(
            f"text/csv requests cannot carry {task}'s inputs; send application/json", status_code=415)
    return huggingface_codecs.decode(body, content_type)


def predict(data: Any, model: Any) -> Any:
    """The toolkit's default ``predict_fn``: the pipeline on ``inputs``, with ``parameters``."""
    if isinstance(data, dict):
        data = dict(data)
        inputs = data.pop("inputs", data)
        parameters = data.pop("parameters", None)
    else:
        inputs, parameters = data, None
    return model(inputs, **parameters) if parameters else model(inputs)
