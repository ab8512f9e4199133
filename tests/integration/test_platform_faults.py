"""Fault injection: SIGKILL of one platform process at a time, under traffic.

A few clients call a warm endpoint (ProvisionedConcurrency 1) in a loop, each on its own
keep-alive connection, while one process is killed: the controller, the quota ledger, the
endpoint's Serve replica, an idle standby, Serve's controller, the node's gateway. Only
calls in flight on the killed process may fail (none, for the controllers and the ledger,
which no invocation waits on; none either for the gateway, whose clients retry as
botocore does); no slot is leaked; what the control plane answered 200 before is still
there after; the platform answers control-plane calls again within ``RECOVERY_BOUND_S``
(the time taken is printed). A rollout under way when the controller dies is finished by
its successor, and a scheduled action that fell due while it was down is applied.

One platform (the session's) serves every case; each case ends with the platform whole
again, so the next one starts from a recovered platform.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import urlparse

import boto3
import pytest
import ray
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from support import Deployer, serve_replicas, unique, wait_for

from serverless_ray.cluster_names import NAMESPACE, QUOTA_LEDGER_NAME
from serverless_ray.gateway.fleet import GatewayInfo
from serverless_ray.gateway.ray_fleet import fleet_gateway_names

CLIENTS = 3
PAUSE_S = 0.05
# Ray starts the new process: seconds on an idle machine, far longer on a loaded one.
RECOVERY_BOUND_S = 120.0
CALL_TIMEOUT_S = 30
# Client attempts when the gateway is killed, as a user who wants calls to outlive a
# gateway restart would configure them: botocore's standard mode waits a random part of
# 0.05, 0.1, 0.2, ... s, at most 20 s, between attempts (about 50 s in all, on average,
# for 14 attempts). The successor listens once its worker process has started: 3 s on an
# idle machine, more than 20 s on a loaded one.
GATEWAY_KILL_ATTEMPTS = 14
PROVISIONED = "sagemaker:variant:DesiredProvisionedConcurrency"


@dataclass(frozen=True)
class Call:
    started: float
    ended: float
    code: str  # "ok", an error code, or "connection"
    detail: str
    pid: int | None = None  # the process that answered (the echo model says)


def _client(service: str, url: str, *, attempts: int = 1):
    return boto3.client(
        service, endpoint_url=url, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "max_attempts": attempts - 1},
                      read_timeout=CALL_TIMEOUT_S, connect_timeout=5),
    )


class Traffic:
    """``CLIENTS`` threads invoking ``endpoint`` in a loop until stopped (each call tried
    up to ``attempts`` times, botocore's standard retries)."""

    def __init__(self, url: str, endpoint: str, *, attempts: int = 1) -> None:
        self._url = url
        self._endpoint = endpoint
        self._attempts = attempts
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.calls: list[Call] = []
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(CLIENTS)]

    def _run(self) -> None:
        runtime = _client("sagemaker-runtime", self._url, attempts=self._attempts)
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                reply = runtime.invoke_endpoint(EndpointName=self._endpoint, ContentType="application/json",
                                                Body=b"{}")
                body = json.loads(reply["Body"].read())
                call = Call(started, time.monotonic(), "ok", "", body.get("pid"))
            except ClientError as exc:
                call = Call(started, time.monotonic(), exc.response["Error"]["Code"], exc.response["Error"]["Message"])
            except BotoCoreError as exc:
                call = Call(started, time.monotonic(), "connection", str(exc))
            with self._lock:
                self.calls.append(call)
            self._stop.wait(PAUSE_S)

    def ok_count(self) -> int:
        with self._lock:
            return sum(c.code == "ok" for c in self.calls)

    def failures(self) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.code != "ok"]

    def __enter__(self) -> "Traffic":
        for thread in self._threads:
            thread.start()
        wait_for(lambda: self.ok_count() >= CLIENTS, timeout_s=60, what="traffic flowing")
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=CALL_TIMEOUT_S + 5)

    def keep_going(self, more_ok: int = 2 * CLIENTS) -> None:
        """Wait until ``more_ok`` more calls were answered ok (the platform serves again)."""
        target = self.ok_count() + more_ok
        wait_for(lambda: self.ok_count() >= target, timeout_s=RECOVERY_BOUND_S, what="calls answered ok again")


