"""Test model: echoes what it was given, with the environment it sees.

Request JSON may carry {"sleep": seconds} to make the model slow.
"""

import json
import os
import time


def _node_id():
    """The Ray node this replica runs on (the multi-node tests look at where replicas are)."""
    try:
        import ray

        return ray.get_runtime_context().get_node_id()
    except Exception:
        return None


def model_fn(model_dir):
    with open(os.path.join(model_dir, "greeting.txt")) as f:
        return {"greeting": f.read().strip(), "loaded_at": time.time()}


def transform_fn(model, request_body, content_type, accept, context):
    started = time.time()
    sleep = 0.0
    if content_type.startswith("application/json"):
        try:
            sleep = float(json.loads(request_body).get("sleep", 0))
        except (AttributeError, ValueError):
            sleep = 0.0
    if sleep:
        time.sleep(sleep)
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
