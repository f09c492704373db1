"""Grader for chapter 07: dependencies, shared parameters, token checks and clean-up.

The connection checks read GET /connections/stats (given in the starter) before
and after a request and compare the counts, so they work in any order.
"""

import secrets
import time
from typing import Any

import httpx

from apigrade.checks import (
    CheckFailed,
    describe_request,
    describe_response,
    expect_detail_locates,
    expect_json,
    expect_status,
    json_body,
    same_json,
    show,
)

# Seconds the checks must wait for the app, one after another: none here,
# because no check requests a delay from the app. scripts/bench.py takes the
# floor from these.
WAIT_SECONDS = 0.0

# Tokens and data as the starter defines them.
ALICE_TOKEN = "alice-token"
BOB_TOKEN = "bob-token"
WRONG_TOKEN = "not-a-token"
# A user name and a token in another case are wrong tokens that a lenient app
# could let through. Header names ignore case, but header values do not. No
# wrong token has spaces around it, because leading and trailing whitespace is
# not part of a header value (RFC 7230, section 3.2.4). uvicorn strips it
# before the app reads the header, and h11, httpx's HTTP/1.1 library, raises
# LocalProtocolError for it.
USER_NAME_TOKEN = "alice"
OTHER_CASE_TOKEN = "Alice-Token"
UPPER_CASE_TOKEN = "BOB-TOKEN"
# Tokens shaped like the valid ones that are not keys of TOKENS: tokens of
# users who have none, valid tokens with more text before or after them, and
# the start of a valid token. An app that takes the user name from the text
# before "-token" and checks it against USERS lets some through, and so does
# one that compares with endswith, startswith or the last word. The checks
# also send a valid token with a random prefix and one with a random suffix,
# new in every run, RANDOM_SUFFIX_BYTES random bytes written as hex.
NO_TOKEN_USER_TOKENS = ("carol-token", "dave-token")
SUFFIXED_TOKENS = ("alice-token-forged", "bob-tokenXYZ")
PREFIXED_TOKENS = ("Bearer bob-token", "evil-alice-token")
CUT_TOKENS = ("alice-toke", "bob")
RANDOM_SUFFIX_BYTES = 4
# Each valid token and its user, as the starter's TOKENS has them.
TOKENS = {ALICE_TOKEN: "alice", BOB_TOKEN: "bob"}
USER_NAME_HINT = (
    "Does verify_token accept only the keys of TOKENS? A user name such as "
    "alice is a value of TOKENS, not a token."
)
OTHER_CASE_HINT = (
    "Is the token compared with the keys of TOKENS exactly as sent? Header "
    "names ignore case, but header values do not."
)
MADE_UP_TOKEN_HINT = (
    "Is the whole X-Token value looked up in TOKENS, as in `x_token in TOKENS`? "
    "A token is valid only when it equals a key of TOKENS: carol-token, a "
    "valid token with more text before or after it, or the start of one, is "
    "not one, whatever user name it contains."
)
ITEMS = ["apple", "banana", "cherry", "grape", "melon", "peach"]
USERS = ["alice", "bob", "carol", "dave"]
ROWS = {1: "first row", 2: "second row"}
# Ids next to the stored rows, which a route that makes up rows for unknown ids
# may serve. The check sends them after 999, and then a random id from
# MISSING_ROW_ID_MIN up to but not including MISSING_ROW_ID_MAX, new in every
# run.
MISSING_ROW_IDS = (0, 3)
MISSING_ROW_ID_MIN = 3
MISSING_ROW_ID_MAX = 10**6
STATS = {"items": 6, "users": 4, "products": 20}
PRODUCT_NAMES = [f"product-{number}" for number in range(1, STATS["products"] + 1)]
# Values of page and size outside the README's bounds (page 1 or more, size
# from 1 to 50). A bound check written by hand, such as `if not page`, may
# reject 0 and 51 and let negative values in. The check also sends a random
# negative page and size and a random size above 50, each new in every run,
# within OUT_OF_BOUNDS_MAX of the bound.
OUT_OF_BOUNDS_PAGES = (0, -1)
OUT_OF_BOUNDS_SIZES = (0, 51, -1)
OUT_OF_BOUNDS_MAX = 10**6
SHARED_PARAMETERS = ("q", "skip", "limit")
# skip and page have no maximum. The checks send a skip and a page just past
# the end, then a random one from there up to but not including FAR_MAX, new
# in every run. They also send HUGE, far above any cap fitted to the random
# values: 10**18, the largest power of ten a signed 64-bit integer holds.
FAR_MAX = 10**6
HUGE = 10**18

