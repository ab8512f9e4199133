"""Requests as the TensorFlow Serving container's proxy hands them to TensorFlow Serving."""

from __future__ import annotations

import pytest

from serverless_ray.frameworks.tfs_requests import Target, TfsRequestError, target, tfs_request


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
