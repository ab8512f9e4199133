"""Variants → Ray resources, and whether the cluster can place them.

Serverless: SageMaker allocates CPU in proportion to the memory size; here the ratio is
the ``vcpu_per_gb`` setting (default 0.5 vCPU per GB: 1024 MB → 0.5 CPU, 6144 MB → 3
CPUs). Instance-based: one replica stands for one instance and reserves the instance
type's vCPUs, memory and GPUs (:mod:`serverless_ray.spec.instance_types`).
``memory`` is a Ray scheduling resource (bytes), so replicas only land on nodes that
have that much memory unclaimed; it is not a hard limit on the process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from serverless_ray.spec import instance_types

MIB = 1024 * 1024
GIB = 1024 * MIB


@dataclass(frozen=True)
class ReplicaResources:
    num_cpus: float
    memory_bytes: int
    num_gpus: int = 0

    def times(self, count: int) -> ReplicaResources:
        """What ``count`` such replicas reserve together."""
        return ReplicaResources(self.num_cpus * count, self.memory_bytes * count, self.num_gpus * count)

    def plus(self, other: ReplicaResources) -> ReplicaResources:
        """What this and ``other`` reserve together."""
        return ReplicaResources(self.num_cpus + other.num_cpus, self.memory_bytes + other.memory_bytes,
                                self.num_gpus + other.num_gpus)

    def ray_actor_options(self) -> dict:
        options: dict = {"num_cpus": self.num_cpus, "memory": self.memory_bytes}
        if self.num_gpus:
            options["num_gpus"] = self.num_gpus
        return options


def replica_resources(memory_size_mb: int, vcpu_per_gb: float) -> ReplicaResources:
    """Resources one replica of a ``memory_size_mb`` serverless endpoint reserves."""
    if memory_size_mb <= 0:
        raise ValueError(f"memory_size_mb must be positive, got {memory_size_mb!r}")
    cpus = round(memory_size_mb / 1024 * vcpu_per_gb, 4)
    return ReplicaResources(num_cpus=cpus, memory_bytes=memory_size_mb * MIB)


def instance_resources(instance_type: str) -> ReplicaResources:
    """Resources one replica (one instance) of ``instance_type`` reserves."""
    spec = instance_types.lookup(instance_type)
    if spec is None:
        raise ValueError(f"unknown instance type {instance_type!r}")
    return ReplicaResources(num_cpus=float(spec.vcpus), memory_bytes=spec.memory_bytes, num_gpus=spec.gpus)


@dataclass(frozen=True)
class NodeRoom:
    """One live node's resources (Ray's ``CPU``, ``GPU``, ``memory``): its total, and what
    is unclaimed now (a resource with nothing left may be absent from ``available``)."""

    total: Mapping[str, float]
    available: Mapping[str, float]


def fits(needed: ReplicaResources, node: Mapping[str, float]) -> bool:
    """Whether one such replica fits in ``node``'s resources."""
    return (node.get("CPU", 0) >= needed.num_cpus and node.get("memory", 0) >= needed.memory_bytes
            and node.get("GPU", 0) >= needed.num_gpus)


def fits_on_some_node(
    needed: ReplicaResources, nodes: Sequence[Mapping[str, float]], *, freed: ReplicaResources | None = None
) -> bool:
    """Whether one such replica fits on some node of ``nodes`` (available resources, say),
    if ``freed`` were returned to that node first (None: nothing is)."""
    for node in nodes:
        if freed is not None:
            node = {key: node.get(key, 0) + extra for key, extra in
                    (("CPU", freed.num_cpus), ("memory", freed.memory_bytes), ("GPU", freed.num_gpus))}
        if fits(needed, node):
            return True
    return False


def capacity_shortfall(needed: ReplicaResources, nodes: Sequence[Mapping[str, float]]) -> str | None:
    """Why no node of the cluster could ever hold one such replica (None if one could).

    ``nodes`` are the total resources of each live node (Ray's ``CPU``, ``GPU``,
    ``memory``). Checked before deploying, so that an impossible request fails at once
    with a reason instead of waiting for the model-ready timeout.
    """
    if needed.num_gpus and not any(node.get("GPU", 0) > 0 for node in nodes):
        return (
            f"it needs {needed.num_gpus} GPU(s) per instance, but the Ray cluster has no GPU resources; "
            "add GPU nodes to the cluster or choose a CPU instance type"
        )
    if fits_on_some_node(needed, nodes):
        return None
    largest = max(nodes, key=lambda n: (n.get("CPU", 0), n.get("memory", 0)), default={})
    gpus = f", {needed.num_gpus} GPU(s)" if needed.num_gpus else ""
    return (
        f"it needs {needed.num_cpus:g} CPUs, {needed.memory_bytes / GIB:g} GiB of memory{gpus} per replica, "
        f"but no node of the Ray cluster is that large (largest: {largest.get('CPU', 0):g} CPUs, "
        f"{largest.get('memory', 0) / GIB:.1f} GiB, {largest.get('GPU', 0):g} GPUs)"
    )
