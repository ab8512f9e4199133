"""The Python decorator path: same endpoints, same API, same limits."""

from __future__ import annotations

import json

import pytest
from python_models import Linear, shout
from support import Background, Latch, wait_for

import serverless_ray
from serverless_ray.errors import ThrottlingException


@pytest.fixture(scope="module")
def handles(platform, tmp_path_factory):
    linear, shouting = serverless_ray.run(
        Linear, shout, platform=platform.platform, code_root=tmp_path_factory.mktemp("python-endpoints")
    )
    yield linear, shouting
    from conftest import _client

    sm = _client("sagemaker", platform.url)
    for name in ("py-linear", "py-shout"):
        sm.delete_endpoint(EndpointName=name)
    for name in ("py-linear", "py-shout"):
        sm.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})


def test_handle_invokes_without_http(handles):
    linear, shouting = handles
    reply = linear([[1, 2, 3]])
    assert reply["predictions"] == [4.5]
    assert shouting.invoke(b"quiet", content_type="text/plain") == b"QUIET"


def test_decorated_endpoint_is_an_ordinary_endpoint(handles, sm, runtime):
    described = sm.describe_endpoint(EndpointName="py-linear")
    assert described["EndpointStatus"] == "InService"
    assert described["ProductionVariants"][0]["CurrentServerlessConfig"] == {"MemorySizeInMB": 1024, "MaxConcurrency": 2}
    assert "py-linear" in {e["EndpointName"] for e in sm.list_endpoints(NameContains="py-")["Endpoints"]}
    reply = runtime.invoke_endpoint(EndpointName="py-linear", ContentType="application/json", Body="[[0, 0, 1]]")
    assert json.loads(reply["Body"].read())["predictions"] == [2.0]


def test_handle_calls_are_admitted_like_http_calls(handles, tmp_path):
    linear, _ = handles

    def call(body):
        try:
            return "ok" if linear(body)["released"] else "?"
        except ThrottlingException as exc:
            return exc.code

    with Background() as background, Latch(tmp_path) as latch:
        futures = [background.submit(call, latch.body()) for _ in range(3)]
        # MaxConcurrency 2: two calls are held in the model, the third is refused meanwhile.
        wait_for(lambda: len(latch.started()) == 2 and sum(f.done() for f in futures) == 1, timeout_s=90,
                 what="two calls in the model and one answered")
        assert [f.result() for f in futures if f.done()] == ["ThrottlingException"]
        latch.release()
        outcomes = background.results()
    assert sorted(outcomes) == ["ThrottlingException", "ok", "ok"]


def test_decorator_arguments_are_validated_like_the_wire_api():
    from serverless_ray.errors import ValidationException

    with pytest.raises(ValidationException, match="memorySizeInMB"):
        serverless_ray.endpoint(name="x", memory_size_mb=1536)
    with pytest.raises(ValidationException, match="endpointName"):
        serverless_ray.endpoint(name="not valid!")
