"""The layered environment plugin, driven as Ray's runtime environment agent drives it
(``validate``, ``get_uris``, ``create``, ``modify_context``, ``delete_uri``), with real
virtualenvs and real pip installing wheels made here; no Ray cluster."""

from __future__ import annotations

import asyncio
import logging
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from wheels import pure_wheel

from serverless_ray.environments import DIRECTORY_VARIABLE
from serverless_ray.environments.layered_pip import COMPLETE, LayeredPipPlugin

LOG = logging.getLogger("test-layered-pip")


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    monkeypatch.setenv(DIRECTORY_VARIABLE, str(tmp_path / "environments"))
    return LayeredPipPlugin()


def _create(plugin: LayeredPipPlugin, requirements: list[str]) -> tuple[str, SimpleNamespace]:
    runtime_env = {"layered_pip": requirements}
    plugin.validate(runtime_env)
    [uri] = plugin.get_uris(runtime_env)
    asyncio.run(plugin.create(uri, runtime_env, None, LOG))
    context = SimpleNamespace(py_executable=None, command_prefix=[])
    plugin.modify_context([uri], runtime_env, context, LOG)
    return uri, context


def _run(python: str, code: str) -> str:
    return subprocess.run([python, "-c", code], check=True, capture_output=True, text=True).stdout.strip()


def test_the_requirements_are_installed_over_the_platforms_packages(plugin, tmp_path):
    import croniter

    # A package of the environment's own, and one that the platform has at another version.
    tiny = pure_wheel(tmp_path, "tinydep", "1.0", "ANSWER = 42\n")
    shadow = pure_wheel(tmp_path, "croniter", "0.0.1", "SHADOW = True\n")
    uri, context = _create(plugin, [str(tiny), str(shadow)])

    python = context.py_executable
    assert python.startswith(str(tmp_path / "environments")) and context.command_prefix[0] == "source"
    seen = _run(python, "import tinydep, croniter, serverless_ray, ray, sys; "
                        "print(tinydep.ANSWER, getattr(croniter, 'SHADOW', False), ray.__version__, sys.prefix)")
    answer, shadowed, ray_version, prefix = seen.split()
    import ray

    assert (answer, shadowed, ray_version) == ("42", "True", ray.__version__)
    assert Path(prefix) == Path(python).parents[1]
    # The platform's own copy is untouched.
    assert not hasattr(croniter, "SHADOW") and Path(croniter.__file__).exists()


def test_an_environment_is_built_once_and_reused(plugin, tmp_path):
    tiny = pure_wheel(tmp_path, "tinydep", "1.0", "ANSWER = 42\n")
    uri, context = _create(plugin, [str(tiny)])
    marker = Path(context.py_executable).parents[1] / COMPLETE
    built = marker.stat().st_mtime_ns
    again, _ = _create(plugin, [str(tiny)])
    assert again == uri and marker.stat().st_mtime_ns == built
    # Another list is another environment.
    other, _ = _create(plugin, [str(tiny), str(pure_wheel(tmp_path, "otherdep", "2.0", ""))])
    assert other != uri


def test_an_unfinished_build_is_built_again(plugin, tmp_path):
    tiny = pure_wheel(tmp_path, "tinydep", "1.0", "ANSWER = 42\n")
    uri, context = _create(plugin, [str(tiny)])
    directory = Path(context.py_executable).parents[1]
    (directory / COMPLETE).unlink()
    _create(plugin, [str(tiny)])
    assert (directory / COMPLETE).exists() and _run(context.py_executable, "import tinydep; print(tinydep.ANSWER)") == "42"


def test_a_failed_install_says_what_pip_said_and_leaves_nothing(plugin, tmp_path):
    missing = str(tmp_path / "nothere-1.0-py3-none-any.whl")
    with pytest.raises(RuntimeError, match="pip could not install") as caught:
        _create(plugin, [missing])
    assert "nothere" in str(caught.value)
    assert not [path for path in (tmp_path / "environments").iterdir() if not path.name.endswith(".lock")]


def test_delete_uri_removes_the_environment_and_reports_its_size(plugin, tmp_path):
    uri, context = _create(plugin, [str(pure_wheel(tmp_path, "tinydep", "1.0", ""))])
    assert plugin.delete_uri(uri, LOG) > 0
    assert not Path(context.py_executable).parents[1].exists()


def test_runtime_environments_without_the_field_have_no_uris(plugin):
    assert plugin.get_uris({"env_vars": {"A": "1"}}) == []


@pytest.mark.parametrize("runtime_env, error", [
    ({"layered_pip": "xgboost"}, "must be a list of pip requirement lines"),
    ({"layered_pip": ["xgboost"], "pip": ["numpy"]}, "cannot be combined with 'pip'"),
    ({"layered_pip": ["xgboost"], "py_executable": "/usr/bin/python3"}, "cannot be combined with 'py_executable'"),
])
def test_validate_names_what_is_wrong(runtime_env, error):
    with pytest.raises((TypeError, ValueError), match=error):
        LayeredPipPlugin.validate(runtime_env)
