"""The XGBoost container's request and response formats, without XGBoost."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from serverless_ray.frameworks import recordio
from serverless_ray.frameworks import xgboost_codecs as codecs
from serverless_ray.frameworks.images import Framework, ServingImage
from serverless_ray.runtime.codecs import UnsupportedFormatError

serializer_utils = pytest.importorskip("sagemaker.serializer_utils")
record_pb2 = pytest.importorskip("sagemaker.amazon.record_pb2")

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
matrices = hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, max_side=5), elements=finite)


def _missing_as_nan(matrix) -> np.ndarray:
    """A decoded matrix with XGBoost's view of absent entries: NaN."""
    if isinstance(matrix, np.ndarray):
        return matrix
    coo = matrix.tocoo()  # a SciPy sparse matrix
    dense = np.full(coo.shape, np.nan)
    dense[coo.row, coo.col] = coo.data
    return dense


def _csv(matrix: np.ndarray, delimiter: str = ",") -> str:
    return "\n".join(delimiter.join(repr(float(v)) for v in row) for row in matrix)


# ---- text/csv ----


@settings(max_examples=100, deadline=None)
@given(matrices)
def test_csv_rows_come_back_exactly(matrix):
    np.testing.assert_array_equal(codecs.decode(_csv(matrix).encode(), "text/csv"), matrix)


@pytest.mark.parametrize("delimiter", [",", "\t", ";", "|", " "])
def test_csv_delimiter_is_found_on_the_first_line(delimiter):
    matrix = np.arange(6, dtype=float).reshape(2, 3) / 4
    np.testing.assert_array_equal(codecs.decode(_csv(matrix, delimiter), "text/csv"), matrix)


def test_a_one_column_csv_keeps_its_decimal_points():
    np.testing.assert_array_equal(codecs.decode(b"1.5\n2.25\n", "text/csv"), [[1.5], [2.25]])


def test_csv_empty_cells_are_missing_and_line_ends_and_parameters_do_not_matter():
    decoded = codecs.decode(b"\n1,,3\r\n4,5,\r\n", "Text/CSV; charset=utf-8; label_size=1")
    np.testing.assert_array_equal(decoded, [[1, np.nan, 3], [4, 5, np.nan]])


@pytest.mark.parametrize("body, quoted", [(b"1,2\n3,abc", "'abc'"), (b"f1,f2\n1,2", "'f1'"),
                                          (b"1,2\n3,4,5", "'3,4,5'"), (b"\xff\xfe", "UTF-8"), (b"  \n", "empty")])
def test_malformed_csv_is_a_400_quoting_the_bad_part(body, quoted):
    with pytest.raises(codecs.MalformedBodyError, match=quoted) as raised:
        codecs.decode(body, "text/csv")
    assert raised.value.status_code == 400


def test_csv_with_more_than_one_label_column_is_unsupported():
    with pytest.raises(UnsupportedFormatError) as raised:
        codecs.decode(b"1,2", "text/csv;label_size=2")
    assert raised.value.status_code == 415


# ---- text/libsvm ----


@pytest.mark.parametrize("content_type", ["text/libsvm", "text/x-libsvm"])
def test_libsvm_indices_are_columns_as_given_and_absent_ones_missing(content_type):
    decoded = codecs.decode(b"1 0:0.5 3:2\n0 qid:7 2:-1.25\n0\n", content_type)
    expected = np.full((3, 4), np.nan)
    expected[0, 0], expected[0, 3], expected[1, 2] = 0.5, 2.0, -1.25
    np.testing.assert_array_equal(_missing_as_nan(decoded), expected)


def test_libsvm_repeated_entries_add_up_as_in_the_containers_csr_matrix():
    np.testing.assert_array_equal(_missing_as_nan(codecs.decode("1 1:2 1:3", "text/libsvm")), [[np.nan, 5.0]])


@pytest.mark.parametrize("body, quoted", [("1 a:2", "'a:2'"), ("1 -1:2", "'-1:2'"), ("1 2:x", "'x'")])
def test_malformed_libsvm_is_a_400_quoting_the_token(body, quoted):
    with pytest.raises(codecs.MalformedBodyError, match=quoted):
        codecs.decode(body, "text/libsvm")


# ---- application/x-recordio-protobuf ----


