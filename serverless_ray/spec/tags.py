"""AddTags / ListTags / DeleteTags requests."""

from __future__ import annotations

from pydantic import Field

from serverless_ray.spec.common import MAX_TAGS, TagList, WireModel
from serverless_ray.spec import names as n


class AddTagsInput(WireModel):
    ResourceArn: n.SageMakerArn = Field(description="ARN of the resource to tag.")
    Tags: TagList = Field(description="Tags to add; a key the resource already has gets the new value.")


class ListTagsInput(WireModel):
    ResourceArn: n.SageMakerArn
    MaxResults: int = Field(50, ge=50, le=100, description="Page size (AWS's minimum is 50).")
    NextToken: n.NextToken | None = None


class DeleteTagsInput(WireModel):
    ResourceArn: n.SageMakerArn
    TagKeys: list[n.TagKey] = Field(min_length=1, max_length=MAX_TAGS, description="Keys of the tags to remove.")
