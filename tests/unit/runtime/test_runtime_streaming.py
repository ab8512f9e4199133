"""Streamed replies in the replica (no Ray): which results stream, parts as bytes,
errors before and after the first part, InvokeEndpoint joining the parts, and closing a
stream closing the model's generator (its ``finally`` runs)."""

from __future__ import annotations

import asyncio
import json
import sys
import threading

import pytest

from runtime_testutil import write_model_dir
from serverless_ray.messages import ReplicaReply, ReplicaSpec, StreamEnd
from serverless_ray.runtime import InferenceHandler
from serverless_ray.runtime.replica import ModelReplica
from serverless_ray.runtime.streaming import as_bytes, drive, is_stream, parts

STREAMING_MODEL = """
    import inspect
    import json

    class Model:
        prefix = "tok"
        closed = []  # what the generators' finally recorded

    def model_fn(model_dir):
        return Model()

    def input_fn(body, content_type):
        return json.loads(body)

    def predict_fn(controls, model):
        if controls.get("plain"):
            return {"answer": 42}
        if controls.get("async"):
            return _async_parts(model, controls)
        return _parts(model, controls)

    def _parts(model, controls):
        try:
            for i in range(controls.get("parts", 3)):
                if controls.get("fail_after") == i:
                    raise ValueError(f"failed after {i}")
                yield f"{model.prefix}{i} " if i % 2 == 0 else f"{model.prefix}{i} ".encode()
                yield ""  # empty items are no parts
        finally:
            model.closed.append(controls.get("id"))
            if controls.get("cleanup"):
                open(controls["cleanup"], "w").close()

    async def _async_parts(model, controls):
        try:
            for i in range(controls.get("parts", 3)):
                yield {"i": i}
        finally:
            model.closed.append(controls.get("id"))

    def output_fn(prediction, accept):
        # Text for the sync generator's parts; the async one's dicts go out as the Accept says.
        return prediction, "text/plain" if inspect.isgenerator(prediction) else accept
"""


@pytest.fixture(autouse=True)
def _isolate_sys_path(monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))


@pytest.fixture
def model_dir(tmp_path):
    return write_model_dir(tmp_path / "model", {"code/inference.py": STREAMING_MODEL})


@pytest.fixture
def handler(model_dir):
    return InferenceHandler.load(model_dir, environment={})


def _closed(handler) -> list:
    """What the model's generators' ``finally`` recorded."""
    return handler.model.closed


def _stream(handler, **controls):
    return handler.stream(json.dumps(controls).encode(), content_type="application/json", accept="application/json")


def test_what_streams():
    def gen():
        yield 1

    async def agen():
        yield 1

    assert is_stream(gen()) and is_stream(agen()) and is_stream(iter([1])) and is_stream(map(str, [1]))
    assert not any(is_stream(v) for v in (b"x", "x", [1], (1, "a"), {"a": 1}, 3, None))


def test_items_become_parts_and_joined_replies():
    assert list(parts(iter(["a", b"b", "", {"c": 1}]), "application/json")) == [b"a", b"b", b'{"c": 1}']
    assert list(parts({"c": 1}, "application/json")) == [b'{"c": 1}']  # any other result: one part
    assert list(parts(b"", "text/plain")) == []
    assert as_bytes(iter(["a", b"b"]), "text/plain") == b"ab"


def test_a_generator_streams_part_by_part_and_invoke_joins_the_parts(handler):
    stream = _stream(handler, parts=3, id="s")
    assert (stream.result.status, stream.result.content_type, stream.result.body) == (200, "text/plain", b"")
    assert list(stream.parts) == [b"tok0 ", b"tok1 ", b"tok2 "]
    result = handler.invoke(b'{"parts": 3}', content_type="application/json", accept="application/json")
    assert (result.status, result.body, result.content_type) == (200, b"tok0 tok1 tok2 ", "text/plain")


