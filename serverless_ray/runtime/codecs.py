"""Default request decoders and response encoders.

These mirror the SageMaker inference toolkit's default ``input_fn`` /
``output_fn`` behaviour so that user code written against the real containers
sees the same data types here.
"""

from __future__ import annotations

import io
import json
from typing import Any, Callable

import numpy as np

JSON = "application/json"
CSV = "text/csv"
NPY = "application/x-npy"
NPZ = "application/x-npz"
OCTET_STREAM = "application/octet-stream"
ANY = "*/*"

# Content types whose request bodies are handed to user code as ``str``.
UTF8_TYPES = frozenset({JSON, CSV})


class UnsupportedFormatError(ValueError):
    """A content type or accept value that the default codecs cannot handle.

    Carries ``status_code = 415`` so the handler maps it to
    "Unsupported Media Type".
    """

    status_code = 415

    def __init__(self, kind: str, value: str | None, supported: list[str]) -> None:
        shown = value if value else "<none>"
        super().__init__(
            f"Unsupported {kind}: {shown}. Supported {kind}s: {', '.join(supported)}"
        )
        self.value = value


def media_type(header: str | None) -> str:
    """Return the lower-cased media type of a header value, without parameters.

    ``"Application/JSON; charset=utf-8"`` → ``"application/json"``; ``None`` → ``""``.
    """
    if not header:
        return ""
    return header.split(";", 1)[0].strip().lower()


def _as_text(body: bytes | bytearray | str) -> str:
    return body if isinstance(body, str) else bytes(body).decode("utf-8")


def _as_bytes(body: bytes | bytearray | str) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)


def _decode_json(body: bytes | str) -> Any:
    return np.array(json.loads(_as_text(body)))


def _decode_csv(body: bytes | str) -> Any:
    return np.genfromtxt(io.StringIO(_as_text(body)), delimiter=",", dtype=float)


def _decode_npy(body: bytes | str) -> Any:
    # allow_pickle stays off: a request body must never execute code.
    return np.load(io.BytesIO(_as_bytes(body)), allow_pickle=False)


def _decode_npz(body: bytes | str) -> Any:
    # Materialise into a plain dict so the underlying buffer can be released.
    with np.load(io.BytesIO(_as_bytes(body)), allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


_DECODERS: dict[str, Callable[[bytes | str], Any]] = {
    JSON: _decode_json,
    CSV: _decode_csv,
    NPY: _decode_npy,
    NPZ: _decode_npz,
}


def decode(body: bytes | bytearray | str, content_type: str | None) -> Any:
    """Decode a request body according to its content type.

    * ``application/json`` → ``numpy.array(json.loads(body))``
    * ``text/csv`` → float ``numpy`` array, one row per line
    * ``application/x-npy`` → ``numpy.load``
    * ``application/x-npz`` → ``dict`` of array name → array

    Raises :class:`UnsupportedFormatError` (415) for any other content type.
    """
    decoder = _DECODERS.get(media_type(content_type))
    if decoder is None:
        raise UnsupportedFormatError("content type", content_type, sorted(_DECODERS))
    return decoder(body)


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy arrays and scalars, torch tensors
        return value.tolist()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _encode_json(prediction: Any) -> bytes:
    return json.dumps(prediction, default=_json_default).encode("utf-8")


def _encode_csv(prediction: Any) -> bytes:
    if isinstance(prediction, (str, bytes, bytearray)):
        return _as_bytes(prediction)
    array = np.asarray(prediction)
    if array.ndim == 0:
        array = array.reshape(1)
    stream = io.StringIO()
    # Same layout as the toolkit: a 2-D array gives one comma-separated line
    # per row; a 1-D array gives one value per line.
    np.savetxt(stream, array, delimiter=",", fmt="%s")
    return stream.getvalue().encode("utf-8")


def _encode_npy(prediction: Any) -> bytes:
    stream = io.BytesIO()
    np.save(stream, np.asarray(prediction), allow_pickle=False)
    return stream.getvalue()


_ENCODERS: dict[str, Callable[[Any], bytes]] = {
    JSON: _encode_json,
    CSV: _encode_csv,
    NPY: _encode_npy,
}


def encode(prediction: Any, accept: str | None) -> bytes:
    """Encode a prediction for the given accept media type.

    * ``application/json`` → ``json.dumps`` (numpy values via ``tolist()``)
    * ``text/csv`` → comma-separated lines
    * ``application/x-npy`` → ``numpy.save`` bytes

    Raises :class:`UnsupportedFormatError` (415) for any other accept value.
    """
    encoder = _ENCODERS.get(media_type(accept))
    if encoder is None:
        raise UnsupportedFormatError("accept", accept, sorted(_ENCODERS))
    return encoder(prediction)
