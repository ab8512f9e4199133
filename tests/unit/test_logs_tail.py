"""``serverless-ray logs``: --since, and following a group without printing an event
twice (pure, no Ray: a stand-in for the logs client's paginator)."""

from __future__ import annotations

import pytest

from serverless_ray.logs.tail import LogTail, SinceError, format_event, since_ms

NOW = 1_800_000_000.0


def test_since_takes_durations_and_timestamps():
    assert since_ms("10m", NOW) == (NOW - 600) * 1000
    assert since_ms("1.5h", NOW) == (NOW - 5400) * 1000
    assert since_ms("2027-01-15T08:00:00Z", NOW) == since_ms("2027-01-15T08:00:00", NOW) == NOW * 1000
    with pytest.raises(SinceError, match="neither a duration"):
        since_ms("yesterday", NOW)


class _Group:
    """The events of one log group, served the way FilterLogEvents pages them."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self.requests: list[dict] = []

    def add(self, ms: int, message: str, stream: str = "AllTraffic/r1") -> None:
        self.events.append({"timestamp": ms, "message": message, "logStreamName": stream,
                            "eventId": f"{ms}-{len(self.events)}"})

    def get_paginator(self, name: str):
        assert name == "filter_log_events"
        return self

    def paginate(self, **request):
        self.requests.append(request)
        found = [e for e in self.events if e["timestamp"] >= request["startTime"]]
        yield {"events": found[:2]}
        yield {"events": found[2:]}


def test_follow_prints_each_event_once_across_polls():
    group = _Group()
    group.add(1000, "a")
    group.add(2000, "b")
    tail = LogTail(group, "ep", start_ms=500, pattern='"b"')
    assert [e["message"] for e in tail.poll()] == ["a", "b"]
    group.add(2000, "c")  # the same millisecond as the newest seen
    group.add(3000, "d")
    assert [e["message"] for e in tail.poll()] == ["c", "d"]
    assert tail.poll() == []
    assert group.requests[0] == {"logGroupName": "/aws/sagemaker/Endpoints/ep", "startTime": 500,
                                 "filterPattern": '"b"'}
    assert group.requests[-1]["startTime"] == 3000
    polls = iter([False, True])
    group.add(4000, "e")
    assert [e["message"] for e in tail.follow(stop=lambda: next(polls), sleep=lambda s: None)] == ["e"]


def test_events_print_with_time_and_stream():
    event = {"timestamp": 1_800_000_000_123, "logStreamName": "AllTraffic/r1", "message": "hello"}
    assert format_event(event) == "2027-01-15T08:00:00.123Z AllTraffic/r1 hello"
