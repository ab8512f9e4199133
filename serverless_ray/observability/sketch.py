"""A mergeable quantile sketch with a relative-error guarantee (the DDSketch scheme).

Percentiles of a period are read from a sketch of every sample in it, never from
averaged percentiles: sketches of two gateways, or of sixty seconds, merge into the
sketch of all their samples. A positive value ``v`` falls into bin
``ceil(log(v) / log(gamma))`` with ``gamma = (1 + a) / (1 - a)``; each bin is read back
as the value whose relative distance to both bin edges is ``a``, so any quantile is
within ``a`` (1 %) of a true sample value. Values at or below ``ZERO`` (and negatives,
which no platform metric has) count in a zero bin. The bins are a plain ``{index:
count}`` mapping, so a sketch travels and is stored as data.

Written here rather than taken from the ``ddsketch`` package: that package stores and
ships sketches through protobuf classes, while this platform keeps them as JSON in
SQLite and in Ray messages; the algorithm is the few lines below.
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping

RELATIVE_ACCURACY = 0.01
GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
_LOG_GAMMA = math.log(GAMMA)
ZERO = 1e-9
ZERO_BIN = None  # the key of the zero bin in ``bins()``; sorts before every index


def bin_index(value: float) -> int | None:
    """The bin of ``value`` (None: the zero bin)."""
    if value <= ZERO:
        return None
    return math.ceil(math.log(value) / _LOG_GAMMA)


def bin_value(index: int | None) -> float:
    """The value a bin stands for: within ``RELATIVE_ACCURACY`` of anything in it."""
    if index is None:
        return 0.0
    return 2 * GAMMA**index / (GAMMA + 1)


class Sketch:
    """Counts per bin; ``add`` a sample, ``merge`` another sketch, ask a ``quantile``."""

    __slots__ = ("_bins", "zeros")

    def __init__(self, bins: Mapping[int, int] | None = None, zeros: int = 0) -> None:
        self._bins: dict[int, int] = dict(bins or {})
        self.zeros = zeros

    def add(self, value: float, count: int = 1) -> None:
        index = bin_index(value)
        if index is None:
            self.zeros += count
        else:
            self._bins[index] = self._bins.get(index, 0) + count

    def merge(self, other: "Sketch") -> None:
        self.zeros += other.zeros
        for index, count in other._bins.items():
            self._bins[index] = self._bins.get(index, 0) + count

    @property
    def count(self) -> int:
        return self.zeros + sum(self._bins.values())

    def bins(self) -> Iterable[tuple[int | None, int]]:
        """(bin index, count) in ascending value order, the zero bin first."""
        if self.zeros:
            yield ZERO_BIN, self.zeros
        yield from sorted(self._bins.items())

    def quantile(self, q: float) -> float | None:
        """The ``q``-quantile (0 ≤ q ≤ 1) of the samples, None if there are none.

        The sample of rank ``q * (n - 1)`` (nearest rank), as a bin value."""
        total = self.count
        if total == 0:
            return None
        rank = q * (total - 1)
        seen = 0
        for index, count in self.bins():
            seen += count
            if seen > rank:
                return bin_value(index)
        return bin_value(max(self._bins)) if self._bins else 0.0

    def to_data(self) -> list:
        """``[zeros, [[index, count], ...]]``: JSON-ready and compact."""
        return [self.zeros, [[i, c] for i, c in sorted(self._bins.items())]]

    @classmethod
    def from_data(cls, data: list) -> "Sketch":
        zeros, pairs = data
        return cls({int(i): int(c) for i, c in pairs}, int(zeros))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sketch) and (self.zeros, self._bins) == (other.zeros, other._bins)

    def __repr__(self) -> str:
        return f"Sketch(zeros={self.zeros}, bins={dict(sorted(self._bins.items()))})"