def _healthz(url: str) -> tuple[int, dict]:
    parts = urlparse(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


def _ledger():
    return ray.get_actor(QUOTA_LEDGER_NAME, namespace=NAMESPACE)


def _ledger_snapshot() -> dict:
    try:
        return ray.get(_ledger().snapshot.remote(), timeout=10)
    except Exception:  # restarting
        return {}


def _no_leaked_slots() -> None:
    """Once traffic stopped, every slot goes back to the ledger."""
    wait_for(lambda: _ledger_snapshot().get("total") == 0, timeout_s=20, what="every slot returned to the ledger")


@pytest.fixture(scope="module")
def warm(platform, model_urls):
    """A warm endpoint (ProvisionedConcurrency 1) and a Deployer for the module."""
    sm = _client("sagemaker", platform.url)
    deployer = Deployer(sm)
    name = deployer.serverless(model_urls["echo"], max_concurrency=4, provisioned=1)
    yield name, deployer
    deployer.cleanup()


def _invoke_once(url: str, endpoint: str) -> Call:
    started = time.monotonic()
    try:
        reply = _client("sagemaker-runtime", url).invoke_endpoint(
            EndpointName=endpoint, ContentType="application/json", Body=b"{}")
        return Call(started, time.monotonic(), "ok", "", json.loads(reply["Body"].read()).get("pid"))
    except ClientError as exc:
        return Call(started, time.monotonic(), exc.response["Error"]["Code"], exc.response["Error"]["Message"])
    except BotoCoreError as exc:
        return Call(started, time.monotonic(), "connection", str(exc))


def test_killed_controller_does_not_touch_invocations(platform, warm, model_urls):
    endpoint, deployer = warm
    platform_ = platform.platform
    sm = _client("sagemaker", platform.url)
    written = deployer.model(model_urls["echo"], name=unique("before-kill"))
    cold = deployer.serverless(model_urls["echo"], max_concurrency=2)  # no replica until called
    killed = platform_.controller_pid()
    gateways_before = {node: info.gateway_id for node, info in platform_.gateways().items()}
    named_before = set(fleet_gateway_names())
    answers: list[str] = []
    health: list[tuple[int, dict]] = []
    cold_call: list[Call] = []
    cold_thread = threading.Thread(target=lambda: cold_call.append(_invoke_once(platform.url, cold)), daemon=True)
    with Traffic(platform.url, endpoint) as traffic:
        killed_at = time.monotonic()
        os.kill(killed, signal.SIGKILL)
        while True:
            try:
                sm.describe_endpoint(EndpointName=endpoint)
                answers.append("ok")
            except ClientError as exc:
                answers.append(f'{exc.response["Error"]["Code"]} {exc.response["ResponseMetadata"]["HTTPStatusCode"]}')
            except BotoCoreError as exc:
                answers.append(f"connection {exc}")
            health.append(_healthz(platform.url))
            if answers[-1].startswith("ServiceUnavailable") and not cold_thread.is_alive() and not cold_call:
                cold_thread.start()  # a cold endpoint, called while the gateway knows the controller is down
            elapsed = time.monotonic() - killed_at
            if answers[-1] == "ok" and (len(answers) > 1 or elapsed > 5):
                break
            assert elapsed < RECOVERY_BOUND_S, f"the control plane did not recover: {answers[-5:]}"
            time.sleep(0.2)
        recovered_s = time.monotonic() - killed_at
        print(f"\ncontroller SIGKILL: control plane answered again after {recovered_s:.1f} s "
              f"({len(answers)} DescribeEndpoint calls: {sorted(set(answers))})")
        traffic.keep_going()
        cold_thread.join(timeout=CALL_TIMEOUT_S + 5)
    calls = traffic.calls
    during = [c for c in calls if c.started >= killed_at and c.started <= killed_at + recovered_s]
    print(f"controller SIGKILL: {len(calls)} invocations, {len(during)} while it was down, "
          f"{len(traffic.failures())} failed")
    assert traffic.failures() == []
    # Scaled from zero with the controller down: a standby adopted it (or Serve started it).
    assert [c.code for c in cold_call] == ["ok"], cold_call
    print(f"controller SIGKILL: a cold endpoint called {cold_call[0].started - killed_at:.1f} s after the kill "
          f"answered in {cold_call[0].ended - cold_call[0].started:.1f} s")
    # While it was down: ServiceUnavailable (503, which botocore retries), never anything else.
    assert set(answers) <= {"ok", "ServiceUnavailable 503"}, answers
    assert "ServiceUnavailable 503" in answers
    assert any(status == 503 and "controller" in body.get("unavailable", {}) for status, body in health), health
    wait_for(lambda: _healthz(platform.url)[0] == 200, timeout_s=30, what="/healthz ok again")
    assert platform_.controller_pid() != killed
    # The restarted controller adopted the running gateway: the same one, no second one.
    assert {node: info.gateway_id for node, info in platform_.gateways().items()} == gateways_before
    assert set(fleet_gateway_names()) <= named_before
    # What the control plane answered 200 before the kill is there after it.
    assert sm.describe_model(ModelName=written)["ModelName"] == written
    assert sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "InService"
    _no_leaked_slots()


def _control_plane_back(sm, endpoint: str, killed_at: float) -> float:
    """Seconds from the kill until the control plane answers again (ServiceUnavailable,
    which botocore retries, until then)."""
    while True:
        try:
            sm.describe_endpoint(EndpointName=endpoint)
            return time.monotonic() - killed_at
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "ServiceUnavailable", exc.response["Error"]
        except BotoCoreError:
            pass
        assert time.monotonic() - killed_at < RECOVERY_BOUND_S, "the control plane did not recover"
        time.sleep(0.2)


def test_rollout_and_missed_schedule_resume_after_a_killed_controller(platform, warm, model_urls):
    """The controller is killed right after UpdateEndpoint answered and before a scheduled
    action is due: the restarted controller finishes the rollout (invocations answered all
    along) and applies the action that fell due while it was down."""
    _, deployer = warm
    sm = _client("sagemaker", platform.url)
    aas = _client("application-autoscaling", platform.url)
    rolling = deployer.serverless(model_urls["echo"], memory=1024, max_concurrency=3)
    scheduled = deployer.serverless(model_urls["echo"], max_concurrency=3, provisioned=1)
    resource = f"endpoint/{scheduled}/variant/AllTraffic"
    aas.register_scalable_target(ServiceNamespace="sagemaker", ResourceId=resource,
                                 ScalableDimension=PROVISIONED, MinCapacity=1, MaxCapacity=3)
    bigger = deployer.config(deployer.model(model_urls["echo"]), memory=2048, max_concurrency=3)
    with Traffic(platform.url, rolling) as traffic:
        fire_at = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=3)
        aas.put_scheduled_action(
            ServiceNamespace="sagemaker", ResourceId=resource, ScalableDimension=PROVISIONED,
            ScheduledActionName="while-the-controller-is-down", Schedule=f"at({fire_at:%Y-%m-%dT%H:%M:%S})",
            ScalableTargetAction={"MinCapacity": 2},
        )
        sm.update_endpoint(EndpointName=rolling, EndpointConfigName=bigger)
        killed = platform.platform.controller_pid()
        killed_at = time.monotonic()
        os.kill(killed, signal.SIGKILL)
        back_s = _control_plane_back(sm, rolling, killed_at)
        back_wall = datetime.now(timezone.utc)
        print(f"\ncontroller SIGKILL during a rollout: control plane back after {back_s:.1f} s")
        # The action fell due while the controller was down (Ray takes seconds to restart it).
        assert fire_at < back_wall, (fire_at, back_wall)
        wait_for(lambda: sm.describe_endpoint(EndpointName=rolling)["EndpointStatus"] != "Updating",
                 timeout_s=RECOVERY_BOUND_S, what="the rollout to finish")
        finished_s = time.monotonic() - killed_at
        traffic.keep_going()
    described = sm.describe_endpoint(EndpointName=rolling)
    assert described["EndpointStatus"] == "InService", described.get("FailureReason")
    assert described["EndpointConfigName"] == bigger
    assert described["ProductionVariants"][0]["CurrentServerlessConfig"]["MemorySizeInMB"] == 2048
    wait_for(lambda: sm.describe_endpoint(EndpointName=scheduled)["ProductionVariants"][0]
             ["CurrentServerlessConfig"].get("ProvisionedConcurrency") == 2,
             timeout_s=60, what="the action missed while the controller was down applied")
    print(f"controller SIGKILL during a rollout: InService on the new config {finished_s:.1f} s after the kill; "
          f"{len(traffic.calls)} invocations, {len(traffic.failures())} failed")
    assert traffic.failures() == []
    _no_leaked_slots()


