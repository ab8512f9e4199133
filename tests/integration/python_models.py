"""Endpoints declared in Python, used by test_decorator.py (importable by the replicas)."""

import os
import time

import serverless_ray


@serverless_ray.endpoint(name="py-linear", memory_size_mb=1024, max_concurrency=2)
class Linear:
    def __init__(self):
        self.weights = [0.5, -1.0, 2.0]
        self.pid = os.getpid()

    def __call__(self, request):
        if isinstance(request, dict) and request.get("wait_for"):
            # A test's latch: hold the call until the file exists (bounded).
            with open(request["announce"] + ".partial", "w") as f:
                f.write(str(self.pid))
            os.replace(request["announce"] + ".partial", request["announce"])
            deadline = time.monotonic() + 50
            while not os.path.exists(request["wait_for"]) and time.monotonic() < deadline:
                time.sleep(0.01)
            return {"released": True}
        return {"predictions": [sum(w * x for w, x in zip(self.weights, row)) for row in request], "pid": self.pid}


@serverless_ray.endpoint(name="py-shout", memory_size_mb=1024, max_concurrency=1)
def shout(text):
    return text.upper() if isinstance(text, str) else text


@serverless_ray.endpoint(name="py-count", memory_size_mb=1024, max_concurrency=1)
def count(request):
    """A generator: each number is a part of a streamed reply."""
    for i in range(int(request.get("to", 3))):
        yield f"{i};"
