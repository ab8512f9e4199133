"""The Serve config path: `serve run deployments/serverless.yaml`, then a declarative
deploy of the edited file, as `serve deploy` sends it. (How bad `args` fail a deploy is
in tests/unit/test_serve_app_args.py: Serve validates them before any replica starts.)

The session's platform makes way for the one the keeper application starts (one
platform per cluster) and comes back afterwards on its own state directory.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import ray
import yaml
from conftest import _client
from ray import serve
from ray.serve.schema import ServeDeploySchema
from support import Deployer, wait_for

from serverless_ray.cluster_names import CONTROLLER_NAME, NAMESPACE
from serverless_ray.declarative import OWNER_TAG
from serverless_ray.platform import Platform
from serverless_ray.serve_app import stop_platform

REPO = Path(__file__).parents[2]
EXAMPLE = REPO / "deployments" / "serverless.yaml"
APP = "serverless-ray"


def _example(state_dir: Path) -> dict:
    """deployments/serverless.yaml as it is, except for what a test run must not share:
    a free port, its own state directory, and model paths taken from the repository."""
    config = yaml.safe_load(EXAMPLE.read_text())
    args = config["applications"][0]["args"]
    args["platform"].update(port=0, state_dir=str(state_dir), scale_to_zero_after_s=3)
    args["base_dir"] = str(REPO)
    return config


def _deploy(config: dict) -> None:
    """What `serve deploy` makes Serve do (its REST call lands in the same controller method)."""
    from ray.serve.context import _get_global_client

    _get_global_client().deploy_apps(ServeDeploySchema.model_validate(config))


def _app_status() -> tuple[str, str]:
    app = serve.status().applications.get(APP)
    return (str(app.status).rsplit(".", 1)[-1], app.message) if app else ("MISSING", "")


def _invoke(runtime, name: str) -> dict:
    reply = runtime.invoke_endpoint(EndpointName=name, ContentType="application/json", Body='{"inputs": [[1, 2, 3]]}')
    return json.loads(reply["Body"].read())


def _replicas(endpoint: str) -> set[str]:
    """Names of the Serve replica actors of ``endpoint`` (a restarted replica has a new name)."""
    prefix = f"SERVE_REPLICA::sr-{endpoint.lower()}-g"
    return {a["name"] for a in ray.util.list_named_actors(all_namespaces=True) if a["name"].startswith(prefix)}


def _endpoint_names(sm) -> set[str]:
    return {e["EndpointName"] for e in sm.list_endpoints(MaxResults=100)["Endpoints"]}


@pytest.fixture(scope="module")
def keeper(platform, tmp_path_factory):
    """`serve run --non-blocking deployments/serverless.yaml` against the session's cluster."""
    platform.stop()
    state_dir = tmp_path_factory.mktemp("serve-config-state")
    config_file = tmp_path_factory.mktemp("serve-config") / "serverless.yaml"
    config_file.write_text(yaml.safe_dump(_example(state_dir)))
    serve_cli = Path(sys.executable).parent / "serve"
    address = ray.get_runtime_context().gcs_address
    try:
        subprocess.run([str(serve_cli), "run", "--non-blocking", "--address", address, str(config_file)],
                       check=True, timeout=120, capture_output=True, cwd=REPO)
        wait_for(lambda: _app_status()[0] in ("RUNNING", "DEPLOY_FAILED"), timeout_s=240,
                 what="the keeper application to run")
        assert _app_status()[0] == "RUNNING", _app_status()[1]
        yield {"state_dir": state_dir, "platform": Platform.attach()}
    finally:
        assert stop_platform()  # what `serverless-ray down` does
        assert APP not in serve.status().applications
        platform.restart_stopped()


