"""Pieces shared by several request shapes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from serverless_ray.spec.names import TagKey, TagValue


class WireModel(BaseModel):
    """Base of request shapes: field names are the wire's, unknown members are ignored
    (as AWS's JSON protocol ignores members a newer client may send)."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class Tag(WireModel):
    Key: TagKey = Field(description="Tag key, 1-128 characters.")
    Value: TagValue = Field("", description="Tag value, up to 256 characters.")


TagList = list[Tag]
MAX_TAGS = 50