# With FastAPI's default scope for `yield` dependencies, clean-up runs after the
# response is sent, so the counts can lag behind the response by a moment. The
# checks poll the counts this many times, this many seconds apart.
STATS_POLLS = 50
STATS_POLL_INTERVAL = 0.02

COMMONS_HINT = (
    "Does the route take `commons: Annotated[dict, Depends(common_parameters)]` "
    "and return the dict with the selected names added?"
)

# Values of q with more than one letter, and the names that contain each. Each
# keeps a different list than a filter that keeps every name sharing a letter
# with q. pe, pa, al and la also catch a filter that keeps every name with
# all letters of q in any order, and pa and la are in no name.
ITEMS_BY_QUERY = {"an": ["banana"], "pe": ["grape", "peach"], "pa": []}
USERS_BY_QUERY = {"al": ["alice"], "ol": ["carol"], "la": []}
SUBSTRING_HINT = (
    "Does the filter keep a name only when it contains the whole of q, as in "
    "`q in name`? A name that shares only some letters with q does not match."
)

TOKEN_HINT = (
    "Is verify_token listed in the route's dependencies=[Depends(verify_token)], "
    "and does it `raise` the HTTPException rather than return it?"
)


def _random_query(names: list[str]) -> str:
    """Return a piece of two or more letters of a random name, new in every run."""
    name = secrets.choice(names)
    length = 2 + secrets.randbelow(len(name) - 1)
    start = secrets.randbelow(len(name) - length + 1)
    return name[start : start + length]


def _expect_filtered_by_query(
    http: httpx.Client,
    path: str,
    key: str,
    names: list[str],
    expected_by_query: dict[str, list[str]],
) -> None:
    """Send each q in `expected_by_query`, a random piece of a name, then more.

    The random q is new in every run, so an app that special-cases the fixed
    values still fails. Its expected list is every name that contains it.
    The same piece in upper case must keep no name, as must a q of regular
    expression characters, and an empty q must keep every name.
    """
    random_query = _random_query(names)
    cases = {
        **expected_by_query,
        random_query: [name for name in names if random_query in name],
    }
    for query, expected in cases.items():
        expect_json(
            http.get(path, params={"q": query}),
            {"q": query, "skip": 0, "limit": 100, key: expected},
            hint=SUBSTRING_HINT,
        )
    # Case counts: the names are lower case, so q in upper case keeps none.
    upper_query = random_query.upper()
    expect_json(
        http.get(path, params={"q": upper_query}),
        {"q": upper_query, "skip": 0, "limit": 100, key: []},
        hint="Is q compared with each name exactly as sent, case and all, as in "
        "`q in name`? The README's names are lower case, so an upper-case q "
        "matches none.",
    )
    # q is plain text, not a pattern: no name contains a dot or a bracket, so
    # each of these keeps none, where a regular expression would keep every
    # name for "." and fail on "(".
    for pattern in (".", "a.", "("):
        expect_json(
            http.get(path, params={"q": pattern}),
            {"q": pattern, "skip": 0, "limit": 100, key: []},
            hint="Is q matched as plain text, as in `q in name`, rather than as a "
            "regular expression? No name contains a dot or a bracket.",
        )
    # An empty q is a value, not a missing one: it comes back as sent, and
    # every name contains it.
    expect_json(
        http.get(path, params={"q": ""}),
        {"q": "", "skip": 0, "limit": 100, key: names},
        hint="Is q returned exactly as sent, an empty string for ?q=, and checked "
        "with `q is None` rather than `not q`? Every name contains the empty "
        "string.",
    )


