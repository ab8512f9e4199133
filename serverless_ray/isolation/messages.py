"""What a client is told when its call ended because the replica went past a limit."""

from __future__ import annotations


def memory_exceeded(memory_mb: int | None) -> str:
    size = f"memory size of {memory_mb} MB" if memory_mb else "memory size"
    return (f"The model exceeded the endpoint's {size} (MemorySizeInMB) and was stopped; "
            "the replica is being replaced.")


def storage_exceeded(storage_mb: int) -> str:
    return (f"The model wrote more than the endpoint's {storage_mb} MB of ephemeral storage and was "
            "stopped; the replica is being replaced.")


def not_ready(timeout_s: float) -> str:
    return (f"The model did not become ready within {timeout_s:g} s (model-ready timeout, "
            "download and unpack included).")
