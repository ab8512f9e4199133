"""The Serve config's `args`, validated by Serve's own builder call before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError
from ray.serve._private.api import call_user_app_builder_with_args_if_necessary
from ray.serve.schema import ServeDeploySchema

from serverless_ray import serve_app
from serverless_ray.declarative.schema import serve_app_args

EXAMPLE = Path(__file__).parents[2] / "deployments" / "serverless.yaml"


def _args() -> dict:
    return serve_app_args(yaml.safe_load(EXAMPLE.read_text()))


def test_the_example_is_a_valid_serve_config_and_builds():
    config = ServeDeploySchema.model_validate(yaml.safe_load(EXAMPLE.read_text()))
    assert config.applications[0].import_path == "serverless_ray.serve_app:app"
    built = call_user_app_builder_with_args_if_necessary(serve_app.app, config.applications[0].args)
    assert built is not None


def test_a_bad_value_fails_the_build_naming_the_field_and_the_allowed_values():
    args = _args()
    args["endpoints"][0]["memory_size_mb"] = 1536
    args["platform"]["prot"] = 8080
    with pytest.raises(ValidationError) as caught:
        call_user_app_builder_with_args_if_necessary(serve_app.app, args)
    message = str(caught.value)
    assert "endpoints.0.memory_size_mb" in message and "[1024, 2048, 3072, 4096, 5120, 6144]" in message
    assert "platform.prot" in message and "Extra inputs are not permitted" in message
