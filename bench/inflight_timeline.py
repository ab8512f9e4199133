"""The true number of invocations in flight over time, merged from every simulated gateway.

Each gateway records when each admitted invocation started and ended, and when each
refusal happened, on the machine's monotonic clock (shared by all its processes). This
merges them into step functions (per endpoint and in total) to check the hard limits and
to judge every refusal against the true cluster-wide count at that moment.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass


@dataclass
class Steps:
    """In-flight count as a step function: ``counts[i]`` holds from ``times[i]`` on."""

    times: list[float]
    counts: list[int]

    @classmethod
    def of(cls, spans: list[tuple[float, float]]) -> "Steps":
        # Ends sort before starts at the same instant: a token handed on is not two in flight.
        events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
        times, counts, now = [], [], 0
        for t, step in events:
            now += step
            times.append(t)
            counts.append(now)
        return cls(times, counts)

    @property
    def peak(self) -> int:
        return max(self.counts, default=0)

    def at(self, t: float) -> int:
        i = bisect_right(self.times, t)
        return self.counts[i - 1] if i else 0

    def most_during(self, start: float, end: float) -> int:
        lo, hi = bisect_right(self.times, start), bisect_right(self.times, end)
        return max([self.at(start), *self.counts[lo:hi]])


@dataclass
class Judged:
    peaks: dict[str, int]
    pool_peak: int
    # Refusals while the endpoint and the pool both had room ...
    at_decision: int  # ... when the refusal was decided (by the ledger, or by the gateway)
    at_delivery: int  # ... when the caller got it
    throughout: int  # ... during the whole time from the request to the refusal
    room_when_decided: int = 0  # free slots of the endpoint, summed over false refusals when decided


def judge(admitted: list[tuple[str, float, float]], refused: list[tuple[str, float, float, float]],
          limits: dict[str, int], pool: int) -> Judged:
    """``admitted``: (endpoint, start, end); ``refused``: (endpoint, asked, decided, delivered)."""
    per_endpoint = {e: Steps.of([(s, t) for name, s, t in admitted if name == e]) for e in limits}
    total = Steps.of([(s, t) for _, s, t in admitted])
    judged = Judged({e: s.peak for e, s in per_endpoint.items()}, total.peak, 0, 0, 0)
    for endpoint, asked, decided, delivered in refused:
        steps, limit = per_endpoint[endpoint], limits[endpoint]

        def room(t: float) -> bool:
            return steps.at(t) < limit and total.at(t) < pool

        if room(decided):
            judged.at_decision += 1
            judged.room_when_decided += limit - steps.at(decided)
        judged.at_delivery += room(delivered)
        judged.throughout += (steps.most_during(asked, delivered) < limit
                              and total.most_during(asked, delivered) < pool)
    return judged
