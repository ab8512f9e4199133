"""Property tests of the validation layer: generated valid requests are accepted,
generated invalid ones are refused with a ValidationException, and no payload at all
makes an operation fail with anything but a client error."""

from __future__ import annotations

import asyncio
import itertools
import re
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st
from pydantic import BaseModel

from plane_harness import Harness
from serverless_ray import spec
from serverless_ray.errors import ServiceError, ValidationException
from serverless_ray.spec.endpoint import UpdateEndpointWeightsAndCapacitiesInput
from serverless_ray.spec.endpoint_config import MEMORY_SIZES_MB
from serverless_ray.spec.instance_types import INSTANCE_TYPES, NON_GPU_ACCELERATOR_FAMILIES
from serverless_ray.spec.registry import CreateModelPackageInput
from serverless_ray.spec.tags import AddTagsInput

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
CPU_TYPES = sorted(t for t, s in INSTANCE_TYPES.items() if s.gpus == 0)

names = st.from_regex(r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,40}[a-zA-Z0-9])?", fullmatch=True)
tag_chars = st.characters(categories=["L", "N", "Zs"]) | st.sampled_from("_.:/=+-@")
tag_keys = st.text(tag_chars, min_size=1, max_size=128).filter(lambda k: not k.lower().startswith("aws:"))
tags = st.lists(st.fixed_dictionaries({"Key": tag_keys, "Value": st.text(tag_chars, max_size=256)}),
                max_size=5, unique_by=lambda t: t["Key"])
weights = st.floats(min_value=0, max_value=1000, allow_nan=False, allow_infinity=False)


@st.composite
def serverless_configs(draw):
    max_concurrency = draw(st.integers(1, 200))
    serverless = {"MemorySizeInMB": draw(st.sampled_from(MEMORY_SIZES_MB)), "MaxConcurrency": max_concurrency}
    provisioned = draw(st.none() | st.integers(1, max_concurrency))
    if provisioned is not None:
        serverless["ProvisionedConcurrency"] = provisioned
    variant = {"VariantName": draw(names), "ModelName": draw(names), "ServerlessConfig": serverless}
    if draw(st.booleans()):
        variant["InitialVariantWeight"] = draw(weights)
    return {"EndpointConfigName": draw(names), "ProductionVariants": [variant], "Tags": draw(tags)}


@st.composite
def instance_configs(draw):
    variant_names = draw(st.lists(names, min_size=1, max_size=4, unique_by=str.lower))
    variants = [{"VariantName": v, "ModelName": draw(names), "InstanceType": draw(st.sampled_from(CPU_TYPES)),
                 "InitialInstanceCount": draw(st.integers(1, 10)), "InitialVariantWeight": draw(weights)}
                for v in variant_names]
    variants[0]["InitialVariantWeight"] = draw(st.floats(0.01, 1000))  # at least one variant gets traffic
    return {"EndpointConfigName": draw(names), "ProductionVariants": variants, "Tags": draw(tags)}


@st.composite
def models(draw):
    container = {
        "Image": draw(st.from_regex(r"[a-z0-9./:-]{1,60}", fullmatch=True)),
        "ModelDataUrl": draw(st.sampled_from(["s3://bucket/model.tar.gz", "https://h/m.tar.gz", "file:///m.tar.gz"])),
        "Environment": draw(st.dictionaries(st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,20}", fullmatch=True),
                                            st.text(max_size=30), max_size=4)),
    }
    return {"ModelName": draw(names), "PrimaryContainer": container, "Tags": draw(tags)}


# --- valid requests are accepted ------------------------------------------------------


@FAST
@given(serverless_configs() | instance_configs())
def test_valid_endpoint_configs_parse(payload):
    parsed = spec.parse(spec.CreateEndpointConfigInput, payload)
    assert len(parsed.ProductionVariants) == len(payload["ProductionVariants"])


@FAST
@given(models())
def test_valid_models_parse(payload):
    assert spec.parse(spec.CreateModelInput, payload).containers[0].Image == payload["PrimaryContainer"]["Image"]


_counter = itertools.count()


