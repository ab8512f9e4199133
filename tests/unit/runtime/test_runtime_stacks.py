"""The image decides the serving stack: a stack serves a model without a script where its
container does, and fills in the hooks a script leaves out (without any framework: the
stacks here are made of plain functions; the XGBoost stack runs in integration tests)."""

from __future__ import annotations

import json

import pytest
from sagemaker import image_uris

from serverless_ray.frameworks import Framework, recognise
from serverless_ray.frameworks import xgboost_codecs
from serverless_ray.runtime import codecs
from serverless_ray.runtime.handler import InferenceHandler
from serverless_ray.runtime.stacks import SERVED, ServingStack, served_image, stack_for
from serverless_ray.runtime.usercode import ModelLoadError

from runtime_testutil import write_model_dir


def _stack(program: str | None, *, scriptless: bool = True) -> ServingStack:
    def load(model_dir):
        return float((__import__("pathlib").Path(model_dir) / "weight").read_text())

    return ServingStack(
        name="Test 1.0",
        program=program,
        script_defaults={"input_fn": lambda body, content_type: [float(x) for x in body.split(",")],
                         "predict_fn": lambda data, model: [x * model for x in data],
                         "output_fn": lambda prediction, accept: (",".join(map(str, prediction)), "text/csv")},
        scriptless={"model_fn": load,
                    "input_fn": lambda body, content_type: [float(x) for x in body.split(",")],
                    "predict_fn": lambda data, model: [x + model for x in data],
                    "output_fn": lambda prediction, accept: json.dumps({"accept": accept, "p": prediction})}
        if scriptless else None,
        default_accept="text/csv",
        default_content_type="text/csv",
    )


def test_a_model_without_a_script_is_served_by_the_stack(tmp_path):
    model_dir = write_model_dir(tmp_path / "m", {"weight": "10"})
    handler = InferenceHandler.load(model_dir, environment={}, stack=_stack(None))
    result = handler.invoke(b"1,2", content_type=None, accept=None)
    assert result.status == 200
    # the stack's defaults stand in for a request that names no content type or Accept
    assert json.loads(result.body) == {"accept": "text/csv", "p": [11.0, 12.0]}
    assert result.content_type == "text/csv"


