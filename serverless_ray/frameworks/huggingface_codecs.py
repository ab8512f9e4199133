"""Requests and responses as the Hugging Face inference container reads and writes them.

Follows ``decoder_encoder`` of aws/sagemaker-huggingface-inference-toolkit:

* ``application/json``: the body as JSON, normally ``{"inputs": ..., "parameters": {...}}``;
* ``text/csv``: a header row naming ``inputs`` (one input per row), or the columns of a
  question-answering request (``question``, ``context``: one dict per row);
* ``application/x-npy``: a NumPy array;
* images (``image/png``, ``image/jpeg``, ...): ``{"inputs": <PIL image>}`` (Pillow must be
  in the model's ``code/requirements.txt``, as the container has it);
* audio (``audio/wav``, ``audio/flac``, ...): ``{"inputs": <the bytes>}``.

Responses: JSON (NumPy values as numbers and lists, images as base64 PNG), CSV (one row per
dict of the pipeline's output, under their keys' header) or NPY.
"""

from __future__ import annotations

import base64
import csv
import datetime
import io
import json
from typing import Any

import numpy as np

JSON = "application/json"
CSV = "text/csv"
NPY = "application/x-npy"

IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/jpg", "image/tiff", "image/bmp", "image/gif",
                         "image/webp", "image/x-image"})
AUDIO_TYPES = frozenset({"audio/x-flac", "audio/flac", "audio/mpeg", "audio/x-audio", "audio/wave", "audio/wav",
                         "audio/x-wav", "audio/ogg"})
#: The request types the container decodes.
REQUEST_TYPES: tuple[str, ...] = (JSON, CSV, NPY, *sorted(IMAGE_TYPES), *sorted(AUDIO_TYPES))
#: The response types it encodes.
RESPONSE_TYPES: tuple[str, ...] = (JSON, CSV, NPY)

# The CSV columns the toolkit accepts in a header row.
_CSV_COLUMNS = ("question", "context", "inputs")


class HuggingFaceFormatError(ValueError):
    """A request the container cannot decode, or a response type it cannot encode."""

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.status_code = status_code


def media_type(header: str | None) -> str:
    """``"Application/JSON; charset=utf-8"`` → ``"application/json"``."""
    return (header or "").split(";", 1)[0].strip().lower()


def decode(body: bytes | str, content_type: str | None) -> Any:
    """The request as the pipeline takes it (see the module's description)."""
    kind = media_type(content_type)
    if kind == JSON:
        try:
            return json.loads(_text(body))
        except ValueError as exc:
            raise HuggingFaceFormatError(f"the request body is not valid JSON: {exc}") from exc
    if kind == CSV:
        return _decode_csv(_text(body))
    if kind == NPY:
        return np.load(io.BytesIO(_bytes(body)), allow_pickle=False)
    if kind in IMAGE_TYPES:
        return {"inputs": _image(_bytes(body))}
    if kind in AUDIO_TYPES:
        return {"inputs": _bytes(body)}
    raise HuggingFaceFormatError(
        f"Unsupported ContentType: {content_type or '<none>'}. Supported ContentTypes: {', '.join(REQUEST_TYPES)}",
        status_code=415,
    )


def encode(prediction: Any, accept: str) -> tuple[bytes, str]:
    """``prediction`` in the first type of ``accept`` the container encodes, and that type."""
    for kind in (media_type(part) for part in (accept or JSON).split(",")):
        if kind == JSON:
            return _encode_json(prediction), JSON
        if kind == CSV:
            return _encode_csv(prediction), CSV
        if kind == NPY:
            buffer = io.BytesIO()
            np.save(buffer, np.asarray(prediction), allow_pickle=False)
            return buffer.getvalue(), NPY
    raise HuggingFaceFormatError(
        f"Unsupported Accept: {accept}. Supported Accepts: {', '.join(RESPONSE_TYPES)}", status_code=406)


def _decode_csv(text: str) -> dict[str, Any]:
    lines = text.splitlines()
    header = lines[0].lower() if lines else ""
    if not any(column in header for column in _CSV_COLUMNS):
        raise HuggingFaceFormatError(
            "a text/csv request needs a header row naming its columns: 'inputs' (one input per row), or "
            f"'question' and 'context'; the first row is {lines[0][:100] if lines else '<empty>'!r}")
    rows = list(csv.DictReader(io.StringIO(text)))
    if rows and "inputs" in rows[0]:
        return {"inputs": [row["inputs"] for row in rows]}
    return {"inputs": rows}


def _image(data: bytes) -> Any:
    try:
        from PIL import Image
    except ImportError as exc:
        raise HuggingFaceFormatError(
            "image requests need Pillow in the model's environment: add 'Pillow' to code/requirements.txt",
            status_code=415) from exc
    return Image.open(io.BytesIO(data)).convert("RGB")


class _Encoder(json.JSONEncoder):
    """NumPy numbers and arrays, tensors (``tolist``), datetimes and PIL images in JSON."""

    def default(self, value: Any) -> Any:
        if isinstance(value, np.integer):
            return int(value)
        if isinstance(value, np.floating):
            return float(value)
        if hasattr(value, "tolist"):
            return value.tolist()
        if isinstance(value, datetime.datetime):
            return str(value)
        if type(value).__module__.startswith("PIL.") and hasattr(value, "save"):
            with io.BytesIO() as out:
                value.save(out, format="PNG")
                return base64.b64encode(out.getvalue()).decode("ascii")
        return super().default(value)


def _encode_json(prediction: Any) -> bytes:
    return json.dumps(prediction, ensure_ascii=False, allow_nan=False, separators=(",", ":"),
                      cls=_Encoder).encode("utf-8")


def _encode_csv(prediction: Any) -> bytes:
    rows = prediction if isinstance(prediction, list) else [prediction]
    if not rows or not all(isinstance(row, dict) for row in rows):
        raise HuggingFaceFormatError(
            "text/csv answers need the pipeline's output as dicts (one per row); ask for application/json",
            status_code=406)
    stream = io.StringIO()
    writer = csv.DictWriter(stream, list(rows[0].keys()))
    writer.writeheader()
    writer.writerows(rows)
    return stream.getvalue().encode("utf-8")


def _text(body: bytes | str) -> str:
    return body if isinstance(body, str) else bytes(body).decode("utf-8")


def _bytes(body: bytes | str) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)
