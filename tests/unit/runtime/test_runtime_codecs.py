import io
import json

import numpy as np
import pytest

from serverless_ray.runtime.codecs import UnsupportedFormatError, decode, encode, media_type


@pytest.mark.parametrize(
    "header, expected",
    [
        ("application/json", "application/json"),
        ("Application/JSON; charset=utf-8", "application/json"),
        ("  text/csv ;header=present", "text/csv"),
        (None, ""),
        ("", ""),
    ],
)
def test_media_type(header, expected):
    assert media_type(header) == expected


def test_json_decode_gives_numpy_array_for_str_and_bytes():
    for body in ("[[1, 2], [3, 4]]", b"[[1, 2], [3, 4]]"):
        out = decode(body, "application/json; charset=utf-8")
        assert isinstance(out, np.ndarray)
        assert out.tolist() == [[1, 2], [3, 4]]


def test_json_encode_numpy_values_and_plain_objects():
    assert json.loads(encode(np.array([[1.5, 2.0]]), "application/json")) == [[1.5, 2.0]]
    assert json.loads(encode(np.float32(2.5), "application/json")) == 2.5
    payload = {"scores": np.array([1, 2]), "label": "cat", "n": np.int64(3)}
    assert json.loads(encode(payload, "application/json")) == {"scores": [1, 2], "label": "cat", "n": 3}


def test_json_encode_rejects_unserialisable_objects():
    with pytest.raises(TypeError, match="object is not JSON serializable|not JSON serializable"):
        encode(object(), "application/json")


def test_csv_decode_rows_and_single_line():
    assert decode("1,2,3\n4,5,6\n", "text/csv").tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    single = decode(b"1.5,2.5", "text/csv")
    assert single.dtype == float and single.tolist() == [1.5, 2.5]


def test_csv_encode_2d_and_round_trip():
    array = np.array([[1.0, 2.0], [3.0, 4.0]])
    body = encode(array, "text/csv")
    assert body == b"1.0,2.0\n3.0,4.0\n"
    np.testing.assert_array_equal(decode(body, "text/csv"), array)


def test_csv_encode_1d_scalar_and_text():
    assert encode([1, 2], "text/csv") == b"1\n2\n"
    assert encode(np.float64(0.5), "text/csv") == b"0.5\n"
    assert encode("a,b\n", "text/csv") == b"a,b\n"


def test_npy_round_trip():
    array = np.arange(6, dtype=np.int32).reshape(2, 3)
    body = encode(array, "application/x-npy")
    out = decode(body, "application/x-npy")
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, array)


def test_npz_decode_returns_dict_of_arrays():
    stream = io.BytesIO()
    np.savez(stream, a=np.array([1, 2]), b=np.eye(2))
    out = decode(stream.getvalue(), "application/x-npz")
    assert sorted(out) == ["a", "b"]
    np.testing.assert_array_equal(out["b"], np.eye(2))


def test_unsupported_content_type_is_415_and_names_types():
    with pytest.raises(UnsupportedFormatError) as info:
        decode(b"x", "image/png")
    assert info.value.status_code == 415
    message = str(info.value)
    assert "image/png" in message and "application/json" in message and "text/csv" in message


def test_unsupported_accept_is_415():
    with pytest.raises(UnsupportedFormatError) as info:
        encode([1], "application/xml")
    assert info.value.status_code == 415
    assert "application/xml" in str(info.value)
    assert "application/x-npy" in str(info.value)


def test_missing_content_type_is_unsupported():
    with pytest.raises(UnsupportedFormatError, match="<none>"):
        decode(b"{}", None)
