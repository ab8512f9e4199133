"""Runtime-environment requirements per recognised image: every image version the SageMaker
Python SDK knows gets pinned requirements, that follow the container's release."""

from __future__ import annotations

import os
import warnings

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from serverless_ray.frameworks import packages
from serverless_ray.frameworks.images import Framework, ServingImage
from serverless_ray.frameworks.packages import requirements


@pytest.fixture(scope="module")
def sdk_config():
    os.environ.setdefault("SAGEMAKER_DISABLE_CONFIG", "1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        image_uris = pytest.importorskip("sagemaker.image_uris")

    def inference(framework: str) -> dict:
        return image_uris.config_for_framework(framework)["inference"]

    return inference


def _image(framework: Framework, version: str, pytorch_version: str | None = None) -> ServingImage:
    return ServingImage(framework, version, "cpu", None, "an image", pytorch_version=pytorch_version)


def _pins(reqs: tuple[str, ...]) -> dict[str, Version]:
    """Name → pinned version; asserts every requirement is either ``==`` or a ``<`` cap."""
    pinned = {}
    for text in reqs:
        requirement = Requirement(text)
        (specifier,) = requirement.specifier
        assert specifier.operator in ("==", "<"), text
        if specifier.operator == "==":
            pinned[requirement.name] = Version(specifier.version)
    return pinned


def _series(version: str) -> tuple[int, int]:
    major, minor = version.replace("-", ".").split(".")[:2]
    return int(major), int(minor)


def test_every_xgboost_container_version_is_pinned_to_its_own_series(sdk_config):
    versions = [v for v in sdk_config("xgboost")["versions"] if v != "1"]
    for version in versions:
        pins = _pins(requirements(_image(Framework.XGBOOST, version)))
        (name,) = pins
        assert name in ("xgboost", "xgboost-cpu")
        assert pins[name].release[:2] == _series(version), version


def test_xgboost_before_2_1_keeps_numpy_1_and_later_ones_take_the_cpu_package():
    for version, reqs in packages.XGBOOST.items():
        pins = _pins(reqs)
        release = next(iter(pins.values()))
        if release < Version("2.1"):
            assert "numpy<2" in reqs and "xgboost" in pins, version
        else:
            assert "xgboost-cpu" in pins and not any(r.startswith("numpy") for r in reqs), version


def test_the_built_in_algorithm_gets_the_nearest_xgboost_to_0_72(sdk_config):
    for version in ("1", "latest"):
        resolved = sdk_config("xgboost")["version_aliases"].get(version, version)
        pins = _pins(requirements(_image(Framework.XGBOOST_ALGORITHM, resolved)))
        assert Version("0.72") <= pins["xgboost"] < Version("0.73")


def test_every_scikit_learn_container_version_is_pinned_at_or_after_its_series(sdk_config):
    for version in sdk_config("sklearn")["versions"]:
        reqs = requirements(_image(Framework.SKLEARN, version))
        pinned = _pins(reqs)["scikit-learn"]
        # the first scikit-learn with CPython 3.11 wheels is 1.1.3
        assert pinned.release[:2] == _series(version) or (pinned == Version("1.1.3") and _series(version) < (1, 1))
        assert ("numpy<2" in reqs) == (pinned < Version("1.4.2"))


def test_every_pytorch_image_runs_on_the_reachable_cpu_build(sdk_config):
    for version in sdk_config("pytorch")["versions"]:
        assert requirements(_image(Framework.PYTORCH, version)) == (packages.TORCH,)
    for release in packages.TORCH_CPU_RELEASES:
        assert requirements(_image(Framework.PYTORCH, release)) == (f"torch=={release}",)


def test_short_versions_resolve_as_the_sdk_resolves_them(sdk_config):
    assert packages.TENSORFLOW_RELEASES == sdk_config("tensorflow")["version_aliases"]
    assert packages.TRANSFORMERS_RELEASES == sdk_config("huggingface")["version_aliases"]


def test_hugging_face_pins_transformers_to_the_image_and_torch_to_the_cpu_build(sdk_config):
    config = sdk_config("huggingface")
    first = Version(packages.TRANSFORMERS_FIRST_CP311)
    for short, release in config["version_aliases"].items():
        for base in (key for key in config["versions"][release] if key.startswith("pytorch2")):
            pins = _pins(requirements(_image(Framework.HUGGINGFACE, short, base[len("pytorch"):])))
            assert pins["transformers"] == max(Version(release), first), short
            assert f"torch=={pins['torch']}" == packages.TORCH


def test_tensorflow_gets_the_images_release_or_the_first_later_one_with_a_wheel(sdk_config):
    wheels = sorted(Version(v) for v in packages.TENSORFLOW_CPU_CP311)
    for short, release in sdk_config("tensorflow")["version_aliases"].items():
        for version in (short, release):
            reqs = requirements(_image(Framework.TENSORFLOW, version))
            pinned = _pins(reqs)["tensorflow-cpu"]
            assert pinned == min(w for w in wheels if w >= Version(release)), version
            # an older protobuf than the platform's: Serve's grpc reflection of that protobuf
            assert ("grpcio-reflection<1.72" in reqs) == (pinned < Version("2.20")), version
    assert requirements(_image(Framework.TENSORFLOW, "2.20")) == ("tensorflow-cpu==2.20.0",)


def _numbers(version: str) -> tuple[int, ...]:
    return tuple(int(n) for n in version.replace("-", ".").split("."))


@pytest.mark.parametrize("framework, table", [(Framework.XGBOOST, packages.XGBOOST),
                                              (Framework.SKLEARN, packages.SKLEARN)])
def test_an_unknown_container_version_takes_the_nearest_later_known_one(framework, table):
    for later in table:
        *head, last = later.replace("-", ".").split(".")
        if int(last) == 0:
            continue
        head_text = ".".join(head)
        between = f"{head_text}-{int(last) - 1}" if "-" in later else f"{head_text}.{int(last) - 1}"
        if between not in table:
            assert requirements(_image(framework, between)) == table[later], between
    newest = max(table, key=_numbers)
    assert requirements(_image(framework, "99.0-1")) == table[newest]


def test_a_short_version_the_sdk_has_no_alias_for_is_its_dot_zero_release():
    pins = _pins(requirements(_image(Framework.HUGGINGFACE, "4.48", "2.3")))
    assert pins["transformers"] == Version("4.48.0")


def test_every_requirement_is_a_valid_pin():
    tables = [packages.XGBOOST, packages.XGBOOST_ALGORITHM, packages.SKLEARN]
    for table in tables:
        for reqs in table.values():
            assert _pins(reqs)
    for release in packages.TENSORFLOW_CPU_CP311:
        assert Version(release)
    assert _pins((packages.TORCH,))


def test_the_models_own_pin_of_a_project_replaces_the_frameworks():
    framework = ("xgboost==1.7.4", "numpy<2")
    assert packages.with_model_requirements(framework, ["XGBoost==1.7.6", "pandas"]) == [
        "numpy<2", "XGBoost==1.7.6", "pandas"]
    assert packages.with_model_requirements(framework, ["Numpy[extra]>=1.26 ; python_version>'3'"]) == [
        "xgboost==1.7.4", "Numpy[extra]>=1.26 ; python_version>'3'"]
    # xgboost-cpu and xgboost are distinct projects; normalised names compare equal
    assert packages.with_model_requirements(("xgboost-cpu==3.0.5",), ["xgboost_CPU"]) == ["xgboost_CPU"]
    assert packages.with_model_requirements(("xgboost-cpu==3.0.5",), ["xgboost"]) == ["xgboost-cpu==3.0.5", "xgboost"]


def test_lines_that_name_no_project_leave_the_frameworks_pins_alone():
    lines = ["/wheels/tinydep-1.0-py3-none-any.whl", "--index-url https://example.invalid/simple", "-r other.txt"]
    assert packages.with_model_requirements(("xgboost==1.7.4",), lines) == ["xgboost==1.7.4", *lines]
    assert packages.with_model_requirements(("xgboost==1.7.4",), []) == ["xgboost==1.7.4"]