def test_an_async_generator_streams_and_a_plain_result_is_one_part(handler):
    assert list(_stream(handler, parts=2, id="a", **{"async": True}).parts) == [b'{"i": 0}', b'{"i": 1}']
    assert "a" in _closed(handler)
    stream = _stream(handler, plain=True)
    assert (stream.result.content_type, list(stream.parts)) == ("application/json", [b'{"answer": 42}'])


def test_a_failure_before_the_first_part_is_an_error_result_and_after_it_is_raised(handler):
    early = _stream(handler, fail_after=0)
    assert (early.result.status, early.result.body, list(early.parts)) == (500, b"failed after 0", [])
    late = _stream(handler, fail_after=2)
    assert late.result.ok
    got = []
    with pytest.raises(ValueError, match="failed after 2"):
        for part in late.parts:
            got.append(part)
    assert got == [b"tok0 ", b"tok1 "]


def test_closing_the_parts_closes_the_models_generator(handler):
    stream = _stream(handler, parts=10, id="early")
    assert next(stream.parts) == b"tok0 "
    stream.parts.close()
    assert "early" in _closed(handler)


def test_a_replica_streams_head_parts_and_end(model_dir, tmp_path):
    replica = ModelReplica(ReplicaSpec("ep", "AllTraffic", str(model_dir), str(tmp_path / "cache")))
    call = (json.dumps({"parts": 2, "fail_after": 1}).encode(), "application/json", None, None, "r1", None)
    head, first, end = list(replica.stream_items(*call))
    assert isinstance(head, ReplicaReply) and head.result.ok and not head.cold
    assert first == b"tok0 "
    assert isinstance(end, StreamEnd) and end.error == "ValueError: failed after 1" and end.model_seconds > 0

    async def read_one_and_close():
        controls = {"parts": 50, "cleanup": str(tmp_path / "closed")}
        items = replica.stream(json.dumps(controls).encode(), "application/json", None, None, "r2", None)
        assert isinstance(await anext(items), ReplicaReply)
        assert await anext(items) == b"tok0 "
        await items.aclose()

    asyncio.run(read_one_and_close())
    assert (tmp_path / "closed").exists()  # the model's generator was closed


def test_drive_closes_the_iterator_after_the_step_in_flight_when_cancelled():
    entered, release, closed = threading.Event(), threading.Event(), []

    def slow():
        try:
            yield 1
            entered.set()
            release.wait(10)  # the model is busy producing the next part
            yield 2
        finally:
            closed.append(True)

    async def scenario():
        items = drive(slow())
        assert await anext(items) == 1
        waiting = asyncio.ensure_future(anext(items))
        await asyncio.get_running_loop().run_in_executor(None, entered.wait, 10)
        waiting.cancel()  # the caller goes away while the part is being produced
        await asyncio.sleep(0)
        assert closed == []  # a running generator cannot be closed: it waits for the step
        release.set()
        await asyncio.gather(waiting, return_exceptions=True)

    asyncio.run(scenario())
    assert closed == [True]


# --- the example in deployments/ -------------------------------------------------------

def test_the_example_text_generator_streams_one_letter_a_part(monkeypatch):
    from pathlib import Path

    from serverless_ray.declarative.schema import load

    deployments = Path(__file__).parents[3] / "deployments"
    declared = {e.name: e for e in load(deployments / "example.yaml").endpoints}
    monkeypatch.setenv("TOKEN_DELAY_S", "0")  # no per-letter pause (the replica sets os.environ likewise)
    handler = InferenceHandler.load(Path(declared["example-text-generator"].model_data))
    body = json.dumps({"prompt": "The endpoint", "max_new_chars": 40, "seed": 7}).encode()
    stream = handler.stream(body, content_type="application/json", accept=None)
    letters = list(stream.parts)
    assert stream.result.content_type.startswith("text/plain")
    assert len(letters) == 40 and all(len(letter) == 1 for letter in letters)
    joined = handler.invoke(body, content_type="application/json", accept=None)
    assert joined.body == b"".join(letters)  # the same seed: InvokeEndpoint gets the joined parts
