"""What one replica is held to: its tier, its disk, its load deadline."""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True)
class ReplicaLimits:
    """Built by the control plane for each variant; travels inside the replica's spec.

    ``runtime_dir`` is the node-local directory under which each confined replica keeps
    its record and scratch disk (the same path on every node). ``isolation``: ``auto``
    holds memory and CPU in a cgroup where the node allows it, else with an address-space
    rlimit; ``rlimit`` always uses the rlimit; ``off`` records usage only (no memory or
    CPU limit, no cap on the scratch directory).
    """

    memory_mb: int
    cpus: float
    ephemeral_storage_mb: int
    model_ready_timeout_s: float
    runtime_dir: str
    isolation: str = "auto"

    @property
    def enforced(self) -> bool:
        return self.isolation != "off"

    @property
    def memory_bytes(self) -> int:
        return self.memory_mb * MIB

    @property
    def storage_bytes(self) -> int:
        return self.ephemeral_storage_mb * MIB
