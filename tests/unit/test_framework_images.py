"""Image URIs → serving stacks: the URIs the SageMaker Python SDK builds, region by
region, and everything else."""

from __future__ import annotations

import logging
import os
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from serverless_ray.frameworks.images import RECOGNISED_REPOSITORIES, Framework, ServingImage, recognise

REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2", "cn-north-1", "us-gov-west-1", "us-iso-east-1",
           "us-isof-south-1")


@pytest.fixture(scope="module")
def image_uris():
    os.environ.setdefault("SAGEMAKER_DISABLE_CONFIG", "1")  # no config file lookups or log lines
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = pytest.importorskip("sagemaker.image_uris")
    logging.getLogger("sagemaker").setLevel(logging.ERROR)
    return module


def _version_config(image_uris, framework: str, scope: str, version: str) -> dict:
    config = image_uris.config_for_framework(framework)
    config = config.get(scope, config)
    full = config.get("version_aliases", {}).get(version, version)
    return config["versions"][full]


def _regions(version_config: dict) -> list[str]:
    registries = version_config.get("registries")
    if registries is None:  # Hugging Face nests them under the base framework's version
        registries = next(v for v in version_config.values() if isinstance(v, dict) and "registries" in v)[
            "registries"]
    return [region for region in REGIONS if region in registries]


def _uris(image_uris, framework: str, version_config: dict, **kwargs) -> list[str]:
    regions = _regions(version_config)
    assert len(regions) >= 4, regions
    return [image_uris.retrieve(framework, region=region, **kwargs) for region in regions]


@pytest.mark.parametrize("version", ["1", "latest"])
def test_the_built_in_algorithm(image_uris, version):
    config = image_uris.config_for_framework("xgboost")["inference"]
    expected = config["version_aliases"].get(version, version)
    for uri in _uris(image_uris, "xgboost", _version_config(image_uris, "xgboost", "inference", version),
                     version=version):
        image = recognise(uri)
        assert image == ServingImage(Framework.XGBOOST_ALGORITHM, expected, "cpu", None, uri), uri


@pytest.mark.parametrize("version", ["0.90-1", "1.0-1", "1.2-2", "1.5-1", "1.7-1", "3.0-5"])
def test_the_xgboost_container(image_uris, version):
    for uri in _uris(image_uris, "xgboost", _version_config(image_uris, "xgboost", "inference", version),
                     version=version, instance_type="ml.m5.large"):
        image = recognise(uri)
        assert image is not None, uri
        assert (image.framework, image.version, image.processor, image.image) == (
            Framework.XGBOOST, version, "cpu", uri)
        # the older tags spell out processor and Python, the newer ones neither
        assert image.python == ("py3" if uri.endswith("-py3") else None)


def test_the_xgboost_graviton_build(image_uris):
    uri = image_uris.retrieve("xgboost", region="us-east-1", version="1.5-1", image_scope="inference_graviton",
                              instance_type="ml.c7g.large")
    assert (recognise(uri).framework, recognise(uri).version) == (Framework.XGBOOST, "1.5-1")


@pytest.mark.parametrize("version", ["0.20.0", "0.23-1", "1.0-1", "1.2-1"])
def test_the_scikit_learn_container(image_uris, version):
    config = _version_config(image_uris, "sklearn", "inference", version)
    python = config["py_versions"][-1]
    for uri in _uris(image_uris, "sklearn", config, version=version, py_version=python,
                     instance_type="ml.m5.large"):
        assert recognise(uri) == ServingImage(Framework.SKLEARN, version, "cpu", python, uri), uri


@pytest.mark.parametrize("version, instance_type, processor", [
    ("1.13", "ml.m5.large", "cpu"), ("2.1", "ml.m5.large", "cpu"), ("2.1", "ml.g4dn.xlarge", "gpu"),
    ("2.6", "ml.m5.large", "cpu")])
def test_the_pytorch_container(image_uris, version, instance_type, processor):
    config = _version_config(image_uris, "pytorch", "inference", version)
    python = config["py_versions"][-1]
    for uri in _uris(image_uris, "pytorch", config, version=version, py_version=python,
                     instance_type=instance_type, image_scope="inference"):
        assert recognise(uri) == ServingImage(Framework.PYTORCH, version, processor, python, uri), uri


@pytest.mark.parametrize("version, instance_type, processor", [
    ("4.26", "ml.m5.large", "cpu"), ("4.28", "ml.m5.large", "cpu"), ("4.37", "ml.m5.large", "cpu"),
    ("4.37", "ml.g5.xlarge", "gpu"), ("4.49", "ml.m5.large", "cpu")])
def test_the_hugging_face_container(image_uris, version, instance_type, processor):
    config = _version_config(image_uris, "huggingface", "inference", version)
    base = next(key for key in config if key.startswith("pytorch") and key[len("pytorch"):][:1].isdigit())
    pytorch = base[len("pytorch"):].rsplit(".", 1)[0]  # "pytorch2.1.0" → "2.1", as the SDK's examples pass it
    python = config[base]["py_versions"][-1]
    for uri in _uris(image_uris, "huggingface", config, version=version, base_framework_version=f"pytorch{pytorch}",
                     py_version=python, instance_type=instance_type, image_scope="inference"):
        assert recognise(uri) == ServingImage(Framework.HUGGINGFACE, version, processor, python, uri,
                                              pytorch_version=pytorch), uri