def test_items_use_common_parameters(http: httpx.Client) -> None:
    """GET /items/ reads q, skip and limit from the shared dependency."""
    expect_json(
        http.get("/items/"),
        {
            "q": None,
            "skip": 0,
            "limit": 100,
            "items": ["apple", "banana", "cherry", "grape", "melon", "peach"],
        },
        hint=COMMONS_HINT,
    )
    expect_json(
        http.get("/items/", params={"q": "e", "skip": 1, "limit": 2}),
        {"q": "e", "skip": 1, "limit": 2, "items": ["cherry", "grape"]},
        hint=COMMONS_HINT + " Are the names filtered by q before skip and limit?",
    )
    _expect_filtered_by_query(http, "/items/", "items", ITEMS, ITEMS_BY_QUERY)
    # Every request above sends q or no parameter at all, so a route that
    # slices only when q is sent would pass them. Without q, each of the next
    # three requests leaves names out: by limit, by skip and limit, by skip.
    slice_hint = (
        COMMONS_HINT + " Is the list cut by skip and limit also when q is not "
        "sent, as in names[skip : skip + limit]?"
    )
    slices: list[tuple[dict[str, int], list[str]]] = [
        ({"limit": 4}, ["apple", "banana", "cherry", "grape"]),
        ({"skip": 1, "limit": 2}, ["banana", "cherry"]),
        ({"skip": 4}, ["melon", "peach"]),
    ]
    for params, names in slices:
        commons = {"q": None, "skip": 0, "limit": 100, **params}
        expect_json(
            http.get("/items/", params=params),
            {**commons, "items": names},
            hint=slice_hint,
        )


def test_users_use_common_parameters(http: httpx.Client) -> None:
    """GET /users/ reads q, skip and limit from the same shared dependency."""
    expect_json(
        http.get("/users/"),
        {
            "q": None,
            "skip": 0,
            "limit": 100,
            "users": ["alice", "bob", "carol", "dave"],
        },
        hint=COMMONS_HINT,
    )
    expect_json(
        http.get("/users/", params={"q": "a", "skip": 1, "limit": 2}),
        {"q": "a", "skip": 1, "limit": 2, "users": ["carol", "dave"]},
        hint=COMMONS_HINT + " Are the names filtered by q before skip and limit?",
    )
    _expect_filtered_by_query(http, "/users/", "users", USERS, USERS_BY_QUERY)
    # With q=a only two names remain after the skip, so that request cannot
    # tell whether limit cuts the list. Without q, limit leaves out dave in
    # each of the next two requests.
    limit_hint = (
        COMMONS_HINT + " Is the list cut to `limit` names from `skip` on, as in "
        "names[skip : skip + limit]?"
    )
    expect_json(
        http.get("/users/", params={"limit": 3}),
        {"q": None, "skip": 0, "limit": 3, "users": ["alice", "bob", "carol"]},
        hint=limit_hint,
    )
    expect_json(
        http.get("/users/", params={"skip": 1, "limit": 2}),
        {"q": None, "skip": 1, "limit": 2, "users": ["bob", "carol"]},
        hint=limit_hint,
    )


