"""Grader for chapter 02: one in-memory resource behind every HTTP method.

All checks share one running app, which starts with no items, and pytest runs
them in file order. Every POST and DELETE goes through post_item and
delete_item, which update `stored_ids`, so the checks that read GET /items/ know
which items the app should list at that point. post_item also records every id
the app issued in `issued_ids`, so a check can pick ids that were never issued.
"""

import secrets
from typing import Any

import httpx

from apigrade.checks import (
    JSON_ERRORS,
    CheckFailed,
    describe_request,
    describe_response,
    expect_detail_locates,
    expect_status,
    json_body,
    same_json,
    show,
)

CREATE_HINT = (
    'Is create_item decorated with @app.post("/items/", status_code=201) and does '
    "it return the stored item with its id?"
)

# Bodies that ItemIn must reject, each with the loc of the field it gets wrong.
INVALID_ITEMS: list[tuple[dict[str, Any], list[str | int]]] = [
    ({"name": "Nail"}, ["body", "price"]),
    ({"price": 2.5}, ["body", "name"]),
    ({"name": "Nail", "price": "abc"}, ["body", "price"]),
    ({"name": ["Nail"], "price": 2.5}, ["body", "name"]),
]

# Bodies that ItemPatch must reject. Name and price may be left out of a PATCH
# but not sent as null, because a stored item always has both.
INVALID_CHANGES: list[tuple[dict[str, Any], list[str | int]]] = [
    ({"price": "abc"}, ["body", "price"]),
    ({"price": [1]}, ["body", "price"]),
    ({"description": 5}, ["body", "description"]),
    ({"price": None}, ["body", "price"]),
    ({"name": None}, ["body", "name"]),
]

# Valid PATCH bodies, sent one after another to the same item. Each must
# change exactly the fields it contains, whether one or several. The check
# sends a null description after these.
VALID_CHANGES: list[dict[str, Any]] = [
    {"price": 3.25},
    {"name": "Tack hammer"},
    {"name": "Claw hammer", "price": 12.0},
    {"description": "Forged steel head"},
    {"name": "Framing hammer", "price": 15.5, "description": "Long handle"},
]

CREATE_BODY_HINT = (
    "Does create_item take `item: ItemIn`, a model in which name and price have "
    "no default, rather than a dict? FastAPI then checks every field's type "
    "before the function runs."
)
BODY_ID_HINT = (
    "Is the id taken only from the path (or, for a new item, from next_id)? "
    "ItemIn and ItemPatch have no id field, so Pydantic ignores an id in the "
    "body unless the route reads the body as a dict."
)

# Seconds the checks must wait for the app, one after another: none here,
# because no check requests a delay from the app. scripts/bench.py takes the
# floor from these.
WAIT_SECONDS = 0.0

# Ids of the items the app should store now. post_item adds an id when
# POST /items/ returns 201, and delete_item removes it when DELETE returns 204.
stored_ids: set[int] = set()
# Ids of every item POST /items/ created, deleted items included.
issued_ids: set[int] = set()

# An id that no check creates, sent to every route for a missing item.
UNKNOWN_ID = 987654
# Items list_items_includes_created creates before it reads the list, a count
# drawn in every run: more than a page size such as 100, so a list cut to a
# page loses the items created last.
FILLER_ITEMS_MIN = 101
FILLER_ITEMS_MAX = 150
# The hidden check also sends PUT, PATCH and DELETE to two ids that no POST
# issued, new in every run, so an app that returns 404 only for UNKNOWN_ID, or
# only above some bound, still fails. The near one is the next id the counter
# would give plus a random offset below NEAR_ID_SPREAD. The large one lies
# between LARGE_ID_MIN and LARGE_ID_MAX, above UNKNOWN_ID.
NEAR_ID_SPREAD = 50
LARGE_ID_MIN = 10**6
LARGE_ID_MAX = 10**12

