"""List* filtering, ordering and NextToken pagination."""

import base64
import json
from dataclasses import dataclass
from datetime import datetime, timezone

import pytest

from serverless_ray.errors import ValidationException
from serverless_ray.spec.listing import ListEndpointsInput, ListInput, filter_and_sort, paginate


@dataclass(frozen=True)
class Item:
    name: str
    created: float
    modified: float
    status: str


ITEMS = [
    Item("alpha", created=100.0, modified=500.0, status="InService"),
    Item("Bravo", created=300.0, modified=300.0, status="Failed"),
    Item("charlie-ALPHA", created=200.0, modified=400.0, status="Creating"),
    Item("delta", created=400.0, modified=600.0, status="InService"),
]


def ts(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def endpoints(**query) -> list[str]:
    result = filter_and_sort(
        ITEMS,
        ListEndpointsInput(**query),
        name=lambda i: i.name,
        created=lambda i: i.created,
        modified=lambda i: i.modified,
        status=lambda i: i.status,
    )
    return [i.name for i in result]


def models(**query) -> list[str]:
    result = filter_and_sort(ITEMS, ListInput(**query), name=lambda i: i.name, created=lambda i: i.created)
    return [i.name for i in result]


# --- filters --------------------------------------------------------------------------


def test_default_order_is_newest_first():
    assert models() == ["delta", "Bravo", "charlie-ALPHA", "alpha"]


@pytest.mark.parametrize("needle", ["alpha", "ALPHA", "AlPhA"])
def test_name_contains_is_case_insensitive(needle):
    assert models(NameContains=needle, SortBy="Name", SortOrder="Ascending") == ["alpha", "charlie-ALPHA"]


def test_name_contains_without_match_gives_nothing():
    assert models(NameContains="zulu") == []


def test_creation_time_before_is_exclusive():
    assert models(CreationTimeBefore=ts(300), SortOrder="Ascending") == ["alpha", "charlie-ALPHA"]


def test_creation_time_after_is_inclusive():
    assert models(CreationTimeAfter=ts(300), SortOrder="Ascending") == ["Bravo", "delta"]


def test_creation_time_window():
    assert models(CreationTimeAfter=ts(200), CreationTimeBefore=ts(400), SortOrder="Ascending") == [
        "charlie-ALPHA", "Bravo",
    ]


def test_last_modified_before_is_exclusive():
    assert endpoints(LastModifiedTimeBefore=ts(500), SortBy="Name", SortOrder="Ascending") == [
        "Bravo", "charlie-ALPHA",
    ]


def test_last_modified_after_is_inclusive():
    assert endpoints(LastModifiedTimeAfter=ts(500), SortBy="Name", SortOrder="Ascending") == ["alpha", "delta"]


def test_status_equals():
    assert endpoints(StatusEquals="InService", SortBy="Name", SortOrder="Ascending") == ["alpha", "delta"]
    assert endpoints(StatusEquals="Deleting") == []


def test_filters_combine():
    assert endpoints(NameContains="a", StatusEquals="InService", CreationTimeAfter=ts(150)) == ["delta"]


def test_modified_filters_are_ignored_for_listings_without_modified_time():
    result = filter_and_sort(
        ITEMS, ListEndpointsInput(LastModifiedTimeAfter=ts(10_000)), name=lambda i: i.name, created=lambda i: i.created
    )
    assert len(result) == len(ITEMS)


def test_input_sequence_is_not_mutated():
    items = list(ITEMS)
    models(SortBy="Name")
    filter_and_sort(items, ListInput(SortBy="Name"), name=lambda i: i.name, created=lambda i: i.created)
    assert items == ITEMS


# --- ordering -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sort_by, order, expected",
    [
        ("Name", "Ascending", ["alpha", "Bravo", "charlie-ALPHA", "delta"]),
        ("Name", "Descending", ["delta", "charlie-ALPHA", "Bravo", "alpha"]),
        ("CreationTime", "Ascending", ["alpha", "charlie-ALPHA", "Bravo", "delta"]),
        ("CreationTime", "Descending", ["delta", "Bravo", "charlie-ALPHA", "alpha"]),
        # Creating < Failed < InService; ties broken by name
        ("Status", "Ascending", ["charlie-ALPHA", "Bravo", "alpha", "delta"]),
        ("Status", "Descending", ["delta", "alpha", "Bravo", "charlie-ALPHA"]),
    ],
)
def test_sorting(sort_by, order, expected):
    assert endpoints(SortBy=sort_by, SortOrder=order) == expected


