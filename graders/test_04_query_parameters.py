"""Grader for chapter 04: query parameters for pagination, filters, flags and lists.

The checks compare item names against the catalogue the starter defines. Every
request that is not about pagination sets limit and leaves skip at 0, so a
mistake in skip or limit fails the pagination checks and no others.
"""

import math
import secrets
from typing import Any

import httpx

from apigrade.checks import (
    CheckFailed,
    describe_request,
    describe_response,
    expect_detail_locates,
    expect_status,
    json_body,
    same_json,
    show,
)

# Seconds the checks must wait for the app, one after another: none here,
# because no check requests a delay from the app. scripts/bench.py takes the
# floor from these.
WAIT_SECONDS = 0.0

# The catalogue as the starter defines it: (name, price, tags, in_stock), ids 1 to 25.
CATALOGUE: list[tuple[str, float, tuple[str, ...], bool]] = [
    ("apple", 0.5, ("fruit",), True),
    ("banana", 0.25, ("fruit",), True),
    ("strawberry", 3.5, ("fruit",), True),
    ("carrot", 0.75, ("vegetable",), True),
    ("milk", 1.25, ("dairy", "drink"), True),
    ("bread", 2.5, ("bakery",), True),
    ("blueberry", 4.0, ("fruit",), False),
    ("cheddar", 5.75, ("dairy",), True),
    ("spinach", 2.25, ("vegetable",), False),
    ("croissant", 1.5, ("bakery",), True),
    ("orange juice", 3.25, ("drink",), True),
    ("raspberry", 4.5, ("fruit",), True),
    ("yogurt", 1.0, ("dairy",), True),
    ("potato", 0.5, ("vegetable",), True),
    ("bagel", 1.25, ("bakery",), False),
    ("lemonade", 2.0, ("drink",), True),
    ("blackberry", 4.25, ("fruit",), False),
    ("butter", 2.75, ("dairy",), True),
    ("onion", 0.5, ("vegetable",), True),
    ("sourdough", 4.0, ("bakery",), True),
    ("sparkling water", 0.75, ("drink",), True),
    ("cranberry", 3.75, ("fruit",), True),
    ("cream cheese", 2.5, ("dairy",), False),
    ("tomato", 1.5, ("vegetable",), True),
    ("iced tea", 1.75, ("drink",), False),
]
NAMES = [name for name, _, _, _ in CATALOGUE]
ITEMS = [
    {"id": number, "name": name, "price": price, "tags": list(tags), "in_stock": stock}
    for number, (name, price, tags, stock) in enumerate(CATALOGUE, start=1)
]
IN_STOCK = [name for name, _, _, in_stock in CATALOGUE if in_stock]
OUT_OF_STOCK = [name for name, _, _, in_stock in CATALOGUE if not in_stock]

# Pages at the end of the catalogue, beyond the pages the other checks send:
# the last item alone, with the smallest limit, and the first skip past the
# end. skip has no maximum, so a skip at or past the end gets an empty list.
# The check also sends a random skip from len(CATALOGUE) + 1 up to but not
# including FAR_SKIP_MAX, new in every run.
END_PAGES = ((len(CATALOGUE) - 1, 1), (len(CATALOGUE), 10))
FAR_SKIP_MAX = 10**6
# The fixed pages have limits 1, 3, 6 and 10, and the other checks send 2, 10
# and 100. So the check also reads a page for each range here, drawn in every
# run, whose skip ends it before the last item.
DRAWN_LIMITS = (range(4, 10), range(11, len(CATALOGUE)))
# quantity has no maximum. The quote check requests quotes for the first item,
# the last item and a random item, new in every run. The random one gets a
# random quantity from LARGE_QUANTITY_MIN up to but not including
# LARGE_QUANTITY_MAX.
LARGE_QUANTITY_MIN = 101
LARGE_QUANTITY_MAX = 10**6
# Every id also gets a quote for a quantity from 1 to SMALL_QUANTITY_MAX, and
# one for a quantity above it, up to LARGE_QUANTITY_MIN - 1.
SMALL_QUANTITY_MAX = 9
# Ids that no item has, so a quote for each gets a 404. They are the first id
# past the catalogue and one far past it, because a route may make up quotes
# for unknown ids below a limit. The check also sends a random unknown id from
# len(CATALOGUE) + 1 up to but not including UNKNOWN_ID_MAX, new in every run.
UNKNOWN_ITEM_IDS = (len(CATALOGUE) + 1, 999)
UNKNOWN_ID_MAX = 10**6
# skip and quantity have no maximum, so the checks also send HUGE, far above
# any cap fitted to the random values. It is 10**18, the largest power of ten
# a signed 64-bit integer holds.
HUGE = 10**18
# Negative ids are unknown too, but ITEMS[item_id - 1] reads them from the end
# of the list. The check sends -1 and a random id from -1 down to
# -(UNKNOWN_ID_MAX - 1), new in every run.
NEGATIVE_ITEM_ID = -1