# Bodies that the hidden check sends with PUT and PATCH to a missing id.
MISSING_ITEM_BODIES: dict[str, dict[str, Any]] = {
    "PUT": {"name": "Ghost", "price": 1.0},
    "PATCH": {"price": 1.0},
}
MISSING_ITEM_HINTS = {
    "GET": "Does read_item raise HTTPException(status_code=404) when the id is "
    "not in the items dict?",
    "PUT": "Does replace_item look the id up, as find_item does, and raise a 404 "
    "before it stores anything, whatever the id? PUT replaces an item that "
    "exists: only POST creates one.",
    "PATCH": "Does update_item look the id up with find_item, and raise a 404 "
    "before it changes anything, whatever the id?",
    "DELETE": "Does delete_item raise a 404 when the id is not stored, rather "
    "than answer 204 whatever the id?",
}


def post_item(http: httpx.Client, body: Any) -> httpx.Response:
    """POST `body` to /items/ and add the id of any item created to stored_ids."""
    response = http.post("/items/", json=body)
    if response.status_code == 201:
        try:
            created = response.json()
        except JSON_ERRORS:
            created = None
        if isinstance(created, dict) and isinstance(created.get("id"), int):
            stored_ids.add(created["id"])
            issued_ids.add(created["id"])
    return response


def delete_item(http: httpx.Client, item_id: int) -> httpx.Response:
    """DELETE /items/{item_id} and drop the id from stored_ids on a 204."""
    response = http.delete(f"/items/{item_id}")
    if response.status_code == 204:
        stored_ids.discard(item_id)
    return response


def create_item(http: httpx.Client, **fields: Any) -> dict[str, Any]:
    """POST an item and return the created item, failing with feedback if it can't."""
    body = {"name": "Hammer", "price": 9.5, **fields}
    response = post_item(http, body)
    expect_status(response, 201, hint=CREATE_HINT)
    item = json_body(response)
    if not isinstance(item, dict) or not isinstance(item.get("id"), int):
        raise CheckFailed(
            "The created item has no integer id.",
            request=describe_request(response),
            expected='the item with an "id" field, for example {"id": 1, ...}',
            actual=describe_response(response),
            hint=CREATE_HINT,
        )
    for key, value in body.items():
        if item.get(key) != value:
            raise CheckFailed(
                f"The created item's {key!r} is not the value sent.",
                request=describe_request(response),
                expected=f"{key} = {show(value)}",
                actual=describe_response(response),
                hint="Does create_item store every field of the request body?",
            )
    return item


def read_item(http: httpx.Client, item_id: int) -> httpx.Response:
    return http.get(f"/items/{item_id}")


def unused_id(item: dict[str, Any]) -> int:
    """Return an id far past `item`'s, which no item created by the checks has."""
    return int(item["id"]) + 1000


def expect_nothing_stored_at(
    http: httpx.Client, sent: httpx.Response, item_id: int
) -> None:
    """Fail if GET /items/{item_id} returns an item after the request `sent`."""
    response = read_item(http, item_id)
    try:
        body = response.json()
    except JSON_ERRORS:
        body = None
    # Only an item in the body fails here, because missing_item_returns_404
    # judges whether an unknown id gets a 404.
    if response.status_code == 200 and isinstance(body, dict) and "name" in body:
        raise CheckFailed(
            f"An item was stored under the id {item_id} sent in the request body.",
            request=f"{describe_request(sent)}, then {describe_request(response)}",
            expected="no item under that id: the id in the path is the only one "
            "that counts",
            actual=describe_response(response),
            hint=BODY_ID_HINT,
        )


def expect_rejected(
    http: httpx.Client,
    response: httpx.Response,
    location: list[str | int],
    item: dict[str, Any],
    hint: str,
) -> None:
    """Fail unless the response is a 422 locating `location` and `item` is unchanged."""
    expect_detail_locates(response, location, hint=hint)
    stored = read_item(http, item["id"])
    if stored.status_code != 200 or not same_json(json_body(stored), item):
        raise CheckFailed(
            "The request was rejected with 422, but the item changed anyway.",
            request=f"{describe_request(response)}, then {describe_request(stored)}",
            expected=f"status 200 with the item as it was: {show(item)}",
            actual=describe_response(stored),
            hint="Does the route change the stored item only after FastAPI has "
            "validated the request body against the model?",
        )