def test_serve_run_starts_the_platform_with_the_declared_endpoints(keeper):
    url = keeper["platform"].url
    sm, runtime = _client("sagemaker", url), _client("sagemaker-runtime", url)
    assert {"example-linear", "example-linear-large"} <= _endpoint_names(sm)
    assert _invoke(runtime, "example-linear") == {"predictions": [4.75]}
    described = sm.describe_endpoint(EndpointName="example-linear")
    assert described["ProductionVariants"][0]["CurrentServerlessConfig"] == {
        "MemorySizeInMB": 1024, "MaxConcurrency": 4, "ProvisionedConcurrency": 1}
    tags = sm.list_tags(ResourceArn=described["EndpointArn"])["Tags"]
    assert {"Key": OWNER_TAG, "Value": APP} in tags

    aas = _client("application-autoscaling", url)
    resource = "endpoint/example-linear/variant/AllTraffic"
    target = aas.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[resource])["ScalableTargets"]
    assert [(t["MinCapacity"], t["MaxCapacity"]) for t in target] == [(1, 4)]
    actions = aas.describe_scheduled_actions(ServiceNamespace="sagemaker", ResourceId=resource)["ScheduledActions"]
    assert {(a["ScheduledActionName"], a["Schedule"], a["Timezone"]) for a in actions} == {
        ("office-hours", "cron(0 8 ? * MON-FRI *)", "Europe/Berlin"),
        ("evenings", "cron(0 18 ? * MON-FRI *)", "Europe/Berlin"),
    }


def test_deploying_the_edited_file_adds_changes_and_removes_only_its_endpoints(keeper, model_urls):
    url = keeper["platform"].url
    sm, runtime = _client("sagemaker", url), _client("sagemaker-runtime", url)
    # An endpoint a boto3 user made next to the file's: the file must never touch it.
    users = Deployer(sm)
    try:
        # Provisioned, so that it keeps exactly one replica whatever the traffic.
        user_endpoint = users.serverless(model_urls["echo"], max_concurrency=2, provisioned=1)
        replicas_before = {name: _replicas(name) for name in (user_endpoint, "example-linear")}
        assert all(len(r) == 1 for r in replicas_before.values()), replicas_before
        controller = ray.get_actor(CONTROLLER_NAME, namespace=NAMESPACE)._actor_id

        edited = _example(keeper["state_dir"])
        declared = edited["applications"][0]["args"]["endpoints"]
        linear = declared[0]
        linear["max_concurrency"] = 6  # a concurrency-only change: updated in place
        linear["autoscaling"]["scheduled_actions"] = [
            {"name": "office-hours", "schedule": "cron(0 8 ? * MON-FRI *)", "timezone": "Europe/Berlin",
             "min_capacity": 3},
        ]
        declared[1] = {"name": "example-linear-small", "model_data": "deployments/example/model",
                       "memory_size_mb": 1024, "max_concurrency": 2}  # example-linear-large removed
        _deploy(edited)

        def applied():
            names = _endpoint_names(sm)
            return (_app_status()[0] == "RUNNING" and "example-linear-large" not in names
                    and "example-linear-small" in names
                    and sm.describe_endpoint(EndpointName="example-linear-small")["EndpointStatus"] == "InService")

        wait_for(applied, timeout_s=240, what="the edited file applied")
        assert _invoke(runtime, "example-linear-small") == {"predictions": [4.75]}
        assert sm.describe_endpoint(EndpointName="example-linear")["ProductionVariants"][0][
            "CurrentServerlessConfig"]["MaxConcurrency"] == 6
        aas = _client("application-autoscaling", url)
        actions = aas.describe_scheduled_actions(
            ServiceNamespace="sagemaker", ResourceId="endpoint/example-linear/variant/AllTraffic")["ScheduledActions"]
        assert [(a["ScheduledActionName"], a["ScalableTargetAction"]) for a in actions] == [
            ("office-hours", {"MinCapacity": 3})]
        # The removed endpoint's model and configs went with it; the user's are all there.
        configs = {c["EndpointConfigName"] for c in sm.list_endpoint_configs(MaxResults=100)["EndpointConfigs"]}
        assert not any(c.startswith("example-linear-large-") for c in configs)
        assert set(users.configs) <= configs

        # Serve restarted the keeper only: the platform and every endpoint's replicas stayed.
        assert ray.get_actor(CONTROLLER_NAME, namespace=NAMESPACE)._actor_id == controller
        assert sm.describe_endpoint(EndpointName=user_endpoint)["EndpointStatus"] == "InService"
        assert {name: _replicas(name) for name in replicas_before} == replicas_before
        assert runtime.invoke_endpoint(EndpointName=user_endpoint, ContentType="application/json", Body="{}")
    finally:
        users.cleanup()