def test_name_sort_is_case_insensitive():
    # a plain str sort would put "Bravo" before "alpha"
    assert models(SortBy="Name", SortOrder="Ascending")[:2] == ["alpha", "Bravo"]


def test_equal_creation_times_are_ordered_by_name():
    items = [Item(n, 1.0, 1.0, "InService") for n in ["c", "A", "b"]]
    result = filter_and_sort(items, ListInput(SortOrder="Ascending"), name=lambda i: i.name, created=lambda i: i.created)
    assert [i.name for i in result] == ["A", "b", "c"]


# --- pagination -----------------------------------------------------------------------


NUMBERS = list(range(23))


def test_first_page_and_token():
    page, token = paginate(NUMBERS, ListInput(MaxResults=10))
    assert page == list(range(10))
    assert isinstance(token, str) and token


def test_single_page_has_no_token():
    page, token = paginate(NUMBERS, ListInput(MaxResults=100))
    assert page == NUMBERS
    assert token is None


def test_exactly_full_last_page_has_no_token():
    page, token = paginate(list(range(10)), ListInput(MaxResults=10))
    assert page == list(range(10))
    assert token is None


def test_empty_listing():
    assert paginate([], ListInput()) == ([], None)


@pytest.mark.parametrize("page_size", [1, 5, 10, 22, 23])
def test_walking_all_pages_yields_every_item_once(page_size):
    query = {"NameContains": "x", "SortBy": "Name", "MaxResults": page_size}
    seen, token, pages = [], None, 0
    while True:
        page, token = paginate(NUMBERS, ListInput(**query, NextToken=token))
        pages += 1
        assert 0 < len(page) <= page_size
        seen.extend(page)
        if token is None:
            break
    assert seen == NUMBERS
    assert pages == -(-len(NUMBERS) // page_size)


def test_last_page_is_partial_and_has_no_token():
    _, token = paginate(NUMBERS, ListInput(MaxResults=10))
    _, token = paginate(NUMBERS, ListInput(MaxResults=10, NextToken=token))
    page, token = paginate(NUMBERS, ListInput(MaxResults=10, NextToken=token))
    assert page == [20, 21, 22]
    assert token is None


def test_page_size_may_change_between_pages():
    _, token = paginate(NUMBERS, ListInput(MaxResults=5))
    page, _ = paginate(NUMBERS, ListInput(MaxResults=3, NextToken=token))
    assert page == [5, 6, 7]


@pytest.mark.parametrize(
    "other",
    [
        {"NameContains": "other"},
        {"SortBy": "Name"},
        {"SortOrder": "Ascending"},
        {"CreationTimeAfter": 5},
    ],
)
def test_token_from_a_different_query_is_rejected(other):
    _, token = paginate(NUMBERS, ListInput(MaxResults=5))
    with pytest.raises(ValidationException) as info:
        paginate(NUMBERS, ListInput(MaxResults=5, NextToken=token, **other))
    assert "The NextToken does not belong to this query" in info.value.message
    assert info.value.status == 400


def test_token_from_a_models_listing_is_rejected_for_endpoints():
    _, token = paginate(NUMBERS, ListInput(MaxResults=5))
    with pytest.raises(ValidationException, match="does not belong to this query"):
        paginate(NUMBERS, ListEndpointsInput(MaxResults=5, NextToken=token))


def _b64(obj) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode()


@pytest.mark.parametrize(
    "token",
    ["garbage", "not base64 !!!", _b64("just a string"), _b64({"o": 5}), _b64({"o": "five", "q": "x"}),
     base64.urlsafe_b64encode(b"\xff\xfe").decode()],
)
def test_garbage_token_is_rejected(token):
    with pytest.raises(ValidationException) as info:
        paginate(NUMBERS, ListInput(NextToken=token))
    assert info.value.message == f"Invalid pagination token '{token[:64]}'."


def test_token_with_negative_offset_is_rejected():
    _, token = paginate(NUMBERS, ListInput(MaxResults=5))
    data = json.loads(base64.urlsafe_b64decode(token))
    data["o"] = -1
    with pytest.raises(ValidationException, match="does not belong to this query"):
        paginate(NUMBERS, ListInput(MaxResults=5, NextToken=_b64(data)))