def test_killed_ledger_does_not_touch_invocations(platform, warm):
    endpoint, _ = warm
    killed = _ledger_snapshot()["pid"]
    with Traffic(platform.url, endpoint) as traffic:
        killed_at = time.monotonic()
        os.kill(killed, signal.SIGKILL)
        wait_for(lambda: _ledger_snapshot().get("pid") not in (None, killed), timeout_s=RECOVERY_BOUND_S,
                 what="Ray to restart the ledger")
        recovered_s = time.monotonic() - killed_at
        wait_for(lambda: _healthz(platform.url)[0] == 200, timeout_s=30, what="/healthz ok again")
        traffic.keep_going()
    print(f"\nledger SIGKILL: back after {recovered_s:.1f} s; {len(traffic.calls)} invocations, "
          f"{len(traffic.failures())} failed")
    assert traffic.failures() == []
    _no_leaked_slots()


def test_killed_replica_fails_only_its_calls_in_flight(platform, warm):
    endpoint, _ = warm
    running = [r for r in serve_replicas(endpoint) if r["state"] == "RUNNING"]
    assert running, serve_replicas(endpoint)
    killed = running[0]["pid"]
    with Traffic(platform.url, endpoint) as traffic:
        killed_at = time.monotonic()
        os.kill(killed, signal.SIGKILL)
        wait_for(lambda: killed not in (pids := [r["pid"] for r in serve_replicas(endpoint) if r["state"] == "RUNNING"])
                 and pids, timeout_s=RECOVERY_BOUND_S, what="Serve to replace the replica")
        print(f"\nreplica SIGKILL: Serve replaced it after {time.monotonic() - killed_at:.1f} s")
        traffic.keep_going()
    failures = traffic.failures()
    print(f"replica SIGKILL: {len(traffic.calls)} invocations, {len(failures)} failed: "
          f"{sorted({c.code for c in failures})}")
    in_flight = [c for c in failures if c.started <= killed_at <= c.ended]
    assert failures == in_flight, [(c.code, c.detail, c.started - killed_at) for c in failures]
    assert len(failures) <= CLIENTS
    _no_leaked_slots()