def expect_stored_items_listed(
    http: httpx.Client, listed: httpx.Response, request: str
) -> None:
    """Fail unless the list in `listed` has each stored item once, and nothing else.

    Each entry must also equal what GET /items/{id} returns for it. `request`
    describes the requests that led to the list, for the feedback. The ids
    are compared first, so the GETs are at most one per stored item.
    """
    body = json_body(listed)
    if not isinstance(body, list):
        return
    seen: set[int] = set()
    for entry in body:
        entry_id = entry.get("id") if isinstance(entry, dict) else None
        if not isinstance(entry_id, int):
            raise CheckFailed(
                "The list has an entry without an integer id.",
                request=request,
                expected="a list of items, each with its id",
                actual=f"the entry {show(entry)} in {describe_response(listed)}",
                hint="Does list_items return list(items.values()), the stored "
                "Item models?",
            )
        if entry_id in seen:
            raise CheckFailed(
                f"The list has the item with id {entry_id} more than once.",
                request=request,
                expected=f"each of the {len(stored_ids)} stored items once",
                actual=describe_response(listed),
                hint="Does list_items return list(items.values()), so that each "
                "stored item is in the list once?",
            )
        if entry_id not in stored_ids:
            raise CheckFailed(
                f"The list has an item with id {entry_id}, which no POST /items/ "
                "created, or which a DELETE removed.",
                request=request,
                expected=f"only the stored items, with ids {sorted(stored_ids)}",
                actual=f"the entry {show(entry)} in {describe_response(listed)}",
                hint="Does list_items return only the items in the items dict, as "
                "list(items.values()), rather than adding items of its own? And "
                "does each stored item keep the id it was created with, whatever "
                "id a PUT or PATCH body sends?",
            )
        seen.add(entry_id)
    left_out = sorted(stored_ids - seen)
    if left_out:
        raise CheckFailed(
            f"The list leaves out the stored items with ids {left_out}.",
            request=request,
            expected=f"all {len(stored_ids)} stored items, ids {sorted(stored_ids)}",
            actual=describe_response(listed),
            hint="Does list_items return every value of the items dict, built at "
            "the time of the request?",
        )
    for entry in body:
        response = read_item(http, entry["id"])
        if response.status_code != 200 or not same_json(json_body(response), entry):
            raise CheckFailed(
                f"The list's item with id {entry['id']} is not what "
                f"GET /items/{entry['id']} returns.",
                request=f"{request}, then {describe_request(response)}",
                expected=f"status 200 with {show(entry)}",
                actual=describe_response(response),
                hint="Do list_items and read_item both return the items stored in "
                "the items dict, as they are now?",
            )


def read_other_items(http: httpx.Client, item_id: int) -> dict[int, httpx.Response]:
    """GET every stored item but `item_id`, and return the responses by id."""
    return {
        other_id: read_item(http, other_id)
        for other_id in sorted(stored_ids - {item_id})
    }


def expect_others_unchanged(
    http: httpx.Client,
    before: dict[int, httpx.Response],
    request: str,
    hint: str,
) -> None:
    """Fail unless each item in `before` still returns what it returned then.

    `before` comes from read_other_items, and `request` describes the requests
    sent since then, for the feedback.
    """
    for other_id, earlier in before.items():
        now = read_item(http, other_id)
        if now.status_code == earlier.status_code and now.content == earlier.content:
            continue
        raise CheckFailed(
            f"The item with id {other_id} changed, although no request was sent "
            "to its id.",
            request=f"{request}, then {describe_request(now)}",
            expected=f"the item as it was: {describe_response(earlier)}",
            actual=describe_response(now),
            hint=hint,
        )


