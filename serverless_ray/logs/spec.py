"""Request shapes of the CloudWatch Logs operations served (awsJson 1.1)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
                  2922, 3288, 3653)
_GROUP = r"^[\.\-_/#A-Za-z0-9]+$"
_STREAM = r"^[^:*]*$"


class _Shape(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _InGroup(_Shape):
    """``logGroupName`` or ``logGroupIdentifier`` (a name or an ARN), not both."""

    logGroupName: str | None = Field(None, min_length=1, max_length=512, pattern=_GROUP,
                                     description="The log group, e.g. /aws/sagemaker/Endpoints/my-endpoint.")
    logGroupIdentifier: str | None = Field(None, min_length=1, max_length=2048,
                                           description="The log group's name or ARN.")

    @model_validator(mode="after")
    def _one_group(self):
        if (self.logGroupName is None) == (self.logGroupIdentifier is None):
            raise ValueError("Exactly one of logGroupName and logGroupIdentifier must be given")
        return self

    @property
    def group(self) -> str:
        identifier = self.logGroupName or self.logGroupIdentifier or ""
        if identifier.startswith("arn:"):  # arn:aws:logs:<region>:<account>:log-group:<name>[:*]
            identifier = identifier.split(":log-group:", 1)[-1].removesuffix(":*")
        return identifier


class DescribeLogGroupsInput(_Shape):
    logGroupNamePrefix: str | None = Field(None, min_length=1, max_length=512, pattern=_GROUP,
                                           description="Only groups whose name starts with this.")
    logGroupNamePattern: str | None = Field(None, max_length=512, description="Only groups whose name contains this.")
    nextToken: str | None = Field(None, min_length=1, description="From a previous page.")
    limit: int = Field(50, ge=1, le=50, description="Most groups on one page.")


class DescribeLogStreamsInput(_InGroup):
    logStreamNamePrefix: str | None = Field(None, min_length=1, max_length=512, pattern=_STREAM,
                                            description="Only streams whose name starts with this.")
    orderBy: Literal["LogStreamName", "LastEventTime"] = Field("LogStreamName", description="Sort key.")
    descending: bool = Field(False, description="Sort in descending order.")
    nextToken: str | None = Field(None, min_length=1, description="From a previous page.")
    limit: int = Field(50, ge=1, le=50, description="Most streams on one page.")


class GetLogEventsInput(_InGroup):
    logStreamName: str = Field(min_length=1, max_length=512, pattern=_STREAM, description="The stream to read.")
    startTime: int | None = Field(None, ge=0, description="Earliest event time, ms since the epoch (inclusive).")
    endTime: int | None = Field(None, ge=0, description="Latest event time, ms since the epoch (exclusive).")
    nextToken: str | None = Field(None, min_length=1, description="nextForwardToken or nextBackwardToken.")
    limit: int = Field(10_000, ge=1, le=10_000, description="Most events returned.")
    startFromHead: bool = Field(False, description="Without a token: the earliest events first, else the latest.")
    unmask: bool = Field(False, description="Accepted; nothing is masked.")


class FilterLogEventsInput(_InGroup):
    logStreamNames: list[str] | None = Field(None, min_length=1, max_length=100, description="Only these streams.")
    logStreamNamePrefix: str | None = Field(None, min_length=1, max_length=512, pattern=_STREAM,
                                            description="Only streams whose name starts with this.")
    startTime: int | None = Field(None, ge=0, description="Earliest event time, ms since the epoch (inclusive).")
    endTime: int | None = Field(None, ge=0, description="Latest event time, ms since the epoch (exclusive).")
    filterPattern: str | None = Field(None, max_length=1024, description="Terms, \"phrases\", ?any, -not, %regex%.")
    nextToken: str | None = Field(None, min_length=1, description="From a previous page.")
    limit: int = Field(10_000, ge=1, le=10_000, description="Most events on one page.")
    interleaved: bool | None = Field(None, description="Accepted; results are always interleaved by time.")
    unmask: bool = Field(False, description="Accepted; nothing is masked.")


class PutRetentionPolicyInput(_Shape):
    logGroupName: str = Field(min_length=1, max_length=512, pattern=_GROUP, description="The log group.")
    retentionInDays: int = Field(description=f"Days events are kept: one of {', '.join(map(str, RETENTION_DAYS))}.")


class LogGroupNameInput(_Shape):
    logGroupName: str = Field(min_length=1, max_length=512, pattern=_GROUP, description="The log group.")