# Every tag of the catalogue. No name contains one, so ?q=dairy gets no items:
# q matches names, not tags.
TAGS = sorted({tag for _, _, tags, _ in CATALOGUE for tag in tags})
TAGS_IN_NO_NAME = [tag for tag in TAGS if not any(tag in name for name in NAMES)]
# q values made of regular expression syntax that no name contains as text.
# Read as a pattern, "." and "^b" match names, "berry+" matches the berries
# and "(" is invalid. The check also sends a random name with one character
# replaced by ".", new in every run.
Q_PATTERNS = (".", "(", "berry+", "^b", "a.*e", "[a-z]")
# Parts of tags that are not tags themselves, so ?tag=fru gets no items. The
# last is two tags joined as " ".join(item["tags"]) joins them. The check also
# sends a random part of a random tag, new in every run.
TAG_PARTS = ("fru", "air", "dairy drink")

# The spellings of a bool that FastAPI converts through Pydantic 2. Pydantic
# lowers the text before it compares, so each is read in any case
# (https://docs.pydantic.dev/2.3/usage/types/booleans/). The first three of
# each are the examples in the chapter's README.
TRUE_SPELLINGS = ("true", "1", "yes", "t", "y", "on")
FALSE_SPELLINGS = ("false", "0", "no", "f", "n", "off")
# Text that Pydantic does not read as a bool, each named in the README.
NOT_BOOL_SPELLINGS = ("maybe", "2", "", " true", "off ")


def in_other_cases(spellings: tuple[str, ...]) -> list[str]:
    """Return each spelling in upper case, title case and inverted title case.

    For true these are TRUE, True and tRUE. Each variant comes once, and a
    spelling without letters, such as 1, has no other case and is left out.
    """
    variants = [
        variant
        for spelling in spellings
        for variant in (
            spelling.upper(),
            spelling.title(),
            spelling.title().swapcase(),
        )
        if variant != spelling
    ]
    return list(dict.fromkeys(variants))


LIST_HINT = "Is there a route for GET /items/ that returns a slice of ITEMS, unchanged?"


def names_with_tags(*tags: str) -> list[str]:
    """Return the catalogue names, in order, of items with at least one of `tags`."""
    return [name for name, _, item_tags, _ in CATALOGUE if set(tags) & set(item_tags)]


ITEMS_BY_NAME = {item["name"]: item for item in ITEMS}


def random_name_pattern() -> str:
    """Return a random name with one character replaced by ".".

    As a regular expression it matches that name, and as text it is in no
    name, since no name contains a ".".
    """
    name = secrets.choice(NAMES)
    position = secrets.randbelow(len(name))
    return name[:position] + "." + name[position + 1 :]


def random_tag_part() -> str:
    """Return a random part of a random tag, shorter than the tag itself.

    No tag is part of another, so no item has the part as a tag.
    """
    tag = secrets.choice(TAGS)
    length = 1 + secrets.randbelow(len(tag) - 1)
    start = secrets.randbelow(len(tag) - length + 1)
    return tag[start : start + length]


def item_names(response: httpx.Response) -> list[str]:
    """Return the names of the items in a 200 list response, or fail with feedback.

    Every item named as one of ITEMS must be that dict, unchanged, whatever page
    or filter the request gives.
    """
    expect_status(response, 200, hint=LIST_HINT)
    body = json_body(response, hint=LIST_HINT)
    if not isinstance(body, list) or not all(
        isinstance(item, dict) and isinstance(item.get("name"), str) for item in body
    ):
        raise CheckFailed(
            "The response is not a list of items.",
            request=describe_request(response),
            expected='a JSON list of items such as [{"id": 1, "name": "apple", ...}]',
            actual=describe_response(response),
            hint=LIST_HINT,
        )
    for item in body:
        expected = ITEMS_BY_NAME.get(item["name"])
        if expected is not None and not same_json(item, expected):
            raise CheckFailed(
                "The items are not the dicts of ITEMS, unchanged.",
                request=describe_request(response),
                expected=f"item {expected['id']} as {show(expected)}",
                actual=f"item {expected['id']} as {show(item)}",
                hint="Does the route return the dicts of ITEMS as they are, with "
                "every field, for every page and filter, rather than build new "
                "ones?",
            )
    return [item["name"] for item in body]


