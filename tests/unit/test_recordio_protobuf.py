"""RecordIO-protobuf against the SageMaker Python SDK's own writer and reader."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from serverless_ray.frameworks import recordio
from serverless_ray.frameworks.recordio import Record, RecordIOError, Tensor

serializer_utils = pytest.importorskip("sagemaker.serializer_utils")
record_pb2 = pytest.importorskip("sagemaker.amazon.record_pb2")


def _sdk_dense(array: np.ndarray, labels: np.ndarray | None = None) -> bytes:
    buffer = io.BytesIO()
    serializer_utils.write_numpy_to_dense_tensor(buffer, array, labels)
    return buffer.getvalue()


def _sdk_sparse_rows(rows: list[tuple[list[int], list[float]]], width: int) -> bytes:
    """Sparse float32 records as the SDK's sparse writer lays them out (it needs scipy)."""
    buffer = io.BytesIO()
    for keys, values in rows:
        record = record_pb2.Record()
        record.features["values"].float32_tensor.values.extend(values)
        record.features["values"].float32_tensor.keys.extend(keys)
        record.features["values"].float32_tensor.shape.extend([width])
        serializer_utils._write_recordio(buffer, record.SerializeToString())
    return buffer.getvalue()


# the SDK writes float32 arrays as Float32Tensor, float64 as Float64Tensor and Python-int
# arrays as Int32Tensor
@pytest.mark.parametrize("dtype, read_dtype", [(np.float32, np.float32), (np.float64, np.float64),
                                               (int, np.int32)])
def test_dense_records_of_the_sdk(dtype, read_dtype):
    rng = np.random.default_rng(7)
    array = (rng.normal(size=(5, 3)) * 100).astype(dtype)
    labels = rng.integers(0, 2, size=5).astype(dtype)
    records = recordio.read_records(_sdk_dense(array, labels))
    assert len(records) == 5
    for row, label, record in zip(array, labels, records):
        assert record.features["values"].keys is None
        assert record.features["values"].values.dtype == np.dtype(read_dtype)
        np.testing.assert_array_equal(record.features["values"].values, row)
        np.testing.assert_array_equal(record.label["values"].values, [label])


def test_negative_int32_values_survive():
    array = np.array([[-1, -(2 ** 31), 2 ** 31 - 1]], dtype=int)
    (record,) = recordio.read_records(_sdk_dense(array))
    np.testing.assert_array_equal(record.features["values"].values, array[0])


def test_sparse_records_of_the_sdk():
    rows = [([0, 7], [1.5, -2.0]), ([], []), ([9], [3.25])]
    records = recordio.read_records(_sdk_sparse_rows(rows, width=10))
    for (keys, values), record in zip(rows, records):
        tensor = record.features["values"]
        assert tensor.shape == (10,)
        np.testing.assert_array_equal(tensor.values, np.array(values, dtype=np.float32))
        if keys:
            np.testing.assert_array_equal(tensor.keys, keys)


def test_unpacked_repeated_fields_read_as_packed_ones():
    # proto2 readers must accept both encodings of a repeated scalar: one key per value
    tensor = b"".join(b"\x0d" + struct.pack("<f", v) for v in (1.0, 2.5)) + b"\x10\x04\x10\x09" + b"\x18\x0a"
    value = b"\x12" + bytes([len(tensor)]) + tensor
    entry = b"\x0a\x06values" + b"\x12" + bytes([len(value)]) + value
    record = recordio.parse_record(b"\x0a" + bytes([len(entry)]) + entry)
    tensor_read = record.features["values"]
    assert (tensor_read.values.tolist(), tensor_read.keys.tolist(), tensor_read.shape) == ([1.0, 2.5], [4, 9], (10,))


def test_unknown_fields_and_bytes_values_are_skipped():
    message = record_pb2.Record()
    message.features["values"].float32_tensor.values.extend([1.0])
    message.features["image"].bytes.value.append(b"\x89PNG")
    message.uid = "row-1"
    message.metadata = "{}"
    record = recordio.parse_record(message.SerializeToString())
    assert list(record.features) == ["values"]


def test_written_records_read_back_with_the_sdk():
    records = [Record(label={"score": Tensor(np.array([0.25], dtype=np.float32))}),
               Record(features={"values": Tensor(np.array([1.0, 2.0], dtype=np.float32), np.array([3, 8]), (9,))},
                      label={"score": Tensor(np.array([0.5, 0.5], dtype=np.float32))})]
    sdk_records = serializer_utils.read_records(io.BytesIO(recordio.write_records(records)))
    assert [list(r.label["score"].float32_tensor.values) for r in sdk_records] == [[0.25], [0.5, 0.5]]
    sparse = sdk_records[1].features["values"].float32_tensor
    assert (list(sparse.values), list(sparse.keys), list(sparse.shape)) == ([1.0, 2.0], [3, 8], [9])


@settings(max_examples=50, deadline=None)
@given(hnp.arrays(np.float32, hnp.array_shapes(min_dims=2, max_dims=2, max_side=6),
                  elements=st.floats(width=32, allow_nan=False)))
def test_write_then_read_is_the_identity(array):
    records = [Record(features={"values": Tensor(row)}) for row in array]
    read = recordio.read_records(recordio.write_records(records))
    assert len(read) == len(array)
    for row, record in zip(array, read):
        np.testing.assert_array_equal(record.features["values"].values, row)


def test_frames_are_padded_to_four_bytes():
    body = recordio.frame([b"a", b"bcdef", b""])
    assert len(body) == (8 + 4) + (8 + 8) + 8
    assert [bytes(p) for p in recordio.frames(body)] == [b"a", b"bcdef", b""]


@pytest.mark.parametrize("body, message", [
    (b"\x00" * 8, "magic"),
    (struct.pack("<II", recordio.MAGIC, 100) + b"abc", "claims 100 bytes"),
    (struct.pack("<I", recordio.MAGIC), "truncated"),
    (struct.pack("<II", recordio.MAGIC, 1 << 29 | 4) + b"abcd", "multi-part"),
    (recordio.frame([b"\x0a\xff"]), "truncated"),  # a map entry longer than its record
    (recordio.frame([b"\x0b"]), "wire type 3"),
])
def test_broken_bodies_say_what_is_wrong(body, message):
    with pytest.raises(RecordIOError, match=message):
        recordio.read_records(body)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_arbitrary_bytes_give_records_or_a_recordio_error(payload):
    for body in (payload, recordio.frame([payload])):
        try:
            records = recordio.read_records(body)
        except RecordIOError:
            continue
        assert all(isinstance(record, Record) for record in records)