def test_common_parameters_are_validated(http: httpx.Client) -> None:
    """Out-of-range skip or limit returns 422 on both routes.

    limit=1 and limit=100 are accepted, and so is a skip past the last name,
    however large.
    """
    hint = (
        "Does common_parameters declare skip with Query(ge=0) and limit with "
        "Query(ge=1, le=100), and do both routes depend on it?"
    )
    cases: list[tuple[str, dict[str, int], str]] = [
        ("/items/", {"limit": 0}, "limit"),
        ("/items/", {"limit": 101}, "limit"),
        ("/items/", {"limit": -1}, "limit"),
        ("/items/", {"skip": -1}, "skip"),
        ("/users/", {"limit": 0}, "limit"),
        ("/users/", {"limit": 101}, "limit"),
        ("/users/", {"limit": -1}, "limit"),
        ("/users/", {"skip": -1}, "skip"),
    ]
    for path, params, name in cases:
        response = http.get(path, params=params)
        expect_detail_locates(response, ["query", name], hint=hint)
    # The bounds themselves are allowed. FastAPI does not check a default, so
    # only a request that sends 100 shows that le=100 is not lt=100.
    for path in ("/items/", "/users/"):
        expect_status(http.get(path, params={"limit": 100}), 200, hint=hint)
    # The names each route returns are judged by the route's own check, so a
    # mistake in the slice fails that check alone.
    for path in ("/items/", "/users/"):
        _expect_commons_accepted(http, path, {"limit": 1}, hint)
    skip_hint = (
        "Does common_parameters declare skip with Query(ge=0) alone? skip has "
        "no maximum: a skip past the last name returns an empty list."
    )
    for path, names in (("/items/", ITEMS), ("/users/", USERS)):
        far_skip = len(names) + 1 + secrets.randbelow(FAR_MAX - len(names) - 1)
        for skip in (len(names), far_skip, HUGE):
            _expect_commons_accepted(http, path, {"skip": skip}, skip_hint)


def _expect_commons_accepted(
    http: httpx.Client, path: str, params: dict[str, int], hint: str
) -> None:
    """Fail unless GET `path` with `params` gets 200 and q, skip and limit as sent."""
    response = http.get(path, params=params)
    expect_status(response, 200, hint=hint)
    body = json_body(response, hint=hint)
    expected = {"q": None, "skip": 0, "limit": 100, **params}
    received = (
        {key: body.get(key) for key in expected} if isinstance(body, dict) else body
    )
    if not same_json(received, expected):
        raise CheckFailed(
            "The response does not return q, skip and limit as sent.",
            request=describe_request(response),
            expected=f"status 200 with {show(expected)} and the names",
            actual=describe_response(response),
            hint=COMMONS_HINT,
        )


def _query_parameters(spec: Any, path: str) -> list[str]:
    """Return the names of the query parameters of GET `path` in an OpenAPI spec."""
    paths = spec.get("paths") if isinstance(spec, dict) else None
    item = paths.get(path) if isinstance(paths, dict) else None
    operation = item.get("get") if isinstance(item, dict) else None
    parameters = operation.get("parameters") if isinstance(operation, dict) else None
    return [
        str(parameter.get("name"))
        for parameter in parameters or []
        if isinstance(parameter, dict) and parameter.get("in") == "query"
    ]


def test_openapi_shares_parameters(http: httpx.Client) -> None:
    """The OpenAPI schema lists q, skip and limit on GET /items/ and GET /users/."""
    response = http.get("/openapi.json")
    spec = json_body(response)
    for path in ("/items/", "/users/"):
        names = _query_parameters(spec, path)
        missing = [name for name in SHARED_PARAMETERS if name not in names]
        if missing:
            raise CheckFailed(
                f"/openapi.json does not list {', '.join(missing)} on GET {path}.",
                request=describe_request(response),
                expected=f"query parameters {', '.join(SHARED_PARAMETERS)} "
                f"on GET {path}",
                actual=f"query parameters {show(names)}",
                hint=f"Does the route for GET {path} declare the common_parameters "
                "dependency? FastAPI documents a dependency's parameters on every "
                "route that uses it.",
            )