def wrong_items(
    response: httpx.Response,
    expected: list[str],
    names: list[str],
    *,
    summary: str = "The response holds the wrong items.",
    hint: str | None = None,
) -> CheckFailed:
    """Build the failure for a list whose item names are not `expected`."""
    return CheckFailed(
        summary,
        request=describe_request(response),
        expected=f"the items named {show(expected)}",
        actual=f"status {response.status_code} with the items named {show(names)}",
        hint=hint,
    )


def operation_parameters(http: httpx.Client, path: str) -> tuple[set[str], bool]:
    """Return the query parameter names of GET `path` in the OpenAPI document, and
    whether that operation declares a request body."""
    response = http.get("/openapi.json")
    if response.status_code != 200:
        return set(), False
    spec = json_body(response)
    paths = spec.get("paths") if isinstance(spec, dict) else None
    path_item = paths.get(path) if isinstance(paths, dict) else None
    operation = path_item.get("get") if isinstance(path_item, dict) else None
    if not isinstance(operation, dict):
        return set(), False
    names = {
        str(parameter.get("name"))
        for parameter in operation.get("parameters", [])
        if isinstance(parameter, dict) and parameter.get("in") == "query"
    }
    return names, "requestBody" in operation


def test_limit_defaults_to_ten(http: httpx.Client) -> None:
    """GET /items/ without parameters returns the first ten items."""
    response = http.get("/items/")
    names = item_names(response)
    if names == []:
        raise wrong_items(
            response,
            NAMES[:10],
            names,
            summary="GET /items/ without parameters returned no items.",
            hint="What is limit's default? With a default of 0, a request without "
            "limit gets ITEMS[0:0], an empty page, where it should get ten items.",
        )
    if names != NAMES[:10]:
        raise wrong_items(
            response,
            NAMES[:10],
            names,
            hint="Are the defaults skip=0 and limit=10, so that a plain request "
            "gets ITEMS[0:10]?",
        )


def test_skip_and_limit_paginate(http: httpx.Client) -> None:
    """GET /items/?skip=5&limit=3 returns three items from the sixth, and so on.

    A skip past the last item, however large, returns an empty list.
    """
    far_skip = len(CATALOGUE) + 1 + secrets.randbelow(FAR_SKIP_MAX - len(CATALOGUE) - 1)
    pages = (
        (5, 3),
        (2, 6),
        (20, 10),
        *_drawn_pages(),
        *END_PAGES,
        (far_skip, 10),
        (HUGE, 10),
    )
    for skip, limit in pages:
        response = http.get("/items/", params={"skip": skip, "limit": limit})
        expected = NAMES[skip : skip + limit]
        if response.status_code == 422:
            raise CheckFailed(
                f"skip={skip} with limit={limit} was rejected, but both are valid.",
                request=describe_request(response),
                expected=f"status 200 with the items named {show(expected)}",
                actual=describe_response(response),
                hint="Is skip declared with Query(ge=0) alone, and limit with "
                "Query(ge=1, le=100)? skip has no maximum: a skip past the last "
                "item returns an empty list.",
            )
        names = item_names(response)
        if names == expected:
            continue
        if names == NAMES[skip:limit]:
            raise wrong_items(
                response,
                expected,
                names,
                summary=f"limit was used as an end index: the response is "
                f"items[{skip}:{limit}], not the {limit} items from index {skip}.",
                hint="Do you slice with items[skip:skip + limit]? limit counts "
                "items, and is not the index where the page ends.",
            )
        if names == NAMES[:limit]:
            raise wrong_items(
                response,
                expected,
                names,
                summary=f"skip={skip} was ignored: the page starts at the first item.",
                hint="Does the slice start at skip, as in items[skip:skip + limit]?",
            )
        raise wrong_items(
            response,
            expected,
            names,
            hint="Is the page items[skip:skip + limit], with both values read "
            "from the query string?",
        )


