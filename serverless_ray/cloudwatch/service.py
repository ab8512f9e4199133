"""The CloudWatch metrics operations over a :class:`MetricStore`.

Results are plain dicts with CloudWatch's member names; timestamps are epoch seconds
(the wire layer renders them as each protocol wants).
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any, Callable

from serverless_ray.cloudwatch.spec import (
    GetMetricDataInput,
    GetMetricStatisticsInput,
    ListMetricsInput,
    MetricDataQuery,
    parse,
)
from serverless_ray.errors import (
    InvalidNextToken,
    InvalidParameterCombinationException,
    InvalidParameterValueException,
    UnknownOperationException,
)
from serverless_ray.observability import statistics
from serverless_ray.observability.metric_store import MetricStore

MAX_DATAPOINTS_PER_STATISTICS_CALL = 1440
LIST_PAGE_SIZE = 500
RECENTLY_ACTIVE_S = 3 * 3600
OPERATIONS = ("GetMetricStatistics", "GetMetricData", "ListMetrics")


class CloudWatchService:
    def __init__(self, store: MetricStore, *, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock

    def call(self, operation: str, payload: Any) -> dict[str, Any]:
        """Run ``operation`` (blocking: reads SQLite; call it from a worker thread)."""
        if operation == "GetMetricStatistics":
            return self.get_metric_statistics(parse(GetMetricStatisticsInput, payload))
        if operation == "GetMetricData":
            return self.get_metric_data(parse(GetMetricDataInput, payload))
        if operation == "ListMetrics":
            return self.list_metrics(parse(ListMetricsInput, payload))
        raise UnknownOperationException(
            f"Operation {operation} is not supported by this platform; CloudWatch serves {', '.join(OPERATIONS)}.")

    # --- GetMetricStatistics ---------------------------------------------------------

    def get_metric_statistics(self, request: GetMetricStatisticsInput) -> dict[str, Any]:
        if not request.Statistics and not request.ExtendedStatistics:
            raise InvalidParameterCombinationException(
                "Must specify either Statistics or ExtendedStatistics, but not neither.")
        for name in request.ExtendedStatistics or ():
            if not statistics.is_percentile(name):
                raise InvalidParameterValueException(
                    f"The value {name} for parameter ExtendedStatistics is not supported. "
                    "Percentiles p0.0 to p100 (such as p50 or p99.9) are supported.")
        start, end = _range(request.StartTime, request.EndTime)
        _check_period(request.Period, "Period")
        datapoints = -(-(end - start) // request.Period)
        if datapoints > MAX_DATAPOINTS_PER_STATISTICS_CALL:
            raise InvalidParameterCombinationException(
                f"You have requested up to {datapoints} datapoints, which exceeds the limit of "
                f"{MAX_DATAPOINTS_PER_STATISTICS_CALL:,}. You may reduce the datapoints requested by "
                "increasing Period, or decreasing the time range.")
        rows = self._store.query(
            request.Namespace, request.MetricName, [(d.Name, d.Value) for d in request.Dimensions],
            start=start, end=end, period=request.Period, unit=request.Unit,
        )
        points = []
        for ts, aggregate, unit in rows:
            point: dict[str, Any] = {"Timestamp": float(ts), "Unit": unit}
            for name in request.Statistics or ():
                point[name] = statistics.value(aggregate, name)
            if request.ExtendedStatistics:
                point["ExtendedStatistics"] = {
                    name: statistics.value(aggregate, name) for name in request.ExtendedStatistics}
            points.append(point)
        return {"Label": request.MetricName, "Datapoints": points}

    # --- GetMetricData ---------------------------------------------------------------

    def get_metric_data(self, request: GetMetricDataInput) -> dict[str, Any]:
        start, end = _range(request.StartTime, request.EndTime)
        ids = [q.Id for q in request.MetricDataQueries]
        if len(set(ids)) != len(ids):
            raise InvalidParameterValueException("The values for parameter Id in MetricDataQueries must be unique.")
        if not any(q.ReturnData for q in request.MetricDataQueries):
            raise InvalidParameterValueException("At least one MetricDataQuery must have ReturnData set to true.")
        results = [self._series_of(query, start, end, request.ScanBy)
                   for query in request.MetricDataQueries if query.ReturnData]
        offset = _read_token(request.NextToken, "GetMetricData")
        page: list[dict[str, Any]] = []
        skipped, budget = 0, request.MaxDatapoints
        more = False
        for result in results:
            timestamps, values = result.pop("_points")
            first = max(0, offset - skipped)
            skipped += len(timestamps)
            take = max(0, min(len(timestamps) - first, budget))
            result["Timestamps"] = timestamps[first:first + take]
            result["Values"] = values[first:first + take]
            budget -= take
            if first + take < len(timestamps):
                more = True
                result["StatusCode"] = "PartialData"
            page.append(result)
        reply: dict[str, Any] = {"MetricDataResults": page, "Messages": []}
        if more:
            reply["NextToken"] = _token(offset + request.MaxDatapoints)
        return reply

    def _series_of(self, query: MetricDataQuery, start: int, end: int, scan_by: str) -> dict[str, Any]:
        if query.MetricStat is None:
            raise InvalidParameterValueException(
                f"The MetricDataQuery {query.Id} has no MetricStat; metric math Expressions are not supported "
                "by this platform." if query.Expression else
                f"The MetricDataQuery {query.Id} must specify MetricStat.")
        stat = query.MetricStat
        if not statistics.is_statistic(stat.Stat):
            raise InvalidParameterValueException(
                f"The value {stat.Stat} for parameter MetricDataQueries.member.Stat is not a valid statistic: "
                f"use one of {', '.join(statistics.STANDARD)} or a percentile such as p99.")
        _check_period(stat.Period, "MetricStat.Period")
        metric = stat.Metric
        rows = self._store.query(
            metric.Namespace, metric.MetricName, [(d.Name, d.Value) for d in metric.Dimensions],
            start=start, end=end, period=stat.Period, unit=stat.Unit,
        )
        points = [(float(ts), statistics.value(aggregate, stat.Stat)) for ts, aggregate, _ in rows]
        points = [(ts, value) for ts, value in points if value is not None]
        if scan_by == "TimestampDescending":
            points.reverse()
        return {
            "Id": query.Id, "Label": query.Label or metric.MetricName, "StatusCode": "Complete", "Messages": [],
            "_points": ([ts for ts, _ in points], [value for _, value in points]),
        }

    # --- ListMetrics -----------------------------------------------------------------

    def list_metrics(self, request: ListMetricsInput) -> dict[str, Any]:
        active_since = int(self._clock()) - RECENTLY_ACTIVE_S if request.RecentlyActive else None
        wanted = [(f.Name, f.Value) for f in request.Dimensions]
        metrics = []
        for series in self._store.series(namespace=request.Namespace, name=request.MetricName,
                                         active_since=active_since):
            dims = dict(series.dimensions)
            if all(name in dims and (value is None or dims[name] == value) for name, value in wanted):
                metrics.append({
                    "Namespace": series.namespace, "MetricName": series.name,
                    "Dimensions": [{"Name": n, "Value": v} for n, v in series.dimensions],
                })
        # One entry per metric and dimension set, whatever units it was recorded with.
        unique = list({json.dumps(m, sort_keys=True): m for m in metrics}.values())
        offset = _read_token(request.NextToken, "ListMetrics")
        reply: dict[str, Any] = {"Metrics": unique[offset:offset + LIST_PAGE_SIZE]}
        if offset + LIST_PAGE_SIZE < len(unique):
            reply["NextToken"] = _token(offset + LIST_PAGE_SIZE)
        return reply


def _range(start: float, end: float) -> tuple[int, int]:
    if start >= end:
        raise InvalidParameterValueException("The parameter StartTime must be less than the parameter EndTime.")
    return int(start), int(-(-end // 1))


def _check_period(period: int, member: str) -> None:
    if not statistics.valid_period(period):
        raise InvalidParameterValueException(
            f"The parameter {member} must be 1, 5, 10, 30 or a multiple of 60; got {period}.")


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _read_token(token: str | None, operation: str) -> int:
    if token is None:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
        if isinstance(offset, int) and offset >= 0:
            return offset
    except Exception:
        pass
    raise InvalidNextToken(f"The NextToken given to {operation} is not one it returned.")
