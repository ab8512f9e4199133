"""The fallback memory limit: an address-space rlimit, where no cgroup can be had.

Weaker than a cgroup, and documented as such (docs/isolation.md):

* it limits *virtual* memory, not memory in use: a replica process starts with several
  GB mapped (about 8.8 GB for a Ray worker, most of it never touched), so the limit is
  set relative to the process's size when it is confined, and every later mapping
  counts in full, touched or not (a new thread's stack, a memory-mapped file);
* past it an allocation fails (``MemoryError`` in Python, NULL from malloc) instead of
  the process being killed, and the replica reports and replaces itself;
* it covers the process only: a child process starts with the same budget of its own;
* no CPU quota comes with it: only Ray's logical CPU count holds the tier's vCPUs.
"""

from __future__ import annotations

import resource


def current_virtual_bytes() -> int:
    """This process's mapped address space now."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[0])
    return pages * resource.getpagesize()


def limit_address_space(budget_bytes: int, *, baseline_bytes: int | None = None) -> int:
    """Let this process map at most ``budget_bytes`` beyond what it maps now (or beyond
    ``baseline_bytes``); returns the limit set. Never raises the hard limit."""
    baseline = current_virtual_bytes() if baseline_bytes is None else baseline_bytes
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = baseline + budget_bytes
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    return limit
