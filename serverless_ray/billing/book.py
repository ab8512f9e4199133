"""The cluster's usage book, kept by the controller: gateways' usage priced and made
durable, provisioned concurrency accrued, totals that never go backwards.

Every gateway meters its own invocations and sends them here; the book prices them
with the one price table (so a price applies from when it was loaded on, as on a bill),
commits them to the store and only then adds them to the totals that ``/metrics`` shows.
Totals start from the store, so they survive a restart and never go backwards.
"""

from __future__ import annotations

import time
from typing import Callable, Iterable, Protocol, Sequence

from serverless_ray.billing.meter import price
from serverless_ray.billing.prices import PriceTable
from serverless_ray.billing.provisioned import Level, ProvisionedMeter
from serverless_ray.billing.usage import Usage, UsageKey, UsageRow, add_up, bucket_of

# Provisioned usage accrues every housekeeping tick; it is committed in steps of this many
# seconds (what a crash of the controller can lose of it).
PROVISIONED_COMMIT_S = 5.0


class UsageStore(Protocol):
    def add_usage(self, rows: Sequence[UsageRow]) -> None:
        """Add ``rows`` to what is kept, atomically."""

    def usage_totals(self, since_bucket: int | None = None) -> dict[UsageKey, Usage]:
        """Usage per key, over all buckets or those starting at ``since_bucket`` or later."""


class UsageBook:
    def __init__(
        self,
        store: UsageStore,
        prices: PriceTable,
        *,
        wall_clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        provisioned_commit_s: float = PROVISIONED_COMMIT_S,
    ) -> None:
        self._store = store
        self.prices = prices
        self._wall_clock = wall_clock
        self._monotonic = monotonic
        self._provisioned = ProvisionedMeter()
        self._pending: list[UsageRow] = []
        self._commit_every_s = provisioned_commit_s
        self._committed_at = monotonic()
        self._totals: dict[UsageKey, Usage] = store.usage_totals()

    def record(self, rows: Iterable[UsageRow]) -> None:
        """Price ``rows``, commit them, then count them."""
        priced = [UsageRow(row.bucket, row.key, price(row.usage, row.key.memory_mb, self.prices))
                  for row in add_up(rows)]
        if not priced:
            return
        self._store.add_usage(priced)
        for row in priced:
            self._totals[row.key] = self._totals.get(row.key, Usage()) + row.usage

    def observe_provisioned(self, levels: dict[tuple[str, str], Level]) -> None:
        """The provisioned concurrency of every variant now (housekeeping calls this each
        tick); accrued usage is committed every ``provisioned_commit_s``."""
        now = self._monotonic()
        bucket = bucket_of(self._wall_clock())
        for key, usage in self._provisioned.observe(levels, now).items():
            self._pending.append(UsageRow(bucket, key, usage))
        if now - self._committed_at >= self._commit_every_s:
            self.flush()

    def flush(self) -> None:
        """Commit provisioned usage accrued so far (also at shutdown)."""
        pending, self._pending = self._pending, []
        self._committed_at = self._monotonic()
        self.record(pending)

    def totals(self) -> dict[UsageKey, Usage]:
        """Everything committed since the state directory was created."""
        return dict(self._totals)

    def since(self, start: float | None) -> dict[UsageKey, Usage]:
        """Usage in the buckets from the one ``start`` falls in (all of it for None)."""
        return self._store.usage_totals(None if start is None else bucket_of(start))