@settings(max_examples=40, deadline=None)
@given(models(), serverless_configs() | instance_configs())
def test_valid_requests_are_accepted_by_the_control_plane(model, config):
    """A model and a config that reference each other create an endpoint."""
    n = next(_counter)
    model = {**model, "ModelName": f"m{n}"}
    for variant in config["ProductionVariants"]:
        variant["ModelName"] = model["ModelName"]
    config = {**config, "EndpointConfigName": f"c{n}"}
    h = _harness()
    h.call("CreateModel", model)
    h.call("CreateEndpointConfig", config)
    h.call("CreateEndpoint", {"EndpointName": f"e{n}", "EndpointConfigName": f"c{n}", "Tags": config["Tags"]})
    assert h.store.endpoints.get(f"e{n}").pending is not None


# --- invalid requests are refused ------------------------------------------------------


def _variant(payload):
    return payload["ProductionVariants"][0]


MUTATIONS = {
    "memory not a tier": lambda d, p: _variant(p)["ServerlessConfig"].update(
        MemorySizeInMB=d(st.integers().filter(lambda m: m not in MEMORY_SIZES_MB))),
    "max concurrency out of range": lambda d, p: _variant(p)["ServerlessConfig"].update(
        MaxConcurrency=d(st.integers(max_value=0) | st.integers(min_value=201))),
    "provisioned above max": lambda d, p: _variant(p)["ServerlessConfig"].update(
        ProvisionedConcurrency=_variant(p)["ServerlessConfig"]["MaxConcurrency"] + d(st.integers(1, 50))),
    "memory not a number": lambda d, p: _variant(p)["ServerlessConfig"].update(MemorySizeInMB=d(st.sampled_from(
        ["", "abc", "2 GB", "2048MB", "two", None, [], {}, 2048.5]))),
    "bad config name": lambda d, p: p.update(EndpointConfigName=d(st.text(max_size=80).filter(
        lambda t: not NAME.match(t)))),
    "bad variant name": lambda d, p: _variant(p).update(VariantName=d(st.text(max_size=80).filter(
        lambda t: not NAME.match(t)))),
    "negative weight": lambda d, p: _variant(p).update(InitialVariantWeight=d(st.floats(max_value=-0.001))),
    "two serverless variants": lambda d, p: p["ProductionVariants"].append(
        {**_variant(p), "VariantName": _variant(p)["VariantName"] + "x"}),
    "excluded feature": lambda d, p: p.update(d(st.sampled_from([
        {"DataCaptureConfig": {"EnableCapture": True}}, {"AsyncInferenceConfig": {"OutputConfig": {}}},
        {"ShadowProductionVariants": [{"VariantName": "s"}]}, {"VpcConfig": {"Subnets": ["s"]}},
        {"EnableNetworkIsolation": True}]))),
    "gpu type on serverless": lambda d, p: _variant(p).update(
        InstanceType=d(st.sampled_from([t for t, s in INSTANCE_TYPES.items() if s.gpus]))),
    "serverless and instance count": lambda d, p: _variant(p).update(InitialInstanceCount=d(st.integers(1, 5))),
    "no compute": lambda d, p: _variant(p).pop("ServerlessConfig"),
    "bad tag": lambda d, p: p.update(Tags=[{"Key": d(st.sampled_from(["aws:x", "", "a#b", "k" * 129]))}]),
    "too many tags": lambda d, p: p.update(Tags=[{"Key": f"k{i}"} for i in range(51)]),
}
INSTANCE_MUTATIONS = {
    "unknown instance type": lambda d, p: _variant(p).update(InstanceType=d(st.text(max_size=30).filter(
        lambda t: t not in INSTANCE_TYPES))),
    "accelerator family": lambda d, p: _variant(p).update(
        InstanceType=f"ml.{d(st.sampled_from(NON_GPU_ACCELERATOR_FAMILIES))}.xlarge"),
    "no instance count": lambda d, p: _variant(p).pop("InitialInstanceCount"),
    "zero instances": lambda d, p: _variant(p).update(InitialInstanceCount=d(st.integers(max_value=0))),
    "all weights zero": lambda d, p: [v.update(InitialVariantWeight=0) for v in p["ProductionVariants"]],
    "duplicate variant": lambda d, p: p["ProductionVariants"].append(
        {**_variant(p), "VariantName": _variant(p)["VariantName"].upper()}),
    "data capture": lambda d, p: p.update(DataCaptureConfig={"EnableCapture": True}),
}