def _drawn_pages() -> list[tuple[int, int]]:
    """Draw a (skip, limit) page for each range of DRAWN_LIMITS.

    Each page ends before the last item, so its response has exactly `limit`
    items.
    """
    pages = []
    for limits in DRAWN_LIMITS:
        limit = secrets.choice(limits)
        pages.append((secrets.randbelow(len(CATALOGUE) - limit), limit))
    return pages


def test_limit_above_100_is_422(http: httpx.Client) -> None:
    """GET /items/?limit=100 returns every item, and limit=101 gets a 422."""
    response = http.get("/items/", params={"limit": 100})
    names = item_names(response)
    if names != NAMES:
        raise wrong_items(
            response,
            NAMES,
            names,
            hint="Is 100 itself an allowed limit: Query(le=100) rather than lt=100?",
        )
    expect_detail_locates(
        http.get("/items/", params={"limit": 101}),
        ["query", "limit"],
        hint="Is limit declared as Annotated[int, Query(le=100)], so FastAPI "
        "rejects larger values?",
    )


def test_out_of_range_values_are_422(http: httpx.Client) -> None:
    """Values below a lower bound, or not whole numbers, get a 422 naming them."""
    expect_detail_locates(
        http.get("/items/", params={"skip": -1}),
        ["query", "skip"],
        hint="Is skip declared with Query(ge=0)?",
    )
    expect_detail_locates(
        http.get("/items/", params={"limit": 0}),
        ["query", "limit"],
        hint="Is limit declared with Query(ge=1)?",
    )
    expect_detail_locates(
        http.get("/items/3/quote", params={"quantity": 0}),
        ["query", "quantity"],
        hint="Is quantity declared with Query(ge=1)?",
    )
    # skip, limit, quantity and item_id are ints: a fraction is not one, though
    # a float parameter would take it, and 4.0 in a body passes for 4.
    fractions: list[tuple[str, dict[str, Any], list[str | int]]] = [
        ("/items/", {"skip": "1.5"}, ["query", "skip"]),
        ("/items/", {"limit": "2.5"}, ["query", "limit"]),
        ("/items/3/quote", {"quantity": "2.5"}, ["query", "quantity"]),
        ("/items/3.5/quote", {"quantity": 1}, ["path", "item_id"]),
    ]
    for path, params, location in fractions:
        expect_detail_locates(
            http.get(path, params=params),
            location,
            hint=f"Is {location[1]} annotated as int, not float? A fraction is "
            "then a 422.",
        )


def test_q_filters_by_name(http: httpx.Client) -> None:
    """GET /items/?q=... returns only the items whose name contains q."""
    # "an" is inside four names and at the start or end of none.
    response = http.get("/items/", params={"q": "an", "limit": 100})
    names = item_names(response)
    inside = [name for name in NAMES if "an" in name]
    if names != inside:
        raise wrong_items(
            response,
            inside,
            names,
            hint="Does the route keep the items whose name contains q anywhere "
            '(`q in item["name"]`), not only at its start or end?',
        )
    expected = [name for name in NAMES if "berry" in name]
    response = http.get("/items/", params={"q": "berry", "limit": 10})
    names = item_names(response)
    if names == [name for name in NAMES[:10] if "berry" in name]:
        raise wrong_items(
            response,
            expected,
            names,
            summary="The items were filtered after the page was taken, so berries "
            "beyond the first ten items are missing.",
            hint="Do you filter ITEMS by q first, and slice with skip and limit last?",
        )
    if names != expected:
        raise wrong_items(
            response,
            expected,
            names,
            hint="Does the route keep only the items whose name contains q "
            '(`q in item["name"]`) when q is given?',
        )
    # q is plain text found in the name. So a tag, or a regular expression,
    # that no name contains as text gets an empty list and never an error.
    for q in (*TAGS_IN_NO_NAME, *Q_PATTERNS, random_name_pattern()):
        response = http.get("/items/", params={"q": q, "limit": 100})
        if response.status_code == 200 and item_names(response) == []:
            continue
        raise CheckFailed(
            f"q={q} is in no item's name, but the response is not an empty list.",
            request=describe_request(response),
            expected="status 200 with an empty list",
            actual=describe_response(response),
            hint="Do you keep the items whose name contains q as plain text, `q in "
            'item["name"]`? A search in the tags too, or a regular expression such '
            "as re.search(q, ...), matches items whose name does not contain q, and "
            "an invalid pattern such as ( raises an error.",
        )