def expect_item(response: httpx.Response, expected: dict[str, Any], hint: str) -> None:
    expect_status(response, 200, hint=hint)
    body = json_body(response)
    if not same_json(body, expected):
        raise CheckFailed(
            "The item returned is not the expected one.",
            request=describe_request(response),
            expected=show(expected),
            actual=describe_response(response),
            hint=hint,
        )


def test_create_item_returns_201(http: httpx.Client) -> None:
    """POST /items/ returns 201 with the item and its id, and 422 for an invalid body.

    An item sent without a description is stored with description null, and
    an id in the body is ignored: the new item gets an id of its own.
    """
    item = create_item(http, description="Claw hammer")
    plain = create_item(http, name="Mallet")
    no_description_hint = (
        "Does create_item store the request body as it came? ItemIn's "
        "description defaults to None, so an item sent without one is stored "
        "with null, not a text the client never sent."
    )
    expected = {**plain, "description": None}
    if plain != expected:
        raise CheckFailed(
            "An item created without a description did not come back with "
            "description null.",
            request='POST /items/ with body {"name": "Mallet", "price": 9.5}',
            expected=f"status 201 and {show(expected)}",
            actual=f"status 201 and {show(plain)}",
            hint=no_description_hint,
        )
    expect_item(read_item(http, plain["id"]), expected, hint=no_description_hint)
    for invalid, location in INVALID_ITEMS:
        expect_detail_locates(post_item(http, invalid), location, hint=CREATE_BODY_HINT)
    body_id = unused_id(item)
    response = post_item(http, {"id": body_id, "name": "Pincers", "price": 4.0})
    expect_status(response, 201, hint=BODY_ID_HINT)
    created = json_body(response)
    if not isinstance(created, dict) or created.get("id") == body_id:
        raise CheckFailed(
            "A POST with an id in the body created an item with that id.",
            request=describe_request(response),
            expected=f"201 and an id from the app's counter, not {body_id}",
            actual=describe_response(response),
            hint=BODY_ID_HINT,
        )


def test_read_item_returns_it(http: httpx.Client) -> None:
    """GET /items/{id} returns the item created with that id, each its own."""
    first, second = create_item(http, name="Pliers"), create_item(http, name="Level")
    if first["id"] == second["id"]:
        raise CheckFailed(
            "Two items were created with the same id.",
            request="POST /items/ twice",
            expected="two different ids",
            actual=f"{show(first)} and {show(second)}",
            hint="Does create_item give each item the next id, and add 1 to the "
            "counter after it, as in next_id += 1?",
        )
    for item in (first, second):
        expect_item(
            read_item(http, item["id"]),
            item,
            hint="Does read_item look the item up by its id and return it?",
        )


def test_missing_item_returns_404(http: httpx.Client) -> None:
    """GET /items/{id} for an id that does not exist answers 404 with a detail."""
    item = create_item(http)
    expect_status(
        read_item(http, item["id"]),
        200,
        hint="Is there a route for GET /items/{item_id}?",
    )
    response = read_item(http, UNKNOWN_ID)
    expect_status(
        response,
        404,
        hint="Does read_item raise HTTPException(status_code=404, ...) when "
        "the id is not stored?",
    )
    body = json_body(response)
    if not isinstance(body, dict) or "detail" not in body:
        raise CheckFailed(
            "The 404 response has no detail.",
            request=describe_request(response),
            expected='a body like {"detail": "Item not found"}',
            actual=describe_response(response),
            hint="Did you pass detail=... to HTTPException?",
        )