def test_products_use_pagination_class(http: httpx.Client) -> None:
    """GET /products/ pages through PRODUCTS with the Pagination class."""
    hint = (
        "Does the route take `pagination: Annotated[Pagination, Depends()]`, and "
        "is the offset (page - 1) * size?"
    )
    expect_json(
        http.get("/products/", params={"page": 2, "size": 3}),
        {
            "page": 2,
            "size": 3,
            "offset": 3,
            "products": ["product-4", "product-5", "product-6"],
        },
        hint=hint,
    )
    # Another size on a later page, so the offset must use the size given.
    expect_json(
        http.get("/products/", params={"page": 3, "size": 5}),
        {
            "page": 3,
            "size": 5,
            "offset": 10,
            "products": [f"product-{number}" for number in range(11, 16)],
        },
        hint=hint,
    )
    expect_json(
        http.get("/products/"),
        {
            "page": 1,
            "size": 10,
            "offset": 0,
            "products": [f"product-{number}" for number in range(1, 11)],
        },
        hint=hint + " Are the defaults page=1 and size=10?",
    )
    page_hint = "Is page declared with Query(ge=1) in Pagination.__init__?"
    random_negative_page = -1 - secrets.randbelow(OUT_OF_BOUNDS_MAX)
    for page in (*OUT_OF_BOUNDS_PAGES, random_negative_page):
        expect_detail_locates(
            http.get("/products/", params={"page": page}),
            ["query", "page"],
            hint=page_hint,
        )
    size_hint = "Is size declared with Query(ge=1, le=50) in Pagination.__init__?"
    random_sizes = (
        -1 - secrets.randbelow(OUT_OF_BOUNDS_MAX),
        51 + secrets.randbelow(OUT_OF_BOUNDS_MAX),
    )
    for size in (*OUT_OF_BOUNDS_SIZES, *random_sizes):
        expect_detail_locates(
            http.get("/products/", params={"size": size}),
            ["query", "size"],
            hint=size_hint,
        )
    expect_json(
        http.get("/products/", params={"page": 1, "size": 50}),
        {"page": 1, "size": 50, "offset": 0, "products": PRODUCT_NAMES},
        hint=hint + " Does the page hold size products, up to the end of PRODUCTS?",
    )
    # The last page contains what is left, and pages after it are empty.
    end_hint = (
        hint + " Is the page the slice PRODUCTS[offset:offset + size], which ends "
        "early on the last page and is empty past it?"
    )
    expect_json(
        http.get("/products/", params={"page": 2, "size": 15}),
        {
            "page": 2,
            "size": 15,
            "offset": 15,
            "products": [f"product-{number}" for number in range(16, 21)],
        },
        hint=end_hint,
    )
    for page, size in ((3, 10), (9, 10)):
        expect_json(
            http.get("/products/", params={"page": page, "size": size}),
            {"page": page, "size": size, "offset": (page - 1) * size, "products": []},
            hint=end_hint,
        )
    # size=1 is the smallest size, and page has no maximum.
    last_page = len(PRODUCT_NAMES)
    unbounded_hint = (
        hint + " Is page declared with Query(ge=1) alone, and size with "
        "Query(ge=1, le=50)? page has no maximum: a page past the end returns "
        "an empty list."
    )
    expect_json(
        http.get("/products/", params={"page": last_page, "size": 1}),
        {
            "page": last_page,
            "size": 1,
            "offset": last_page - 1,
            "products": PRODUCT_NAMES[-1:],
        },
        hint=unbounded_hint,
    )
    far_page = last_page + 1 + secrets.randbelow(FAR_MAX - last_page - 1)
    # Any size the README allows, from 1 to 50.
    far_size = 1 + secrets.randbelow(50)
    for page, size in ((last_page + 1, 1), (far_page, far_size), (HUGE, far_size)):
        expect_json(
            http.get("/products/", params={"page": page, "size": size}),
            {"page": page, "size": size, "offset": (page - 1) * size, "products": []},
            hint=unbounded_hint,
        )


def _request_text(response: httpx.Response) -> str:
    """Describe the request like describe_request, adding the X-Token sent."""
    text = describe_request(response)
    token = response.request.headers.get("x-token")
    if token is not None:
        text += f" with header X-Token: {token}"
    return text


def _expect_json_with_token(
    response: httpx.Response, expected: Any, *, hint: str
) -> None:
    """Fail unless the response is a 200 with body `expected`."""
    if response.status_code != 200:
        summary = f"Expected status 200, got {response.status_code}."
    elif not same_json(json_body(response, hint=hint), expected):
        summary = "The response body is not the expected JSON."
    else:
        return
    raise CheckFailed(
        summary,
        request=_request_text(response),
        expected=f"status 200 with body {show(expected)}",
        actual=describe_response(response),
        hint=hint,
    )


