"""Memory size -> Ray resources, and ARNs."""

import pytest

from serverless_ray.resources import MIB, ReplicaResources, replica_resources
from serverless_ray.spec.arns import sagemaker_arn


@pytest.mark.parametrize(
    "memory_mb, cpus",
    [(1024, 0.5), (2048, 1.0), (3072, 1.5), (4096, 2.0), (5120, 2.5), (6144, 3.0)],
)
def test_default_ratio_half_a_cpu_per_gb(memory_mb, cpus):
    resources = replica_resources(memory_mb, 0.5)
    assert resources == ReplicaResources(num_cpus=cpus, memory_bytes=memory_mb * 1024 * 1024)


@pytest.mark.parametrize(
    "memory_mb, ratio, cpus",
    [(1024, 1.0, 1.0), (6144, 1.0, 6.0), (2048, 2.0, 4.0), (1024, 1 / 3, 0.3333), (3072, 0.25, 0.75)],
)
def test_configurable_ratio(memory_mb, ratio, cpus):
    assert replica_resources(memory_mb, ratio).num_cpus == cpus


def test_memory_bytes():
    assert MIB == 1_048_576
    assert replica_resources(1024, 0.5).memory_bytes == 1_073_741_824
    assert replica_resources(6144, 0.5).memory_bytes == 6 * 1_073_741_824


def test_ray_actor_options():
    assert replica_resources(4096, 0.5).ray_actor_options() == {"num_cpus": 2.0, "memory": 4 * 1_073_741_824}


@pytest.mark.parametrize("memory_mb", [0, -1024])
def test_non_positive_memory_is_rejected(memory_mb):
    with pytest.raises(ValueError, match=f"memory_size_mb must be positive, got {memory_mb}"):
        replica_resources(memory_mb, 0.5)


def test_resources_are_immutable():
    resources = replica_resources(1024, 0.5)
    with pytest.raises(AttributeError):
        resources.num_cpus = 8


@pytest.mark.parametrize(
    "region, account, kind, name, expected",
    [
        ("us-east-1", "123456789012", "endpoint", "My-Endpoint",
         "arn:aws:sagemaker:us-east-1:123456789012:endpoint/my-endpoint"),
        ("eu-west-1", "210987654321", "model", "MODEL1",
         "arn:aws:sagemaker:eu-west-1:210987654321:model/model1"),
        ("ap-south-1", "000000000000", "endpoint-config", "cfg",
         "arn:aws:sagemaker:ap-south-1:000000000000:endpoint-config/cfg"),
    ],
)
def test_sagemaker_arn(region, account, kind, name, expected):
    assert sagemaker_arn(region, account, kind, name) == expected