def test_the_default_accept_setting_wins_over_the_stacks(tmp_path):
    model_dir = write_model_dir(tmp_path / "m", {"weight": "1"})
    env = {"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "application/jsonlines"}
    handler = InferenceHandler.load(model_dir, environment=env, stack=_stack(None))
    assert json.loads(handler.invoke(b"1", content_type="text/csv", accept="*/*").body)["accept"] == (
        "application/jsonlines")


def test_a_script_gets_the_stacks_defaults_for_the_hooks_it_leaves_out(tmp_path):
    model_dir = write_model_dir(tmp_path / "m", {
        "code/serve.py": """
            def model_fn(model_dir):
                return 3.0
            def output_fn(prediction, accept):
                return "|".join(map(str, prediction)), "text/plain"
        """,
    })
    handler = InferenceHandler.load(model_dir, environment={}, stack=_stack("serve.py"))
    result = handler.invoke(b"1,2", content_type=None, accept=None)
    assert (result.status, result.body, result.content_type) == (200, b"3.0|6.0", "text/plain")


def test_a_script_with_transform_fn_runs_it_alone(tmp_path):
    model_dir = write_model_dir(tmp_path / "m", {
        "code/inference.py": """
            def model_fn(model_dir):
                return "m"
            def transform_fn(model, body, content_type, accept):
                return f"{model}:{body}:{content_type}:{accept}", "text/plain"
        """,
    })
    handler = InferenceHandler.load(model_dir, environment={}, stack=_stack("inference.py"))
    assert handler.invoke(b"x", content_type=None, accept=None).body == b"m:x:text/csv:text/csv"


def test_a_script_must_load_the_model_where_the_container_has_no_loader(tmp_path):
    model_dir = write_model_dir(tmp_path / "m", {
        "code/inference.py": "def predict_fn(data, model):\n    return data\n"})
    with pytest.raises(ModelLoadError, match=r"code/inference.py does not define model_fn"):
        InferenceHandler.load(model_dir, environment={}, stack=_stack("inference.py"))


def test_a_container_that_requires_a_script_imports_the_default_one(tmp_path):
    model_dir = write_model_dir(tmp_path / "m", {"weight": "1"})
    with pytest.raises(ModelLoadError, match=r"code/inference.py not found"):
        InferenceHandler.load(model_dir, environment={}, stack=_stack(None, scriptless=False))


def test_only_images_with_a_stack_are_served_by_one():
    xgboost = image_uris.retrieve("xgboost", "eu-west-1", "1.7-1")
    algorithm = image_uris.retrieve("xgboost", "eu-west-1", "1")
    tensorflow = image_uris.retrieve("tensorflow", "eu-west-1", "2.13", image_scope="inference",
                                     instance_type="ml.m5.large")
    assert served_image(xgboost) == recognise(xgboost)
    assert served_image(algorithm).framework is Framework.XGBOOST_ALGORITHM
    assert served_image(tensorflow).framework is Framework.TENSORFLOW
    assert SERVED == set(Framework)  # every recognised container has a stack
    assert served_image("sagemaker-inference:test") is None
    assert served_image(None) is None and served_image("") is None


def test_the_xgboost_container_runs_the_program_the_environment_names():
    framework = served_image(image_uris.retrieve("xgboost", "us-east-1", "1.7-1"))
    algorithm = served_image(image_uris.retrieve("xgboost", "us-east-1", "1"))
    scriptless = stack_for(framework, {})
    assert (scriptless.program, scriptless.default_accept) == (None, xgboost_codecs.CSV)
    assert scriptless.default_content_type == xgboost_codecs.CSV
    scripted = stack_for(framework, {"SAGEMAKER_PROGRAM": "serve.py"})
    assert (scripted.program, scripted.default_accept) == ("serve.py", codecs.JSON)
    assert "model_fn" not in scripted.script_defaults  # the container has no default loader
    assert scripted.script_defaults["output_fn"] is codecs.encode
    # the built-in algorithm runs no script, whatever the environment says
    assert stack_for(algorithm, {"SAGEMAKER_PROGRAM": "serve.py"}).program is None


def test_the_xgboost_stack_answers_as_the_container_of_its_version():
    old = stack_for(served_image(image_uris.retrieve("xgboost", "us-east-1", "1.0-1")), {})
    new = stack_for(served_image(image_uris.retrieve("xgboost", "us-east-1", "1.7-1")), {})
    predictions = [0.5, 1.5]
    assert old.scriptless["output_fn"](predictions, "application/json") == (b"0.5,1.5", "text/csv")
    assert new.scriptless["output_fn"](predictions, "application/json") == (
        b'{"predictions": [{"score": 0.5}, {"score": 1.5}]}', "application/json")


def test_the_sklearn_container_requires_a_script_and_decodes_text_as_float32():
    image = served_image(image_uris.retrieve("sklearn", "us-east-1", "1.2-1"))
    stack = stack_for(image, {})
    assert stack.scriptless is None and stack.program is None  # code/inference.py, which must define model_fn
    assert "model_fn" not in stack.script_defaults
    assert stack_for(image, {"SAGEMAKER_PROGRAM": "train.py"}).program == "train.py"
    decoded = stack.script_defaults["input_fn"]("1,2\n3,4\n", "text/csv")
    assert decoded.dtype.name == "float32" and decoded.tolist() == [[1, 2], [3, 4]]
    import io

    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, np.array([1.5, 2.5]))
    assert stack.script_defaults["input_fn"](buffer.getvalue(), "application/x-npy").dtype.name == "float64"

    class Model:
        def predict(self, data):
            return data * 2

    assert stack.script_defaults["predict_fn"](decoded, Model()).tolist() == [[2, 4], [6, 8]]
    assert stack.script_defaults["output_fn"](np.array([1.0]), "application/json") == b"[1.0]"


