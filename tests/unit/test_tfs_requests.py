"""Requests as the TensorFlow Serving container's proxy hands them to TensorFlow Serving."""

from __future__ import annotations

import re

import pytest

from serverless_ray.frameworks.tfs_requests import (
    BYTES, FLOAT, INT64, Feature, Target, TfsRequestError, examples, target, tfs_request,
)


def test_a_tensorflow_serving_request_passes_unchanged():
    body = '{"signature_name": "scaled", "instances": [[1, 2], [3, 4]]}'
    assert tfs_request(body, "application/json") == {"signature_name": "scaled", "instances": [[1, 2], [3, 4]]}
    assert tfs_request('{"inputs": {"x": [1]}}', None) == {"inputs": {"x": [1]}}


def test_other_json_is_one_instance_or_a_list_of_them():
    assert tfs_request("[1.5, 2]", "application/json") == {"instances": [[1.5, 2]]}
    assert tfs_request("[[1, 2], [3, 4]]", "application/json") == {"instances": [[1, 2], [3, 4]]}
    assert tfs_request('{"x": 1}', "application/json; charset=utf-8") == {"instances": [{"x": 1}]}
    assert tfs_request("[1, 2]\n[3, 4]\n", "application/jsonlines") == {"instances": [[1, 2], [3, 4]]}
    with pytest.raises(TfsRequestError, match="not valid JSON"):
        tfs_request("[1,", "application/json")


def test_csv_rows_are_instances():
    assert tfs_request("1,2.5\n3,4\n", "text/csv") == {"instances": [[1, 2.5], [3, 4]]}
    assert tfs_request("7\n8\n", "text/csv") == {"instances": [7, 8]}
    assert tfs_request("good,film\nbad,plot\n", "text/csv") == {"instances": [["good", "film"], ["bad", "plot"]]}
    with pytest.raises(TfsRequestError, match="CSV field 'x' is not a number"):
        tfs_request("1,x\n", "text/csv")


def test_other_types_are_unsupported_media():
    with pytest.raises(TfsRequestError, match="Unsupported Media Type: application/x-npy; the container accepts "
                                              "application/json") as raised:
        tfs_request(b"\x93NUMPY", "application/x-npy")
    assert raised.value.status_code == 415


def test_custom_attributes_pick_model_version_and_method():
    assert target(None) == Target()
    assert target("tfs-model-name=half,tfs-model-version=2,other=1") == Target("half", "2", "predict")
    assert target("tfs-method=classify").method == "classify"
    with pytest.raises(TfsRequestError, match="tfs-method 'explain' is none of predict, classify, regress"):
        target("tfs-method=explain")
    with pytest.raises(TfsRequestError, match="tfs-model-version 'latest' is not a version number"):
        target("tfs-model-version=latest")


def test_examples_become_typed_features_with_the_context_in_each():
    request = {"context": {"country": "NL", "weights": [1, 2]},
               "examples": [{"x": [0.5, 2], "n": 3, "raw": {"b64": "aGk="}}, {"x": [1.0, 1.5], "n": [4, 5]}]}
    first, second = examples(request)
    assert first == {"country": Feature(BYTES, (b"NL",)), "weights": Feature(INT64, (1, 2)),
                     "x": Feature(FLOAT, (0.5, 2.0)), "n": Feature(INT64, (3,)), "raw": Feature(BYTES, (b"hi",))}
    assert second["n"] == Feature(INT64, (4, 5)) and second["country"] == first["country"]


@pytest.mark.parametrize("request_body, message", [
    ({"instances": [[1]]}, "Missing 'examples' key"),
    ({"examples": []}, "'examples' must be a non-empty list of objects"),
    ({"examples": [[1, 2]]}, "'examples' must be a non-empty list of objects"),
    ({"examples": [{"x": 1}], "context": [1]}, "'context' must be an object"),
    ({"examples": [{"x": 1}, {"x": 2, "c": 1}], "context": {"c": 0}},
     "feature 'c' is in 'context' and in example 1"),
    ({"examples": [{"x": []}]}, "feature 'x' of example 0 is an empty list"),
    ({"examples": [{"x": [1, "a"]}]}, "feature 'x' of example 0 mixes numbers and strings"),
    ({"examples": [{"x": True}]}, "feature 'x' of example 0 holds true"),
    ({"examples": [{"x": 1}], "context": {"y": None}}, "feature 'y' of 'context' holds null"),
    ({"examples": [{"x": {"b64": "!!"}}]}, "feature 'x' of example 0: {\"b64\": ...} is not base64"),
])
def test_examples_that_cannot_be_tf_examples_are_refused_by_name(request_body, message):
    with pytest.raises(TfsRequestError, match=re.escape(message)) as raised:
        examples(request_body)
    assert raised.value.status_code == 400
