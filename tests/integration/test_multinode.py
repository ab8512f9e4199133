"""Several Ray nodes on this host: an entry point on every node (replaced if it dies),
replicas spread across nodes, limits that hold cluster-wide, and a worker node lost
under traffic.

Worker nodes join the session's cluster for this module only and leave when it ends.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request

import pytest
import ray
from botocore.exceptions import ClientError
from conftest import _client
from support import Background, Deployer, Latch, metric_value, serve_replicas, start_ray_node, wait_for

from serverless_ray.cluster_names import NAMESPACE, QUOTA_LEDGER_NAME

GiB = 1024**3
WORKER_NODE = {"num_cpus": 2, "memory": 4 * GiB, "object_store_memory": 200 * 1024**2, "node_ip_address": "127.0.0.1"}


@pytest.fixture(scope="module")
def workers(ray_cluster, platform):
    nodes = [start_ray_node(lambda: ray_cluster.add_node(**WORKER_NODE)) for _ in range(2)]
    ray_cluster.wait_for_nodes()
    wait_for(lambda: all(n.node_id in platform.platform.gateways() for n in nodes), timeout_s=60,
             what="a gateway on every worker node")
    yield nodes
    for node in nodes:
        if node in ray_cluster.worker_nodes:
            ray_cluster.remove_node(node)
    wait_for(lambda: len(platform.platform.gateways()) == 1, timeout_s=60, what="the workers' gateways forgotten")


@pytest.fixture(scope="module")
def endpoints(platform, workers, model_urls):
    deployer = Deployer(_client("sagemaker", platform.url))
    # Three warm replicas on a three-node cluster, and a narrow endpoint for the limits.
    spread = deployer.serverless(model_urls["echo"], max_concurrency=6, provisioned=3)
    narrow = deployer.serverless(model_urls["echo"], max_concurrency=2)
    yield spread, narrow
    deployer.cleanup()


def _runtimes(platform, node_ids) -> list:
    """A sagemaker-runtime client on the entry point of each of ``node_ids``."""
    gateways = platform.platform.gateways()
    return [_client("sagemaker-runtime", gateways[node_id].url) for node_id in node_ids]


def _call(runtime, endpoint: str, body: dict | None = None):
    """Invoke; returns ("ok", body) or (error code, message)."""
    try:
        reply = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="application/json",
                                        Body=json.dumps(body or {}))
        return "ok", json.loads(reply["Body"].read())
    except ClientError as exc:
        return exc.response["Error"]["Code"], exc.response["Error"]["Message"]


def _serve_replicas(endpoint: str) -> list[tuple[str, str]]:
    """(state, node id) of each replica Serve holds for ``endpoint``."""
    return [(r["state"], r["node_id"]) for r in serve_replicas(endpoint)]


def _running_on(endpoint: str, nodes: set[str]) -> int:
    return sum(1 for state, node in _serve_replicas(endpoint) if state == "RUNNING" and node in nodes)


def _held_burst(calls, latch: Latch, *, held: int):
    """Run (runtime, endpoint) calls at once, each waiting at ``latch`` in the model; once
    ``held`` of them are in the model and the rest came back, release them all. Every
    admitted call is still in flight when the others are decided, whatever the machine's pace."""
    with Background() as background:
        futures = [background.submit(_call, runtime, endpoint, latch.body()) for runtime, endpoint in calls]
        wait_for(lambda: len(latch.started()) >= held and sum(f.done() for f in futures) >= len(calls) - held,
                 timeout_s=90, what=f"{held} calls in the model and the others answered")
        latch.release()
        return background.results()


def test_every_node_has_an_entry_point_and_replicas_spread(platform, workers, endpoints, tmp_path):
    spread, _ = endpoints
    gateways = platform.platform.gateways()
    head = ray.get_runtime_context().get_node_id()
    assert set(gateways) == {head, *(n.node_id for n in workers)}
    assert len({g.url for g in gateways.values()}) == 3
    runtimes = _runtimes(platform, list(gateways))
    # Three held calls at once, one through each node's entry point, occupy all three replicas.
    with Latch(tmp_path) as latch:
        results = _held_burst([(rt, spread) for rt in runtimes], latch, held=3)
    assert [r[0] for r in results] == ["ok"] * 3
    assert len({r[1]["pid"] for r in results}) == 3
    # Serve places the replicas of one deployment with Ray's SPREAD strategy.
    assert {r[1]["node_id"] for r in results} == set(gateways)