def test_the_pytorch_container_runs_a_script_where_there_is_one_and_its_own_defaults_otherwise(tmp_path):
    stack = stack_for(served_image(image_uris.retrieve(
        "pytorch", "us-east-1", "2.3", image_scope="inference", instance_type="ml.m5.large", py_version="py311")), {})
    assert stack.program is None and stack.default_script == "inference.py"
    assert set(stack.scriptless) == {"model_fn", "input_fn", "predict_fn", "output_fn"}
    assert stack.script_defaults["model_fn"] is stack.scriptless["model_fn"]  # the toolkit loads TorchScript
    assert stack.script_defaults["output_fn"](3.5, "text/html, application/json") == (b"3.5", "application/json")
    with pytest.raises(codecs.UnsupportedFormatError):
        stack.script_defaults["output_fn"](3.5, "text/html")


def test_a_default_script_is_run_when_it_is_there(tmp_path):
    stack = ServingStack(name="T", program=None, scriptless={"model_fn": lambda d: "scriptless"},
                         default_script="inference.py")
    bare = write_model_dir(tmp_path / "bare", {"weights": "w"})
    assert InferenceHandler.load(bare, environment={}, stack=stack).model == "scriptless"
    scripted = write_model_dir(tmp_path / "scripted", {"code/inference.py": "def model_fn(d):\n    return 'script'\n"})
    assert InferenceHandler.load(scripted, environment={}, stack=stack).model == "script"


HUGGING_FACE = image_uris.retrieve("huggingface", "us-east-1", version="4.49.0", base_framework_version="pytorch2.6.0",
                                   image_scope="inference", instance_type="ml.m5.xlarge")


def test_the_hugging_face_container_loads_the_pipeline_unless_a_script_does(tmp_path):
    image = served_image(HUGGING_FACE)
    stack = stack_for(image, {"HF_TASK": "text-classification"})
    assert stack.program is None and stack.default_script == "inference.py"
    assert set(stack.scriptless) == {"model_fn", "input_fn", "predict_fn", "output_fn"}
    assert (stack.default_accept, stack.default_content_type) == ("application/json", "application/json")
    assert stack_for(image, {"SAGEMAKER_PROGRAM": "serve.py"}).program == "serve.py"
    # the task's inputs, with its parameters
    calls = []

    def pipeline(inputs, **parameters):
        calls.append((inputs, parameters))
        return [{"label": "LABEL_0", "score": 1.0}]

    predict = stack.scriptless["predict_fn"]
    decoded = stack.scriptless["input_fn"]('{"inputs": "fine", "parameters": {"top_k": 1}}', "application/json")
    assert predict(decoded, pipeline) == [{"label": "LABEL_0", "score": 1.0}]
    predict({"question": "who?", "context": "me"}, pipeline)
    predict("plain", pipeline)
    assert calls == [("fine", {"top_k": 1}), ({"question": "who?", "context": "me"}, {}), ("plain", {})]
    nested = stack_for(image, {"HF_TASK": "zero-shot-classification"}).scriptless["input_fn"]
    with pytest.raises(ValueError, match="text/csv requests cannot carry zero-shot-classification"):
        nested("inputs\nx\n", "text/csv")


def test_the_task_is_inferred_from_the_architecture_without_hf_task(tmp_path):
    from serverless_ray.runtime.stacks.huggingface_stack import task_of

    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["DistilBertForSequenceClassification"]}))
    assert task_of(tmp_path) == "text-classification"
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["GPT2LMHeadModel"]}))
    assert task_of(tmp_path) == "text-generation"
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["BertModel"]}))
    with pytest.raises(ValueError, match="'BertModel' .* set the environment variable HF_TASK"):
        task_of(tmp_path)
    with pytest.raises(ValueError, match="HF_TASK .* no config.json"):
        task_of(tmp_path / "empty")