def test_dense_recordio_of_the_sdk():
    matrix = np.random.default_rng(3).normal(size=(4, 3)).astype(np.float32)
    buffer = io.BytesIO()
    serializer_utils.write_numpy_to_dense_tensor(buffer, matrix, np.zeros(4, dtype=np.float32))
    decoded = codecs.decode(buffer.getvalue(), "application/x-recordio-protobuf")
    assert decoded.dtype == np.float32
    np.testing.assert_array_equal(decoded, matrix)


def test_sparse_recordio_of_the_sdk():
    buffer = io.BytesIO()
    rows = [([1, 4], [0.5, -3.0]), ([], []), ([0], [7.0])]
    for keys, values in rows:
        record = record_pb2.Record()
        tensor = record.features["values"].float32_tensor
        tensor.values.extend(values)
        tensor.keys.extend(keys)
        tensor.shape.extend([6])
        serializer_utils._write_recordio(buffer, record.SerializeToString())
    expected = np.full((3, 6), np.nan)
    for row, (keys, values) in enumerate(rows):
        expected[row, keys] = values
    np.testing.assert_array_equal(_missing_as_nan(codecs.decode(buffer.getvalue(), "application/x-recordio-protobuf")),
                                  expected)


@pytest.mark.parametrize("body", [b"not recordio", recordio.frame([b""]), b""])
def test_malformed_recordio_is_a_400(body):
    with pytest.raises(codecs.MalformedBodyError):
        codecs.decode(body, "application/x-recordio-protobuf")


# ---- application/json and application/jsonlines ----


@pytest.mark.parametrize("document", [
    {"instances": [{"features": [1, 2.5]}, {"features": [3, None]}]},
    {"instances": [{"data": {"features": {"values": [1, 2.5]}}}, {"data": {"features": {"values": [3, None]}}}]},
    [[1, 2.5], [3, None]],
])
def test_json_dense_shapes(document):
    np.testing.assert_array_equal(codecs.decode(json.dumps(document), "application/json"), [[1, 2.5], [3, np.nan]])


@pytest.mark.parametrize("document", [{"features": [1, 2.5]}, [1, 2.5]])
def test_json_single_instance(document):
    np.testing.assert_array_equal(codecs.decode(json.dumps(document), "application/json"), [[1, 2.5]])


def test_json_sparse_instances():
    document = {"instances": [{"data": {"features": {"keys": [0, 3], "shape": [5], "values": [1, 2]}}},
                              {"features": [9, 8, 7]}]}
    expected = np.full((2, 5), np.nan)
    expected[0, [0, 3]] = [1, 2]
    expected[1, :3] = [9, 8, 7]
    np.testing.assert_array_equal(_missing_as_nan(codecs.decode(json.dumps(document), "application/json")), expected)


def test_jsonlines_one_instance_per_line():
    body = '{"features": [1, 2]}\n\n{"data": {"features": {"values": [3, 4]}}}\n[5, 6]\n'
    np.testing.assert_array_equal(codecs.decode(body, "application/jsonlines"), [[1, 2], [3, 4], [5, 6]])


@pytest.mark.parametrize("content_type, body, quoted", [
    ("application/json", "{", "not JSON"),
    ("application/json", '{"instances": {"features": [1]}}', "'instances' must be a list"),
    ("application/json", '{"inputs": [1]}', '"inputs"'),
    ("application/json", '{"features": ["a"]}', '"a"'),
    ("application/json", '{"features": {"keys": [0, 1], "values": [1]}}', "do not match"),
    ("application/json", '{"features": {"keys": [7], "shape": [3], "values": [1]}}', "outside its shape 3"),
    ("application/json", '[[1, 2], [3]]', "different lengths"),
    ("application/jsonlines", '[1]\n{"x": 1}', "line 2"),
])
def test_malformed_json_is_a_400_quoting_the_bad_part(content_type, body, quoted):
    with pytest.raises(codecs.MalformedBodyError, match=quoted):
        codecs.decode(body, content_type)


# ---- content types ----


@pytest.mark.parametrize("content_type", ["application/x-npy", "text/plain", "", None, "application/x-parquet"])
def test_other_content_types_are_415_naming_the_supported_ones(content_type):
    with pytest.raises(UnsupportedFormatError) as raised:
        codecs.decode(b"1,2", content_type)
    assert raised.value.status_code == 415
    assert all(kind in str(raised.value) for kind in codecs.CONTENT_TYPES)


