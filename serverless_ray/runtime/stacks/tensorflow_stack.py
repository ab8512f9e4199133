"""The SageMaker TensorFlow Serving container's serving, with TensorFlow in the replica.

Follows aws/sagemaker-tensorflow-serving-container, without the TensorFlow Serving binary:

* **The models**: every SavedModel under a numbered version directory of the model data
  (``1/saved_model.pb``, or ``<name>/1/saved_model.pb`` for several models), each version
  loaded with ``tf.saved_model.load``. A request is served by the model that
  ``tfs-model-name`` names (else ``TFS_DEFAULT_MODEL_NAME``, else the first), at the
  version ``tfs-model-version`` names (else its latest).
* **No script**: the request becomes a TensorFlow Serving REST request as the container's
  proxy makes it (:mod:`serverless_ray.frameworks.tfs_requests`), and is answered as
  TensorFlow Serving's Predict API answers it: ``{"instances": ...}`` (row format) →
  ``{"predictions": ...}``, ``{"inputs": ...}`` (columnar) → ``{"outputs": ...}``, with the
  signature ``signature_name`` names (default ``serving_default``). With the custom
  attribute ``tfs-method=classify`` or ``regress``, as its Classify and Regress APIs answer
  it: ``{"examples": [...], "context": {...}}`` become serialized ``tf.Example`` protos,
  the signature's one string input; ``classes`` and ``scores`` come back as
  ``{"result": [[[label, score], ...], ...]}``, a regression's ``outputs`` as
  ``{"result": [value, ...]}``.
* **code/inference.py** defines ``input_handler(data, context)``, which turns the request
  into the body of a TensorFlow Serving request, and ``output_handler(response, context)``,
  which turns TensorFlow Serving's response into ``(body, content_type)``; both, as the
  container requires. A script's ``handler(data, context)`` posts to TensorFlow Serving's
  REST port itself, which does not run here: it is refused with a message saying so.

TensorFlow is imported only when a model loads, in the runtime environment that installs it.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

from serverless_ray.frameworks import ServingImage, tfs_requests
from serverless_ray.frameworks.tfs_requests import Target, TfsRequestError
from serverless_ray.runtime.usercode import InvalidHandlerError

from .stack import ServingStack

DEFAULT_SCRIPT = "inference.py"
DEFAULT_MODEL_ENV = "TFS_DEFAULT_MODEL_NAME"
DEFAULT_SIGNATURE = "serving_default"
SAVED_MODEL = "saved_model.pb"
# The model directory's name in the container, which names a model at its top.
_CONTAINER_MODEL_NAME = "model"
# Where TensorFlow Serving's REST API listens in the container; scripts only read it.
_REST_PORT = 8501


def tensorflow_stack(image: ServingImage, environment: Mapping[str, str]) -> ServingStack:
    """The TensorFlow Serving container of ``image``."""
    load = partial(load_models, default_model=environment.get(DEFAULT_MODEL_ENV) or None)
    return ServingStack(
        name=f"TensorFlow Serving {image.version}",
        program=None,  # the container runs code/inference.py, whatever SAGEMAKER_PROGRAM says
        scriptless={"model_fn": load, "transform_fn": serve},
        default_script=DEFAULT_SCRIPT,
        default_accept=tfs_requests.JSON,
        default_content_type=tfs_requests.JSON,
        script_hooks=partial(handler_hooks, load=load),
    )


@dataclass
class Models:
    """The SavedModels of a model directory: name → version → the loaded model."""

    versions: dict[str, dict[int, Any]]
    default: str

    def signature(self, target: Target, name: str | None) -> Any:
        """The concrete function of signature ``name`` of the model and version ``target`` names."""
        model = target.model or self.default
        if model not in self.versions:
            raise TfsRequestError(f"Servable not found for request: model '{model}' (the models are "
                                  f"{', '.join(sorted(self.versions))})", status_code=404)
        versions = self.versions[model]
        version = int(target.version) if target.version else max(versions)
        if version not in versions:
            raise TfsRequestError(f"Servable not found for request: Specific({model}, {version}) (its versions "
                                  f"are {', '.join(map(str, sorted(versions)))})", status_code=404)
        signatures = versions[version].signatures
        wanted = name or DEFAULT_SIGNATURE
        if wanted not in signatures:
            raise TfsRequestError(f'Serving signature name: "{wanted}" not found in signature def; the model has '
                                  f"{', '.join(sorted(signatures)) or 'none'}")
        return signatures[wanted]


def model_versions(model_dir: Path) -> dict[str, dict[int, Path]]:
    """Every ``<model>/<version>/saved_model.pb`` under ``model_dir``: model name → version →
    directory. A version directory at the top belongs to the model named ``model``."""
    found: dict[str, dict[int, Path]] = {}
    for saved in sorted(model_dir.rglob(SAVED_MODEL)):
        version_dir = saved.parent
        if not version_dir.name.isdigit() or version_dir == model_dir:
            continue
        base = version_dir.parent
        name = _CONTAINER_MODEL_NAME if base == model_dir else base.name
        found.setdefault(name, {})[int(version_dir.name)] = version_dir
    return found


def load_models(model_dir: str | Path, *, default_model: str | None = None) -> Models:
    """The container's model loading: every version of every SavedModel."""
    import tensorflow as tf

    located = model_versions(Path(model_dir))
    if not located:
        raise ValueError(f"no SavedModel under a numbered version directory (such as 1/{SAVED_MODEL}) "
                         "in the model data")
    if default_model is not None and default_model not in located:
        raise ValueError(f"{DEFAULT_MODEL_ENV} '{default_model}' is none of the models in the model data "
                         f"({', '.join(sorted(located))})")
    versions = {name: {version: tf.saved_model.load(str(path)) for version, path in by_version.items()}
                for name, by_version in located.items()}
    return Models(versions, default_model or next(iter(sorted(located))))