def test_killed_standby_is_replaced_and_cold_starts_still_answer(platform, warm, model_urls):
    endpoint, deployer = warm
    gateway = platform.platform.gateway
    pids = ray.get(gateway.standby_pids.remote())
    if not pids:
        pytest.skip("this platform keeps no standbys")
    cold = deployer.serverless(model_urls["echo"], max_concurrency=2)  # no replica until called
    with Traffic(platform.url, endpoint) as traffic:
        killed_at = time.monotonic()
        os.kill(pids[0], signal.SIGKILL)
        # The pool drops it and starts another in its place.
        wait_for(lambda: pids[0] not in (now := ray.get(gateway.standby_pids.remote())) and len(now) >= len(pids),
                 timeout_s=RECOVERY_BOUND_S, what="a new standby in the dead one's place")
        print(f"\nstandby SIGKILL: replaced after {time.monotonic() - killed_at:.1f} s")
        # A cold start goes to a standby that is alive (or to Serve): never a failure.
        runtime = _client("sagemaker-runtime", platform.url)
        reply = runtime.invoke_endpoint(EndpointName=cold, ContentType="application/json", Body=b"{}")
        assert json.loads(reply["Body"].read())["pid"] != pids[0]
        traffic.keep_going()
    assert traffic.failures() == []
    _no_leaked_slots()