def test_list_items_includes_created(http: httpx.Client) -> None:
    """GET /items/ returns a list that includes every created item.

    The list has each item the checks created so far once, as GET
    /items/{id} returns it, and no other item. A POST with an invalid body
    adds nothing to it.
    """
    fillers = FILLER_ITEMS_MIN + secrets.randbelow(
        FILLER_ITEMS_MAX - FILLER_ITEMS_MIN + 1
    )
    for number in range(1, fillers + 1):
        create_item(http, name=f"Filler {number}")
    first, second = create_item(http, name="Saw"), create_item(http, name="Drill")
    response = http.get("/items/")
    expect_status(response, 200, hint="Is there a route for GET /items/?")
    body = json_body(response)
    if not isinstance(body, list) or first not in body or second not in body:
        raise CheckFailed(
            "The list does not include the items just created.",
            request=f"POST /items/ for {fillers} items, then for Saw and Drill, "
            f"then {describe_request(response)}",
            expected=f"a JSON list containing {show(first)} and {show(second)}",
            actual=f"{len(body)} items: {describe_response(response)}"
            if isinstance(body, list)
            else describe_response(response),
            hint="Does list_items return list(items.values()), every stored item, "
            "with no cap on how many?",
        )
    expect_stored_items_listed(
        http,
        response,
        f"POST /items/ for {fillers} items, then for Saw and Drill, after the "
        "items the checks before this one created, then GET /items/",
    )
    # The status of each rejected POST is judged by create_item_returns_201.
    for invalid, _ in INVALID_ITEMS:
        post_item(http, invalid)
    after = http.get("/items/")
    expect_status(after, 200, hint="Does list_items return list(items.values())?")
    listed = json_body(after)
    if listed != body:
        added = [entry for entry in listed if entry not in body]
        raise CheckFailed(
            "A POST with an invalid body changed the list of items.",
            request="POST /items/ with each of "
            f"{show([invalid for invalid, _ in INVALID_ITEMS])}, then GET /items/",
            expected=f"the same {len(body)} items as before these requests",
            actual=f"{len(listed)} items, new among them: {show(added)}"
            if isinstance(listed, list)
            else describe_response(after),
            hint=CREATE_BODY_HINT,
        )


def test_put_replaces_item(http: httpx.Client) -> None:
    """PUT /items/{id} replaces the whole item; fields left out are reset.

    Every other stored item stays as it was, one created here included.
    """
    create_item(http, name="Wrench", description="not replaced")
    item = create_item(http, description="old description")
    others = read_other_items(http, item["id"])
    hint = (
        "Does replace_item build a new Item from the whole request body, so "
        "fields the client sent are stored and fields it left out go back to "
        "their defaults?"
    )
    others_hint = (
        "Does replace_item store the new item only under items[item_id], the id "
        "in the path, and leave every other item as it is?"
    )
    for replacement in (
        {"name": "Sledge", "price": 15.0, "description": "new description"},
        {"name": "Mallet", "price": 12.0},
    ):
        response = http.put(f"/items/{item['id']}", json=replacement)
        expected = {"id": item["id"], "description": None, **replacement}
        expect_item(response, expected, hint=hint)
        expect_item(read_item(http, item["id"]), expected, hint=hint)
        expect_others_unchanged(http, others, describe_request(response), others_hint)
    path = f"/items/{item['id']}"
    for body, location in INVALID_ITEMS:
        expect_rejected(
            http,
            http.put(path, json=body),
            location,
            expected,
            hint="Does replace_item take `item: ItemIn`, the model POST takes, so "
            "that FastAPI rejects a body with a field missing or of the wrong "
            "type before anything is stored?",
        )
    body_id = unused_id(item)
    response = http.put(path, json={"id": body_id, "name": "Sledge", "price": 15.0})
    expected = {"id": item["id"], "name": "Sledge", "price": 15.0, "description": None}
    expect_item(response, expected, hint=BODY_ID_HINT)
    expect_item(read_item(http, item["id"]), expected, hint=BODY_ID_HINT)
    expect_nothing_stored_at(http, response, body_id)
    expect_others_unchanged(
        http,
        others,
        f"PUT {path} with each invalid body, then with a body that has an id",
        others_hint,
    )


