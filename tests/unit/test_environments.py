"""Which runtime environment a list of requirements gets, and how the plugin is registered
for Ray's processes (no Ray here)."""

from __future__ import annotations

import json

import pytest

from serverless_ray import environments

OTHER_PLUGIN = {"class": "somebody.else.Plugin", "priority": 20}


def test_unregistered_the_requirements_go_to_rays_pip():
    assert environments.runtime_env(["xgboost-cpu==3.0.5"], {}) == {"pip": ["xgboost-cpu==3.0.5"]}


def test_registered_they_go_to_the_layered_environment():
    environ: dict[str, str] = {}
    environments.register(environ)
    assert environments.is_registered(environ)
    assert environments.runtime_env(("scikit-learn==1.4.2",), environ) == {"layered_pip": ["scikit-learn==1.4.2"]}


def test_no_requirements_need_no_environment():
    environ: dict[str, str] = {}
    environments.register(environ)
    assert environments.runtime_env([], environ) == {}


def test_register_keeps_other_plugins_and_adds_itself_once():
    environ = {"RAY_RUNTIME_ENV_PLUGINS": json.dumps([OTHER_PLUGIN])}
    environments.register(environ)
    environments.register(environ)
    assert json.loads(environ["RAY_RUNTIME_ENV_PLUGINS"]) == [OTHER_PLUGIN, environments.PLUGIN]


def test_the_published_config_is_what_register_writes():
    environ: dict[str, str] = {}
    environments.register(environ)
    assert json.loads(environ["RAY_RUNTIME_ENV_PLUGINS"]) == json.loads(environments.PLUGIN_CONFIG)


@pytest.mark.parametrize("value, message", [
    ("[{", "is not JSON"),
    ('{"class": "x"}', "must be a JSON list"),
])
def test_a_broken_plugin_variable_is_named(value, message):
    with pytest.raises(ValueError, match=message) as caught:
        environments.is_registered({"RAY_RUNTIME_ENV_PLUGINS": value})
    assert "RAY_RUNTIME_ENV_PLUGINS" in str(caught.value) and repr(value) in str(caught.value)
