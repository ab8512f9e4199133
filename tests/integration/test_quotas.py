"""Concurrency quotas: MaxConcurrency and the account pool, throttled at once, no leaks."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import ray
from botocore.exceptions import ClientError
from conftest import _client
from support import max_overlap, metric_value, wait_for, wait_in_service

from serverless_ray.cluster_names import NAMESPACE, QUOTA_LEDGER_NAME


def _ledger():
    return ray.get_actor(QUOTA_LEDGER_NAME, namespace=NAMESPACE)


def _in_flight(platform, endpoint: str) -> float | None:
    import urllib.request

    text = urllib.request.urlopen(f"{platform.url}/metrics", timeout=10).read().decode()
    return metric_value(text, "serverless_ray_in_flight", endpoint_name=endpoint, variant_name="AllTraffic")


def _tokens_held() -> int:
    return ray.get(_ledger().snapshot.remote())["total"]


def _call(runtime, endpoint: str, sleep: float = 0.0):
    """Invoke; returns ("ok", body, seconds) or (error code, message, seconds)."""
    started = time.monotonic()
    try:
        reply = runtime.invoke_endpoint(
            EndpointName=endpoint, ContentType="application/json", Body=json.dumps({"sleep": sleep})
        )
        return "ok", json.loads(reply["Body"].read()), time.monotonic() - started
    except ClientError as exc:
        return exc.response["Error"]["Code"], exc.response["Error"]["Message"], time.monotonic() - started


def _burst(runtime, endpoints: list[str], sleep: float):
    with ThreadPoolExecutor(len(endpoints)) as pool:
        return list(pool.map(lambda e: _call(runtime, e, sleep), endpoints))


def test_burst_beyond_max_concurrency_is_throttled_at_once(runtime, deployer, model_urls):
    name = deployer.serverless(model_urls["echo"], max_concurrency=2)
    results = _burst(runtime, [name] * 6, sleep=3)
    served = [r for r in results if r[0] == "ok"]
    throttled = [r for r in results if r[0] == "ThrottlingException"]
    assert (len(served), len(throttled)) == (2, 4)
    # Throttles come back at once, not after waiting for a slot.
    assert max(r[2] for r in throttled) < min(r[2] for r in served)
    assert all("MaxConcurrency of 2" in r[1] for r in throttled)
    # Counted inside the replicas: never more than 2 invocations at once.
    assert max_overlap([(r[1]["started"], r[1]["finished"]) for r in served]) <= 2

    wait_for(lambda: _tokens_held() == 0, timeout_s=10, what="tokens returned to the ledger")
    again = _burst(runtime, [name] * 2, sleep=0.5)
    assert [r[0] for r in again] == ["ok", "ok"]


def test_account_pool_is_shared_by_endpoints(runtime, deployer, model_urls):
    first = deployer.serverless(model_urls["echo"], max_concurrency=2)
    second = deployer.serverless(model_urls["echo"], max_concurrency=2)
    wait_for(lambda: _tokens_held() == 0, timeout_s=10, what="an idle pool")
    ray.get(_ledger().set_pool.remote(3))
    try:
        results = _burst(runtime, [first, first, second, second], sleep=3)
    finally:
        ray.get(_ledger().set_pool.remote(1000))
    codes = sorted(r[0] for r in results)
    assert codes == ["ThrottlingException", "ok", "ok", "ok"]
    message = next(r[1] for r in results if r[0] == "ThrottlingException")
    assert "serverless concurrency pool of 3" in message
    wait_for(lambda: _tokens_held() == 0, timeout_s=10, what="tokens returned to the ledger")


def test_killed_replica_frees_its_slot(runtime, deployer, model_urls):
    name = deployer.serverless(model_urls["echo"], max_concurrency=1)
    status, body, _ = _call(runtime, name)
    assert status == "ok"
    pid = body["pid"]
    outcome = {}
    worker = threading.Thread(target=lambda: outcome.update(r=_call(runtime, name, sleep=30)))
    worker.start()
    wait_for(lambda: _tokens_held() >= 1, timeout_s=5, what="the slow call to be admitted")
    time.sleep(0.5)
    os.kill(pid, signal.SIGKILL)  # the replica process this test's cluster started
    worker.join(timeout=60)
    code, message, _ = outcome["r"]
    assert code == "ModelError"
    # The slot came back: the next call is admitted (and waits for a new replica).
    assert _call(runtime, name)[0] == "ok"


def test_killed_entry_point_does_not_leak_slots(platform, runtime, deployer, model_urls):
    name = deployer.serverless(model_urls["echo"], max_concurrency=2)
    gateway, port = platform.platform.add_gateway("doomed", port=0)
    doomed = _client("sagemaker-runtime", f"http://127.0.0.1:{port}")
    threads = [threading.Thread(target=_call, args=(doomed, name, 6)) for _ in range(2)]
    for t in threads:
        t.start()
    wait_for(lambda: ray.get(_ledger().snapshot.remote())["gateways"].get("doomed", {}).get(name) == 2,
             timeout_s=15, what="the doomed gateway to hold both slots")
    assert _call(runtime, name)[0] == "ThrottlingException"  # the slots are really taken
    ray.kill(gateway)
    for t in threads:
        t.join(timeout=30)
    # The dead gateway's lease runs out and its slots return.
    wait_for(lambda: "doomed" not in ray.get(_ledger().snapshot.remote())["gateways"], timeout_s=15,
             what="the dead gateway's lease to expire")
    results = _burst(runtime, [name] * 2, sleep=0)
    assert [r[0] for r in results] == ["ok", "ok"]


def test_restarted_ledger_rebuilds_holdings_from_the_gateways(platform, runtime, deployer, model_urls):
    name = deployer.serverless(model_urls["echo"], max_concurrency=1)
    outcome = {}
    worker = threading.Thread(target=lambda: outcome.update(r=_call(runtime, name, sleep=6)))
    worker.start()
    wait_for(lambda: _in_flight(platform, name) == 1, timeout_s=10, what="the slow call in flight")
    ray.kill(_ledger(), no_restart=False)  # Ray restarts it with empty books
    # The gateway learns it was forgotten and reports the slot it holds: the limit still holds.
    wait_for(lambda: _held(_snapshot(), name) == 1, timeout_s=15, what="the restarted ledger to count the slot in use")
    assert _call(runtime, name)[0] == "ThrottlingException"
    worker.join(timeout=30)
    assert outcome["r"][0] == "ok"
    wait_for(lambda: _call(runtime, name)[0] == "ok", timeout_s=10, what="the slot to be free again")


def _held(snapshot: dict, endpoint: str) -> int:
    """Tokens of ``endpoint`` the ledger counts, over every gateway."""
    return sum(held.get(endpoint, 0) for held in snapshot.get("gateways", {}).values())


def _snapshot() -> dict:
    try:
        return ray.get(_ledger().snapshot.remote(), timeout=5)
    except Exception:  # restarting
        return {}


def test_raising_max_concurrency_keeps_in_flight_calls(platform, runtime, deployer, model_urls, sm):
    model = deployer.model(model_urls["echo"])
    name = deployer.endpoint(deployer.config(model, max_concurrency=1))
    outcome = {}
    worker = threading.Thread(target=lambda: outcome.update(r=_call(runtime, name, sleep=4)))
    worker.start()
    # Only probe once the slow call holds the only slot, or the probe could take it first.
    wait_for(lambda: _in_flight(platform, name) == 1, timeout_s=10, what="the slow call in flight")
    assert _call(runtime, name)[0] == "ThrottlingException"
    sm.update_endpoint(EndpointName=name, EndpointConfigName=deployer.config(model, max_concurrency=2))
    wait_in_service(sm, name)
    assert _call(runtime, name)[0] == "ok"  # the new limit applies to new calls at once
    worker.join(timeout=30)
    assert outcome["r"][0] == "ok"  # and the call in flight was not dropped


def test_throttle_and_utilization_metrics(platform, runtime, deployer, model_urls):
    import urllib.request

    name = deployer.serverless(model_urls["echo"], max_concurrency=1)
    results = _burst(runtime, [name] * 2, sleep=2)
    assert sorted(r[0] for r in results) == ["ThrottlingException", "ok"]
    text = urllib.request.urlopen(f"{platform.url}/metrics", timeout=10).read().decode()
    labels = {"endpoint_name": name, "variant_name": "AllTraffic"}
    assert metric_value(text, "serverless_ray_throttles_total", **labels, reason="endpoint") == 1.0
    assert metric_value(text, "serverless_ray_concurrent_executions_utilization", **labels) is not None


@pytest.fixture
def sm(platform):
    return _client("sagemaker", platform.url)
