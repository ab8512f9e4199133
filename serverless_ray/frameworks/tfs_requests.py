"""Requests as the SageMaker TensorFlow Serving container hands them to TensorFlow Serving.

Follows ``tensorflow-serving.js`` of aws/sagemaker-tensorflow-serving-container, the proxy
in front of TensorFlow Serving's REST API when the model brings no inference script:

* ``application/json``: a body that already names ``instances``, ``inputs`` or
  ``examples`` is TensorFlow Serving's own request and passes unchanged; JSON lines become
  one instance each; any other JSON is one instance (``[[...]]``: a list of them);
* ``application/jsonlines``: one instance per line;
* ``text/csv``: one instance per row (a row of several columns is a list), numbers as they
  are, anything else as strings;
* anything else: 415.

The custom attributes ``tfs-model-name``, ``tfs-model-version`` and ``tfs-method``
(``predict``, ``classify``, ``regress``) pick the model, its version and the API method.
The Classify and Regress APIs take ``{"examples": [...], "context": {...}}``, each example
an object of features that :func:`examples` turns into typed ``tf.Example`` features as
TensorFlow Serving's REST API does.
"""

from __future__ import annotations

import csv
import io
import json
import re
import base64
import binascii
from dataclasses import dataclass
from typing import Any, Mapping

JSON = "application/json"
JSONLINES = "application/jsonlines"
CSV = "text/csv"
#: The request types the container's proxy accepts.
REQUEST_TYPES: tuple[str, ...] = (JSON, JSONLINES, "application/jsons", CSV)
METHODS = ("predict", "classify", "regress")

_TFS_KEYS = re.compile(r'"(instances|inputs|examples)"\s*:')
_JSON_LINES = re.compile(r"[}\]]\s*[\[{]")
_LIST_OF_LISTS = re.compile(r"^\s*\[\s*\[")
_ATTRIBUTE = re.compile(r"(tfs-[a-z\-]+)=([^,]+)")
_NUMBER = re.compile(r"^\s*[\d.Ee+\-]+")


class TfsRequestError(ValueError):
    """A request the container refuses (415 for its type, 400 for its body)."""

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True)
class Target:
    """The model, version and method that a request's custom attributes name."""

    model: str | None = None
    version: str | None = None
    method: str = "predict"


def target(custom_attributes: str | None) -> Target:
    """The ``tfs-*`` custom attributes of a request."""
    attributes = dict(_ATTRIBUTE.findall(custom_attributes or ""))
    method = attributes.get("tfs-method", "predict").strip()
    if method not in METHODS:
        raise TfsRequestError(f"tfs-method '{method}' is none of {', '.join(METHODS)}")
    version = attributes.get("tfs-model-version")
    if version is not None and not version.strip().isdigit():
        raise TfsRequestError(f"tfs-model-version '{version}' is not a version number")
    return Target(model=attributes.get("tfs-model-name"), version=version.strip() if version else None,
                  method=method)


def tfs_request(body: bytes | str, content_type: str | None) -> dict[str, Any]:
    """The TensorFlow Serving REST request that the proxy makes of a SageMaker request."""
    kind = (content_type or JSON).split(";", 1)[0].strip().lower()
    if kind not in REQUEST_TYPES:
        raise TfsRequestError(f"Unsupported Media Type: {content_type or 'Unknown'}; the container accepts "
                              f"{', '.join(REQUEST_TYPES)}", status_code=415)
    try:
        text = body if isinstance(body, str) else bytes(body).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TfsRequestError(f"the request body is not UTF-8 text: {exc}") from exc
    if kind in (JSON, JSONLINES, "application/jsons"):
        if _JSON_LINES.search(text):
            return {"instances": [_json(line) for line in text.strip().splitlines() if line.strip()]}
        if _TFS_KEYS.search(text):
            request = _json(text)
            if not isinstance(request, dict):
                raise TfsRequestError("a TensorFlow Serving request is a JSON object with 'instances' or 'inputs'")
            return request
        value = _json(text)
        return {"instances": value if _LIST_OF_LISTS.match(text) else [value]}
    return {"instances": _csv_instances(text)}


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise TfsRequestError(f"the request body is not valid JSON: {exc}") from exc