def test_in_stock_accepts_usual_spellings(http: httpx.Client) -> None:
    """The in_stock filter reads every spelling of a bool that Pydantic reads."""
    # The lower-case spellings come first. So an app that compares the text
    # with "true" fails on 1, and one that misses a spelling fails on that
    # spelling rather than on one of its other cases.
    cases = (
        [(spelling, IN_STOCK) for spelling in TRUE_SPELLINGS]
        + [(spelling, OUT_OF_STOCK) for spelling in FALSE_SPELLINGS]
        + [(spelling, IN_STOCK) for spelling in in_other_cases(TRUE_SPELLINGS)]
        + [(spelling, OUT_OF_STOCK) for spelling in in_other_cases(FALSE_SPELLINGS)]
    )
    for spelling, expected in cases:
        response = http.get("/items/", params={"in_stock": spelling, "limit": 100})
        if response.status_code == 422:
            raise CheckFailed(
                f"in_stock={spelling} was rejected.",
                request=describe_request(response),
                expected="status 200 with the matching items",
                actual=describe_response(response),
                hint="Is in_stock annotated as `bool | None`? FastAPI then accepts "
                "true/false, t/f, yes/no, y/n, on/off and 1/0, in any case. A "
                "Literal of a few of those words rejects the rest.",
            )
        names = item_names(response)
        if names == NAMES:
            raise wrong_items(
                response,
                expected,
                names,
                summary=f"in_stock={spelling} was ignored: every item came back.",
                hint='Does the route keep only the items whose "in_stock" equals '
                "in_stock when it is given?",
            )
        if names != expected:
            raise wrong_items(
                response,
                expected,
                names,
                summary=f"in_stock={spelling} selected the wrong items.",
                hint="Is in_stock annotated as `bool | None`, so that FastAPI "
                "converts the text to True or False? Comparing the text with "
                '"true" misses 1, yes and the other spellings, in every case.',
            )
    for invalid in NOT_BOOL_SPELLINGS:
        expect_detail_locates(
            http.get("/items/", params={"in_stock": invalid, "limit": 100}),
            ["query", "in_stock"],
            hint="Is in_stock annotated as `bool | None`, so FastAPI rejects text "
            "that is not a boolean, such as 2, an empty value or a spelling with a "
            "space around it?",
        )


def test_tag_reads_repeated_keys(http: httpx.Client) -> None:
    """GET /items/?tag=dairy&tag=bakery returns the items with either tag."""
    # Milk has both dairy and drink, and comes back once.
    for tags in (("bakery",), ("dairy", "bakery"), ("dairy", "drink")):
        response = http.get("/items/", params={"tag": list(tags), "limit": 100})
        expected = names_with_tags(*tags)
        names = item_names(response)
        if names == expected:
            continue
        query_parameters, has_body = operation_parameters(http, "/items/")
        if names == NAMES and has_body and "tag" not in query_parameters:
            raise wrong_items(
                response,
                expected,
                names,
                summary="tag is read from the request body, not from the query "
                "string, so ?tag=... is ignored. FastAPI reads a list parameter "
                "declared without Query() from the body.",
                hint="Is tag declared as Annotated[list[str] | None, Query()] = None?",
            )
        if names == NAMES:
            raise wrong_items(
                response,
                expected,
                names,
                summary="The tag parameter was ignored: every item came back.",
                hint="Does the route keep only the items that have one of the tags "
                "when tag is given?",
            )
        if len(tags) > 1 and names in [names_with_tags(tag) for tag in tags]:
            raise wrong_items(
                response,
                expected,
                names,
                summary="Only one of the repeated tag values was used.",
                hint="Is tag annotated as a list, Annotated[list[str] | None, "
                "Query()], so FastAPI collects every ?tag=... value?",
            )
        raise wrong_items(
            response,
            expected,
            names,
            hint="Does the route keep the items that have at least one of the "
            "given tags, in catalogue order?",
        )
    # A tag matches a whole tag of the item, never part of one.
    for part in (*TAG_PARTS, random_tag_part()):
        response = http.get("/items/", params={"tag": part, "limit": 100})
        names = item_names(response)
        if names != []:
            raise wrong_items(
                response,
                [],
                names,
                summary=f"tag={part} matched items, but no item has that tag: it "
                "is only part of a tag or of the tags joined.",
                hint="Does the route compare each requested tag with the item's "
                'tags as whole values, `set(tag) & set(item["tags"])`, rather than '
                "look for the text inside them?",
            )
    # A tag matches as written: a real tag in upper case or with a space
    # before it is no tag of any item.
    tag = secrets.choice(TAGS)
    for altered in (tag.upper(), f" {tag}"):
        response = http.get("/items/", params={"tag": altered, "limit": 100})
        names = item_names(response)
        if names != []:
            raise wrong_items(
                response,
                [],
                names,
                summary=f"tag={altered!r} matched the items tagged {tag!r}, but "
                "a tag matches only as written, case and spaces too.",
                hint="Does the route compare each requested tag with the item's "
                "tags exactly as sent, without lower-casing or stripping it?",
            )