def _expect_unauthorized(response: httpx.Response, *, hint: str) -> None:
    """Fail unless the response is a 401, naming the usual cause of other statuses."""
    got = response.status_code
    if got == 401:
        return
    if 200 <= got < 300:
        raise CheckFailed(
            f"The request was let through without a valid token (status {got}).",
            request=_request_text(response),
            expected="status 401",
            actual=describe_response(response),
            hint=hint,
        )
    if got == 500:
        raise CheckFailed(
            "The app crashed (status 500) instead of rejecting the token.",
            request=_request_text(response),
            expected="status 401",
            actual=describe_response(response),
            hint="Does verify_token `raise` the HTTPException? A returned one is "
            "only a value, so the next dependency receives it as the token.",
        )
    if got == 422:
        raise CheckFailed(
            "The app returned 422 for the missing header, not 401.",
            request=_request_text(response),
            expected="status 401",
            actual=describe_response(response),
            hint="Is the token read only by verify_token, with a default of None, "
            "and does current_user depend on verify_token instead of reading "
            "the header itself?",
        )
    expect_status(response, 401, hint=hint)


def test_missing_token_is_401(http: httpx.Client) -> None:
    """GET /stats without an X-Token header returns 401."""
    _expect_unauthorized(http.get("/stats"), hint=TOKEN_HINT)


def _wrong_tokens(
    unknown_hint: str, case_hint: str, made_up_hint: str
) -> list[tuple[str, str]]:
    """Return each wrong token that the checks send, with the hint for its 401.

    Every route that verifies a token gets the same wrong tokens, so a route
    that compares tokens in its own way fails too. The last two are valid
    tokens with a random suffix and a random prefix, new in every call.
    """
    random_token = (
        secrets.choice(list(TOKENS)) + "-" + secrets.token_hex(RANDOM_SUFFIX_BYTES)
    )
    random_prefixed = secrets.token_hex(RANDOM_SUFFIX_BYTES) + secrets.choice(
        list(TOKENS)
    )
    made_up_tokens = [
        *NO_TOKEN_USER_TOKENS,
        *SUFFIXED_TOKENS,
        *PREFIXED_TOKENS,
        *CUT_TOKENS,
        random_token,
        random_prefixed,
    ]
    return [
        (WRONG_TOKEN, unknown_hint),
        (USER_NAME_TOKEN, USER_NAME_HINT),
        (OTHER_CASE_TOKEN, case_hint),
        (UPPER_CASE_TOKEN, case_hint),
        *((token, made_up_hint) for token in made_up_tokens),
    ]


def test_wrong_token_is_401(http: httpx.Client) -> None:
    """GET /stats with an unknown X-Token returns 401."""
    route_hint = TOKEN_HINT + " Is the token compared with the keys of TOKENS?"
    wrong_tokens = _wrong_tokens(route_hint, OTHER_CASE_HINT, MADE_UP_TOKEN_HINT)
    for token, hint in wrong_tokens:
        response = http.get("/stats", headers={"X-Token": token})
        _expect_unauthorized(response, hint=hint)


def test_valid_token_is_accepted(http: httpx.Client) -> None:
    """GET /stats with a valid X-Token returns the counts.

    Every key of TOKENS is sent, so a token check that accepts only one of them
    fails.
    """
    for token in TOKENS:
        response = http.get("/stats", headers={"X-Token": token})
        if response.status_code == 401:
            raise CheckFailed(
                "A valid token was rejected.",
                request=_request_text(response),
                expected="status 200",
                actual=describe_response(response),
                hint="Is the header parameter named x_token (FastAPI reads it as "
                "X-Token), and is the token looked up in TOKENS? Every key of "
                f"TOKENS is a valid token: {', '.join(TOKENS)}.",
            )
        _expect_json_with_token(
            response,
            STATS,
            hint='Is there a route for GET /stats returning {"items": len(ITEMS), '
            '"users": len(USERS), "products": len(PRODUCTS)}?',
        )


