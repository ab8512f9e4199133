"""Test model: echoes what it was given, with the environment it sees.

Request JSON may carry {"sleep": seconds} to make the model slow, {"wait_for": path} to
hold the call until that file exists (a test's latch, at most WAIT_LIMIT_S) and
{"announce": path} to write the replica's pid there once the call reached the model.
The model's Environment may set LOAD_HOLD_WHILE to a path: loading (``model_fn``) then
waits while that file exists (at most WAIT_LIMIT_S), so that a test can hold a replica
or standby start-up for as long as it needs.
"""

import json
import os
import time

WAIT_LIMIT_S = 50.0  # under the 60 s invocation timeout


def _node_id():
    """The Ray node this replica runs on (the multi-node tests look at where replicas are)."""
    try:
        import ray

        return ray.get_runtime_context().get_node_id()
    except Exception:
        return None


def model_fn(model_dir):
    hold = os.environ.get("LOAD_HOLD_WHILE")
    deadline = time.monotonic() + WAIT_LIMIT_S
    while hold and os.path.exists(hold) and time.monotonic() < deadline:
        time.sleep(0.01)
    with open(os.path.join(model_dir, "greeting.txt")) as f:
        return {"greeting": f.read().strip(), "loaded_at": time.time()}


def _controls(request_body, content_type):
    if not content_type.startswith("application/json"):
        return {}
    try:
        controls = json.loads(request_body)
    except ValueError:
        return {}
    return controls if isinstance(controls, dict) else {}


def _wait_for(path):
    deadline = time.monotonic() + WAIT_LIMIT_S
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.01)


def transform_fn(model, request_body, content_type, accept, context):
    started = time.time()
    controls = _controls(request_body, content_type)
    if controls.get("announce"):
        partial = controls["announce"] + ".partial"
        with open(partial, "w") as f:
            f.write(str(os.getpid()))
        os.replace(partial, controls["announce"])  # the test never reads half a pid
    try:
        sleep = float(controls.get("sleep", 0))
    except (TypeError, ValueError):
        sleep = 0.0
    if sleep:
        time.sleep(sleep)
    if controls.get("wait_for"):
        _wait_for(controls["wait_for"])
    context.response_custom_attributes = f"echo={context.custom_attributes}"
    body = {
        "greeting": model["greeting"],
        "content_type": content_type,
        "accept": accept,
        "body": request_body if isinstance(request_body, str) else request_body.decode("latin-1"),
        "custom_attributes": context.custom_attributes,
        "env_color": os.environ.get("COLOR"),
        "pid": os.getpid(),
        "node_id": _node_id(),
        "started": started,
        "finished": time.time(),
    }
    return json.dumps(body), "application/json"
