"""Test model: streams numbered parts from a generator.

Request JSON controls: {"parts": n} parts (default 5), {"interval": s} seconds before each
part after the first, {"fail_after": k} raise after k parts, {"wait_for": path} hold before
the first part until that file exists (a test's latch, bounded), {"announce": path} write
the pid there once the call reached the model, {"cleanup": path} write the number of parts
produced there from the generator's ``finally`` (it runs when the stream is closed early).
"""

import json
import os
import time

WAIT_LIMIT_S = 50.0  # under the 60 s invocation timeout


def model_fn(model_dir):
    return "part"


def _write(path, text):
    with open(path + ".partial", "w") as f:
        f.write(text)
    os.replace(path + ".partial", path)  # the test never reads half a file


def predict_fn(controls, model):
    if controls.get("announce"):
        _write(controls["announce"], str(os.getpid()))
    if controls.get("wait_for"):
        deadline = time.monotonic() + WAIT_LIMIT_S
        while not os.path.exists(controls["wait_for"]) and time.monotonic() < deadline:
            time.sleep(0.01)
    return _parts(model, controls)


def _parts(model, controls):
    produced = 0
    try:
        for i in range(int(controls.get("parts", 5))):
            if i:
                time.sleep(float(controls.get("interval", 0)))
            if controls.get("fail_after") is not None and i == int(controls["fail_after"]):
                raise ValueError(f"failed after {i} parts")
            produced += 1
            yield f"{model}-{i};"
    finally:
        if controls.get("cleanup"):
            _write(controls["cleanup"], str(produced))


def output_fn(prediction, accept):
    return prediction, "text/plain"


def input_fn(body, content_type):
    return json.loads(body) if body else {}