def test_current_user_comes_from_token(http: httpx.Client) -> None:
    """GET /users/me returns the token's user, and 401 without a valid token."""
    for token in (BOB_TOKEN, ALICE_TOKEN):
        response = http.get("/users/me", headers={"X-Token": token})
        _expect_json_with_token(
            response,
            {"username": TOKENS[token]},
            hint="Is there a route for GET /users/me whose current_user "
            "dependency returns TOKENS[token] for the token from verify_token?",
        )
    route_hint = (
        "Does current_user depend on verify_token, so that GET /users/me gets "
        "the same token check as GET /stats?"
    )
    _expect_unauthorized(http.get("/users/me"), hint=route_hint)
    unknown_hint = (
        route_hint + " A token that is not a key of TOKENS must not become a user."
    )
    # A current_user that reads the header itself may fold the case although
    # verify_token does not, so the hint names both.
    case_hint = f"{route_hint} {OTHER_CASE_HINT}"
    made_up_hint = f"{route_hint} {MADE_UP_TOKEN_HINT}"
    for token, hint in _wrong_tokens(unknown_hint, case_hint, made_up_hint):
        _expect_unauthorized(
            http.get("/users/me", headers={"X-Token": token}), hint=hint
        )


def _connection_counts(http: httpx.Client) -> tuple[int, int]:
    """Return (opened, closed) from GET /connections/stats."""
    response = http.get("/connections/stats")
    body = json_body(response)
    opened = body.get("opened") if isinstance(body, dict) else None
    closed = body.get("closed") if isinstance(body, dict) else None
    if response.status_code != 200 or not (
        isinstance(opened, int) and isinstance(closed, int)
    ):
        raise CheckFailed(
            "GET /connections/stats does not report the connection counts.",
            request=describe_request(response),
            expected='status 200 with a body like {"opened": 3, "closed": 3}',
            actual=describe_response(response),
            hint="Is the starter's /connections/stats route still in main.py?",
        )
    return opened, closed


def _counts_after(http: httpx.Client, before: tuple[int, int]) -> tuple[int, int]:
    """Return the (opened, closed) changes since `before`, once clean-up has run.

    Polls until as many connections are closed as were opened, or the polls run
    out; the caller then compares the changes with what one request should do.
    """
    opened, closed = _connection_counts(http)
    for _ in range(STATS_POLLS):
        if closed - before[1] >= opened - before[0]:
            break
        time.sleep(STATS_POLL_INTERVAL)
        opened, closed = _connection_counts(http)
    return opened - before[0], closed - before[1]


def _expect_all_closed(http: httpx.Client, response: httpx.Response) -> None:
    """Fail unless every connection opened so far is closed, once clean-up has run.

    Nothing else opens connections while the checks run, so after the request
    the app has none open. A connection closed twice is _expect_one_open_and_close's
    to report.
    """
    opened, closed = _counts_after(http, (0, 0))
    if closed >= opened:
        return
    raise CheckFailed(
        "Connections are still open after the request has finished.",
        request=f"{describe_request(response)}, then GET /connections/stats",
        expected='"closed" as large as "opened": every connection closed once its '
        "request is done",
        actual=f'"opened": {opened}, "closed": {closed}',
        hint="Does get_connection close the connection it yielded, the one it "
        "opened for this request, rather than one kept from another request?",
    )


def _expect_one_open_and_close(
    response: httpx.Response, changes: tuple[int, int], *, hint: str
) -> None:
    opened, closed = changes
    if (opened, closed) == (1, 1):
        return
    if opened == 0:
        summary = "The request opened no connection."
        hint = (
            "Is there a route for GET /rows/{row_id} that takes "
            "`connection: Annotated[Connection, Depends(get_connection)]`?"
        )
    else:
        summary = "The request did not open and close exactly one connection."
    raise CheckFailed(
        summary,
        request=describe_request(response),
        expected='one more "opened" and one more "closed" in GET /connections/stats',
        actual=f"{describe_response(response)}; then {opened} more opened "
        f"and {closed} more closed",
        hint=hint,
    )