def _serve_controller():
    from ray.serve._private.constants import SERVE_CONTROLLER_NAME, SERVE_NAMESPACE

    return ray.get_actor(SERVE_CONTROLLER_NAME, namespace=SERVE_NAMESPACE)


def _serve_controller_pid(timeout_s: float = 10) -> int | None:
    try:
        return ray.get(_serve_controller().__ray_call__.remote(lambda _: os.getpid()), timeout=timeout_s)
    except Exception:  # restarting
        return None


def test_killed_serve_controller_does_not_touch_invocations(platform, warm, model_urls):
    endpoint, deployer = warm
    sm = _client("sagemaker", platform.url)
    killed = _serve_controller_pid()
    assert killed is not None
    with Traffic(platform.url, endpoint) as traffic:
        killed_at = time.monotonic()
        os.kill(killed, signal.SIGKILL)
        # Serve's handles keep routing to the replicas they know while Ray restarts it.
        wait_for(lambda: _serve_controller_pid(timeout_s=2) not in (None, killed), timeout_s=RECOVERY_BOUND_S,
                 interval_s=0.1, what="Ray to restart Serve's controller")
        recovered_s = time.monotonic() - killed_at
        traffic.keep_going()
    print(f"\nServe controller SIGKILL: back after {recovered_s:.1f} s; {len(traffic.calls)} invocations, "
          f"{len(traffic.failures())} failed")
    assert traffic.failures() == []
    # The control plane drives the restarted Serve controller: a new endpoint is deployed and
    # starts from zero.
    started = time.monotonic()
    fresh = deployer.serverless(model_urls["echo"], max_concurrency=1)
    assert _invoke_once(platform.url, fresh).code == "ok"
    print(f"Serve controller SIGKILL: a new endpoint InService and answering {time.monotonic() - started:.1f} s "
          f"after the restart")
    assert sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "InService"
    _no_leaked_slots()


def test_killed_gateway_is_replaced_on_the_same_url(platform, warm):
    """SIGKILL of the node's gateway under traffic from clients that retry as botocore's
    standard mode does: its successor listens on the same URL within seconds, no call
    fails, its slots come back."""
    endpoint, _ = warm
    platform_ = platform.platform
    url = platform.url
    here = ray.get_runtime_context().get_node_id()
    old: GatewayInfo = platform_.gateways()[here]
    assert old.url == url
    killed = ray.get(old.handle.pid.remote())
    with Traffic(url, endpoint, attempts=GATEWAY_KILL_ATTEMPTS) as traffic:
        held = _ledger_snapshot()["gateways"].get(old.gateway_id, {})
        killed_at = time.monotonic()
        os.kill(killed, signal.SIGKILL)
        while True:
            try:
                if _healthz(url)[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() - killed_at < RECOVERY_BOUND_S, "no gateway answers on the URL"
            time.sleep(0.05)
        gap_s = time.monotonic() - killed_at
        traffic.keep_going()
    failures = traffic.failures()
    print(f"\ngateway SIGKILL: {url} answered again after {gap_s:.1f} s; {len(traffic.calls)} invocations, "
          f"{len(failures)} failed (clients retry up to {GATEWAY_KILL_ATTEMPTS} attempts); the slowest call "
          f"took {max(c.ended - c.started for c in traffic.calls):.1f} s")
    assert failures == [], [(c.code, c.detail, c.started - killed_at) for c in failures]
    new = platform_.gateways()[here]
    assert new.gateway_id != old.gateway_id and new.url == url
    # The platform object follows the successor (later tests use it).
    assert platform_.url == url and ray.get(platform_.gateway.pid.remote()) != killed
    # The dead gateway's slots come back when its lease runs out; none is leaked.
    print(f"gateway SIGKILL: it held {held} in the ledger when killed")
    _no_leaked_slots()
    assert old.gateway_id not in _ledger_snapshot()["gateways"]
    # The control plane answers through the successor.
    sm = _client("sagemaker", url)
    assert sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "InService"
