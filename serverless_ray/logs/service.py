"""The CloudWatch Logs operations over a :class:`LogStore`.

``GetLogEvents`` pages with CloudWatch's forward and backward tokens (a read past the
end returns the token it was given, which is how clients know to stop);
``FilterLogEvents`` interleaves the group's streams by time and pages with a token that
says where the last page ended.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any, Callable

from serverless_ray.errors import InvalidParameterException, LogsResourceNotFound, UnknownOperationException
from serverless_ray.logs.patterns import PatternError, parse_pattern
from serverless_ray.logs.spec import (
    RETENTION_DAYS,
    DescribeLogGroupsInput,
    DescribeLogStreamsInput,
    FilterLogEventsInput,
    GetLogEventsInput,
    LogGroupNameInput,
    PutRetentionPolicyInput,
)
from serverless_ray.logs.store import LogEvent, LogStore
from serverless_ray.spec.arns import log_group_arn
from serverless_ray.spec.validation import parse

OPERATIONS = ("DescribeLogGroups", "DescribeLogStreams", "GetLogEvents", "FilterLogEvents", "PutRetentionPolicy",
              "DeleteRetentionPolicy", "DeleteLogGroup")


class LogsService:
    def __init__(self, store: LogStore, *, region: str, account_id: str,
                 clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._region = region
        self._account = account_id
        self._clock = clock
        self._operations: dict[str, tuple[type, Callable[[Any], dict[str, Any]]]] = {
            "DescribeLogGroups": (DescribeLogGroupsInput, self.describe_log_groups),
            "DescribeLogStreams": (DescribeLogStreamsInput, self.describe_log_streams),
            "GetLogEvents": (GetLogEventsInput, self.get_log_events),
            "FilterLogEvents": (FilterLogEventsInput, self.filter_log_events),
            "PutRetentionPolicy": (PutRetentionPolicyInput, self.put_retention_policy),
            "DeleteRetentionPolicy": (LogGroupNameInput, self.delete_retention_policy),
            "DeleteLogGroup": (LogGroupNameInput, self.delete_log_group),
        }

    def call(self, operation: str, payload: Any) -> dict[str, Any]:
        """Run ``operation`` (blocking: reads SQLite; call it from a worker thread)."""
        found = self._operations.get(operation)
        if found is None:
            raise UnknownOperationException(
                f"Operation {operation} is not supported by this platform; CloudWatch Logs serves "
                f"{', '.join(OPERATIONS)}.")
        shape, run = found
        return run(parse(shape, payload, error=InvalidParameterException))

    # --- groups and streams ----------------------------------------------------------

    def describe_log_groups(self, request: DescribeLogGroupsInput) -> dict[str, Any]:
        groups = self._store.groups(request.logGroupNamePrefix or "")
        if request.logGroupNamePattern:
            groups = [g for g in groups if request.logGroupNamePattern.lower() in g.name.lower()]
        items = []
        for group in groups:
            arn = log_group_arn(self._region, self._account, group.name)
            item = {"logGroupName": group.name, "creationTime": group.created_ms, "metricFilterCount": 0,
                    "arn": f"{arn}:*", "logGroupArn": arn, "storedBytes": group.stored_bytes,
                    "logGroupClass": "STANDARD"}
            if group.retention_days is not None:
                item["retentionInDays"] = group.retention_days
            items.append(item)
        return _page(items, "logGroups", request.nextToken, request.limit)

    def describe_log_streams(self, request: DescribeLogStreamsInput) -> dict[str, Any]:
        group = self._group(request.group)
        if request.logStreamNamePrefix and request.orderBy == "LastEventTime":
            raise InvalidParameterException("Cannot order by LastEventTime with a logStreamNamePrefix.")
        streams = [s for s in self._store.streams(group) if s.name.startswith(request.logStreamNamePrefix or "")]
        if request.orderBy == "LastEventTime":
            streams.sort(key=lambda s: (s.last_event_ms or 0, s.name))
        if request.descending:
            streams.reverse()
        arn = log_group_arn(self._region, self._account, group)
        items = []
        for stream in streams:
            item: dict[str, Any] = {"logStreamName": stream.name, "creationTime": stream.created_ms,
                                    "arn": f"{arn}:log-stream:{stream.name}", "storedBytes": stream.stored_bytes}
            for key, value in (("firstEventTimestamp", stream.first_event_ms),
                               ("lastEventTimestamp", stream.last_event_ms),
                               ("lastIngestionTime", stream.last_ingestion_ms)):
                if value is not None:
                    item[key] = value
            items.append(item)
        return _page(items, "logStreams", request.nextToken, request.limit)

    def put_retention_policy(self, request: PutRetentionPolicyInput) -> dict[str, Any]:
        if request.retentionInDays not in RETENTION_DAYS:
            raise InvalidParameterException(
                f"1 validation error detected: Value '{request.retentionInDays}' at 'retentionInDays' failed to "
                f"satisfy constraint: Member must satisfy enum value set: [{', '.join(map(str, RETENTION_DAYS))}]")
        if not self._store.set_retention(request.logGroupName, request.retentionInDays):
            raise _no_group()
        self._store.expire(int(self._clock() * 1000))
        return {}

    def delete_retention_policy(self, request: LogGroupNameInput) -> dict[str, Any]:
        if not self._store.set_retention(request.logGroupName, None):
            raise _no_group()
        return {}

    def delete_log_group(self, request: LogGroupNameInput) -> dict[str, Any]:
        if not self._store.delete_group(request.logGroupName):
            raise _no_group()
        return {}

    # --- events ----------------------------------------------------------------------

    def get_log_events(self, request: GetLogEventsInput) -> dict[str, Any]:
        group = self._group(request.group)
        if request.logStreamName not in {s.name for s in self._store.streams(group)}:
            raise LogsResourceNotFound("The specified log stream does not exist.")
        read = dict(group=group, streams=[request.logStreamName], start_ms=request.startTime,
                    end_ms=request.endTime)
        token = request.nextToken
        direction, key = _read_event_token(token) if token else ("f" if request.startFromHead else "b", None)
        if direction == "f":
            events = _take(self._store.events(**read, after=key), request.limit)
        else:
            events = _take(self._store.events(**read, before=key, descending=True), request.limit)
            events.reverse()
        if events:
            forward, backward = f"f/{_key(events[-1])}", f"b/{_key(events[0])}"
        elif token:
            forward = backward = token  # nothing further: the same token, so clients stop
        else:
            forward, backward = "f/0/0", "b/0/0"
        return {
            "events": [{"timestamp": e.timestamp_ms, "message": e.message, "ingestionTime": e.ingestion_ms}
                       for e in events],
            "nextForwardToken": forward, "nextBackwardToken": backward,
        }

    def filter_log_events(self, request: FilterLogEventsInput) -> dict[str, Any]:
        group = self._group(request.group)
        if request.logStreamNames and request.logStreamNamePrefix:
            raise InvalidParameterException("logStreamNames and logStreamNamePrefix cannot both be given.")
        try:
            pattern = parse_pattern(request.filterPattern)
        except PatternError as exc:
            raise InvalidParameterException(str(exc)) from None
        names = [s.name for s in self._store.streams(group)]
        if request.logStreamNames is not None:
            names = [n for n in names if n in set(request.logStreamNames)]
        elif request.logStreamNamePrefix:
            names = [n for n in names if n.startswith(request.logStreamNamePrefix)]
        after = _read_filter_token(request.nextToken) if request.nextToken else None
        events: list[LogEvent] = []
        more = False
        for event in self._store.events(group, streams=names, start_ms=request.startTime, end_ms=request.endTime,
                                        after=after):
            if not pattern.matches(event.message):
                continue
            if len(events) == request.limit:
                more = True
                break
            events.append(event)
        reply: dict[str, Any] = {
            "events": [{"logStreamName": e.stream, "timestamp": e.timestamp_ms, "message": e.message,
                        "ingestionTime": e.ingestion_ms, "eventId": str(e.event_id)} for e in events],
            "searchedLogStreams": [{"logStreamName": n, "searchedCompletely": not more} for n in names],
        }
        if more:
            reply["nextToken"] = _filter_token(events[-1])
        return reply

    def _group(self, name: str) -> str:
        if self._store.group(name) is None:
            raise _no_group()
        return name


def _no_group() -> LogsResourceNotFound:
    return LogsResourceNotFound("The specified log group does not exist.")


def _take(events, limit: int) -> list[LogEvent]:
    taken = []
    for event in events:
        taken.append(event)
        if len(taken) == limit:
            break
    return taken


def _key(event: LogEvent) -> str:
    return f"{event.timestamp_ms}/{event.event_id}"


def _read_event_token(token: str) -> tuple[str, tuple[int, int] | None]:
    try:
        direction, ts, event_id = token.split("/")
        if direction in ("f", "b"):
            key = (int(ts), int(event_id))
            return direction, (None if key == (0, 0) else key)
    except ValueError:
        pass
    raise InvalidParameterException("The specified nextToken is invalid.")


def _filter_token(event: LogEvent) -> str:
    return base64.urlsafe_b64encode(json.dumps([event.timestamp_ms, event.event_id]).encode()).decode()


def _read_filter_token(token: str) -> tuple[int, int]:
    try:
        ts, event_id = json.loads(base64.urlsafe_b64decode(token.encode()))
        return int(ts), int(event_id)
    except Exception:
        raise InvalidParameterException("The specified nextToken is invalid.") from None


def _page(items: list[dict[str, Any]], member: str, token: str | None, limit: int) -> dict[str, Any]:
    offset = 0
    if token is not None:
        try:
            offset = int(base64.urlsafe_b64decode(token.encode()).decode())
        except Exception:
            raise InvalidParameterException("The specified nextToken is invalid.") from None
    reply: dict[str, Any] = {member: items[offset:offset + limit]}
    if offset + limit < len(items):
        reply["nextToken"] = base64.urlsafe_b64encode(str(offset + limit).encode()).decode()
    return reply
