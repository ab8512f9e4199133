"""Memory size → Ray resources.

SageMaker allocates CPU in proportion to the memory size; here the ratio is the
``vcpu_per_gb`` setting (default 0.5 vCPU per GB: 1024 MB → 0.5 CPU, 6144 MB → 3 CPUs).
``memory`` is a Ray scheduling resource (bytes), so replicas only land on nodes that
have that much memory unclaimed; it is not a hard limit on the process.
"""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True)
class ReplicaResources:
    num_cpus: float
    memory_bytes: int

    def ray_actor_options(self) -> dict:
        return {"num_cpus": self.num_cpus, "memory": self.memory_bytes}


def replica_resources(memory_size_mb: int, vcpu_per_gb: float) -> ReplicaResources:
    """Resources one replica of a ``memory_size_mb`` endpoint reserves."""
    if memory_size_mb <= 0:
        raise ValueError(f"memory_size_mb must be positive, got {memory_size_mb!r}")
    cpus = round(memory_size_mb / 1024 * vcpu_per_gb, 4)
    return ReplicaResources(num_cpus=cpus, memory_bytes=memory_size_mb * MIB)