def test_patch_updates_only_sent_fields(http: httpx.Client) -> None:
    """PATCH /items/{id} changes only the fields sent and keeps the others.

    Every other stored item stays as it was, one created here included.
    """
    create_item(http, name="Spanner", description="not patched")
    item = create_item(http, description="keep me")
    others = read_other_items(http, item["id"])
    others_hint = (
        "Does update_item change only items[item_id], the item with the id in "
        "the path, and leave every other item as it is?"
    )
    hint = (
        "Does update_item apply changes.model_dump(exclude_unset=True), so "
        "every field the client sent changes and the others keep their values?"
    )
    several_hint = (
        hint + " A PATCH may send several fields at once, and a description as "
        "text: does update_item apply every one of them in the same request?"
    )
    expected = item
    for changes in VALID_CHANGES:
        if len(changes) > 1 or "description" in changes:
            changes_hint = several_hint
        else:
            changes_hint = hint
        response = http.patch(f"/items/{item['id']}", json=changes)
        expected = {**expected, **changes}
        expect_item(response, expected, hint=changes_hint)
        expect_item(read_item(http, item["id"]), expected, hint=changes_hint)
        expect_others_unchanged(http, others, describe_request(response), others_hint)
    # A null the client sends is a value too, unlike a field it leaves out.
    response = http.patch(f"/items/{item['id']}", json={"description": None})
    expected = {**expected, "description": None}
    expect_item(
        response,
        expected,
        hint=hint + " A null the client sends is a change too: is it exclude_unset, "
        "not exclude_none?",
    )
    expect_item(read_item(http, item["id"]), expected, hint=hint)
    path = f"/items/{item['id']}"
    for changes, location in INVALID_CHANGES:
        if None in changes.values():
            invalid_hint = (
                "Does update_item take `changes: ItemPatch`, whose validator "
                "rejects a null name or price? model_copy(update=...) does not "
                "validate, so it stores a null as it is."
            )
        else:
            invalid_hint = (
                "Does update_item take `changes: ItemPatch` rather than a dict, so "
                "that FastAPI checks the type of every field sent? "
                "model_copy(update=...) does not validate what it stores."
            )
        expect_rejected(
            http, http.patch(path, json=changes), location, expected, invalid_hint
        )
    body_id = unused_id(item)
    response = http.patch(path, json={"id": body_id, "price": 4.5})
    expected = {**expected, "price": 4.5}
    expect_item(response, expected, hint=BODY_ID_HINT)
    expect_item(read_item(http, item["id"]), expected, hint=BODY_ID_HINT)
    expect_nothing_stored_at(http, response, body_id)
    expect_others_unchanged(
        http,
        others,
        f"PATCH {path} with a null description, each invalid body, then a body "
        "that has an id",
        others_hint,
    )


