"""Pieces shared by several request shapes."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from serverless_ray.spec.names import TagKey, TagValue


class WireModel(BaseModel):
    """Base of request shapes: field names are the wire's, unknown members are ignored
    (as AWS's JSON protocol ignores members a newer client may send)."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class Tag(WireModel):
    Key: TagKey = Field(description="Tag key, 1-128 characters.")
    Value: TagValue = Field("", description="Tag value, up to 256 characters.")


MAX_TAGS = 50
RESERVED_TAG_PREFIX = "aws:"


def _user_tags(tags: list[Tag]) -> list[Tag]:
    keys = [t.Key for t in tags]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise ValueError(f"Tag keys must be unique per resource; repeated: {repeated}.")
    reserved = [k for k in keys if k.lower().startswith(RESERVED_TAG_PREFIX)]
    if reserved:
        raise ValueError(f"Tag keys starting with 'aws:' are reserved for AWS use: {reserved}.")
    return tags


TagList = Annotated[list[Tag], Field(max_length=MAX_TAGS), AfterValidator(_user_tags)]
