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
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from typing import Any

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