def test_hugging_face_on_tensorflow_is_not_recognised(image_uris):
    uri = image_uris.retrieve("huggingface", region="us-east-1", version="4.26",
                              base_framework_version="tensorflow2.11", instance_type="ml.m5.large",
                              image_scope="inference")
    assert recognise(uri) is None


@pytest.mark.parametrize("version", ["1.15", "2.1", "2.13", "2.19"])
def test_the_tensorflow_serving_container(image_uris, version):
    config = _version_config(image_uris, "tensorflow", "inference", version)
    for uri in _uris(image_uris, "tensorflow", config, version=version, instance_type="ml.m5.large",
                     image_scope="inference"):
        assert recognise(uri) == ServingImage(Framework.TENSORFLOW, version, "cpu", None, uri), uri


def test_the_older_tensorflow_serving_repository(image_uris):
    uri = image_uris.retrieve("tensorflow", region="eu-west-1", version="1.12", instance_type="ml.m5.large",
                              image_scope="inference")
    assert recognise(uri) == ServingImage(Framework.TENSORFLOW, "1.12", "cpu", None, uri)


@pytest.mark.parametrize("framework, version", [("pytorch", "2.1"), ("tensorflow", "2.13")])
def test_graviton_builds_serve_as_their_framework(image_uris, framework, version):
    uri = image_uris.retrieve(framework, region="ap-southeast-2", version=version, image_scope="inference_graviton",
                              instance_type="ml.c7g.large")
    image = recognise(uri)
    assert (image.framework.value, image.version, image.processor) == (framework, version, "cpu")


@pytest.mark.parametrize("uri, framework, version, python", [
    # Deep Learning Containers' full tags, as their release notes list them
    ("763104351884.dkr.ecr.us-west-2.amazonaws.com/pytorch-inference:2.1.0-gpu-py310-cu118-ubuntu20.04-sagemaker",
     Framework.PYTORCH, "2.1.0", "py310"),
    ("763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.3-cpu-py311",
     Framework.PYTORCH, "2.3", "py311"),
    ("763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-inference:2.13.0-cpu-py310-ubuntu20.04-sagemaker-v1.1",
     Framework.TENSORFLOW, "2.13.0", "py310"),
    ("763104351884.dkr.ecr-fips.us-east-1.amazonaws.com/tensorflow-inference:2.13-cpu",
     Framework.TENSORFLOW, "2.13", None),
    ("683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1@sha256:" + "0" * 64,
     Framework.XGBOOST, "1.7-1", None),
])
def test_tags_beyond_the_sdks(uri, framework, version, python):
    image = recognise(uri)
    assert (image.framework, image.version, image.python) == (framework, version, python)


@pytest.mark.parametrize("uri", [
    "xgboost:1.7-1",  # Docker Hub, by repository and tag alone
    "docker.io/library/python:3.11",
    "ghcr.io/example/pytorch-inference:2.1-cpu-py310",
    "pytorch/pytorch:2.1.0-cuda12.1-cudnn8-runtime",
    "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-model:latest",  # the user's own repository
    "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/pytorch-inference:2.1-cpu-py310",
    "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.1-cpu-py310",
    "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference:2.1-tgi1.4-gpu-py310-cu121-ubuntu22.04",
    "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference",  # no tag
    "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference@sha256:" + "0" * 64,  # digest only
    "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:latest",
    "811284229777.dkr.ecr.us-east-1.amazonaws.com/xgboost:2",
    "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7",
    "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1",
    "76310435188.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.1-cpu-py310",  # 11-digit account
    "763104351884.dkr.ecr.us-east-1.example.com/pytorch-inference:2.1-cpu-py310",
    "763104351884.dkr.ecr.us-east-1.amazonaws.com.evil.example/pytorch-inference:2.1-cpu-py310",
    " 763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.1-cpu-py310",
    "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.1-cpu-py310\n",
    "https://763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.1-cpu-py310",
    "",
    ":",
    "/:",
    "\x00",
])
def test_other_images_are_not_recognised(uri):
    assert recognise(uri) is None


@pytest.mark.parametrize("value", [None, 3, b"763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.1-cpu-py310",
                                   ["x"]])
def test_non_strings_are_not_recognised(value):
    assert recognise(value) is None


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_arbitrary_strings_never_raise(text):
    image = recognise(text)
    assert image is None or isinstance(image, ServingImage)


_REPOSITORIES = sorted(RECOGNISED_REPOSITORIES)


@settings(max_examples=300, deadline=None)
@given(account=st.from_regex(r"\d{12}", fullmatch=True), repository=st.sampled_from(_REPOSITORIES),
       tag=st.text(alphabet="0123456789.-abcdefghijklmnopqrstuvwxyz", max_size=40))
def test_arbitrary_tags_of_known_repositories_never_raise(account, repository, tag):
    uri = f"{account}.dkr.ecr.eu-west-1.amazonaws.com/{repository}:{tag}"
    image = recognise(uri)
    assert image is None or (image.framework is RECOGNISED_REPOSITORIES[repository] and image.image == uri)