def test_filters_combine_before_paging(http: httpx.Client) -> None:
    """Filters given together all apply, and the page is taken after them."""
    # Each page is one that items[skip:limit] gets right too, so a mistake in
    # the slice fails the pagination checks alone.
    cases: list[tuple[dict[str, Any], list[str]]] = [
        (
            {"q": "berry", "in_stock": "true", "limit": 2},
            [name for name in IN_STOCK if "berry" in name][:2],
        ),
        (
            {"tag": "fruit", "in_stock": "false", "limit": 2},
            [name for name in names_with_tags("fruit") if name in OUT_OF_STOCK][:2],
        ),
        ({"tag": "dairy", "limit": 2}, names_with_tags("dairy")[:2]),
        # The name and the tag together: "an" is in banana and croissant too.
        (
            {"q": "an", "tag": "drink", "limit": 100},
            [name for name in names_with_tags("drink") if "an" in name],
        ),
        # A limit past the end makes items[skip:limit] the same page, so only
        # skipping before the filters fails here.
        (
            {"q": "berry", "skip": 1, "limit": 100},
            [name for name in NAMES if "berry" in name][1:],
        ),
    ]
    for params, expected in cases:
        response = http.get("/items/", params=params)
        names = item_names(response)
        if names != expected:
            raise wrong_items(
                response,
                expected,
                names,
                hint="Does each filter that is given narrow the list further (not "
                "only the first one), and do skip and limit take the page from "
                "what all the filters kept?",
            )


def test_missing_quantity_is_422(http: httpx.Client) -> None:
    """GET /items/3/quote without quantity gets a 422 that names quantity."""
    response = http.get("/items/3/quote")
    if response.status_code == 200:
        raise CheckFailed(
            "A quote without quantity was accepted, but quantity is required.",
            request=describe_request(response),
            expected='status 422 with a detail entry with loc ["query", "quantity"]',
            actual=describe_response(response),
            hint="Does quantity have a default? A query parameter without one is "
            "required.",
        )
    expect_detail_locates(
        response,
        ["query", "quantity"],
        hint="Is there a route for GET /items/{item_id}/quote whose quantity "
        "parameter is an int without a default?",
    )


