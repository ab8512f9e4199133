"""Request shapes of the CloudWatch operations served, validated at the edge.

Timestamps arrive as epoch seconds (the wire layer converts whatever the protocol
carried). Validation failures are CloudWatch's errors: ``MissingParameter`` for an
absent required member, ``InvalidParameterValue`` for the rest, in AWS's wording.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from serverless_ray.errors import InvalidParameterValueException, MissingRequiredParameterException
from serverless_ray.spec.validation import format_errors

UnitName = Literal[
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
    "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second",
    "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second",
    "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
]
Standard = Literal["SampleCount", "Average", "Sum", "Minimum", "Maximum"]


class _Shape(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Dimension(_Shape):
    Name: str = Field(min_length=1, max_length=255, description="Dimension name, e.g. EndpointName.")
    Value: str = Field(min_length=1, max_length=1024, description="Dimension value.")


class DimensionFilter(_Shape):
    Name: str = Field(min_length=1, max_length=255, description="Dimension name to match.")
    Value: str | None = Field(None, min_length=1, max_length=1024, description="Value to match (any if absent).")


class MetricSpec(_Shape):
    Namespace: str = Field(min_length=1, max_length=255, description="e.g. AWS/SageMaker.")
    MetricName: str = Field(min_length=1, max_length=255, description="e.g. Invocations.")
    Dimensions: list[Dimension] = Field(default_factory=list, max_length=30, description="Exact dimension set.")


class GetMetricStatisticsInput(MetricSpec):
    StartTime: float = Field(description="Start of the range, epoch seconds (inclusive).")
    EndTime: float = Field(description="End of the range, epoch seconds (exclusive).")
    Period: int = Field(ge=1, description="Seconds per datapoint: 1, 5, 10, 30 or a multiple of 60.")
    Statistics: list[Standard] | None = Field(None, min_length=1, max_length=5, description="Standard statistics.")
    ExtendedStatistics: list[str] | None = Field(
        None, min_length=1, max_length=10, description="Percentiles, p0.0 to p100 (e.g. p50, p99.9).")
    Unit: UnitName | None = Field(None, description="Only datapoints recorded with this unit.")


class MetricStatSpec(_Shape):
    Metric: MetricSpec = Field(description="The metric to read.")
    Period: int = Field(ge=1, description="Seconds per datapoint.")
    Stat: str = Field(description="A standard statistic or a percentile such as p99.")
    Unit: UnitName | None = Field(None, description="Only datapoints recorded with this unit.")


class MetricDataQuery(_Shape):
    Id: str = Field(min_length=1, max_length=255, pattern=r"^[a-z][a-zA-Z0-9_]*$",
                    description="Names the query's result.")
    MetricStat: MetricStatSpec | None = Field(None, description="The metric and statistic to return.")
    Expression: str | None = Field(None, min_length=1, max_length=2048, description="Metric math (not served).")
    Label: str | None = Field(None, description="Label of the result (default: the metric name).")
    ReturnData: bool = Field(True, description="Whether the result is returned.")
    Period: int | None = Field(None, ge=1, description="Period of an expression.")


class GetMetricDataInput(_Shape):
    MetricDataQueries: list[MetricDataQuery] = Field(min_length=1, max_length=500, description="Queries.")
    StartTime: float = Field(description="Start of the range, epoch seconds (inclusive).")
    EndTime: float = Field(description="End of the range, epoch seconds (exclusive).")
    NextToken: str | None = Field(None, description="From a previous page.")
    ScanBy: Literal["TimestampDescending", "TimestampAscending"] = Field(
        "TimestampDescending", description="Order of the datapoints in each result.")
    MaxDatapoints: int = Field(100_800, ge=1, description="Most datapoints on one page.")


class ListMetricsInput(_Shape):
    Namespace: str | None = Field(None, min_length=1, max_length=255, description="Only this namespace.")
    MetricName: str | None = Field(None, min_length=1, max_length=255, description="Only this metric.")
    Dimensions: list[DimensionFilter] = Field(default_factory=list, max_length=10,
                                              description="Dimensions every listed metric has.")
    NextToken: str | None = Field(None, description="From a previous page.")
    RecentlyActive: Literal["PT3H"] | None = Field(None, description="Only metrics with data in the last 3 hours.")


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], payload: Any) -> M:
    if not isinstance(payload, dict):
        raise InvalidParameterValueException("The request body must be a structure.")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        missing = [e for e in errors if e.get("type") == "missing"]
        if missing:
            name = ".".join(str(step) for step in missing[0]["loc"] if not isinstance(step, int))
            raise MissingRequiredParameterException(f"The parameter {name} is required.") from None
        raise InvalidParameterValueException(format_errors(errors)) from None
