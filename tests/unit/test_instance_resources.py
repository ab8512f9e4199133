"""Instance types → Ray resources, and the check that some node can hold a replica."""

import pytest

from serverless_ray.resources import GIB, ReplicaResources, capacity_shortfall, instance_resources
from serverless_ray.spec import instance_types


@pytest.mark.parametrize("instance_type, cpus, gib, gpus", [
    ("ml.t2.medium", 2, 4, 0),
    ("ml.m5.large", 2, 8, 0),
    ("ml.m5.xlarge", 4, 16, 0),
    ("ml.m5.24xlarge", 96, 384, 0),
    ("ml.c5.large", 2, 4, 0),
    ("ml.c5.9xlarge", 36, 72, 0),
    ("ml.c4.8xlarge", 36, 60, 0),
    ("ml.r5.2xlarge", 8, 64, 0),
    ("ml.m8g.medium", 1, 4, 0),
    ("ml.g4dn.xlarge", 4, 16, 1),
    ("ml.g4dn.12xlarge", 48, 192, 4),
    ("ml.g5.48xlarge", 192, 768, 8),
    ("ml.p3.2xlarge", 8, 61, 1),
])
def test_instance_table(instance_type, cpus, gib, gpus):
    assert instance_resources(instance_type) == ReplicaResources(num_cpus=cpus, memory_bytes=gib * GIB, num_gpus=gpus)


def test_gpu_types_ask_ray_for_gpus():
    assert instance_resources("ml.g5.xlarge").ray_actor_options() == {"num_cpus": 4.0, "memory": 16 * GIB, "num_gpus": 1}
    assert "num_gpus" not in instance_resources("ml.m5.large").ray_actor_options()


def test_every_listed_type_is_an_ml_type_with_resources():
    assert len(instance_types.INSTANCE_TYPES) > 150
    for name, spec in instance_types.INSTANCE_TYPES.items():
        assert name.startswith("ml.") and spec.vcpus >= 1 and spec.memory_gib >= 1
    assert not any(instance_types.family(t) in instance_types.NON_GPU_ACCELERATOR_FAMILIES
                   for t in instance_types.INSTANCE_TYPES)


def test_unknown_type_has_no_resources():
    assert instance_types.lookup("ml.x9.huge") is None
    with pytest.raises(ValueError):
        instance_resources("ml.x9.huge")


CPU_NODE = {"CPU": 8.0, "memory": 16 * GIB}


def test_a_node_that_fits_means_no_shortfall():
    assert capacity_shortfall(instance_resources("ml.m5.large"), [CPU_NODE]) is None
    assert capacity_shortfall(instance_resources("ml.g5.xlarge"), [CPU_NODE, {**CPU_NODE, "GPU": 1.0}]) is None


def test_gpu_type_on_a_cluster_without_gpus():
    reason = capacity_shortfall(instance_resources("ml.g4dn.xlarge"), [CPU_NODE, CPU_NODE])
    assert reason.startswith("it needs 1 GPU(s) per instance, but the Ray cluster has no GPU resources")


def test_type_larger_than_every_node():
    reason = capacity_shortfall(instance_resources("ml.m5.24xlarge"), [CPU_NODE])
    assert "needs 96 CPUs, 384 GiB of memory per replica" in reason
    assert "largest: 8 CPUs, 16.0 GiB, 0 GPUs" in reason


def test_resources_must_fit_on_one_node_not_in_sum():
    half = {"CPU": 2.0, "memory": 4 * GIB}
    assert capacity_shortfall(instance_resources("ml.m5.xlarge"), [half, half, half]) is not None
