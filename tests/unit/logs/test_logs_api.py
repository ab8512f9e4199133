"""CloudWatch Logs over the durable log store: filter patterns, GetLogEvents' forward
and backward tokens, FilterLogEvents' interleaving and pages, retention and deletion
(pure, no Ray; an injected clock)."""

from __future__ import annotations

import pytest

from serverless_ray.errors import InvalidParameterException, LogsResourceNotFound
from serverless_ray.logs.patterns import PatternError, parse_pattern
from serverless_ray.logs.service import LogsService
from serverless_ray.logs.store import LogStore
from serverless_ray.messages import LogLine

GROUP = "/aws/sagemaker/Endpoints/ep"
DAY_MS = 86_400_000
NOW_MS = 1_800_000_000_000


@pytest.mark.parametrize("pattern, matched", [
    ("", ["ERROR model broke", "WARN slow", "INFO done req-1a2b"]),
    ("ERROR", ["ERROR model broke"]),
    ('"model broke"', ["ERROR model broke"]),
    ("?ERROR ?WARN", ["ERROR model broke", "WARN slow"]),
    ("?ERROR ?WARN -slow", ["ERROR model broke"]),
    ("%req-[0-9a-f]+%", ["INFO done req-1a2b"]),
    ("error", []),  # case-sensitive, as CloudWatch
])
def test_filter_patterns(pattern, matched):
    lines = ["ERROR model broke", "WARN slow", "INFO done req-1a2b"]
    assert [line for line in lines if parse_pattern(pattern).matches(line)] == matched


@pytest.mark.parametrize("pattern, reason", [
    ('{ $.level = "ERROR" }', "JSON filter patterns"), ("[ip, user]", "Space-delimited"),
    ('"unclosed', "Invalid filter pattern"), ("%[%", "Invalid regular expression")])
def test_patterns_not_served_say_why(pattern, reason):
    with pytest.raises(PatternError, match=reason):
        parse_pattern(pattern)


@pytest.fixture
def logs(tmp_path):
    store = LogStore(tmp_path / "logs.sqlite3", default_retention_days=30)
    lines = [LogLine("ep", "AllTraffic/r1", NOW_MS + 10 * i, f"r1 line {i}") for i in range(5)]
    lines += [LogLine("ep", "AllTraffic/r2", NOW_MS + 10 * i + 5, f"r2 line {i}") for i in range(3)]
    store.append([(GROUP, line) for line in lines], NOW_MS + 100)
    yield LogsService(store, region="us-east-1", account_id="123456789012", clock=lambda: NOW_MS / 1000)
    store.close()


def _messages(reply):
    return [event["message"] for event in reply["events"]]


def test_get_log_events_pages_forward_and_backward(logs):
    first = logs.call("GetLogEvents", {"logGroupName": GROUP, "logStreamName": "AllTraffic/r1",
                                       "startFromHead": True, "limit": 2})
    assert _messages(first) == ["r1 line 0", "r1 line 1"]
    second = logs.call("GetLogEvents", {"logGroupName": GROUP, "logStreamName": "AllTraffic/r1",
                                        "nextToken": first["nextForwardToken"], "limit": 2})
    assert _messages(second) == ["r1 line 2", "r1 line 3"]
    back = logs.call("GetLogEvents", {"logGroupName": GROUP, "logStreamName": "AllTraffic/r1",
                                      "nextToken": second["nextBackwardToken"], "limit": 5})
    assert _messages(back) == ["r1 line 0", "r1 line 1"]
    newest = logs.call("GetLogEvents", {"logGroupName": GROUP, "logStreamName": "AllTraffic/r1", "limit": 2})
    assert _messages(newest) == ["r1 line 3", "r1 line 4"]  # without startFromHead: the newest, in order
    end = logs.call("GetLogEvents", {"logGroupName": GROUP, "logStreamName": "AllTraffic/r1",
                                     "nextToken": newest["nextForwardToken"]})
    assert end["events"] == [] and end["nextForwardToken"] == newest["nextForwardToken"]  # clients stop here
    with pytest.raises(LogsResourceNotFound, match="log stream"):
        logs.call("GetLogEvents", {"logGroupName": GROUP, "logStreamName": "nope"})
    with pytest.raises(InvalidParameterException, match="nextToken"):
        logs.call("GetLogEvents", {"logGroupName": GROUP, "logStreamName": "AllTraffic/r1", "nextToken": "x"})


def test_filter_log_events_interleaves_streams_and_pages(logs):
    seen, token = [], None
    while True:
        request = {"logGroupName": GROUP, "filterPattern": "line", "limit": 3, "interleaved": True}
        if token:
            request["nextToken"] = token
        reply = logs.call("FilterLogEvents", request)
        seen += _messages(reply)
        token = reply.get("nextToken")
        if not token:
            break
    assert seen == ["r1 line 0", "r2 line 0", "r1 line 1", "r2 line 1", "r1 line 2", "r2 line 2",
                    "r1 line 3", "r1 line 4"]
    only = logs.call("FilterLogEvents", {"logGroupName": GROUP, "logStreamNames": ["AllTraffic/r2"],
                                         "filterPattern": "-1"})
    assert _messages(only) == ["r2 line 0", "r2 line 2"]
    with pytest.raises(InvalidParameterException, match="JSON filter patterns"):
        logs.call("FilterLogEvents", {"logGroupName": GROUP, "filterPattern": "{ $.x = 1 }"})


def test_retention_expires_old_events_and_groups_can_be_deleted(tmp_path):
    store = LogStore(tmp_path / "logs.sqlite3", default_retention_days=30)
    store.append([(GROUP, LogLine("ep", "s", NOW_MS - 10 * DAY_MS, "old")),
                  (GROUP, LogLine("ep", "s", NOW_MS, "new"))], NOW_MS)
    logs = LogsService(store, region="us-east-1", account_id="123456789012")
    assert store.expire(NOW_MS) == 0  # within the default 30 days
    logs.call("PutRetentionPolicy", {"logGroupName": GROUP, "retentionInDays": 7})
    with pytest.raises(InvalidParameterException):
        logs.call("PutRetentionPolicy", {"logGroupName": GROUP, "retentionInDays": 8})
    assert store.expire(NOW_MS) == 1
    group = logs.call("DescribeLogGroups", {"logGroupNamePrefix": "/aws/sagemaker/"})["logGroups"][0]
    assert (group["logGroupName"], group["retentionInDays"]) == (GROUP, 7)
    assert group["arn"] == f"arn:aws:logs:us-east-1:123456789012:log-group:{GROUP}:*"
    events = logs.call("GetLogEvents", {"logGroupName": GROUP, "logStreamName": "s", "startFromHead": True})
    assert _messages(events) == ["new"]
    logs.call("DeleteLogGroup", {"logGroupName": GROUP})
    assert logs.call("DescribeLogGroups", {})["logGroups"] == []
    with pytest.raises(LogsResourceNotFound):
        logs.call("DeleteLogGroup", {"logGroupName": GROUP})
    store.close()
