"""Request decoding and response encoding of the SageMaker XGBoost container.

Follows aws/sagemaker-xgboost-container's algorithm mode (``serve_utils`` and ``serve``),
which serves a model that brings no inference script:

* ``text/csv``: rows of numbers without a header, one per line; the delimiter is found on
  the first line; an empty cell is a missing value.
* ``text/libsvm`` (and ``text/x-libsvm``): ``<label> <index>:<value> ...``, the label
  ignored, indices used as given (column numbers from zero).
* ``application/x-recordio-protobuf``: one record per row, its ``values`` feature dense
  or sparse.
* ``application/json`` and ``application/jsonlines``: the container itself refuses these
  (415); they are decoded here in the shapes SageMaker's built-in algorithms accept,
  ``{"instances": [{"features": [...]}, ...]}``, a single ``{"features": [...]}``, sparse
  ``{"data": {"features": {"keys": [...], "shape": [n], "values": [...]}}}``, or plain
  lists of numbers, one object or list per line for JSON lines.

:func:`decode` returns a 2-D float array, or for sparse input a SciPy CSR matrix when SciPy
is importable (it is wherever XGBoost is) and otherwise a dense array with NaN, XGBoost's
missing value, where the input had no entry, so a booster sees the same matrix either way.

:func:`encode` answers as the container does: ``text/csv`` one prediction per line,
``application/json`` ``{"predictions": [{"score": ...}]}``; containers before 1.2-2 (and
the built-in algorithm) ignore ``Accept`` and answer every request with the predictions
comma-joined on one line. The container answers ``application/jsonlines`` and
``application/x-recordio-protobuf`` only in selectable-inference mode; here they carry
the JSON answer's ``{"score": ...}`` entries, one line or one record (label ``score``)
per prediction.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from serverless_ray.runtime.codecs import UnsupportedFormatError, media_type

from . import recordio
from .images import Framework, ServingImage

CSV = "text/csv"
LIBSVM = "text/libsvm"
X_LIBSVM = "text/x-libsvm"
JSON = "application/json"
JSONLINES = "application/jsonlines"
RECORDIO_PROTOBUF = "application/x-recordio-protobuf"

CONTENT_TYPES = (CSV, LIBSVM, X_LIBSVM, JSON, JSONLINES, RECORDIO_PROTOBUF)
ACCEPTS = (JSON, JSONLINES, RECORDIO_PROTOBUF, CSV)
#: What the container answers when a request names no ``Accept`` (or ``*/*``) and
#: ``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT`` is unset.
DEFAULT_ACCEPT = CSV

# The container's versions that answer every request with comma-joined CSV; the branches
# from 1.2-2 on encode in the Accept type.
_COMMA_JOINED_VERSIONS = frozenset({"0.90-1", "0.90-2", "1.0-1", "1.2-1"})

# The delimiters csv.Sniffer finds on the first line of a CSV body, in the order they win
# here; a fixed list keeps a one-column body's decimal point from passing for one.
_DELIMITERS = (",", "\t", ";", "|", " ")


class MalformedBodyError(ValueError):
    """A request body that does not parse as its content type. Carries
    ``status_code = 400``."""

    status_code = 400


class NotAcceptableError(UnsupportedFormatError):
    """An ``Accept`` value the container does not answer in; ``status_code = 406`` as
    the container answers it."""

    status_code = 406


@dataclass(frozen=True)
class EncodedResponse:
    """A response body and its content type."""

    body: bytes
    content_type: str


# ---- requests ----


def decode(body: bytes | bytearray | str, content_type: str | None) -> Any:
    """A request body as the rows to predict on (see the module's docstring).

    Raises :class:`~serverless_ray.runtime.codecs.UnsupportedFormatError` (415) for any
    other content type, and :class:`MalformedBodyError` (400) for a body that does not
    parse, quoting the offending part.
    """
    kind = media_type(content_type)
    if kind not in CONTENT_TYPES:
        raise UnsupportedFormatError("content type", content_type, list(CONTENT_TYPES))
    if kind == RECORDIO_PROTOBUF:
        return _decode_recordio(bytes(body) if not isinstance(body, str) else body.encode("latin-1"))
    text = _text(body).strip()
    if not text:
        raise MalformedBodyError("the request body is empty")
    if kind == CSV:
        _check_label_size(content_type or "")
        return _decode_csv(text)
    if kind in (LIBSVM, X_LIBSVM):
        return _decode_libsvm(text)
    if kind == JSON:
        return _assemble([_json_row(row, f"instance {i}") for i, row in enumerate(_json_instances(text))])
    return _assemble([_json_row(_json_load(line, f"line {i + 1}"), f"line {i + 1}")
                      for i, line in enumerate(text.splitlines()) if line.strip()])


def _text(body: bytes | bytearray | str) -> str:
    if isinstance(body, str):
        return body
    try:
        return bytes(body).decode("utf-8")
    except UnicodeDecodeError as error:
        raise MalformedBodyError(f"the request body is not UTF-8: {error}") from None


def _check_label_size(content_type: str) -> None:
    # text/csv;label_size=1 is how SageMaker's channels describe a CSV with one label
    # column; the container accepts the parameter only with that value.
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "label_size" and value.strip() != "1":
            raise UnsupportedFormatError("content type", content_type, [CSV, f"{CSV};label_size=1"])


def _number(text: str, where: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise MalformedBodyError(f"{where}: {text[:50]!r} is not a number") from None


def _decode_csv(text: str) -> np.ndarray:
    lines = text.split("\n")
    first = lines[0]
    delimiter = next((d for d in _DELIMITERS if d in first.strip()), ",")
    rows = []
    for number, line in enumerate(lines, 1):
        cells = line.strip().split(delimiter)
        rows.append([math.nan if not cell.strip() else _number(cell.strip(), f"line {number}") for cell in cells])
        if len(rows[-1]) != len(rows[0]):
            raise MalformedBodyError(f"line {number} has {len(rows[-1])} values, line 1 has {len(rows[0])}: "
                                     f"{line[:50]!r}")
    return np.array(rows, dtype=np.float64)


def _decode_libsvm(text: str) -> Any:
    rows: list[_Sparse] = []
    for number, line in enumerate(text.split("\n"), 1):
        entries: dict[int, float] = {}
        for token in line.split():
            index, colon, value = token.partition(":")
            if not colon or index == "qid":  # the label, and a ranking group, say nothing of features
                continue
            if not index.isdigit():
                raise MalformedBodyError(f"line {number}: {token[:50]!r} has no feature index")
            # the container builds a CSR matrix from coordinates, which sums repeated entries
            entries[int(index)] = entries.get(int(index), 0.0) + _number(value, f"line {number}")
        rows.append(_Sparse(list(entries), list(entries.values()), None))
    return _assemble(rows)


def _decode_recordio(body: bytes) -> Any:
    try:
        records = recordio.read_records(body)
    except recordio.RecordIOError as error:
        raise MalformedBodyError(f"not a RecordIO-protobuf body: {error}") from None
    rows: list[np.ndarray | _Sparse] = []
    for record in records:
        tensor = record.features.get("values")
        if tensor is None:  # the container skips a record without the values feature
            continue
        if tensor.keys is None:
            rows.append(tensor.values.astype(np.float32))
        else:
            width = int(tensor.shape[0]) if tensor.shape else None
            rows.append(_Sparse(tensor.keys.astype(np.int64).tolist(), tensor.values.tolist(), width))
    if not rows:
        raise MalformedBodyError("the RecordIO-protobuf body holds no record with a 'values' feature")
    return _assemble(rows)


def _json_load(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise MalformedBodyError(f"{where} is not JSON: {error}") from None


def _json_instances(text: str) -> list[Any]:
    document = _json_load(text, "the request body")
    if isinstance(document, dict) and "instances" in document:
        instances = document["instances"]
        if not isinstance(instances, list):
            raise MalformedBodyError(f"'instances' must be a list, not {json.dumps(instances)[:50]}")
        return instances
    if isinstance(document, list) and document and all(isinstance(row, (list, dict)) for row in document):
        return document
    return [document]


@dataclass(frozen=True)
class _Sparse:
    indices: list[int]
    values: list[float]
    width: int | None


def _json_row(row: Any, where: str) -> np.ndarray | _Sparse:
    if isinstance(row, dict):
        if "features" in row:
            row = row["features"]
        elif isinstance(row.get("data"), dict) and "features" in row["data"]:
            row = row["data"]["features"]
        else:
            raise MalformedBodyError(f"{where}: {json.dumps(row)[:50]} has no 'features'")
    if isinstance(row, dict):  # {"values": [...], "keys": [...], "shape": [n]}
        values = _json_numbers(row.get("values"), f"{where} values")
        if "keys" not in row:
            return np.array(values, dtype=np.float64)
        keys = row["keys"]
        if not isinstance(keys, list) or not all(isinstance(k, int) and k >= 0 for k in keys) or len(keys) != len(
                values):
            raise MalformedBodyError(f"{where}: keys {json.dumps(keys)[:50]} do not match its values")
        shape = row.get("shape")
        width = shape[0] if isinstance(shape, list) and shape and isinstance(shape[0], int) else None
        return _Sparse(keys, values, width)
    return np.array(_json_numbers(row, where), dtype=np.float64)


def _json_numbers(value: Any, where: str) -> list[float]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [float(value)]
    if not isinstance(value, list) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) or v is None for v in value):
        raise MalformedBodyError(f"{where}: {json.dumps(value)[:50]} is not a list of numbers")
    return [math.nan if v is None else float(v) for v in value]


def _assemble(rows: Sequence[np.ndarray | _Sparse]) -> Any:
    """Rows → a dense 2-D array if every row is dense, else a sparse matrix."""
    if not rows:
        raise MalformedBodyError("the request holds no rows")
    if all(isinstance(row, np.ndarray) for row in rows):
        widths = {len(row) for row in rows}  # type: ignore[arg-type]
        if len(widths) > 1:
            raise MalformedBodyError(f"rows of different lengths: {sorted(widths)}")
        return np.vstack(rows)  # type: ignore[arg-type]
    sparse = [row if isinstance(row, _Sparse) else _Sparse(list(range(len(row))), row.tolist(), len(row))
              for row in rows]
    width = max([row.width or 0 for row in sparse] + [max(row.indices) + 1 for row in sparse if row.indices])
    for number, row in enumerate(sparse, 1):
        if row.width is not None and row.indices and max(row.indices) >= row.width:
            raise MalformedBodyError(f"row {number}: index {max(row.indices)} is outside its shape {row.width}")
    indptr = np.cumsum([0] + [len(row.indices) for row in sparse])
    indices = np.array([i for row in sparse for i in row.indices], dtype=np.int64)
    values = np.array([v for row in sparse for v in row.values], dtype=np.float64)
    return _sparse_matrix(values, indices, indptr, (len(sparse), width))


def _sparse_matrix(values: np.ndarray, indices: np.ndarray, indptr: np.ndarray, shape: tuple[int, int]) -> Any:
    try:
        from scipy.sparse import csr_matrix
    except ImportError:
        dense = np.full(shape, np.nan)
        rows = np.repeat(np.arange(shape[0]), np.diff(indptr))
        dense[rows, indices] = values
        return dense
    return csr_matrix((values, indices, indptr), shape=shape)


# ---- responses ----


def answers_in_accept_type(image: ServingImage) -> bool:
    """Whether ``image``'s container answers in the ``Accept`` type (1.2-2 and later),
    rather than comma-joined CSV whatever was asked (the built-in algorithm and the
    container's branches before 1.2-2)."""
    return image.framework is Framework.XGBOOST and image.version not in _COMMA_JOINED_VERSIONS


def encode(predictions: Any, accept: str | None, *, in_accept_type: bool = True,
           default_accept: str | None = None) -> EncodedResponse:
    """``predictions`` (a booster's ``predict`` output) as the container answers them.

    ``default_accept`` stands for ``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT``; it and a
    missing or ``*/*`` ``Accept`` give :data:`DEFAULT_ACCEPT` when unset. Raises
    :class:`NotAcceptableError` (406) for an ``Accept`` outside :data:`ACCEPTS`.
    """
    rows = np.asarray(predictions).tolist()
    rows = rows if isinstance(rows, list) else [rows]
    if not in_accept_type:
        return EncodedResponse(",".join(map(str, rows)).encode("utf-8"), CSV)
    kind = media_type(accept)
    if kind in ("", "*/*"):
        kind = media_type(default_accept) or DEFAULT_ACCEPT
    if kind not in ACCEPTS:
        raise NotAcceptableError("accept", accept, list(ACCEPTS))
    if kind == CSV:
        lines = (",".join(map(str, row)) if isinstance(row, list) else str(row) for row in rows)
        return EncodedResponse("".join(f"{line}\n" for line in lines).encode("utf-8"), CSV)
    scores = [{"score": row} for row in rows]
    if kind == JSON:
        return EncodedResponse(json.dumps({"predictions": scores}).encode("utf-8"), JSON)
    if kind == JSONLINES:
        return EncodedResponse("".join(json.dumps(score) + "\n" for score in scores).encode("utf-8"), JSONLINES)
    records = [recordio.Record(label={"score": recordio.Tensor(np.atleast_1d(np.asarray(row, dtype=np.float32)))})
               for row in rows]
    return EncodedResponse(recordio.write_records(records), RECORDIO_PROTOBUF)