def serve(models: Models, data: bytes | str, content_type: str, accept: str, context: Any) -> tuple[bytes, str]:
    """The container without a script: the proxy's translation, then TensorFlow Serving."""
    target = tfs_requests.target(context.custom_attributes)
    body = json.dumps(answer(models, tfs_requests.tfs_request(data, content_type), target),
                      separators=(",", ":")).encode("utf-8")
    wants_lines = any(part.strip().startswith(tfs_requests.JSONLINES) for part in (accept or "").split(","))
    return body, tfs_requests.JSONLINES if wants_lines else tfs_requests.JSON


def answer(models: Models, request: Any, target: Target) -> dict[str, Any]:
    """TensorFlow Serving's answer to one REST request, by the API ``target`` names."""
    if target.method == "predict":
        return predict(models, request, target)
    if not isinstance(request, dict):
        raise TfsRequestError(f"a {target.method} request is a JSON object with 'examples'")
    return classify_or_regress(models, request, target)


def predict(models: Models, request: Any, target: Target) -> dict[str, Any]:
    """TensorFlow Serving's Predict API on one REST request."""
    if not isinstance(request, dict):
        raise TfsRequestError("a TensorFlow Serving request is a JSON object with 'instances' or 'inputs'")
    if "examples" in request:
        raise TfsRequestError("'examples' are inputs of the Classify and Regress APIs; Predict takes 'instances' "
                              "or 'inputs'")
    if ("instances" in request) == ("inputs" in request):
        raise TfsRequestError("Missing 'inputs' or 'instances' key" if "instances" not in request
                              else "Request must contain either 'instances' or 'inputs', not both")
    function = models.signature(target, request.get("signature_name"))
    specs: dict[str, Any] = function.structured_input_signature[1]
    row_format = "instances" in request
    columns = _row_inputs(request["instances"], specs) if row_format else _columnar_inputs(request["inputs"], specs)
    outputs = _call(function, {name: _tensor(value, specs[name]) for name, value in columns.items()})
    arrays = {name: _plain(tensor.numpy()) for name, tensor in sorted(outputs.items())}
    if not row_format:
        return {"outputs": next(iter(arrays.values())) if len(arrays) == 1 else arrays}
    if len(arrays) == 1:
        return {"predictions": next(iter(arrays.values()))}
    sizes = {len(value) if isinstance(value, list) else None for value in arrays.values()}
    if len(sizes) != 1 or None in sizes:
        raise TfsRequestError("the signature's outputs differ in their first dimension, so they cannot be "
                              "returned per instance; send 'inputs' (columnar format) instead")
    return {"predictions": [{name: value[i] for name, value in arrays.items()} for i in range(sizes.pop())]}


