"""Exact admission: clients within MaxConcurrency are never throttled, clients beyond it
never get more than it admitted at once (counted inside the model), and a throttle is
answered at once, whatever the controller or a starting replica is doing."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.request
from collections import Counter

import ray
from botocore.exceptions import ClientError
from conftest import _client
from support import Background, Latch, max_overlap, metric_value, replica_gauge, wait_for

from serverless_ray.cluster_names import CONTROLLER_NAME, NAMESPACE, QUOTA_LEDGER_NAME

ROUND_S = 4.0


def _tokens_held() -> int:
    ledger = ray.get_actor(QUOTA_LEDGER_NAME, namespace=NAMESPACE)
    return ray.get(ledger.snapshot.remote())["total"]


def _keep_alive_clients(url: str, endpoint: str, clients: int, seconds: float, body: dict) -> tuple[Counter, list]:
    """``clients`` threads, each with its own boto3 client (one keep-alive connection),
    sending the next call the moment the last one came back, for ``seconds``: never more
    than ``clients`` calls in flight. Returns the outcomes and the (started, finished)
    times the model reported for each call it served."""
    outcomes: Counter[str] = Counter()
    spans: list[tuple[float, float]] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    payload = json.dumps(body)

    def client() -> None:
        runtime = _client("sagemaker-runtime", url)
        while time.monotonic() < stop:
            try:
                reply = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="application/json", Body=payload)
            except ClientError as exc:
                with lock:
                    outcomes[exc.response["Error"]["Code"]] += 1
                continue
            served = json.loads(reply["Body"].read())
            with lock:
                outcomes["ok"] += 1
                spans.append((served["started"], served["finished"]))

    with Background() as background:
        for _ in range(clients):
            background.submit(client)
        background.results()
    return outcomes, spans


def _in_flight(url: str, endpoint: str) -> float | None:
    """Invocations of ``endpoint`` in flight at the entry point (admitted, not answered)."""
    text = urllib.request.urlopen(f"{url}/metrics", timeout=10).read().decode()
    return metric_value(text, "serverless_ray_in_flight", endpoint_name=endpoint, variant_name="AllTraffic")


def _call(runtime, endpoint: str, body: dict | None = None) -> str:
    try:
        runtime.invoke_endpoint(EndpointName=endpoint, ContentType="application/json", Body=json.dumps(body or {}))
        return "ok"
    except ClientError as exc:
        return exc.response["Error"]["Code"]


def test_keep_alive_clients_at_the_limit_are_never_throttled(platform, deployer, model_urls):
    name = deployer.serverless(model_urls["echo"], max_concurrency=3, provisioned=3)
    _keep_alive_clients(platform.url, name, 3, 1.0, {})  # connections and handles made
    outcomes, spans = _keep_alive_clients(platform.url, name, 3, ROUND_S, {})
    assert outcomes["ok"] > 0
    assert outcomes == Counter(ok=outcomes["ok"]), f"clients within MaxConcurrency were refused: {outcomes}"
    assert max_overlap(spans) <= 3
    wait_for(lambda: _tokens_held() == 0, timeout_s=15, what="tokens returned to the ledger")


def test_clients_beyond_the_limit_never_get_more_than_it(platform, deployer, model_urls):
    name = deployer.serverless(model_urls["echo"], max_concurrency=2, provisioned=2)
    outcomes, spans = _keep_alive_clients(platform.url, name, 5, ROUND_S, {"sleep": 0.02})
    assert set(outcomes) == {"ok", "ThrottlingException"}, outcomes
    # Counted inside the replicas: never more than the limit at once (that it is reached
    # depends on timing on a loaded machine, so it is not asserted).
    assert 1 <= max_overlap(spans) <= 2
    wait_for(lambda: _tokens_held() == 0, timeout_s=15, what="tokens returned to the ledger")


def test_throttles_do_not_wait_for_a_starting_replica(platform, runtime, deployer, model_urls, tmp_path):
    hold = tmp_path / "hold-model-loads"
    model = deployer.model(model_urls["echo"], environment={"LOAD_HOLD_WHILE": str(hold)})
    name = deployer.endpoint(deployer.config(model, max_concurrency=1))
    # The replica started with the endpoint idles out (the gauge is absent until it is counted).
    wait_for(lambda: replica_gauge(platform.url, name) == 0.0, timeout_s=90, what="no replica left")
    hold.touch()  # from now on, a replica or standby that loads the model waits
    try:
        with Background() as background:
            # Admitted, and waiting for a replica (or standby) whose model load is held.
            first = background.submit(_call, runtime, name)
            wait_for(lambda: _in_flight(platform.url, name) == 1, timeout_s=30, what="the first call admitted")
            burst = [background.submit(_call, runtime, name) for _ in range(4)]
            assert [f.result(timeout=30) for f in burst] == ["ThrottlingException"] * 4
            # Answered while the only admitted call still waits for its replica.
            assert not first.done()
            hold.unlink()
            assert first.result(timeout=120) == "ok"
    finally:
        hold.unlink(missing_ok=True)


def test_throttles_do_not_wait_for_the_controller(runtime, deployer, model_urls, tmp_path):
    name = deployer.serverless(model_urls["echo"], max_concurrency=1, provisioned=1)
    assert _call(runtime, name) == "ok"  # warm, and the route known to the gateway
    controller = ray.get_actor(CONTROLLER_NAME, namespace=NAMESPACE)
    pid = ray._private.state.actors(actor_id=controller._actor_id.hex())["Pid"]
    with Background() as background, Latch(tmp_path) as latch:
        held = background.submit(_call, runtime, name, latch.body())
        wait_for(lambda: latch.started(), timeout_s=60, what="the held call in the model")
        os.kill(pid, signal.SIGSTOP)  # the controller answers nothing until SIGCONT
        try:
            burst = [background.submit(_call, runtime, name) for _ in range(4)]
            outcomes = [f.result(timeout=30) for f in burst]
        finally:
            os.kill(pid, signal.SIGCONT)
        assert outcomes == ["ThrottlingException"] * 4
        latch.release()
        assert held.result(timeout=60) == "ok"
