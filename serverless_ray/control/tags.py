"""Tags of hosting and registry resources: AddTags, ListTags, DeleteTags by ARN, and the
``Tags`` of create calls.

Tags are kept by ARN (whose name part SageMaker lower-cases), so they follow a resource
however its name is capitalised, and they go when the resource is deleted.
"""

from __future__ import annotations

import re
from typing import Any, Awaitable, Callable

from serverless_ray.errors import ValidationException
from serverless_ray.spec.common import MAX_TAGS, Tag
from serverless_ray.spec.listing import paginate
from serverless_ray.spec.tags import AddTagsInput, DeleteTagsInput, ListTagsInput
from serverless_ray.store import Store, TagSet

Handler = Callable[[Any], Awaitable[dict[str, Any]]]
ExistsFn = Callable[[str, str], bool]

_ARN = re.compile(r"^arn:aws[a-z-]*:sagemaker:([a-z0-9-]*):(\d{12}):([a-z-]+)/(.+)$")
TAGGABLE = ("model", "endpoint-config", "endpoint", "model-package-group", "model-package")
_NOUNS = {
    "model": "model", "endpoint-config": "endpoint configuration", "endpoint": "endpoint",
    "model-package-group": "model package group", "model-package": "model package",
}


class Tagging:
    """The tagging operations; ``exists(kind, name)`` tells whether a resource exists."""

    def __init__(self, *, region: str, account_id: str, store: Store, exists: ExistsFn) -> None:
        self._region = region
        self._account_id = account_id
        self._store = store
        self._exists = exists
        self.operations: dict[str, tuple[type, Handler]] = {
            "AddTags": (AddTagsInput, self.add_tags),
            "ListTags": (ListTagsInput, self.list_tags),
            "DeleteTags": (DeleteTagsInput, self.delete_tags),
        }

    async def add_tags(self, req: AddTagsInput) -> dict[str, Any]:
        arn = self._resource(req.ResourceArn)
        merged = self._merge(arn, req.Tags)
        return {"Tags": [t.model_dump() for t in merged]}

    async def list_tags(self, req: ListTagsInput) -> dict[str, Any]:
        arn = self._resource(req.ResourceArn)
        page, token = paginate(self._tags(arn), req)  # type: ignore[arg-type]
        body: dict[str, Any] = {"Tags": [t.model_dump() for t in page]}
        if token:
            body["NextToken"] = token
        return body

    async def delete_tags(self, req: DeleteTagsInput) -> dict[str, Any]:
        arn = self._resource(req.ResourceArn)
        remove = set(req.TagKeys)
        kept = [t for t in self._tags(arn) if t.Key not in remove]
        self._store.tags.put(arn, TagSet(arn=arn, tags=kept))
        return {}

    # --- used by the create and delete operations --------------------------------------

    def attach(self, arn: str, tags: list[Tag]) -> None:
        """Record the ``Tags`` of a create call (already validated with the request)."""
        if tags:
            self._store.tags.put(arn.lower(), TagSet(arn=arn.lower(), tags=list(tags)))

    def drop(self, arn: str) -> None:
        self._store.tags.delete(arn.lower())

    # --- helpers ---------------------------------------------------------------------

    def _tags(self, arn: str) -> list[Tag]:
        record = self._store.tags.get(arn)
        return list(record.tags) if record else []

    def _merge(self, arn: str, new: list[Tag]) -> list[Tag]:
        by_key = {t.Key: t for t in self._tags(arn)}
        by_key.update({t.Key: t for t in new})  # an existing key takes the new value
        if len(by_key) > MAX_TAGS:
            raise ValidationException(
                f"Resource {arn} would have {len(by_key)} tags; a resource can have at most {MAX_TAGS} tags."
            )
        tags = list(by_key.values())
        self._store.tags.put(arn, TagSet(arn=arn, tags=tags))
        return tags

    def _resource(self, arn: str) -> str:
        """The lower-cased ARN of an existing taggable resource, or a ValidationException."""
        match = _ARN.match(arn)
        if match is None:
            raise ValidationException(f"'{arn}' is not the ARN of a SageMaker resource.")
        region, account, kind, name = match.groups()
        if kind not in TAGGABLE:
            raise ValidationException(
                f"Resource type '{kind}' of '{arn}' is not hosted by this platform; tags apply to "
                f"{', '.join(TAGGABLE)} resources."
            )
        canonical = arn.lower()
        if region != self._region or account != self._account_id or not self._exists(kind, name):
            raise ValidationException(f'Could not find {_NOUNS[kind]} "{canonical}".')
        return canonical