def test_quote_uses_quantity(http: httpx.Client) -> None:
    """A quote's total is the item's price times quantity, and 404 for no item."""
    response = http.get("/items/3/quote", params={"quantity": 4})
    hint = (
        'Does the route return {"item_id": ..., "quantity": ..., "total": ...} '
        "with total = price * quantity?"
    )
    expect_status(response, 200, hint=hint)
    body: Any = json_body(response, hint=hint)
    total = body.get("total") if isinstance(body, dict) else None
    if (
        not isinstance(body, dict)
        or body.get("item_id") != 3
        or body.get("quantity") != 4
        or not isinstance(total, (int, float))
        or not math.isclose(total, 14.0, abs_tol=0.005)
    ):
        raise CheckFailed(
            "The quote is not the expected one.",
            request=describe_request(response),
            expected='{"item_id": 3, "quantity": 4, "total": 14.0}',
            actual=describe_response(response),
            hint=hint,
        )
    response = http.get("/items/8/quote", params={"quantity": 2})
    expect_status(response, 200, hint=hint)
    body = json_body(response, hint=hint)
    total = body.get("total") if isinstance(body, dict) else None
    if not isinstance(total, (int, float)) or not math.isclose(
        total, 11.5, abs_tol=0.005
    ):
        raise CheckFailed(
            "The quote for another item does not use that item's price.",
            request=describe_request(response),
            expected='{"item_id": 8, "quantity": 2, "total": 11.5}, cheddar at 5.75',
            actual=describe_response(response),
            hint="Does the route look the item up in ITEMS by item_id and use its "
            "price?",
        )
    expect_status(
        http.get("/items/0/quote", params={"quantity": 1}),
        404,
        hint="Does the route look for an item whose id equals item_id? ITEMS[0 - 1] "
        "is the last item, not a missing one.",
    )
    first_unknown_id = len(CATALOGUE) + 1
    random_id = first_unknown_id + secrets.randbelow(UNKNOWN_ID_MAX - first_unknown_id)
    for item_id in (*UNKNOWN_ITEM_IDS, random_id):
        expect_status(
            http.get(f"/items/{item_id}/quote", params={"quantity": 1}),
            404,
            hint="Does the route raise HTTPException(status_code=404) when no item "
            f"has the id? ITEMS has ids 1 to {len(CATALOGUE)}, and every other id "
            "is unknown.",
        )
    random_negative_id = -1 - secrets.randbelow(UNKNOWN_ID_MAX - 1)
    for item_id in (NEGATIVE_ITEM_ID, random_negative_id):
        expect_status(
            http.get(f"/items/{item_id}/quote", params={"quantity": 1}),
            404,
            hint="Does the route look for an item whose id equals item_id? With a "
            "negative id, ITEMS[item_id - 1] is an item counted from the end of "
            "the list, not a missing one.",
        )
    random_item_id = 1 + secrets.randbelow(len(CATALOGUE))
    large_quantity = LARGE_QUANTITY_MIN + secrets.randbelow(
        LARGE_QUANTITY_MAX - LARGE_QUANTITY_MIN
    )
    quotes = [
        (1, 1),
        (len(CATALOGUE), 2),
        (random_item_id, large_quantity),
        (random_item_id, HUGE),
    ]
    # Then every id, since each has a quote, with a small quantity and a
    # larger one drawn for each one in every run.
    for item_id in range(1, len(CATALOGUE) + 1):
        quotes += [
            (item_id, 1 + secrets.randbelow(SMALL_QUANTITY_MAX)),
            (
                item_id,
                secrets.choice(range(SMALL_QUANTITY_MAX + 1, LARGE_QUANTITY_MIN)),
            ),
        ]
    for item_id, quantity in quotes:
        _expect_quote(http, item_id, quantity)


def _expect_quote(http: httpx.Client, item_id: int, quantity: int) -> None:
    """Fail unless GET /items/{item_id}/quote?quantity=... returns the right quote.

    `item_id` is one of the catalogue's ids, and `quantity` is 1 or more.
    """
    response = http.get(f"/items/{item_id}/quote", params={"quantity": quantity})
    _, price, _, _ = CATALOGUE[item_id - 1]
    expected = {"item_id": item_id, "quantity": quantity, "total": price * quantity}
    if response.status_code == 422:
        raise CheckFailed(
            f"quantity={quantity} was rejected, but quantity has no maximum.",
            request=describe_request(response),
            expected=f"status 200 with {show(expected)}",
            actual=describe_response(response),
            hint="Is quantity declared with Query(ge=1) alone? Every quantity of "
            "1 or more is valid, however large.",
        )
    if response.status_code == 404:
        raise CheckFailed(
            f"The quote for item {item_id}, which exists, got a 404.",
            request=describe_request(response),
            expected=f"status 200 with {show(expected)}",
            actual=describe_response(response),
            hint="Does the route look through all of ITEMS for the item whose id "
            f"equals item_id? Ids 1 to {len(CATALOGUE)} all exist, the first and "
            "the last included.",
        )
    hint = (
        'Does the route return {"item_id": ..., "quantity": ..., "total": ...} '
        "with total = price * quantity, for every item and quantity?"
    )
    expect_status(response, 200, hint=hint)
    body = json_body(response, hint=hint)
    total = body.get("total") if isinstance(body, dict) else None
    if (
        not isinstance(body, dict)
        or body.get("item_id") != item_id
        or body.get("quantity") != quantity
        or not isinstance(total, (int, float))
        or not math.isclose(total, expected["total"], abs_tol=0.005)
    ):
        raise CheckFailed(
            "The quote is not the expected one.",
            request=describe_request(response),
            expected=show(expected),
            actual=describe_response(response),
            hint=hint,
        )
