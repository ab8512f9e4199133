"""List* requests: filters, sorting and opaque pagination tokens (§2.8)."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime
from typing import Callable, Literal, Sequence, TypeVar

from pydantic import Field

from serverless_ray.errors import ValidationException
from serverless_ray.spec.common import WireModel
from serverless_ray.spec.endpoint import EndpointStatus
from serverless_ray.spec import names as n

T = TypeVar("T")


class ListInput(WireModel):
    """ListModels / ListEndpointConfigs request."""

    NameContains: n.NameContains | None = Field(None, description="Substring of the name (case-insensitive).")
    CreationTimeBefore: datetime | None = None
    CreationTimeAfter: datetime | None = None
    SortBy: Literal["Name", "CreationTime"] = "CreationTime"
    SortOrder: Literal["Ascending", "Descending"] = "Descending"
    MaxResults: int = Field(10, ge=1, le=100, description="Page size, 1-100.")
    NextToken: n.NextToken | None = None


class ListEndpointsInput(ListInput):
    SortBy: Literal["Name", "CreationTime", "Status"] = "CreationTime"
    StatusEquals: EndpointStatus | None = None
    LastModifiedTimeBefore: datetime | None = None
    LastModifiedTimeAfter: datetime | None = None


def paginate(items: Sequence[T], query: ListInput) -> tuple[list[T], str | None]:
    """Return one page of already filtered and sorted ``items`` and the next token.

    The token carries the offset and a digest of the query, so a token from another
    query is refused rather than silently returning the wrong page.
    """
    digest = _query_digest(query)
    offset = 0
    if query.NextToken:
        offset = _decode_token(query.NextToken, digest)
    page = list(items[offset : offset + query.MaxResults])
    end = offset + len(page)
    token = _encode_token(end, digest) if end < len(items) else None
    return page, token


def filter_and_sort(
    items: Sequence[T],
    query: ListInput,
    *,
    name: Callable[[T], str],
    created: Callable[[T], float],
    modified: Callable[[T], float] | None = None,
    status: Callable[[T], str] | None = None,
) -> list[T]:
    """Apply the List* filters and ordering of ``query`` to ``items``."""
    out = list(items)
    if query.NameContains:
        needle = query.NameContains.lower()
        out = [i for i in out if needle in name(i).lower()]
    if query.CreationTimeBefore:
        out = [i for i in out if created(i) < query.CreationTimeBefore.timestamp()]
    if query.CreationTimeAfter:
        out = [i for i in out if created(i) >= query.CreationTimeAfter.timestamp()]
    if isinstance(query, ListEndpointsInput):
        if query.LastModifiedTimeBefore and modified:
            out = [i for i in out if modified(i) < query.LastModifiedTimeBefore.timestamp()]
        if query.LastModifiedTimeAfter and modified:
            out = [i for i in out if modified(i) >= query.LastModifiedTimeAfter.timestamp()]
        if query.StatusEquals and status:
            out = [i for i in out if status(i) == query.StatusEquals]
    keys: dict[str, Callable[[T], object]] = {"Name": lambda i: name(i).lower(), "CreationTime": created}
    if status:
        keys["Status"] = status
    primary = keys[query.SortBy]
    # Ties are broken by name so pages are stable.
    out.sort(key=lambda i: (primary(i), name(i).lower()), reverse=query.SortOrder == "Descending")
    return out


def _query_digest(query: ListInput) -> str:
    shape = query.model_dump(mode="json", exclude={"NextToken", "MaxResults"})
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]


def _encode_token(offset: int, digest: str) -> str:
    raw = json.dumps({"o": offset, "q": digest}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_token(token: str, digest: str) -> int:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        offset, query_digest = int(data["o"]), str(data["q"])
    except Exception:
        raise ValidationException(f"Invalid pagination token '{token[:64]}'.") from None
    if query_digest != digest or offset < 0:
        raise ValidationException(
            "The NextToken does not belong to this query; repeat the request with the same filters."
        )
    return offset


def page_body(key: str, items: list, token: str | None) -> dict:
    """A List*/Describe* response: ``{key: items}`` plus ``NextToken`` unless on the last page."""
    body: dict = {key: items}
    if token:
        body["NextToken"] = token
    return body
