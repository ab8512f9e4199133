"""Amazon event-stream framing of InvokeEndpointWithResponseStream's response body.

A message is a prelude (total length, headers length, CRC32 of those eight bytes),
headers, the payload and a CRC32 of everything before it. Only the headers this API
sends are written: strings (type 7). The reader is botocore's own parser
(``botocore.eventstream``), which the unit tests decode every message with.

Written here rather than imported: botocore only decodes, ``awscrt`` exposes its codec
only through its RPC client over a socket, and ``smithy-aws-event-stream`` needs Python
3.12. The format is small and fixed (see the Smithy specification of
``vnd.amazon.eventstream``).
"""

from __future__ import annotations

import json
import struct
from binascii import crc32
from typing import Mapping

CONTENT_TYPE = "application/vnd.amazon.eventstream"
_STRING = 7
_PRELUDE = struct.Struct("!II")
_MAX_HEADER_VALUE = 0xFFFF


def encode_message(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One event-stream message with string ``headers`` and ``payload``."""
    encoded_headers = b"".join(_header(name, value) for name, value in headers.items())
    total = _PRELUDE.size + 4 + len(encoded_headers) + len(payload) + 4
    prelude = _PRELUDE.pack(total, len(encoded_headers))
    message = prelude + _crc(prelude) + encoded_headers + payload
    return message + _crc(message)


def payload_part(data: bytes) -> bytes:
    """A ``PayloadPart`` event carrying ``data`` as it is."""
    return encode_message(
        {":event-type": "PayloadPart", ":content-type": "application/octet-stream", ":message-type": "event"},
        data,
    )


def exception_event(exception_type: str, fields: Mapping[str, object]) -> bytes:
    """A modeled exception event (``ModelStreamError``, ``InternalStreamFailure``) whose
    JSON payload holds the exception's members (``Message``, ``ErrorCode``)."""
    payload = json.dumps(dict(fields), separators=(",", ":")).encode("utf-8")
    return encode_message(
        {":exception-type": exception_type, ":content-type": "application/json", ":message-type": "exception"},
        payload,
    )


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode("utf-8"), value.encode("utf-8")
    if len(raw_name) > 0xFF or len(raw_value) > _MAX_HEADER_VALUE:
        raise ValueError(f"event-stream header {name!r} is too long")
    return struct.pack("!B", len(raw_name)) + raw_name + struct.pack("!BH", _STRING, len(raw_value)) + raw_value


def _crc(data: bytes) -> bytes:
    return struct.pack("!I", crc32(data) & 0xFFFFFFFF)