def test_delete_item_returns_204(http: httpx.Client) -> None:
    """DELETE /items/{id} returns 204 with no body, and only that item is gone.

    An item created afterwards gets an id of its own, and no id is given out
    twice, even after the newest item is deleted.
    """
    item, other_item = create_item(http, name="Chisel"), create_item(http, name="File")
    response = delete_item(http, item["id"])
    expect_status(
        response,
        204,
        hint='Is delete_item decorated with @app.delete("/items/{item_id}", '
        "status_code=204)?",
    )
    if response.content:
        raise CheckFailed(
            "A 204 response must have an empty body.",
            request=describe_request(response),
            expected="status 204 and no body",
            actual=describe_response(response),
            hint="Does delete_item return Response(status_code=204) rather than "
            "a dict?",
        )
    expect_status(
        read_item(http, item["id"]),
        404,
        hint="Does delete_item remove the item from the items dict?",
    )
    expect_item(
        read_item(http, other_item["id"]),
        other_item,
        hint="Does delete_item remove only the item with the id in the path, as "
        "in del items[item_id]?",
    )
    listed = http.get("/items/")
    body = json_body(listed)
    if not isinstance(body, list) or item in body or other_item not in body:
        raise CheckFailed(
            "GET /items/ does not match the items stored after the delete.",
            request=f"DELETE /items/{item['id']}, then {describe_request(listed)}",
            expected=f"a list with {show(other_item)} and without {show(item)}",
            actual=describe_response(listed),
            hint="Does list_items return list(items.values()), built from the "
            "items dict at the time of the request?",
        )
    expect_stored_items_listed(
        http, listed, f"DELETE /items/{item['id']}, then {describe_request(listed)}"
    )
    # An id counted from the number of items comes round again after a
    # delete, and the new item then replaces a stored one.
    created = create_item(http, name="Rasp")
    if created["id"] == other_item["id"]:
        raise CheckFailed(
            "An item created after a delete got the id of an item still stored, "
            "and replaced it.",
            request=f"DELETE /items/{item['id']}, then POST /items/",
            expected=f"a new id, not {other_item['id']}, which {show(other_item)} has",
            actual=f"the new item {show(created)}",
            hint="Does create_item take the id from a counter that only goes up "
            "(next_id), rather than from len(items) + 1?",
        )
    expect_item(
        read_item(http, other_item["id"]),
        other_item,
        hint="Does create_item store each new item under an id of its own?",
    )
    # An id counted from the largest stored one comes round again once the
    # newest item is deleted, and the deleted id then leads to another item.
    issued_before = set(issued_ids)
    expect_status(
        delete_item(http, created["id"]),
        204,
        hint="Does delete_item answer 204 for every stored item?",
    )
    newest = create_item(http, name="Awl")
    request = f"DELETE /items/{created['id']} (the newest item), then POST /items/"
    if newest["id"] in issued_before:
        raise CheckFailed(
            "An item created after the newest item was deleted got an id the app "
            "had given out before.",
            request=request,
            expected=f"an id never given out before, such as {created['id'] + 1}",
            actual=f"the new item {show(newest)}",
            hint="Does create_item take the id from a counter that only goes up "
            "(next_id), rather than from max(items) + 1? A client that still "
            "holds a deleted id would then read another item.",
        )
    expect_status(
        read_item(http, created["id"]),
        404,
        hint="Does delete_item remove the item from the items dict?",
    )


def test_wrong_method_gets_405(http: httpx.Client) -> None:
    """A method a path does not support gets 405 with an Allow header.

    DELETE, PUT and PATCH /items/, and POST /items/{id}, each with a valid
    body where the method takes one: a route of the app's own for any of them
    would let a client replace the store or choose an id. The 405 comes from
    the path alone, so the id need not be stored.
    """
    item_id = 1
    body = {"name": "Latch", "price": 2.5}
    requests = [
        ("DELETE", "/items/", None, {"GET", "POST"}),
        ("PUT", "/items/", [body], {"GET", "POST"}),
        ("PATCH", "/items/", body, {"GET", "POST"}),
        ("POST", f"/items/{item_id}", body, {"GET", "PUT", "PATCH", "DELETE"}),
    ]
    for method, path, sent, supported in requests:
        response = http.request(method, path, json=sent)
        _expect_not_allowed(response, f"{method} {path}", supported)


def _expect_not_allowed(
    response: httpx.Response, label: str, supported: set[str]
) -> None:
    """Fail unless `response` is a 405 whose Allow header names one of `supported`."""
    allowed = {
        method.strip().upper()
        for method in response.headers.get("allow", "").split(",")
        if method.strip()
    }
    # Starlette lists the methods of the first route whose path matches, so the
    # header names one of the path's methods, whichever route is declared first.
    if response.status_code == 405 and allowed & supported:
        return
    names = " or ".join(f"Allow: {name}" for name in sorted(supported))
    raise CheckFailed(
        f"{label} should be answered 405 Method Not Allowed, with an Allow "
        "header naming a method the path supports.",
        request=describe_request(response),
        expected=f"status 405 with {names}",
        actual=describe_response(response),
        hint="Does the app declare only the six routes of the table? FastAPI then "
        "answers other methods on a path with 405 by itself. A route of your own "
        "for another method would let a client choose an id or replace the store.",
    )


