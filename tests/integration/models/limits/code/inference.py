"""Test model that uses its tier: allocates memory, writes to its scratch directory,
sleeps, and tells where it runs (its cgroups, TMPDIR and working directory).

Request JSON: {"allocate_mb": N} holds N MB (touched, so really resident) for the call,
{"write_mb": N} writes N MB under TMPDIR, {"sleep": s}, and {"wait_for": path} /
{"announce": path} as the echo model has them (a test's latch).
"""

import json
import os
import tempfile
import time

MIB = 1024 * 1024
WAIT_LIMIT_S = 50.0


def model_fn(model_dir):
    return {"loaded_at": time.time()}


def _announce(path):
    partial = path + ".partial"
    with open(partial, "w") as f:
        f.write(str(os.getpid()))
    os.replace(partial, path)


def _wait_for(path):
    deadline = time.monotonic() + WAIT_LIMIT_S
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.01)


def _write(megabytes):
    with tempfile.NamedTemporaryFile(prefix="fill-", delete=False) as f:
        chunk = b"\x01" * MIB
        for _ in range(megabytes):
            f.write(chunk)
        f.flush()
        os.fsync(f.fileno())
        return f.name


def transform_fn(model, request_body, content_type, accept, context):
    controls = json.loads(request_body or "{}")
    held = b"\x01" * (int(controls.get("allocate_mb", 0)) * MIB)  # bytes * n touches every page
    written = _write(int(controls["write_mb"])) if controls.get("write_mb") else None
    if controls.get("announce"):
        _announce(controls["announce"])
    if controls.get("sleep"):
        time.sleep(float(controls["sleep"]))
    if controls.get("wait_for"):
        _wait_for(controls["wait_for"])
    with open("/proc/self/cgroup") as f:
        cgroups = f.read()
    body = {
        "pid": os.getpid(),
        "held_mb": len(held) // MIB,
        "written": written,
        "tmpdir": tempfile.gettempdir(),
        "cwd": os.getcwd(),
        "cgroups": cgroups,
    }
    return json.dumps(body), "application/json"
