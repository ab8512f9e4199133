import json
import sys

import pytest

from runtime_testutil import build_tarball, write_model_dir
from serverless_ray.runtime import InferenceHandler, InvalidHandlerError, ModelLoadError, materialize


@pytest.fixture(autouse=True)
def _isolate_sys_path(monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))


def load(tmp_path, files, name="model", **kwargs):
    if isinstance(files, str):
        files = {"code/inference.py": files}
    kwargs.setdefault("environment", {})
    return InferenceHandler.load(write_model_dir(tmp_path / name, files), **kwargs)


def test_missing_model_fn_is_a_load_error(tmp_path):
    with pytest.raises(ModelLoadError, match="does not define model_fn"):
        load(tmp_path, "def predict_fn(data, model):\n    return data\n")


def test_missing_inference_py(tmp_path):
    with pytest.raises(ModelLoadError, match=r"code/inference\.py not found in model data"):
        load(tmp_path, {"model.pt": b"weights"})


def test_missing_model_dir(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        InferenceHandler.load(tmp_path / "nope", environment={})


def test_transform_fn_combined_with_predict_fn_is_rejected(tmp_path):
    src = """
        def model_fn(model_dir): return None
        def transform_fn(model, body, content_type, accept): return body
        def predict_fn(data, model): return data
        def output_fn(prediction, accept): return prediction
    """
    with pytest.raises(ValueError, match="transform_fn together with predict_fn, output_fn") as info:
        load(tmp_path, src)
    assert isinstance(info.value, InvalidHandlerError)


def test_wrong_hook_arity_is_rejected(tmp_path):
    src = """
        def model_fn(model_dir): return None
        def predict_fn(data): return data
    """
    with pytest.raises(InvalidHandlerError, match="predict_fn must take 2 arguments"):
        load(tmp_path, src)


def test_model_fn_exception_names_step(tmp_path):
    src = "def model_fn(model_dir):\n    raise ValueError('weights missing')\n"
    with pytest.raises(ModelLoadError, match="model_fn raised ValueError: weights missing"):
        load(tmp_path, src)


def test_warmup_exception_names_step(tmp_path):
    src = """
        def model_fn(model_dir): return 1
        def model_warmup_fn(model_dir, model): raise RuntimeError("cold")
    """
    with pytest.raises(ModelLoadError, match="model_warmup_fn raised RuntimeError: cold"):
        load(tmp_path, src)


def test_import_error_is_a_load_error(tmp_path):
    with pytest.raises(ModelLoadError, match="importing code/inference.py raised ModuleNotFoundError"):
        load(tmp_path, "import definitely_not_installed_pkg\n")


def test_sagemaker_program_selects_another_file(tmp_path):
    files = {
        "code/inference.py": "def model_fn(d): return 'default'\ndef transform_fn(m, b, c, a): return m\n",
        "code/serve.py": "def model_fn(d): return 'serve'\ndef transform_fn(m, b, c, a): return m\n",
    }
    via_env = load(tmp_path, files, name="a", environment={"SAGEMAKER_PROGRAM": "serve.py"})
    via_arg = load(tmp_path, files, name="b", program="serve")
    default = load(tmp_path, files, name="c")
    assert (via_env.model, via_arg.model, default.model) == ("serve", "serve", "default")
    with pytest.raises(ModelLoadError, match=r"code/missing\.py not found"):
        load(tmp_path, files, name="d", program="missing.py")


def test_helper_modules_from_code_dir(tmp_path):
    files = {
        "code/inference.py": "from rt_helpers import scale\ndef model_fn(d): return scale\n",
        "code/rt_helpers.py": "def scale(x): return x * 3\n",
    }
    handler = load(tmp_path, files)
    result = handler.invoke(b"[1, 2]", content_type="application/json", accept=None)
    assert json.loads(result.body) == [3, 6]


def test_two_models_with_same_names_do_not_collide(tmp_path):
    def files(factor):
        return {
            "code/inference.py": "import rt_shared\ndef model_fn(d): return rt_shared.FACTOR\n",
            "code/rt_shared.py": f"FACTOR = {factor}\n",
        }

    first = load(tmp_path, files(2), name="first")
    second = load(tmp_path, files(5), name="second")
    assert (first.model, second.model) == (2, 5)


def test_environment_visible_to_user_code(tmp_path, monkeypatch):
    monkeypatch.setenv("RT_PROCESS_VAR", "from-process")
    src = """
        import os
        def model_fn(model_dir, context):
            return os.environ.get("RT_PROCESS_VAR"), context.environment.get("RT_MODEL_VAR")
    """
    assert load(tmp_path, src, environment={"RT_MODEL_VAR": "m"}).model == ("from-process", "m")
    # Without an explicit mapping the process environment is used.
    handler = InferenceHandler.load(tmp_path / "model")
    assert handler.model == ("from-process", None)


def test_end_to_end_from_tarball(tmp_path):
    archive = build_tarball(
        tmp_path / "model.tar.gz",
        {
            "model.txt": "7",
            "code/inference.py": """
                import os
                def model_fn(model_dir):
                    with open(os.path.join(model_dir, "model.txt")) as f:
                        return int(f.read())
                def predict_fn(data, model):
                    return data + model
            """,
            "code/requirements.txt": "numpy\n",
        },
    )
    model_dir = materialize(f"file://{archive}", tmp_path / "cache")
    handler = InferenceHandler.load(model_dir, environment={})
    result = handler.invoke(b"1,2\n", content_type="text/csv", accept="application/json")
    assert json.loads(result.body) == [8.0, 9.0]