def never_issued_ids() -> list[int]:
    """Return ids that no POST issued: UNKNOWN_ID, then two new in every run."""
    near = max(issued_ids, default=0) + 1 + secrets.randbelow(NEAR_ID_SPREAD)
    large = LARGE_ID_MIN + secrets.randbelow(LARGE_ID_MAX - LARGE_ID_MIN)
    return [UNKNOWN_ID, near, large]


def expect_missing(http: httpx.Client, method: str, item_id: int) -> None:
    """Send `method` to /items/{item_id}, an id not stored, and expect a 404.

    After a PUT or PATCH, GET /items/{item_id} must be a 404 too, because a
    request for a missing item stores nothing.
    """
    path = f"/items/{item_id}"
    hint = MISSING_ITEM_HINTS[method]
    if method == "DELETE":
        response = delete_item(http, item_id)
    else:
        request = http.build_request(method, path, json=MISSING_ITEM_BODIES.get(method))
        response = http.send(request)
    expect_status(response, 404, hint=hint)
    if method not in MISSING_ITEM_BODIES:
        return
    stored = read_item(http, item_id)
    if stored.status_code != 404:
        raise CheckFailed(
            f"A {method} for an id that is not stored returned 404, but stored "
            "an item under that id anyway.",
            request=f"{describe_request(response)}, then {describe_request(stored)}",
            expected="status 404: the item is still missing",
            actual=describe_response(stored),
            hint=hint,
        )


def expect_success(response: httpx.Response, expected: int) -> None:
    """Fail unless the response has a 2xx status, `expected` as the README gives it."""
    if not 200 <= response.status_code < 300:
        expect_status(response, expected)


def test_missing_item_updates_return_404(http: httpx.Client) -> None:
    """GET, PUT, PATCH and DELETE on an id that is not stored get 404.

    The ids are those of a deleted item, of UNKNOWN_ID and of the two from
    never_issued_ids. None of the requests stores an item, so GET /items/
    afterwards lists none of the ids that no POST issued. Whether the list
    leaves out the deleted item is judged by delete_item_returns_204.
    """
    # The routes must exist first: without them every request is a 404 anyway.
    # Any success will do, since put_replaces_item, patch_updates_only_sent_fields
    # and delete_item_returns_204 judge the exact statuses.
    item = create_item(http)
    path = f"/items/{item['id']}"
    expect_success(http.put(path, json={"name": "x", "price": 1.0}), 200)
    expect_success(http.patch(path, json={"price": 2.0}), 200)
    expect_success(delete_item(http, item["id"]), 204)
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        expect_missing(http, method, item["id"])
    missing_ids = never_issued_ids()
    for item_id in missing_ids:
        for method in ("PUT", "PATCH", "DELETE"):
            expect_missing(http, method, item_id)
    listed = http.get("/items/")
    expect_status(listed, 200, hint="Does list_items return list(items.values())?")
    # list_items_includes_created judges the shape of the list, so here a body
    # that is not a list of items has no ids to find.
    body = json_body(listed)
    entries = body if isinstance(body, list) else []
    listed_ids = {
        entry["id"]
        for entry in entries
        if isinstance(entry, dict) and isinstance(entry.get("id"), int)
    }
    created_ids = sorted(listed_ids.intersection(missing_ids))
    if created_ids:
        raise CheckFailed(
            f"GET /items/ lists items with ids {created_ids}, which no POST "
            "issued: a request for a missing item created them.",
            request=f"GET, PUT, PATCH and DELETE of the deleted id {item['id']}, "
            f"then PUT, PATCH and DELETE of the ids {missing_ids}, which no POST "
            f"issued, then {describe_request(listed)}",
            expected=f"a list without the ids {missing_ids}",
            actual=describe_response(listed),
            hint=MISSING_ITEM_HINTS["PUT"],
        )