_ERRORS = (codecs.MalformedBodyError, UnsupportedFormatError)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=80), st.sampled_from(codecs.CONTENT_TYPES))
def test_arbitrary_bodies_decode_or_raise_a_typed_error(body, content_type):
    try:
        decoded = codecs.decode(body, content_type)
    except _ERRORS:
        return
    assert _missing_as_nan(decoded).ndim == 2


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789.,:-e \n\t[]{}\"featurs", max_size=60), st.sampled_from(codecs.CONTENT_TYPES))
def test_arbitrary_near_valid_text_decodes_or_raises_a_typed_error(body, content_type):
    try:
        decoded = codecs.decode(body, content_type)
    except _ERRORS:
        return
    assert _missing_as_nan(decoded).ndim == 2


# ---- responses ----


def _predictions() -> np.ndarray:
    return np.random.default_rng(11).random(4).astype(np.float32)


def test_csv_answer_is_one_prediction_per_line():
    predictions = _predictions()
    response = codecs.encode(predictions, "text/csv")
    assert response.content_type == "text/csv"
    assert response.body.decode().splitlines() == [str(p) for p in predictions.tolist()]
    np.testing.assert_array_equal(np.array(response.body.decode().split(), dtype=np.float32), predictions)


def test_csv_answer_of_class_probabilities_is_one_row_per_line():
    probabilities = np.random.default_rng(5).dirichlet([1, 1, 1], size=2).astype(np.float32)
    lines = codecs.encode(probabilities, "text/csv").body.decode().splitlines()
    assert [[float(v) for v in line.split(",")] for line in lines] == probabilities.tolist()


def test_json_answer_is_a_score_per_prediction():
    predictions = _predictions()
    response = codecs.encode(predictions, "application/json")
    assert response.content_type == "application/json"
    assert json.loads(response.body) == {"predictions": [{"score": p} for p in predictions.tolist()]}


def test_jsonlines_answer_is_the_json_scores_one_per_line():
    predictions = _predictions()
    response = codecs.encode(predictions, "application/jsonlines")
    assert [json.loads(line) for line in response.body.decode().splitlines()] == json.loads(
        codecs.encode(predictions, "application/json").body)["predictions"]


def test_recordio_answer_reads_back_with_the_sdk():
    predictions = _predictions()
    response = codecs.encode(predictions, "application/x-recordio-protobuf")
    records = serializer_utils.read_records(io.BytesIO(response.body))
    assert [list(r.label["score"].float32_tensor.values) for r in records] == [[p] for p in predictions.tolist()]


@pytest.mark.parametrize("accept", [None, "", "*/*"])
def test_no_accept_takes_the_default(accept):
    predictions = _predictions()
    assert codecs.encode(predictions, accept) == codecs.encode(predictions, codecs.DEFAULT_ACCEPT)
    assert codecs.encode(predictions, accept, default_accept="application/json") == codecs.encode(
        predictions, "application/json")


def test_an_unanswerable_accept_is_406_naming_the_supported_ones():
    with pytest.raises(codecs.NotAcceptableError) as raised:
        codecs.encode(_predictions(), "application/x-npy")
    assert raised.value.status_code == 406
    assert all(kind in str(raised.value) for kind in codecs.ACCEPTS)


def test_older_containers_answer_comma_joined_csv_whatever_the_accept():
    predictions = _predictions()
    for accept in ("application/json", "text/csv", "application/x-npy", None):
        response = codecs.encode(predictions, accept, in_accept_type=False)
        assert response.content_type == "text/csv"
        assert response.body.decode().split(",") == [str(p) for p in predictions.tolist()]


def test_which_containers_answer_in_the_accept_type():
    image_uris = pytest.importorskip("sagemaker.image_uris")
    versions = image_uris.config_for_framework("xgboost")["inference"]["versions"]

    def image(framework: Framework, version: str) -> ServingImage:
        return ServingImage(framework, version, "cpu", None, "an image")

    assert not codecs.answers_in_accept_type(image(Framework.XGBOOST_ALGORITHM, "1"))
    answering = {v for v in versions if v != "1" and codecs.answers_in_accept_type(image(Framework.XGBOOST, v))}
    # the aws/sagemaker-xgboost-container branches that encode in the Accept type
    assert answering == {v for v in versions if v != "1"} - {"0.90-1", "0.90-2", "1.0-1", "1.2-1"}
