"""cluster.yaml and the KubeRay manifest, checked with the tools' own validators.

Neither can be run here (no cloud account, no Kubernetes, no Docker engine). What is
checked: the cluster launcher config passes Ray's own preparation and validation (its
JSON schema, ``ray/autoscaler/ray-schema.json``, and the checks `ray up` makes); the
Serve config inside the RayService passes Serve's ``ServeDeploySchema`` and this
platform's ``ServeAppArgs``; the manifest's Kubernetes parts (pod templates, Service,
PersistentVolumeClaim) pass the Kubernetes OpenAPI schemas (``kubernetes-validate``,
strict). KubeRay's CRD schema is not available from a package registry, so the
RayService's own fields are checked against KubeRay's documented ``ray.io/v1`` field
names by hand.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config
from ray.serve.schema import ServeDeploySchema

from serverless_ray import environments
from serverless_ray.cli.app import parse_command
from serverless_ray.declarative.schema import SERVE_APP_IMPORT_PATH, ServeAppArgs, serve_app_args

REPO = Path(__file__).parents[2]
KUBERNETES_VERSION = "1.30.0"
CREDENTIALS_MOUNT = "/etc/serverless-ray"


@pytest.fixture(scope="module")
def cluster() -> dict:
    return yaml.safe_load((REPO / "cluster.yaml").read_text())


@pytest.fixture(scope="module")
def manifest() -> list[dict]:
    return list(yaml.safe_load_all((REPO / "deployments" / "kuberay-rayservice.yaml").read_text()))


def test_cluster_yaml_passes_rays_own_validation(cluster):
    prepared = prepare_config(cluster)  # what `ray up` does before it validates
    validate_config(prepared)
    assert set(prepared["available_node_types"]) == {"head", "worker"}
    worker = prepared["available_node_types"]["worker"]
    assert worker["min_workers"] < worker["max_workers"]  # the autoscaler may add workers


def test_every_node_installs_the_project_from_its_own_files(cluster):
    prepared = prepare_config(cluster)
    [remote] = [r for r, local in prepared["file_mounts"].items() if (REPO / local).resolve() == REPO]
    install = f"pip install --quiet {remote}"
    assert install in prepared["head_setup_commands"] and install in prepared["worker_setup_commands"]
    assert "**/.venv" in prepared["rsync_exclude"]
    assert prepared["docker"]["image"].startswith("rayproject/ray:2.60.0-")


def test_every_node_starts_ray_with_the_layered_environments_plugin(cluster):
    starts = [c for key in ("head_start_ray_commands", "worker_start_ray_commands") for c in cluster[key]
              if "ray start" in c]
    assert len(starts) == 2
    for command in starts:
        [export] = [part.strip() for part in command.split(";") if part.strip().startswith("export ")]
        name, _, value = shlex.split(export)[1].partition("=")
        assert environments.is_registered({name: value})
        assert command.index("export ") < command.index("ray start")
    # The image of the KubeRay manifest, for every pod of it
    [line] = [line for line in (REPO / "deployments" / "Dockerfile").read_text().splitlines()
              if line.startswith(f"ENV {environments.PLUGINS_VARIABLE}=")]
    assert environments.is_registered({environments.PLUGINS_VARIABLE: shlex.split(line.partition("=")[2])[0]})


def test_the_head_starts_the_platform_with_options_the_cli_accepts(cluster):
    [command] = [c for c in cluster["head_start_ray_commands"] if "serverless-ray up" in c]
    words = shlex.split(command.split(">", 1)[0])
    name, params = parse_command(words[words.index("serverless-ray") + 1:])
    assert (name, params["address"], params["host"], params["port"]) == ("up", "auto", "0.0.0.0", 8080)
    assert params["apply_files"] == (Path("~/serverless-ray/deployments/example.yaml"),)
    # Listening beyond loopback, it starts with the credentials file the user provides.
    assert str(params["credentials"]) in cluster["file_mounts"] and not params["allow_anonymous"]
    assert cluster["file_mounts"][str(params["credentials"])].startswith("~/")  # from the user's machine


def test_rayservice_serve_config_is_the_serve_config_of_the_repository(manifest):
    service = manifest[0]
    config = ServeDeploySchema.model_validate(yaml.safe_load(service["spec"]["serveConfigV2"]))
    [app] = config.applications
    assert app.import_path == SERVE_APP_IMPORT_PATH
    # The credentials file is the Secret mounted in every pod (the example stands in for it here).
    assert app.args["platform"]["credentials_file"] == f"{CREDENTIALS_MOUNT}/credentials.yaml"
    app.args["platform"]["credentials_file"] = str(REPO / "deployments" / "credentials.example.yaml")
    args = ServeAppArgs.model_validate(app.args)
    assert args.platform.host == "0.0.0.0" and args.platform.credentials is not None
    reference = ServeAppArgs.model_validate(serve_app_args(
        yaml.safe_load((REPO / "deployments" / "serverless.yaml").read_text())))
    assert args.endpoints == reference.endpoints


def test_rayservice_kubernetes_parts_pass_the_kubernetes_schemas(manifest):
    service, *others = manifest
    cluster = service["spec"]["rayClusterConfig"]
    templates = [cluster["headGroupSpec"]["template"]] + [g["template"] for g in cluster["workerGroupSpecs"]]
    for template in templates:
        pod_template = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t"}, "template": template}
        kubernetes_validate.validate(pod_template, KUBERNETES_VERSION, strict=True)
    assert {doc["kind"] for doc in others} == {"PersistentVolumeClaim", "Service"}
    for doc in others:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    # The gateway Service selects every Ray pod, head and workers.
    selector = next(d for d in others if d["kind"] == "Service")["spec"]["selector"]
    assert all(selector.items() <= t["metadata"]["labels"].items() for t in templates)


def test_every_ray_pod_mounts_the_credentials_secret_where_the_image_looks(manifest):
    cluster = manifest[0]["spec"]["rayClusterConfig"]
    templates = [cluster["headGroupSpec"]["template"]] + [g["template"] for g in cluster["workerGroupSpecs"]]
    for template in templates:
        volumes = {v["name"]: v for v in template["spec"]["volumes"]}
        [container] = template["spec"]["containers"]
        mounts = {m["name"]: m for m in container["volumeMounts"]}
        assert mounts["credentials"]["mountPath"] == CREDENTIALS_MOUNT and mounts["credentials"]["readOnly"]
        assert volumes["credentials"]["secret"]["secretName"] == "serverless-ray-credentials"
    dockerfile = (REPO / "deployments" / "Dockerfile").read_text()
    assert f"ENV SERVERLESS_RAY_CREDENTIALS={CREDENTIALS_MOUNT}/credentials.yaml" in dockerfile


def test_the_strict_kubernetes_check_does_catch_mistakes(manifest):
    template = manifest[0]["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]
    broken = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t"},
              "template": {**template, "spec": {**template["spec"], "containres": []}}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


# KubeRay's ray.io/v1 RayService fields used here (from its API reference), by level.
RAYSERVICE_FIELDS = {
    "spec": {"serveConfigV2", "rayClusterConfig", "upgradeStrategy", "serviceUnhealthySecondThreshold",
             "deploymentUnhealthySecondThreshold", "excludeHeadPodFromServeSvc"},
    "rayClusterConfig": {"rayVersion", "enableInTreeAutoscaling", "autoscalerOptions", "headGroupSpec",
                         "workerGroupSpecs", "headServiceAnnotations"},
    "headGroupSpec": {"rayStartParams", "template", "serviceType", "headService", "enableIngress"},
    "workerGroupSpecs": {"groupName", "replicas", "minReplicas", "maxReplicas", "rayStartParams", "template",
                         "numOfHosts", "scaleStrategy", "suspend", "idleTimeoutSeconds"},
}


def test_rayservice_fields_are_kuberay_v1_fields(manifest):
    service = manifest[0]
    assert (service["apiVersion"], service["kind"]) == ("ray.io/v1", "RayService")
    spec = service["spec"]
    cluster = spec["rayClusterConfig"]
    assert set(spec) <= RAYSERVICE_FIELDS["spec"]
    assert set(cluster) <= RAYSERVICE_FIELDS["rayClusterConfig"]
    assert set(cluster["headGroupSpec"]) <= RAYSERVICE_FIELDS["headGroupSpec"]
    for group in cluster["workerGroupSpecs"]:
        assert set(group) <= RAYSERVICE_FIELDS["workerGroupSpecs"]
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
    # rayStartParams is a map of strings in the CRD.
    for params in [cluster["headGroupSpec"]["rayStartParams"]] + [g["rayStartParams"] for g in cluster["workerGroupSpecs"]]:
        assert all(isinstance(v, str) for v in params.values())
    assert cluster["rayVersion"] == "2.60.0"