def classify_or_regress(models: Models, request: Mapping[str, Any], target: Target) -> dict[str, Any]:
    """TensorFlow Serving's Classify or Regress API on one REST request."""
    import tensorflow as tf

    if "instances" in request or "inputs" in request:
        raise TfsRequestError(f"'instances' and 'inputs' are inputs of the Predict API; {target.method} takes "
                              "'examples' (and an optional 'context')")
    serialized = [_example(features).SerializeToString() for features in tfs_requests.examples(request)]
    name = request.get("signature_name") or DEFAULT_SIGNATURE
    function = models.signature(target, name)
    specs: dict[str, Any] = function.structured_input_signature[1]
    if len(specs) != 1 or next(iter(specs.values())).dtype != tf.string:
        raise TfsRequestError(f"signature '{name}' takes {', '.join(f'{k} ({v.dtype.name})' for k, v in specs.items())}; "
                              f"the {target.method.capitalize()} API needs a signature whose one input is a string "
                              "tensor of serialized tf.Example protos")
    outputs = _call(function, {next(iter(specs)): tf.constant(serialized, dtype=tf.string)})
    count = len(serialized)
    if target.method == "regress":
        if tf.saved_model.REGRESS_OUTPUTS not in outputs:
            raise TfsRequestError(f"signature '{name}' has no '{tf.saved_model.REGRESS_OUTPUTS}' output, which the "
                                  f"Regress API reads (it has {', '.join(sorted(outputs))})")
        values = outputs[tf.saved_model.REGRESS_OUTPUTS].numpy().reshape(-1).tolist()
        if len(values) != count:
            raise TfsRequestError(f"the '{tf.saved_model.REGRESS_OUTPUTS}' output has {len(values)} values for "
                                  f"{count} examples: the Regress API needs one per example")
        return {"result": values}
    classes = outputs.get(tf.saved_model.CLASSIFY_OUTPUT_CLASSES)
    scores = outputs.get(tf.saved_model.CLASSIFY_OUTPUT_SCORES)
    if classes is None and scores is None:
        raise TfsRequestError(f"signature '{name}' has neither a 'classes' nor a 'scores' output, which the Classify "
                              f"API reads (it has {', '.join(sorted(outputs))})")
    labels = _per_example(classes, count, "classes")
    values = _per_example(scores, count, "scores")
    width = len((labels or values)[0])
    result = []
    for position in range(count):
        row_labels = _text(labels[position]) if labels else [""] * width
        row_scores = values[position] if values else [0.0] * width
        if len(row_labels) != len(row_scores):
            raise TfsRequestError("the 'classes' and 'scores' outputs differ in their number of classes")
        result.append([[label, float(score)] for label, score in zip(row_labels, row_scores)])
    return {"result": result}


def _per_example(tensor: Any, count: int, name: str) -> list[list[Any]] | None:
    """A classification output as one row per example, each a list of classes."""
    if tensor is None:
        return None
    array = tensor.numpy()
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2 or array.shape[0] != count:
        raise TfsRequestError(f"the '{name}' output has shape {list(array.shape)}; the Classify API needs "
                              f"[{count} examples, classes]")
    return array.tolist()


def _example(features: Mapping[str, tfs_requests.Feature]) -> Any:
    import tensorflow as tf

    kinds = {tfs_requests.INT64: (tf.train.Int64List, "int64_list"),
             tfs_requests.FLOAT: (tf.train.FloatList, "float_list"),
             tfs_requests.BYTES: (tf.train.BytesList, "bytes_list")}
    built = {}
    for name, feature in features.items():
        kind, field_name = kinds[feature.kind]
        built[name] = tf.train.Feature(**{field_name: kind(value=list(feature.values))})
    return tf.train.Example(features=tf.train.Features(feature=built))


def _call(function: Any, inputs: Mapping[str, Any]) -> Mapping[str, Any]:
    """A signature's outputs; what the model refuses is TensorFlow Serving's 400."""
    try:
        return function(**inputs)
    except (TypeError, ValueError) as exc:
        raise TfsRequestError(str(exc)) from exc
    except Exception as exc:  # tf.errors.OpError: the model rejected the values
        if type(exc).__module__.startswith("tensorflow"):
            raise TfsRequestError(str(exc).strip().splitlines()[0]) from exc
        raise


def _row_inputs(instances: Any, specs: Mapping[str, Any]) -> dict[str, list[Any]]:
    if not isinstance(instances, list) or not instances:
        raise TfsRequestError("'instances' must be a non-empty list")
    names = list(specs)
    if len(names) == 1:
        name = names[0]
        return {name: [inst[name] if isinstance(inst, dict) and set(inst) == {name} else inst
                       for inst in instances]}
    columns: dict[str, list[Any]] = {name: [] for name in names}
    for position, instance in enumerate(instances):
        if not isinstance(instance, dict) or set(instance) != set(names):
            raise TfsRequestError(f"instance {position} must be an object with the signature's inputs "
                                  f"{', '.join(names)}; it is {json.dumps(instance)[:100]}")
        for name in names:
            columns[name].append(instance[name])
    return columns


