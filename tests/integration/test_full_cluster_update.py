"""An update on a cluster that cannot hold both versions at once: the idle old version
makes room at once (it does not hold it until it idles out), and a size no node can hold
fails the update while the old version keeps serving. Driven by boto3."""

from __future__ import annotations

import math
import time

import ray
from support import invoke_outcome, unique, wait_for

NEW_VERSION_WITHIN_S = 45.0  # an order of magnitude: the old version would hold its room for ever


@ray.remote
class Ballast:
    """Holds CPUs so that only one of the endpoint's two versions fits beside it."""

    def ready(self) -> bool:
        return True


def test_an_update_that_fits_only_without_the_idle_old_version_replaces_it_at_once(sm, runtime, deployer,
                                                                                    model_urls):
    model = deployer.model(model_urls["echo"])
    # 2048 MB takes 1 CPU, 4096 MB 2 CPUs; provisioned, the old version never idles out.
    name = deployer.endpoint(deployer.config(model, memory=2048, max_concurrency=1, provisioned=1))
    assert invoke_outcome(runtime, name, {"n": 1})[0] == "ok"

    # No node is large enough: the update fails at once and the old version keeps serving.
    huge = unique("c-huge")  # 96 vCPUs per instance; the node has 8
    sm.create_endpoint_config(EndpointConfigName=huge, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": model, "InstanceType": "ml.m5.24xlarge", "InitialInstanceCount": 1}])
    deployer.configs.append(huge)
    sm.update_endpoint(EndpointName=name, EndpointConfigName=huge)
    failed = wait_for(lambda: (d := sm.describe_endpoint(EndpointName=name))["EndpointStatus"] != "Updating" and d,
                      timeout_s=30, what="the impossible update to end")
    assert failed["EndpointStatus"] == "InService" and failed["EndpointConfigName"] != huge
    assert failed["FailureReason"].startswith(f"Update to endpoint configuration '{huge}' failed and was rolled back.")
    assert "no node of the Ray cluster is that large" in failed["FailureReason"]
    assert invoke_outcome(runtime, name, {"n": 2})[0] == "ok"

    assert len([node for node in ray.nodes() if node["Alive"]]) == 1, "the ballast fills the only node"
    free = ray.available_resources().get("CPU", 0)
    ballast = Ballast.options(num_cpus=max(0, math.floor(free - 1))).remote()  # leaves 1 to 2 CPUs free
    try:
        ray.get(ballast.ready.remote(), timeout=60)
        wait_for(lambda: 1 <= ray.available_resources().get("CPU", 0) < 2, timeout_s=10,
                 what="room for the new version only without the old")

        bigger = deployer.config(model, memory=4096, max_concurrency=1)
        started = time.monotonic()
        sm.update_endpoint(EndpointName=name, EndpointConfigName=bigger)
        wait_for(lambda: sm.describe_endpoint(EndpointName=name)["EndpointStatus"] != "Updating",
                 timeout_s=NEW_VERSION_WITHIN_S, interval_s=0.5, what="the new version to replace the idle old one")
        took = time.monotonic() - started
        described = sm.describe_endpoint(EndpointName=name)
        assert (described["EndpointStatus"], described["EndpointConfigName"]) == ("InService", bigger), described
        assert "FailureReason" not in described
        assert invoke_outcome(runtime, name, {"n": 3})[0] == "ok"
        print(f"update 2048 -> 4096 MB beside the ballast: InService after {took:.1f} s")
    finally:
        ray.kill(ballast)
