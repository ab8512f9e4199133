"""The configurations a benchmark sweeps (pure)."""

from __future__ import annotations

from dataclasses import dataclass

MEMORY_SIZES_MB = (1024, 2048, 3072, 4096, 5120, 6144)
MAX_CONCURRENCY_LIMIT = 200


@dataclass(frozen=True, order=True)
class Scenario:
    memory_mb: int
    max_concurrency: int
    client_concurrency: int
    provisioned: int = 0  # ProvisionedConcurrency (0: on demand only)

    @property
    def label(self) -> str:
        pc = f" PC {self.provisioned}" if self.provisioned else ""
        return f"{self.memory_mb} MB, max {self.max_concurrency}, {self.client_concurrency} clients{pc}"

    @property
    def slug(self) -> str:
        return f"m{self.memory_mb}-c{self.max_concurrency}-k{self.client_concurrency}-p{self.provisioned}"


def sweep(
    memory_sizes: list[int], max_concurrencies: list[int], client_concurrencies: list[int],
    provisioned: list[int] = (),
) -> list[Scenario]:
    """Every combination on demand, and each provisioned level at every memory size and
    client concurrency (with MaxConcurrency at least the provisioned level)."""
    for memory in memory_sizes:
        if memory not in MEMORY_SIZES_MB:
            raise ValueError(f"memory size {memory} is not one of {list(MEMORY_SIZES_MB)}")
    for value in (*max_concurrencies, *client_concurrencies, *provisioned):
        if not 1 <= value <= MAX_CONCURRENCY_LIMIT:
            raise ValueError(f"concurrency {value} is not within 1-{MAX_CONCURRENCY_LIMIT}")
    if not memory_sizes or not max_concurrencies or not client_concurrencies:
        raise ValueError("give at least one memory size, one MaxConcurrency and one client concurrency")
    scenarios = {
        Scenario(m, mc, c) for m in memory_sizes for mc in max_concurrencies for c in client_concurrencies
    }
    scenarios |= {
        Scenario(m, max(p, max(max_concurrencies)), c, p)
        for m in memory_sizes for c in client_concurrencies for p in provisioned
    }
    return sorted(scenarios)
