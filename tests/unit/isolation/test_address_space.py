"""The rlimit fallback: past its budget an allocation fails instead of growing."""

from __future__ import annotations

import multiprocessing

from serverless_ray.isolation.address_space import current_virtual_bytes, limit_address_space

MIB = 1024 * 1024


def _allocate_past(queue) -> None:
    limit_address_space(256 * MIB)
    small = b"\x01" * (64 * MIB)  # within the budget
    try:
        big = b"\x01" * (512 * MIB)
        queue.put(("grew", len(big) + len(small)))
    except MemoryError:
        queue.put(("MemoryError", len(small)))


def test_allocation_past_the_budget_raises_memory_error():
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_allocate_past, args=(queue,))
    child.start()
    outcome = queue.get(timeout=60)
    child.join(timeout=30)
    assert outcome == ("MemoryError", 64 * MIB)


def test_limit_is_relative_to_the_process_size():
    assert current_virtual_bytes() > 0
