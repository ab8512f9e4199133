"""Test model that writes where SageMaker users look for it: prints, ``logging`` lines
and tracebacks, each carrying a tag the test chose.

Request JSON: {"tag": "...", "print": true, "log": true, "sleep": seconds,
"fail": 400 | 500}.
"""

import json
import logging
import time

logger = logging.getLogger("chatty")


class BadInput(ValueError):
    status_code = 400


def model_fn(model_dir):
    print("chatty model loaded")
    return {}


def transform_fn(model, request_body, content_type, accept):
    request = json.loads(request_body or "{}")
    tag = request.get("tag", "")
    if request.get("print"):
        print(f"printed {tag}")
    if request.get("log"):
        logger.warning("logged %s", tag)
    if request.get("sleep"):
        time.sleep(float(request["sleep"]))
    if request.get("fail") == 400:
        raise BadInput(f"bad input {tag}")
    if request.get("fail") == 500:
        raise RuntimeError(f"model broke {tag}")
    return json.dumps({"ok": True}), "application/json"
