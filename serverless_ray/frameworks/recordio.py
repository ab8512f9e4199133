"""SageMaker's RecordIO-protobuf format (``application/x-recordio-protobuf``).

A body is a sequence of RecordIO frames (a little-endian ``uint32`` magic ``0xCED7230A``,
a ``uint32`` length, the payload, zero padding to a multiple of four bytes), each holding
one ``aialgs.data.Record`` protobuf message: ``features`` and ``label`` maps from a name
to a tensor (``values``, optional sparse ``keys`` and ``shape``).

The schema is the SageMaker Python SDK's ``record.proto``. Only what the built-in
algorithms exchange is decoded here, float32, float64 and int32 tensors; other values
(``Bytes``) and unknown fields are skipped as protobuf readers skip them. The messages are
read and written directly in the protobuf wire format, so no generated code or protobuf
runtime is needed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Mapping

import numpy as np

MAGIC = 0xCED7230A
_HEADER = struct.Struct("<II")
# The top three bits of the length word are MXNet RecordIO's continuation flag, for
# records split across frames; SageMaker's writers never split one.
_LENGTH_MASK = (1 << 29) - 1

# wire types
_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5

# Value's oneof: field number → the numpy dtype of the tensor's values
_TENSOR_FIELDS = {2: np.dtype("<f4"), 3: np.dtype("<f8"), 7: np.dtype("int32")}
_FLOAT32_FIELD = 2


class RecordIOError(ValueError):
    """A body that is not valid RecordIO-protobuf."""


@dataclass(frozen=True)
class Tensor:
    """One ``Float32Tensor`` / ``Float64Tensor`` / ``Int32Tensor``.

    ``keys`` is ``None`` for a dense tensor; for a sparse one it holds the positions of
    ``values`` and ``shape`` gives the full size.
    """

    values: np.ndarray
    keys: np.ndarray | None = None
    shape: tuple[int, ...] = ()


@dataclass(frozen=True)
class Record:
    """One ``aialgs.data.Record``: named feature and label tensors."""

    features: Mapping[str, Tensor] = field(default_factory=dict)
    label: Mapping[str, Tensor] = field(default_factory=dict)


# ---- RecordIO framing ----


def frames(body: bytes | bytearray | memoryview) -> Iterator[memoryview]:
    """The payloads of the RecordIO frames in ``body``, in order."""
    view = memoryview(body).cast("B")
    offset = 0
    while offset < len(view):
        if offset + _HEADER.size > len(view):
            raise RecordIOError(f"truncated RecordIO header at byte {offset}")
        magic, word = _HEADER.unpack_from(view, offset)
        if magic != MAGIC:
            raise RecordIOError(f"bad RecordIO magic 0x{magic:08X} at byte {offset}")
        if word >> 29:
            raise RecordIOError(f"multi-part RecordIO record at byte {offset} (not written by SageMaker)")
        length = word & _LENGTH_MASK
        start = offset + _HEADER.size
        if start + length > len(view):
            raise RecordIOError(f"RecordIO record at byte {offset} claims {length} bytes, "
                                f"{len(view) - start} remain")
        yield view[start:start + length]
        offset = start + (length + 3) // 4 * 4


def frame(payloads: Iterable[bytes]) -> bytes:
    """``payloads`` as RecordIO frames."""
    out = bytearray()
    for payload in payloads:
        out += _HEADER.pack(MAGIC, len(payload))
        out += payload
        out += b"\0" * (-len(payload) % 4)
    return bytes(out)


# ---- protobuf wire format ----


def _varint(view: memoryview, offset: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if offset >= len(view):
            raise RecordIOError("truncated protobuf varint")
        byte = view[offset]
        offset += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, offset
        shift += 7
        if shift >= 70:
            raise RecordIOError("protobuf varint longer than 10 bytes")


def _fields(view: memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """(field number, wire type, value) of each field of a message: an int for varints,
    the raw bytes for the others."""
    offset = 0
    while offset < len(view):
        key, offset = _varint(view, offset)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, offset = _varint(view, offset)
            yield number, wire, value
            continue
        if wire == _LEN:
            size, offset = _varint(view, offset)
        elif wire == _I64:
            size = 8
        elif wire == _I32:
            size = 4
        else:
            raise RecordIOError(f"unsupported protobuf wire type {wire} in field {number}")
        if offset + size > len(view):
            raise RecordIOError(f"truncated protobuf field {number}")
        yield number, wire, view[offset:offset + size]
        offset += size


def _packed_varints(view: memoryview) -> list[int]:
    values, offset = [], 0
    while offset < len(view):
        value, offset = _varint(view, offset)
        values.append(value)
    return values


def _int32(value: int) -> int:
    # int32 travels as a 64-bit two's-complement varint
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >> 63 else value


def _tensor(view: memoryview, dtype: np.dtype) -> Tensor:
    chunks: list[np.ndarray] = []
    keys: list[int] = []
    shape: list[int] = []
    for number, wire, value in _fields(view):
        if number == 1:  # values: packed, or one per field as proto2 writers may send them
            if dtype.kind == "f":
                if wire not in (_LEN, _I32 if dtype.itemsize == 4 else _I64):
                    raise RecordIOError("tensor values of the wrong wire type")
                raw = bytes(value)  # type: ignore[arg-type]
                if len(raw) % dtype.itemsize:
                    raise RecordIOError("packed tensor values not a whole number of elements")
                chunks.append(np.frombuffer(raw, dtype=dtype))
            else:
                ints = _packed_varints(value) if wire == _LEN else [value]  # type: ignore[list-item]
                chunks.append(np.array([_int32(v) for v in ints], dtype=dtype))
        elif number in (2, 3):
            target = keys if number == 2 else shape
            target.extend(_packed_varints(value) if wire == _LEN else [value])  # type: ignore[arg-type]
    values = np.concatenate(chunks) if chunks else np.empty(0, dtype=dtype)
    return Tensor(values.astype(dtype.newbyteorder("=")), np.array(keys, dtype=np.uint64) if keys else None,
                  tuple(shape))


def _value(view: memoryview) -> Tensor | None:
    tensor = None
    for number, wire, value in _fields(view):
        dtype = _TENSOR_FIELDS.get(number)
        if dtype is not None and wire == _LEN:
            tensor = _tensor(value, dtype)  # type: ignore[arg-type]
    return tensor


def _map_entry(view: memoryview) -> tuple[str, Tensor | None]:
    key, tensor = "", None
    for number, wire, value in _fields(view):
        if number == 1 and wire == _LEN:
            try:
                key = bytes(value).decode("utf-8")  # type: ignore[arg-type]
            except UnicodeDecodeError as error:
                raise RecordIOError("a record's map key is not UTF-8") from error
        elif number == 2 and wire == _LEN:
            tensor = _value(value)  # type: ignore[arg-type]
    return key, tensor


def parse_record(payload: bytes | memoryview) -> Record:
    """One ``Record`` message; entries whose value is not a tensor are left out."""
    maps: dict[int, dict[str, Tensor]] = {1: {}, 2: {}}
    for number, wire, value in _fields(memoryview(payload).cast("B")):
        if number in maps and wire == _LEN:
            key, tensor = _map_entry(value)  # type: ignore[arg-type]
            if tensor is not None:
                maps[number][key] = tensor
    return Record(features=maps[1], label=maps[2])


def read_records(body: bytes | bytearray | memoryview) -> list[Record]:
    """Every record of a RecordIO-protobuf body."""
    return [parse_record(payload) for payload in frames(body)]


def _key(number: int, wire: int) -> bytes:
    return _encode_varint(number << 3 | wire)


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _length_delimited(number: int, payload: bytes) -> bytes:
    return _key(number, _LEN) + _encode_varint(len(payload)) + payload


def _float32_tensor(tensor: Tensor) -> bytes:
    out = _length_delimited(1, np.asarray(tensor.values, dtype="<f4").tobytes())
    if tensor.keys is not None:
        out += _length_delimited(2, b"".join(_encode_varint(int(k)) for k in tensor.keys))
    if tensor.shape:
        out += _length_delimited(3, b"".join(_encode_varint(int(s)) for s in tensor.shape))
    return out


def _map(number: int, entries: Mapping[str, Tensor]) -> bytes:
    out = b""
    for name, tensor in entries.items():
        value = _length_delimited(_FLOAT32_FIELD, _float32_tensor(tensor))
        out += _length_delimited(number, _length_delimited(1, name.encode("utf-8")) + _length_delimited(2, value))
    return out


def serialize_record(record: Record) -> bytes:
    """``record`` as a ``Record`` message, every tensor written as a ``Float32Tensor``."""
    return _map(1, record.features) + _map(2, record.label)


def write_records(records: Iterable[Record]) -> bytes:
    """``records`` as a RecordIO-protobuf body."""
    return frame(serialize_record(record) for record in records)
