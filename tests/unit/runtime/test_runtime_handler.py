import io
import json
import sys
import textwrap

import numpy as np
import pytest

from runtime_testutil import write_model_dir
from serverless_ray.runtime import InferenceHandler

CALLABLE_MODEL = """
    def model_fn(model_dir):
        return lambda data: data * 2
"""


def with_callable_model(extra_source):
    return textwrap.dedent(CALLABLE_MODEL) + textwrap.dedent(extra_source)


@pytest.fixture(autouse=True)
def _isolate_sys_path(monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))


@pytest.fixture
def make_handler(tmp_path):
    counter = iter(range(1000))

    def make(files, **kwargs):
        if isinstance(files, str):
            files = {"code/inference.py": files}
        model_dir = write_model_dir(tmp_path / f"model{next(counter)}", files)
        kwargs.setdefault("environment", {})
        return InferenceHandler.load(model_dir, **kwargs)

    return make


def invoke_json(handler, payload, **kwargs):
    kwargs.setdefault("accept", "application/json")
    return handler.invoke(json.dumps(payload).encode(), content_type="application/json", **kwargs)


def test_default_hooks_decode_call_model_and_encode(make_handler):
    result = invoke_json(make_handler(CALLABLE_MODEL), [[1, 2], [3, 4]])
    assert result.ok and result.status == 200
    assert result.content_type == "application/json"
    assert json.loads(result.body) == [[2, 4], [6, 8]]
    assert result.custom_attributes is None


def test_custom_input_predict_output(make_handler):
    handler = make_handler(
        """
        import json
        def model_fn(model_dir):
            return {"offset": 10}
        def input_fn(request_body, request_content_type):
            assert isinstance(request_body, str), type(request_body)
            return json.loads(request_body)["x"]
        def predict_fn(data, model):
            return data + model["offset"]
        def output_fn(prediction, accept):
            return f"result={prediction};accept={accept}"
        """
    )
    result = handler.invoke(b'{"x": 5}', content_type="application/json; charset=utf-8", accept="text/csv")
    assert result.status == 200
    assert result.body == b"result=15;accept=text/csv"
    assert result.content_type == "text/csv"


def test_body_is_bytes_for_binary_content_types(make_handler):
    handler = make_handler(
        """
        def model_fn(model_dir):
            return None
        def transform_fn(model, request_body, content_type, accept):
            return type(request_body).__name__ + " " + content_type
        """
    )
    assert handler.invoke(b"\x00\x01", content_type="image/png", accept=None).body == b"bytes image/png"
    assert handler.invoke(b"1,2", content_type="text/csv", accept=None).body == b"str text/csv"
    assert handler.invoke(b"x", content_type=None, accept=None).body == b"bytes application/octet-stream"


def test_transform_fn_tuple_sets_content_type(make_handler):
    handler = make_handler(
        """
        def model_fn(model_dir):
            return "m"
        def transform_fn(model, request_body, content_type, accept):
            return ("<p>" + model + request_body + "</p>", "text/html")
        """
    )
    result = handler.invoke(b"[1]", content_type="application/json", accept="application/json")
    assert (result.status, result.body, result.content_type) == (200, b"<p>m[1]</p>", "text/html")


def test_output_fn_tuple_with_array_body_uses_returned_type(make_handler):
    handler = make_handler(
        with_callable_model("def output_fn(prediction, accept):\n    return prediction, 'text/csv'\n")
    )
    result = invoke_json(handler, [[1, 2]])
    assert (result.body, result.content_type) == (b"2,4\n", "text/csv")


def test_output_fn_returning_array_is_encoded_with_accept(make_handler):
    handler = make_handler(with_callable_model("def output_fn(prediction, accept):\n    return prediction\n"))
    result = invoke_json(handler, [1, 2], accept="application/x-npy")
    assert result.content_type == "application/x-npy"
    np.testing.assert_array_equal(np.load(io.BytesIO(result.body)), [2, 4])


