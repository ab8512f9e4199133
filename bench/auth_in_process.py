"""What authentication costs one request inside the gateway's ASGI app, without Ray or
sockets: the same app over a fake invocation service, once without and once with the
authenticator, driven by raw ASGI calls (no HTTP client in the timing).

Each request is a warm ``InvokeEndpoint`` as the runtime client sends it: signed once by
botocore (a signature stays valid for 5 minutes), with the headers boto3 sends. Calls
alternate between the two apps in short blocks so that the machine's load falls on both
alike; the printed figures are the difference of the wall-time medians and of the CPU
time per call (the steadier figure on a loaded machine). ``--profile`` adds the
cProfile of the authenticated app's requests, sorted by own time. Usage::

    .venv/bin/python bench/auth_in_process.py [--calls 20000] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import statistics
import time

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from serverless_ray.auth.authenticator import Authenticator
from serverless_ray.auth.credentials import Credentials
from serverless_ray.gateway.app import build_app
from serverless_ray.gateway.invocation_types import InvocationReply, InvocationRequest

BODY = json.dumps({"inputs": [[1, 2, 3]]}).encode()
PATH = "/endpoints/bench/invocations"
HOST = "127.0.0.1:8080"
KEY_ID, SECRET = "AKIABENCHMARK0000001", "bench-secret-0123456789abcdefgh"
BLOCK = 50
CREDENTIALS = Credentials.model_validate({"principals": [{
    "name": "bench", "access_key_id": KEY_ID, "secret_access_key": SECRET,
    "policy": {"Statement": [
        {"Effect": "Allow", "Action": ["sagemaker:InvokeEndpoint", "sagemaker:Describe*"],
         "Resource": "arn:aws:sagemaker:*:*:endpoint/bench*"},
        {"Effect": "Deny", "Action": "sagemaker:Delete*", "Resource": "*"}]}}]})


class Invocations:
    """Answers every invocation at once, as a warm replica would (minus the replica)."""

    def clock(self) -> float:
        return time.monotonic()

    async def invoke(self, request: InvocationRequest) -> InvocationReply:
        return InvocationReply(b"[[6]]", "application/json", "AllTraffic", request.request_id)

    async def invoke_stream(self, request: InvocationRequest):
        raise NotImplementedError


class Control:
    async def call(self, service, operation, payload):
        return {}


async def _metrics() -> bytes:
    return b""


def _app(authenticator: Authenticator | None):
    return build_app(invocations=Invocations(), control=Control(), metrics_text=_metrics, ready=lambda: True,
                     authenticator=authenticator)


def _scope() -> dict:
    """The ASGI scope uvicorn makes of a signed runtime request (headers as boto3 sends them)."""
    request = AWSRequest(method="POST", url=f"http://{HOST}{PATH}", data=BODY, headers={
        "Content-Type": "application/json", "Accept": "application/json",
        "User-Agent": "Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux lang/python#3.11 cfg/retry-mode#legacy",
        "Content-Length": str(len(BODY))})
    SigV4Auth(BotoCredentials(KEY_ID, SECRET), "sagemaker", "us-east-1").add_auth(request)
    headers = [(b"host", HOST.encode())] + [(k.lower().encode(), v.encode()) for k, v in request.headers.items()]
    return {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
            "method": "POST", "scheme": "http", "path": PATH, "raw_path": PATH.encode(), "query_string": b"",
            "root_path": "", "headers": headers, "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8080)}


async def _call(app, scope: dict) -> int:
    messages = [{"type": "http.request", "body": BODY, "more_body": False}]
    status = 0

    async def receive():
        return messages.pop() if messages else {"type": "http.disconnect"}

    async def send(message):
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(dict(scope), receive, send)
    return status


async def _measure(apps: dict, scope: dict, calls: int) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Per app: each call's wall time, and the CPU time per call (a figure the machine's
    other load barely moves, unlike wall time)."""
    for label, app in apps.items():  # warm both, and check both answer 200
        for _ in range(BLOCK):
            status = await _call(app, scope)
            if status != 200:
                raise RuntimeError(f"{label}: HTTP {status}")
    samples: dict[str, list[float]] = {label: [] for label in apps}
    cpu = dict.fromkeys(apps, 0.0)
    clock = time.perf_counter
    while any(len(s) < calls for s in samples.values()):
        for label, app in apps.items():
            block_cpu = time.process_time()
            for _ in range(BLOCK):
                started = clock()
                await _call(app, scope)
                samples[label].append(clock() - started)
            cpu[label] += time.process_time() - block_cpu
    return samples, {label: cpu[label] / len(samples[label]) for label in apps}


async def _profile(app, scope: dict, calls: int) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        await _call(app, scope)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=20000, help="timed calls per app")
    parser.add_argument("--profile", action="store_true", help="print the authenticated app's cProfile")
    args = parser.parse_args()
    authenticator = Authenticator.for_platform(CREDENTIALS, region="us-east-1", account_id="123456789012")
    apps = {"off": _app(None), "on": _app(authenticator)}
    scope = _scope()
    samples, cpu = asyncio.run(_measure(apps, scope, args.calls))
    us = {label: statistics.median(s) * 1e6 for label, s in samples.items()}
    cpu_us = {label: c * 1e6 for label, c in cpu.items()}
    print(f"in-process ASGI InvokeEndpoint, wall median: off {us['off']:.1f} us, on {us['on']:.1f} us "
          f"(+{us['on'] - us['off']:.1f} us); CPU per call: off {cpu_us['off']:.1f} us, on {cpu_us['on']:.1f} us "
          f"(+{cpu_us['on'] - cpu_us['off']:.1f} us); n={args.calls} per app")
    if args.profile:
        asyncio.run(_profile(apps["on"], scope, args.calls // 4))


if __name__ == "__main__":
    main()