@FAST
@given(serverless_configs(), st.sampled_from(sorted(MUTATIONS)), st.data())
def test_invalid_serverless_configs_are_refused(payload, mutation, data):
    MUTATIONS[mutation](data.draw, payload)
    _assert_refused(spec.CreateEndpointConfigInput, payload)


@FAST
@given(instance_configs(), st.sampled_from(sorted(INSTANCE_MUTATIONS)), st.data())
def test_invalid_instance_configs_are_refused(payload, mutation, data):
    INSTANCE_MUTATIONS[mutation](data.draw, payload)
    _assert_refused(spec.CreateEndpointConfigInput, payload)


@FAST
@given(models(), st.sampled_from(["name", "url", "env key", "image"]), st.data())
def test_invalid_models_are_refused(payload, field, data):
    container = payload["PrimaryContainer"]
    if field == "name":
        payload["ModelName"] = data.draw(st.text(max_size=80).filter(lambda t: not NAME.match(t) or len(t) > 63))
    elif field == "url":
        container["ModelDataUrl"] = data.draw(st.sampled_from(["ftp://h/m", "relative/m.tar.gz", "http://h/m", "s3://"]))
    elif field == "env key":
        container["Environment"] = {data.draw(st.from_regex(r"[0-9-][A-Z]{0,5}", fullmatch=True)): "v"}
    else:
        container["Image"] = data.draw(st.sampled_from(["has space", "", "x" * 256]))
    _assert_refused(spec.CreateModelInput, payload)


def _assert_refused(shape: type[BaseModel], payload) -> None:
    try:
        spec.parse(shape, payload)
    except ValidationException as exc:
        assert exc.status == 400 and exc.message
        return
    raise AssertionError(f"accepted: {payload}")


# --- nothing crashes ----------------------------------------------------------------------

SHAPES: list[type[BaseModel]] = [
    spec.CreateModelInput, spec.CreateEndpointConfigInput, spec.CreateEndpointInput, spec.UpdateEndpointInput,
    spec.ListEndpointsInput, UpdateEndpointWeightsAndCapacitiesInput, CreateModelPackageInput, AddTagsInput,
]


def _vocabulary() -> list[str]:
    """Every member name of the request shapes, so that fuzzed objects reach deep validators."""
    seen: set[str] = set()

    def walk(model: type[BaseModel]) -> None:
        for name, field in model.model_fields.items():
            seen.add(name)
            for arg in getattr(field.annotation, "__args__", ()) + (field.annotation,):
                inner = getattr(arg, "__args__", (arg,))
                for candidate in (arg, *inner):
                    if isinstance(candidate, type) and issubclass(candidate, BaseModel) and candidate.__name__ not in seen:
                        seen.add(candidate.__name__)
                        walk(candidate)

    for shape in SHAPES:
        walk(shape)
    return sorted(seen)


VOCABULARY = _vocabulary()
scalars = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats()
           | st.text(max_size=20) | st.sampled_from(["ml.m5.large", "ml.g5.xlarge", "AllTraffic", "s3://b/k", "Approved"]))
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(VOCABULARY) | st.text(max_size=8), inner, max_size=6),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(SHAPES), json_values)
def test_any_json_is_parsed_or_refused(shape, payload):
    try:
        spec.parse(shape, payload)
    except ValidationException as exc:
        assert exc.message


_HARNESS: list[Harness] = []


def _harness() -> Harness:
    if not _HARNESS:
        _HARNESS.append(Harness(Path(tempfile.mkdtemp(prefix="plane-fuzz-"))))
    return _HARNESS[0]


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_no_payload_makes_an_operation_fail_with_a_server_error(data):
    h = _harness()
    operation = data.draw(st.sampled_from(sorted(h.plane.operations)))
    payload = data.draw(json_values)
    try:
        result = asyncio.run(h.plane.call(operation, payload))
    except ServiceError as exc:
        assert exc.status == 400, (operation, payload, exc)
    else:
        assert isinstance(result, dict)