def _is_int(value: Any) -> bool:
    """Return whether `value` is a JSON integer, which true and false are not."""
    return isinstance(value, int) and not isinstance(value, bool)


# Each field of a GET /rows/{row_id} body, and the question for a wrong value.
ROW_FIELD_HINTS = {
    "row_id": 'Does read_row return "row_id": row_id, the id from the path?',
    "value": "Does read_row return ROWS[row_id] for the id in the path?",
    "connection": "Does the route get its connection from Depends(get_connection) "
    "and return connection.number?",
    "connection_open": "Does the route get its connection from "
    "Depends(get_connection), where get_connection yields before it closes "
    "the connection?",
}


def _wrong_row_fields(body: Any, row_id: int) -> list[str]:
    """Return the fields of a GET /rows/{row_id} body that differ from the README's."""
    if not isinstance(body, dict):
        return list(ROW_FIELD_HINTS)
    wrong = []
    if not _is_int(body.get("row_id")) or body.get("row_id") != row_id:
        wrong.append("row_id")
    if body.get("value") != ROWS[row_id]:
        wrong.append("value")
    if not _is_int(body.get("connection")):
        wrong.append("connection")
    if body.get("connection_open") is not True:
        wrong.append("connection_open")
    return wrong


def _expect_row(response: httpx.Response, row_id: int) -> None:
    """Fail unless the response is a 200 with every field the README gives."""
    expect_status(response, 200, hint="Does read_row look the id up in ROWS?")
    wrong = _wrong_row_fields(json_body(response), row_id)
    if not wrong:
        return
    raise CheckFailed(
        f"GET /rows/{row_id} returns a wrong or missing "
        f"{', '.join(show(field) for field in wrong)}.",
        request=describe_request(response),
        expected=f'a body like {{"row_id": {row_id}, "value": "{ROWS[row_id]}", '
        '"connection": 4, "connection_open": true}, with any integer connection',
        actual=describe_response(response),
        hint=" ".join(ROW_FIELD_HINTS[field] for field in wrong),
    )


def test_connection_closed_after_request(http: httpx.Client) -> None:
    """GET /rows/1 opens one connection for the request and closes it once."""
    before = _connection_counts(http)
    response = http.get("/rows/1")
    expect_status(response, 200, hint="Is there a route for GET /rows/{row_id}?")
    _expect_row(response, 1)
    _expect_one_open_and_close(
        response,
        _counts_after(http, before),
        hint="Does get_connection call pool.open() once before `yield` and "
        "pool.close(connection) once after it?",
    )
    _expect_all_closed(http, response)
    # Every row of ROWS is served, not only the first, and every field of its
    # body is checked, the row_id included.
    _expect_row(http.get("/rows/2"), 2)


def test_connection_closed_when_route_raises(http: httpx.Client) -> None:
    """GET /rows/999 returns 404, and its connection is still closed once."""
    before = _connection_counts(http)
    response = http.get("/rows/999")
    expect_status(
        response,
        404,
        hint="Does the route raise HTTPException(status_code=404) for a missing row?",
    )
    _expect_one_open_and_close(
        response,
        _counts_after(http, before),
        hint="Is pool.close(connection) in a `finally:` block around the `yield`? "
        "When the route raises, FastAPI raises the exception at the `yield`, so "
        "code after it runs only inside `finally`.",
    )
    _expect_all_closed(http, response)
    # A route may make up a row for an id it does not store, so ids next to
    # the stored ones and a random id must get a 404 as well.
    random_id = MISSING_ROW_ID_MIN + secrets.randbelow(
        MISSING_ROW_ID_MAX - MISSING_ROW_ID_MIN
    )
    for row_id in (*MISSING_ROW_IDS, random_id):
        expect_status(
            http.get(f"/rows/{row_id}"),
            404,
            hint="Does read_row raise HTTPException(status_code=404) for every id "
            "that is not a key of ROWS, instead of making up a value?",
        )