def _csv_instances(text: str) -> list[Any]:
    # As the proxy: a body whose first field is not a number is all strings.
    numeric = _NUMBER.match(text) is not None
    instances: list[Any] = []
    for row in csv.reader(io.StringIO(text.strip())):
        if not row:
            continue
        values = [_number(field) for field in row] if numeric else [field for field in row]
        instances.append(values if len(values) > 1 else values[0])
    return instances


def _number(field: str) -> float | int:
    try:
        return int(field)
    except ValueError:
        try:
            return float(field)
        except ValueError as exc:
            raise TfsRequestError(f"CSV field '{field}' is not a number, and the body's first field is") from exc


# -- the Classify and Regress APIs: JSON examples as tf.Example features ------------------

#: The three kinds of value a tf.Example feature holds.
INT64, FLOAT, BYTES = "int64_list", "float_list", "bytes_list"


@dataclass(frozen=True)
class Feature:
    """One feature of a ``tf.Example``: its kind (:data:`INT64`, :data:`FLOAT` or
    :data:`BYTES`) and its values."""

    kind: str
    values: tuple[Any, ...]


def examples(request: Mapping[str, Any]) -> list[dict[str, Feature]]:
    """The features of each example of a Classify or Regress request, the ``context``'s
    among them, as TensorFlow Serving reads them: whole numbers are ``int64``, numbers with
    a fraction (or a list mixing both) ``float``, strings and ``{"b64": ...}`` bytes; a
    value is one value or a list of them. A feature may be in the context or in the
    examples, not both."""
    listed = request.get("examples")
    if listed is None:
        raise TfsRequestError("Missing 'examples' key: the Classify and Regress APIs take a list of examples")
    if not isinstance(listed, list) or not listed or not all(isinstance(example, dict) for example in listed):
        raise TfsRequestError("'examples' must be a non-empty list of objects, each a feature name → value or list "
                              "of values")
    context = request.get("context", {})
    if not isinstance(context, dict):
        raise TfsRequestError("'context' must be an object: feature name → value or list of values")
    shared = {name: _feature(value, f"feature '{name}' of 'context'") for name, value in context.items()}
    found: list[dict[str, Feature]] = []
    for position, example in enumerate(listed):
        both = sorted(set(example) & set(shared))
        if both:
            raise TfsRequestError(f"feature '{both[0]}' is in 'context' and in example {position}: a context "
                                  "feature must not appear in the examples")
        own = {name: _feature(value, f"feature '{name}' of example {position}") for name, value in example.items()}
        found.append({**shared, **own})
    return found


def _feature(value: Any, where: str) -> Feature:
    values = value if isinstance(value, list) else [value]
    if not values:
        raise TfsRequestError(f"{where} is an empty list: a feature has at least one value")
    if any(isinstance(item, bool) or item is None for item in values):
        raise TfsRequestError(f"{where} holds {json.dumps(value)[:80]}: values are numbers or strings "
                              "(or {\"b64\": ...} for bytes)")
    if all(isinstance(item, int) for item in values):
        return Feature(INT64, tuple(values))
    if all(isinstance(item, (int, float)) for item in values):
        return Feature(FLOAT, tuple(float(item) for item in values))
    if all(isinstance(item, str) or _is_b64(item) for item in values):
        return Feature(BYTES, tuple(_bytes(item, where) for item in values))
    raise TfsRequestError(f"{where} mixes numbers and strings ({json.dumps(value)[:80]}); a feature's values "
                          "are all numbers or all strings")


def _is_b64(item: Any) -> bool:
    return isinstance(item, dict) and set(item) == {"b64"} and isinstance(item["b64"], str)


def _bytes(item: Any, where: str) -> bytes:
    if isinstance(item, str):
        return item.encode("utf-8")
    try:
        return base64.b64decode(item["b64"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise TfsRequestError(f"{where}: {{\"b64\": ...}} is not base64 ({exc})") from exc