def test_context_arguments_and_custom_attributes(make_handler):
    handler = make_handler(
        """
        def model_fn(model_dir, context):
            return {"flag": context.environment["MY_FLAG"], "dir": context.model_dir}
        def input_fn(request_body, request_content_type, context):
            return request_body
        def predict_fn(data, model, context):
            context.response_custom_attributes = "seen=" + (context.custom_attributes or "")
            return {"flag": model["flag"], "rid": context.request_id, "dir": model["dir"]}
        def output_fn(prediction, accept):
            import json
            return json.dumps(prediction)
        """,
        environment={"MY_FLAG": "on"},
    )
    result = invoke_json(handler, {}, custom_attributes="trace=1", request_id="req-42")
    body = json.loads(result.body)
    assert body["flag"] == "on" and body["rid"] == "req-42"
    assert body["dir"] == str(handler.model_dir)
    assert result.custom_attributes == "seen=trace=1"
    # A fresh context per request: attributes from earlier calls do not leak.
    assert invoke_json(handler, {}).custom_attributes == "seen="


def test_transform_fn_with_context(make_handler):
    handler = make_handler(
        """
        def model_fn(model_dir):
            return None
        def transform_fn(model, request_body, content_type, accept, context):
            return context.request_id
        """
    )
    assert handler.invoke(b"", content_type="text/csv", accept=None, request_id="abc").body == b"abc"


def test_missing_or_wildcard_accept_uses_default_env(make_handler):
    handler = make_handler(CALLABLE_MODEL, environment={"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv"})
    for accept in (None, "*/*", "*/*; q=0.8"):
        result = handler.invoke(b"1,2\n3,4", content_type="text/csv", accept=accept)
        assert (result.body, result.content_type) == (b"2.0,4.0\n6.0,8.0\n", "text/csv")
    assert make_handler(CALLABLE_MODEL).invoke(b"[1]", content_type="application/json", accept=None).content_type == (
        "application/json"
    )


def test_user_exception_status_code_is_used(make_handler):
    handler = make_handler(
        """
        class BadInput(Exception):
            status_code = 422
        def model_fn(model_dir):
            return None
        def predict_fn(data, model):
            raise BadInput("field x is required")
        """
    )
    result = invoke_json(handler, [1])
    assert (result.status, result.body, result.ok) == (422, b"field x is required", False)
    assert result.content_type.startswith("text/plain")


@pytest.mark.parametrize("code", ["200", "700", "True", "'404'"])
def test_out_of_range_status_code_falls_back_to_500(make_handler, code):
    handler = make_handler(
        f"""
        class Odd(Exception):
            status_code = {code}
        def model_fn(model_dir):
            return None
        def predict_fn(data, model):
            raise Odd("odd")
        """
    )
    assert invoke_json(handler, [1]).status == 500


def test_plain_exception_is_500_and_empty_message_uses_class_name(make_handler):
    handler = make_handler(
        """
        def model_fn(model_dir):
            return None
        def predict_fn(data, model):
            if data.tolist() == [1]:
                raise RuntimeError("kaput")
            raise KeyError()
        """
    )
    assert (invoke_json(handler, [1]).status, invoke_json(handler, [1]).body) == (500, b"kaput")
    assert (invoke_json(handler, [2]).status, invoke_json(handler, [2]).body) == (500, b"KeyError")


def test_unsupported_content_type_with_default_input_fn_is_415(make_handler):
    result = make_handler(CALLABLE_MODEL).invoke(b"<x/>", content_type="application/xml", accept=None)
    assert result.status == 415
    assert b"application/xml" in result.body


def test_unsupported_accept_with_default_output_fn_is_415(make_handler):
    result = invoke_json(make_handler(CALLABLE_MODEL), [1], accept="image/png")
    assert result.status == 415 and b"image/png" in result.body


def test_invalid_utf8_json_is_400(make_handler):
    result = make_handler(CALLABLE_MODEL).invoke(b"\xff\xfe", content_type="application/json", accept=None)
    assert result.status == 400


def test_non_callable_model_without_predict_fn(make_handler):
    result = invoke_json(make_handler("def model_fn(model_dir):\n    return {'w': 1}\n"), [1])
    assert result.status == 500
    assert b"not callable" in result.body and b"predict_fn" in result.body


def test_pre_model_and_warmup_hooks_run_in_order(make_handler):
    handler = make_handler(
        """
        calls = []
        def pre_model_fn(model_dir):
            calls.append("pre")
        def model_fn(model_dir):
            calls.append("model")
            return calls
        def model_warmup_fn(model_dir, model):
            calls.append("warmup")
        """
    )
    assert handler.model == ["pre", "model", "warmup"]