def test_a_hugging_face_model_loads_from_a_local_directory_never_from_a_hub(tmp_path):
    from serverless_ray.runtime.stacks.huggingface_stack import model_location

    model_dir = tmp_path / "model"
    (model_dir / "tiny").mkdir(parents=True)
    assert model_location(model_dir, None) == model_dir
    assert model_location(model_dir, str(tmp_path)) == tmp_path
    assert model_location(model_dir, f"file://{tmp_path}") == tmp_path
    assert model_location(model_dir, "/opt/ml/model/tiny") == model_dir / "tiny"  # inside the model data
    with pytest.raises(ValueError, match="names a model on the Hugging Face Hub, and nothing is downloaded"):
        model_location(model_dir, "distilbert/distilbert-base-uncased")
    with pytest.raises(ValueError, match="is not a directory on this node"):
        model_location(model_dir, str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="leaves the model directory"):
        model_location(model_dir, "/opt/ml/model/../../etc")


def test_tensorflow_serving_finds_every_version_of_every_saved_model(tmp_path):
    from serverless_ray.runtime.stacks.tensorflow_stack import model_versions

    for path in ("1/saved_model.pb", "2/saved_model.pb", "code/inference.py", "variables/saved_model.pb"):
        (tmp_path / "top" / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "top" / path).write_text("")
    assert model_versions(tmp_path / "top") == {"model": {1: tmp_path / "top/1", 2: tmp_path / "top/2"}}
    for path in ("half_plus_two/00000123/saved_model.pb", "other/7/saved_model.pb"):
        (tmp_path / "many" / path).parent.mkdir(parents=True)
        (tmp_path / "many" / path).write_text("")
    assert model_versions(tmp_path / "many") == {"half_plus_two": {123: tmp_path / "many/half_plus_two/00000123"},
                                                 "other": {7: tmp_path / "many/other/7"}}
    assert model_versions(tmp_path / "top" / "code") == {}


def test_a_tensorflow_serving_script_defines_both_handlers(tmp_path):
    import types

    from serverless_ray.runtime.stacks.tensorflow_stack import handler_hooks, serve_with_handlers
    from serverless_ray.runtime.usercode import InvalidHandlerError

    stack = stack_for(served_image(image_uris.retrieve("tensorflow", "us-east-1", "2.19", image_scope="inference",
                                                       instance_type="ml.m5.large")), {"SAGEMAKER_PROGRAM": "x.py"})
    assert stack.program is None and stack.default_script == "inference.py"  # the container's own path
    assert set(stack.scriptless) == {"model_fn", "transform_fn"}
    only_input = types.SimpleNamespace(input_handler=lambda data, context: data.read())
    with pytest.raises(InvalidHandlerError, match="must define both input_handler.* and output_handler"):
        handler_hooks(only_input, "code/inference.py", load=lambda d: None)
    whole = types.SimpleNamespace(handler=lambda data, context: None)
    with pytest.raises(InvalidHandlerError, match="posts to TensorFlow Serving's REST port itself"):
        handler_hooks(whole, "code/inference.py", load=lambda d: None)
    # a request the handlers turn into something TensorFlow Serving refuses reaches output_handler as a 400
    seen = []

    def output_handler(response, context):
        seen.append((response.status_code, response.json(), context.rest_uri, context.request_content_type))
        return response.content, "application/json"

    serve_with_handlers(None, "1,2", "text/csv", "application/json",
                        types.SimpleNamespace(custom_attributes="tfs-model-name=m,tfs-model-version=3"),
                        input_handler=lambda data, context: b'{"examples": []}', output_handler=output_handler)
    assert seen[0][0] == 400 and "Classify and Regress" in seen[0][1]["error"]
    assert seen[0][2:] == ("http://localhost:8501/v1/models/m/versions/3:predict", "text/csv")