def test_limits_hold_across_nodes(platform, workers, endpoints, tmp_path):
    spread, narrow = endpoints
    first, second = _runtimes(platform, [n.node_id for n in workers])
    with Latch(tmp_path) as latch:
        results = _held_burst([(first, narrow)] * 3 + [(second, narrow)] * 3, latch, held=2)
    codes = sorted(r[0] for r in results)
    assert codes == ["ThrottlingException"] * 4 + ["ok"] * 2
    assert all("MaxConcurrency of 2" in r[1] for r in results if r[0] != "ok")

    ledger = ray.get_actor(QUOTA_LEDGER_NAME, namespace=NAMESPACE)
    wait_for(lambda: ray.get(ledger.snapshot.remote())["total"] == 0, timeout_s=15, what="an idle pool")
    ray.get(ledger.set_pool.remote(3))
    try:
        head = _runtimes(platform, [ray.get_runtime_context().get_node_id()])[0]
        with Latch(tmp_path) as latch:
            results = _held_burst([(first, spread), (first, spread), (second, spread), (second, spread),
                                   (head, spread)], latch, held=3)
    finally:
        ray.get(ledger.set_pool.remote(1000))
    codes = sorted(r[0] for r in results)
    assert codes == ["ThrottlingException"] * 2 + ["ok"] * 3
    assert all("serverless concurrency pool of 3" in r[1] for r in results if r[0] != "ok")


def test_a_dead_gateway_on_a_live_node_is_replaced(platform, workers, endpoints):
    spread, _ = endpoints
    node_id = workers[0].node_id
    old = platform.platform.gateways()[node_id]
    ray.kill(old.handle)
    new = wait_for(lambda: (g := platform.platform.gateways().get(node_id)) and g.gateway_id != old.gateway_id and g,
                   timeout_s=60, what="a new gateway on the node")
    assert new.url == old.url  # the successor binds the dead one's port
    assert _call(_client("sagemaker-runtime", new.url), spread)[0] == "ok"


def test_losing_a_worker_node_keeps_endpoints_answering(platform, ray_cluster, workers, endpoints):
    spread, _ = endpoints
    survivor, doomed = workers
    head = ray.get_runtime_context().get_node_id()
    alive = {head, survivor.node_id}
    runtimes = _runtimes(platform, [head, survivor.node_id])
    outcomes: list[tuple[float, str, str]] = []
    stop = threading.Event()

    def traffic(runtime):
        while not stop.is_set():
            code, detail = _call(runtime, spread, {"sleep": 0.2})
            outcomes.append((time.monotonic(), code, "" if code == "ok" else detail))

    # Four callers may hold four replicas at once: the autoscaler then keeps four (the
    # floor is three), and SPREAD may have put two of them on the doomed node.
    with Background() as background:
        for runtime in runtimes:
            for _ in range(2):
                background.submit(traffic, runtime)
        try:
            wait_for(lambda: len(outcomes) >= 8, timeout_s=60, what="traffic flowing")
            on_doomed = sum(1 for state, node in _serve_replicas(spread)
                            if state == "RUNNING" and node == doomed.node_id)
            killed_at = time.monotonic()
            ray_cluster.remove_node(doomed, allow_graceful=False)  # every process of the node, SIGKILL
            # The node is declared dead after Ray's health checks; then its gateway is
            # forgotten and Serve replaces its replicas on the surviving nodes.
            wait_for(lambda: doomed.node_id not in platform.platform.gateways(), timeout_s=60,
                     what="the dead node's gateway forgotten")
            forgotten_at = time.monotonic()
            try:
                wait_for(lambda: _running_on(spread, alive) >= 3, timeout_s=120,
                         what="the provisioned floor of three replicas running on the surviving nodes")
            except AssertionError as exc:
                raise AssertionError(f"{exc} ({forgotten_at - killed_at:.0f} s to forget the node); "
                                     f"Serve's replicas: {_serve_replicas(spread)}") from None
            served_before = sum(1 for o in outcomes if o[1] == "ok" and o[0] > killed_at)
            wait_for(lambda: sum(1 for o in outcomes if o[1] == "ok" and o[0] > killed_at) >= served_before + 10,
                     timeout_s=60, what="ten more calls served after the floor came back")
        finally:
            stop.set()
        background.results()  # a caller that raised fails the test here
    failed = [o for o in outcomes if o[1] != "ok"]
    # Only calls in flight on the lost node's replicas may fail (each serves one at a time).
    assert len(failed) <= max(1, on_doomed), (on_doomed, failed)
    assert all(o[1] == "ModelError" and o[0] - killed_at < 30 for o in failed), failed
    # The platform says the floor is met again, in DescribeEndpoint and in /metrics.
    sm = _client("sagemaker", platform.url)
    wait_for(lambda: "VariantStatus" not in sm.describe_endpoint(EndpointName=spread)["ProductionVariants"][0],
             timeout_s=30, what="DescribeEndpoint without a floor shortfall")
    wait_for(lambda: _provisioned_missing(platform.url, spread) == 0, timeout_s=30, what="no provisioned replica missing")
    # Every surviving entry point still answers.
    assert [_call(rt, spread)[0] for rt in runtimes] == ["ok", "ok"]


def _provisioned_missing(url: str, endpoint: str) -> float | None:
    text = urllib.request.urlopen(f"{url}/metrics", timeout=10).read().decode()
    return metric_value(text, "serverless_ray_provisioned_replicas_missing",
                        endpoint_name=endpoint, variant_name="AllTraffic")
