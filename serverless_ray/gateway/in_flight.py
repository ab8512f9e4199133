"""Invocations in flight at this gateway: the one count that demand reports and metrics read.

Counted per endpoint and variant from admission to the reply; an endpoint's count is the
sum over its variants (the autoscaler and provisioned-concurrency metrics want the
endpoint's, the ``serverless_ray_in_flight`` series the variant's).
"""

from __future__ import annotations

from collections import Counter
from contextlib import contextmanager
from typing import Iterator


class InFlight:
    def __init__(self) -> None:
        self._by_variant: Counter[tuple[str, str]] = Counter()
        self._by_endpoint: Counter[str] = Counter()

    def of_endpoint(self, endpoint: str) -> int:
        return self._by_endpoint[endpoint]

    def by_variant(self) -> dict[tuple[str, str], int]:
        """``(endpoint, variant)`` → in flight, for every variant invoked here so far."""
        return dict(self._by_variant)

    def endpoints(self) -> dict[str, int]:
        return dict(self._by_endpoint)

    @contextmanager
    def hold(self, endpoint: str, variant: str) -> Iterator[int]:
        """Count one invocation for the ``with`` block; yields the endpoint's new count."""
        self._by_variant[(endpoint, variant)] += 1
        self._by_endpoint[endpoint] += 1
        try:
            yield self._by_endpoint[endpoint]
        finally:
            self._by_variant[(endpoint, variant)] -= 1
            self._by_endpoint[endpoint] -= 1