def _columnar_inputs(inputs: Any, specs: Mapping[str, Any]) -> dict[str, Any]:
    names = list(specs)
    if isinstance(inputs, dict):
        if set(inputs) != set(names):
            raise TfsRequestError(f"'inputs' must name the signature's inputs {', '.join(names)}; "
                                  f"it names {', '.join(inputs)}")
        return dict(inputs)
    if len(names) != 1:
        raise TfsRequestError(f"the signature has the inputs {', '.join(names)}: 'inputs' must be an object "
                              "naming each")
    return {names[0]: inputs}


def _tensor(value: Any, spec: Any) -> Any:
    import tensorflow as tf

    if spec.dtype == tf.string:
        value = _binary(value)
    return tf.constant(value, dtype=spec.dtype)


def _binary(value: Any) -> Any:
    """TensorFlow Serving's ``{"b64": ...}`` values as bytes."""
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"])
    if isinstance(value, list):
        return [_binary(item) for item in value]
    return value


def _plain(array: Any) -> Any:
    """An output as JSON values: numbers and lists, bytes as text (or ``{"b64": ...}``)."""
    if getattr(array, "dtype", None) is not None and array.dtype.kind in "SO":
        return _text(array.tolist())
    return array.tolist()


def _text(value: Any) -> Any:
    if isinstance(value, list):
        return [_text(item) for item in value]
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return {"b64": base64.b64encode(value).decode("ascii")}
    return value


# -- inference.py: input_handler and output_handler -------------------------------------


@dataclass(frozen=True)
class HandlerContext:
    """What the container passes its handlers (its ``tfs_utils.Context``)."""

    model_name: str
    model_version: str | None
    method: str
    rest_uri: str
    grpc_port: int | None
    channel: Any
    custom_attributes: str | None
    request_content_type: str
    accept_header: str
    content_length: int


@dataclass
class ServingResponse:
    """TensorFlow Serving's answer as ``output_handler`` receives it (the parts of a
    ``requests.Response`` such handlers read)."""

    status_code: int
    content: bytes
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": tfs_requests.JSON})

    @property
    def ok(self) -> bool:
        return self.status_code < 400

    @property
    def text(self) -> str:
        return self.content.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.content)


def handler_hooks(module: ModuleType, source: str, *, load: Callable[..., Models]) -> dict[str, Any]:
    """The hooks of a script in the container: its two handlers around TensorFlow Serving."""
    if callable(getattr(module, "handler", None)):
        raise InvalidHandlerError(
            f"{source} defines handler(data, context), which posts to TensorFlow Serving's REST port itself; "
            "TensorFlow Serving runs in the replica here: define input_handler(data, context) and "
            "output_handler(response, context) instead")
    input_handler = getattr(module, "input_handler", None)
    output_handler = getattr(module, "output_handler", None)
    if not (callable(input_handler) and callable(output_handler)):
        raise InvalidHandlerError(f"{source} must define both input_handler(data, context) and "
                                  "output_handler(response, context), as the TensorFlow Serving container requires")
    return {"model_fn": load,
            "transform_fn": partial(serve_with_handlers, input_handler=input_handler, output_handler=output_handler)}


def serve_with_handlers(models: Models, data: bytes | str, content_type: str, accept: str, context: Any, *,
                        input_handler: Callable[..., Any], output_handler: Callable[..., Any]) -> Any:
    """``input_handler``, TensorFlow Serving, ``output_handler``."""
    body = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    target = tfs_requests.target(context.custom_attributes)
    model = target.model or models.default
    uri = f"http://localhost:{_REST_PORT}/v1/models/{model}"
    uri += (f"/versions/{target.version}" if target.version else "") + f":{target.method}"
    handler_context = HandlerContext(
        model_name=model, model_version=target.version, method=target.method, rest_uri=uri, grpc_port=None,
        channel=None, custom_attributes=context.custom_attributes, request_content_type=content_type,
        accept_header=accept, content_length=len(body))
    request = input_handler(io.BytesIO(body), handler_context)
    try:
        answered = answer(models, json.loads(request), target)
        response = ServingResponse(200, json.dumps(answered, separators=(",", ":")).encode("utf-8"))
    except ValueError as exc:  # JSON that does not parse, and TfsRequestError
        status = getattr(exc, "status_code", 400)
        response = ServingResponse(status, json.dumps({"error": str(exc)}).encode("utf-8"))
    return output_handler(response, handler_context)
