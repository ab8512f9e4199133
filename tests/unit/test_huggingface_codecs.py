"""Requests and responses as the Hugging Face inference container reads and writes them."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from serverless_ray.frameworks import huggingface_codecs as hf


def test_json_is_the_request_itself():
    body = json.dumps({"inputs": ["good", "bad"], "parameters": {"top_k": 2}})
    assert hf.decode(body, "application/json; charset=utf-8") == {"inputs": ["good", "bad"],
                                                                   "parameters": {"top_k": 2}}
    with pytest.raises(hf.HuggingFaceFormatError, match="not valid JSON") as raised:
        hf.decode(b"{", "application/json")
    assert raised.value.status_code == 400


def test_csv_needs_a_header_naming_its_columns():
    assert hf.decode("inputs\ngood film\nbad film\n", "text/csv") == {"inputs": ["good film", "bad film"]}
    assert hf.decode("question,context\nwho?,me\n", "text/csv") == {"inputs": [{"question": "who?", "context": "me"}]}
    with pytest.raises(hf.HuggingFaceFormatError, match="header row .* 'good film'"):
        hf.decode("good film\n", "text/csv")


def test_npy_audio_and_unknown_types():
    buffer = io.BytesIO()
    np.save(buffer, np.arange(3))
    assert hf.decode(buffer.getvalue(), "application/x-npy").tolist() == [0, 1, 2]
    assert hf.decode(b"RIFF....", "audio/wav") == {"inputs": b"RIFF...."}
    with pytest.raises(hf.HuggingFaceFormatError, match="Unsupported ContentType: text/html. Supported .*text/csv") as raised:
        hf.decode(b"<p>", "text/html")
    assert raised.value.status_code == 415


def test_responses_in_the_first_accept_type_the_container_encodes():
    prediction = [{"label": "LABEL_1", "score": np.float32(0.75)}, {"label": "LABEL_0", "score": 0.25}]
    body, kind = hf.encode(prediction, "text/html, application/json")
    assert kind == "application/json"
    assert json.loads(body) == [{"label": "LABEL_1", "score": 0.75}, {"label": "LABEL_0", "score": 0.25}]
    body, kind = hf.encode(prediction, "text/csv")
    assert (body.decode().splitlines(), kind) == (["label,score", "LABEL_1,0.75", "LABEL_0,0.25"], "text/csv")
    body, kind = hf.encode(np.array([[1.0, 2.0]]), "application/x-npy")
    assert np.load(io.BytesIO(body)).tolist() == [[1.0, 2.0]] and kind == "application/x-npy"
    assert json.loads(hf.encode({"vector": np.arange(2), "n": np.int64(3)}, "")[0]) == {"vector": [0, 1], "n": 3}
    with pytest.raises(hf.HuggingFaceFormatError, match="Unsupported Accept: text/html. Supported Accepts:"):
        hf.encode(prediction, "text/html")
    with pytest.raises(hf.HuggingFaceFormatError, match="as dicts"):
        hf.encode([[0.5, 0.5]], "text/csv")
