"""``serverless-ray logs``: an endpoint's log group printed from the platform's own
CloudWatch Logs API (what ``aws logs tail`` does against AWS).

Events are read with ``FilterLogEvents`` from ``--since`` on, in time order across the
group's streams; ``--follow`` polls for newer ones, remembering the ids of the events at
the newest timestamp seen so that none is printed twice.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Callable, Iterator

from serverless_ray.spec.arns import log_group_name

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")


class SinceError(ValueError):
    """``--since`` is neither a duration nor a timestamp."""


def since_ms(text: str, now: float) -> int:
    """Epoch milliseconds of ``--since``: a duration back from ``now`` (``30s``, ``10m``,
    ``2h``, ``1d``, ``1w``) or an ISO 8601 timestamp (UTC unless it says otherwise)."""
    match = _DURATION.match(text.strip())
    if match:
        return int((now - float(match[1]) * _UNITS[match[2]]) * 1000)
    try:
        at = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise SinceError(f"--since {text!r} is neither a duration (30s, 10m, 2h, 1d, 1w) nor an ISO 8601 "
                         "timestamp (2026-01-02T03:04:05Z)") from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.timezone.utc)
    return int(at.timestamp() * 1000)


def format_event(event: dict) -> str:
    at = dt.datetime.fromtimestamp(event["timestamp"] / 1000, dt.timezone.utc)
    return f"{at.isoformat(timespec='milliseconds').replace('+00:00', 'Z')} {event['logStreamName']} {event['message']}"


class LogTail:
    """The events of ``endpoint``'s log group from ``start_ms`` on, matching ``pattern``."""

    def __init__(self, client, endpoint: str, start_ms: int, pattern: str | None = None) -> None:
        self._client = client
        self._group = log_group_name(endpoint)
        self._start_ms = start_ms
        self._pattern = pattern
        self._seen_at_newest: set[str] = set()

    def poll(self) -> list[dict]:
        """The events not returned before, oldest first."""
        request = {"logGroupName": self._group, "startTime": self._start_ms}
        if self._pattern:
            request["filterPattern"] = self._pattern
        events: list[dict] = []
        for page in self._client.get_paginator("filter_log_events").paginate(**request):
            events.extend(page["events"])
        events.sort(key=lambda e: (e["timestamp"], e["eventId"]))
        fresh = [e for e in events if e["eventId"] not in self._seen_at_newest]
        if events:
            newest = events[-1]["timestamp"]
            if newest > self._start_ms:
                self._seen_at_newest = set()
            self._start_ms = newest  # the next poll starts at the newest timestamp, inclusive
            self._seen_at_newest |= {e["eventId"] for e in events if e["timestamp"] == newest}
        return fresh

    def follow(self, *, every_s: float = 1.0, stop: Callable[[], bool] = lambda: False,
               sleep: Callable[[float], None] = time.sleep) -> Iterator[dict]:
        """Every event as it arrives, until ``stop()``."""
        while True:
            yield from self.poll()
            if stop():
                return
            sleep(every_s)
