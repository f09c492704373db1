"""Grader for chapter 08: a users resource stored in SQLite through aiosqlite.

The app keeps its database in the file DATABASE_PATH names, which this grader
points into work_dir. Persistence is judged across `learner_app.restart()`, and
the lock check opens that file with Python's sqlite3 module, as a second
process writing to the same database would: it takes the write lock, reads
back a user the app created, and holds the lock while the app is asked to
write, which the app must wait for.
"""

import asyncio
import contextlib
import json
import os
import secrets
import select
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from apigrade import sandbox
from apigrade.checks import (
    JSON_ERRORS,
    CheckFailed,
    describe_request,
    describe_response,
    expect_detail_locates,
    expect_status,
    json_body,
    made_up_email,
    same_json,
    show,
)
from apigrade.server import AppStartError, LearnerApp
from apigrade.timing import record_measurement

# Seconds the checks must wait for the app, one after another: the write
# lock the loop check holds while it probes. No other check requests a delay
# from the app. scripts/bench.py takes the floor from these.
WAIT_SECONDS = 1.0

DATABASE_FILE = "users.db"
# A user id the checks never create: each check adds a few users at most.
MISSING_ID = 987654
# The missing-user checks also send GET and DELETE to ids that no POST
# returned, new in every run, so an app that returns 404 only for MISSING_ID,
# or only inside some range, still fails. The near id is the highest id a 201
# returned, plus 1 plus a random offset below NEAR_ID_SPREAD. The large id lies
# between LARGE_ID_MIN and LARGE_ID_MAX. The README sets no range for user ids,
# so 0 and a negative id are ints that no user has, which get 404, not 422.
NEAR_ID_SPREAD = 50
LARGE_ID_MIN = 10**6
LARGE_ID_MAX = 10**12
# A skip far past the last user, below SQLite's 64-bit integer limit. The
# README sets no upper bound for skip, so it must get 200 and an empty list.
LARGE_SKIP = 10**18
CONCURRENT_CREATES = 20
# The app's default page size and the largest one it accepts.
DEFAULT_LIMIT = 10
PAGE_USERS = 5
# Filler users that the list check sends at once, per batch.
FILLER_BATCH = 10
MAX_LIMIT = 100
# The list check also reads one page of each limit range, drawn in every run,
# that ends before the last user, so a limit other than the fixed ones (1, 2,
# 3, 10 and 100) counts too.
DRAWN_LIMITS = (range(4, DEFAULT_LIMIT), range(DEFAULT_LIMIT + 1, MAX_LIMIT))
# Bounds the paging loop that reads every user: 30 pages of 100 users is far
# more than the checks create.
MAX_PAGES = 30
# How long the lock probe waits for SQLite's write lock, in seconds. With no
# transaction left open it gets the lock at once.
LOCK_PROBE_TIMEOUT = 1.0
# Names that break SQL built by pasting text: quotes, a statement separator, a
# comment, and a value that would close the VALUES list early.
TRICKY_NAMES = [
    "Robert'); DROP TABLE users; --",
    'O\'Brien "Bobby" Tables',
    "x', 'injected@example.com') --",
    "1; DELETE FROM users WHERE 1=1",
]
# Emails that break SQL built by pasting text, each valid under the starter's
# EMAIL_PATTERN, which allows any character but "@" and white space. Pasted
# into a single-quoted literal, the first gets a syntax error, the second
# stores the result of a subquery (every email in the table), the third adds
# a row of its own and the fourth a second statement. The last one breaks a
# double-quoted literal.
TRICKY_EMAILS = [
    "o'brien@example.com",
    "x'||(SELECT(group_concat(email))FROM(users))||'@e.com",
    "x'),('Injected','injected-row')--@example.com",
    "a';DELETE/**/FROM/**/users;--@example.com",
    '"quoted.local"@example.com',
]
# Ids that are not ints, which get 422 from FastAPI: a user_id declared as str
# or float would pass them to SQLite, which then returns 404 or even a user.
NOT_INT_IDS = ("abc", "1.5")

# UserCreate's rules, from the starter: a name of 1 to 100 characters, and an
# email of at most 254 characters with one "@", no spaces and a dot after the
# "@" (EMAIL_PATTERN).
MAX_NAME_LENGTH = 100
MAX_EMAIL_LENGTH = 254
NAME_RULE_HINT = (
    f"Is name declared as Field(min_length=1, max_length={MAX_NAME_LENGTH}), as "
    "in the starter's UserCreate?"
)
EMAIL_RULE_HINT = (
    f"Is email declared as Field(max_length={MAX_EMAIL_LENGTH}, "
    "pattern=EMAIL_PATTERN), as in the starter's UserCreate?"
)
LIMIT_RANGE_HINT = (
    f"Does limit accept every value from 1 to {MAX_LIMIT}, as "
    f"Query(ge=1, le={MAX_LIMIT}) does?"
)


def _email_of_length(length: int, local_part: str) -> str:
    """Return a valid email of `length` characters that starts with `local_part`."""
    domain = "@example.com"
    return local_part + "x" * (length - len(local_part) - len(domain)) + domain


# Bodies that break one of UserCreate's rules, each with the field whose loc
# the 422 must name and the hint for its feedback. Every email is used once
# only, so the check can look for each one in the table afterwards.
INVALID_USER_BODIES: list[tuple[dict[str, str], str, str]] = [
    ({"name": "", "email": "empty-name@example.com"}, "name", NAME_RULE_HINT),
    (
        {"name": "N" * (MAX_NAME_LENGTH + 1), "email": "long-name@example.com"},
        "name",
        NAME_RULE_HINT,
    ),
    ({"name": "N" * 5000, "email": "huge-name@example.com"}, "name", NAME_RULE_HINT),
    ({"name": "No at sign", "email": "not-an-email"}, "email", EMAIL_RULE_HINT),
    ({"name": "Empty email", "email": ""}, "email", EMAIL_RULE_HINT),
    (
        {"name": "Space in email", "email": "ada lovelace@example.com"},
        "email",
        EMAIL_RULE_HINT,
    ),
    ({"name": "No dot in domain", "email": "ada@localhost"}, "email", EMAIL_RULE_HINT),
    (
        {"name": "Two at signs", "email": "ada@lovelace@example.com"},
        "email",
        EMAIL_RULE_HINT,
    ),
    # Each breaks EMAIL_PATTERN in a way a looser pattern could let through:
    # an empty part before or after the domain's dot, a tab, a leading space.
    ({"name": "Empty domain", "email": "ada@.com"}, "email", EMAIL_RULE_HINT),
    ({"name": "Empty top level", "email": "ada@example."}, "email", EMAIL_RULE_HINT),
    (
        {"name": "Tab in email", "email": "ada\tlovelace@example.com"},
        "email",
        EMAIL_RULE_HINT,
    ),
    (
        {"name": "Padded email", "email": " padded@example.com"},
        "email",
        EMAIL_RULE_HINT,
    ),
    (
        {
            "name": "Long email",
            "email": _email_of_length(MAX_EMAIL_LENGTH + 1, "long-email"),
        },
        "email",
        EMAIL_RULE_HINT,
    ),
]
# Bodies at the edges of UserCreate's rules, which must be accepted.
EDGE_USER_BODIES: list[dict[str, str]] = [
    {"name": "Q", "email": "shortest-name@example.com"},
    # Names are stored as sent: spaces around a name stay, and a name of
    # spaces alone has 1 to 100 characters too.
    {"name": " Ada Lovelace ", "email": "padded-name@example.com"},
    {"name": "   ", "email": "blank-name@example.com"},
    {"name": "N" * MAX_NAME_LENGTH, "email": "longest-name@example.com"},
    {
        "name": "Longest email",
        "email": _email_of_length(MAX_EMAIL_LENGTH, "longest-email"),
    },
]
EDGE_HINT = (
    f"UserCreate accepts names of 1 to {MAX_NAME_LENGTH} characters and emails of "
    f"up to {MAX_EMAIL_LENGTH}. Is a rule in your model stricter than the "
    "starter's?"
)
# Valid emails of other shapes than name@example.com, which the starter's
# EMAIL_PATTERN accepts: upper case, a plus sign, digits and subdomains.
EMAIL_VARIANT_BODIES: list[dict[str, str]] = [
    {"name": "Upper case email", "email": "Ada.Lovelace@Example.COM"},
    {"name": "Plus sign email", "email": "ada+newsletter@example.com"},
    {"name": "Subdomain email", "email": "user2024@mail42.example.co.uk"},
]
# The create check also posts one email made up at each run, with letters
# beyond ASCII and symbols in its local part and a one-letter top-level
# domain, which the starter's EMAIL_PATTERN accepts too.
UNUSUAL_CHARACTERS = "!#$%&*=?^`{|}~/\u00fc\u00e9"
UNUSUAL_LOCAL_LENGTH = 20
EMAIL_RULE_STRICT_HINT = (
    "The starter's EMAIL_PATTERN accepts any character but @ and white space, "
    "upper case letters, quotes, symbols and letters beyond ASCII included, "
    "and a top-level domain of one letter. Is EMAIL_PATTERN in your model "
    "stricter than the starter's?"
)

CREATE_HINT = (
    'Is there an @app.post("/users/", status_code=201) route that inserts the '
    "user and returns it with the id the database gave it?"
)
NOT_FOUND_HINT = (
    "Does the route `raise HTTPException(status_code=404, detail=...)` when no "
    "row matches, rather than return a message with status 200?"
)
NEVER_ISSUED_HINT = (
    "Does the route look up every id it gets in the table, and raise "
    "HTTPException(status_code=404, ...) whenever no row matches, rather than "
    "answer from anything but the table?"
)
ID_RANGE_HINT = (
    "Is user_id declared with a range, such as Path(ge=1, le=...)? The README "
    "sets no range for user ids, so 0, negative and large ids are ints that no "
    "user has, which get 404."
)
PLACEHOLDER_HINT = (
    "Is the SQL built by pasting values into the text (an f-string, + or %)? "
    "Pass them as parameters instead: db.execute('INSERT INTO users (name, "
    "email) VALUES (?, ?)', (user.name, user.email)), in every query that "
    "takes a name or an email."
)


# Ids that a 201 from POST /users/ returned, recorded by _expect_user.
issued_ids: set[int] = set()


@pytest.fixture(scope="module")
def app_env(work_dir: Path) -> dict[str, str]:
    return {"DATABASE_PATH": str(work_dir / DATABASE_FILE)}


def _user_body(name: str, email: str) -> dict[str, str]:
    return {"name": name, "email": email}


def _expect_user(
    response: httpx.Response, name: str, email: str, *, hint: str
) -> dict[str, Any]:
    """Fail unless the body is a user with this name and email and an int id."""
    body = json_body(response, hint=hint)
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("id"), int)
        or body.get("name") != name
        or body.get("email") != email
    ):
        raise CheckFailed(
            "The response is not the user that was sent, with its id.",
            request=describe_request(response),
            expected=f"a body like {show({'id': 1, 'name': name, 'email': email})}",
            actual=describe_response(response),
            hint=hint,
        )
    issued_ids.add(body["id"])
    return body


def _create_user(http: httpx.Client, name: str, email: str) -> dict[str, Any]:
    """Create a user through the API, failing with feedback unless it returns 201."""
    response = http.post("/users/", json=_user_body(name, email))
    expect_status(response, 201, hint=CREATE_HINT)
    return _expect_user(response, name, email, hint=CREATE_HINT)


def _expect_stored(
    http: httpx.Client,
    user: dict[str, Any],
    *,
    hint: str,
    missing: str = "A user created earlier is not found.",
    created: str = "",
) -> None:
    """Fail unless GET /users/{id} returns exactly `user`.

    `missing` is the summary for a 404, and `created` describes the requests
    that created the user, for the feedback.
    """
    response = http.get(f"/users/{user['id']}")
    if response.status_code == 404:
        raise CheckFailed(
            missing,
            request=f"{created}{describe_request(response)}",
            expected=f"status 200 with body {show(user)}",
            actual=describe_response(response),
            hint=hint,
        )
    expect_status(response, 200, hint=hint)
    body = json_body(response, hint=hint)
    if not same_json(body, user):
        raise CheckFailed(
            "GET returned another user than the one created.",
            request=describe_request(response),
            expected=f"status 200 with body {show(user)}",
            actual=describe_response(response),
            hint=hint,
        )


def _expect_not_found(response: httpx.Response, hint: str) -> None:
    """Fail unless the response is a 404 whose body is {"detail": <message>}."""
    expect_status(response, 404, hint=hint)
    body = json_body(response, hint=hint)
    if not isinstance(body, dict) or not isinstance(body.get("detail"), str):
        raise CheckFailed(
            "The 404 response has no detail message.",
            request=describe_request(response),
            expected='status 404 with a body like {"detail": "User 5 not found"}',
            actual=describe_response(response),
            hint=hint,
        )


def _never_issued_ids() -> list[int]:
    """Return ids that no 201 returned, new in every run: near, large, 0, negative.

    Call it right after a create, so that the near id lies above every id the
    app has stored.
    """
    near = max(issued_ids, default=0) + 1 + secrets.randbelow(NEAR_ID_SPREAD)
    large = LARGE_ID_MIN + secrets.randbelow(LARGE_ID_MAX - LARGE_ID_MIN)
    negative = -1 - secrets.randbelow(LARGE_ID_MAX)
    return [near, large, 0, negative]


def _expect_never_issued_not_found(
    http: httpx.Client, method: str, user_id: int
) -> None:
    """Send `method` to /users/{user_id}, an id no POST returned, and expect a 404."""
    response = http.request(method, f"/users/{user_id}")
    if response.status_code != 404:
        raise CheckFailed(
            f"{method} of user id {user_id}, which no POST /users/ returned, did "
            "not get 404.",
            request=describe_request(response),
            expected='status 404 with a body like {"detail": "User 5 not found"}',
            actual=describe_response(response),
            hint=ID_RANGE_HINT if response.status_code == 422 else NEVER_ISSUED_HINT,
        )
    _expect_not_found(response, NEVER_ISSUED_HINT)


def _read_all_users(http: httpx.Client) -> list[dict[str, Any]]:
    """Read every user through GET /users/, one page of MAX_LIMIT at a time.

    Reading stops at an empty page, not a short one, so an app that caps limit
    below MAX_LIMIT still lists every user here, and only list_users_paginates
    judges the cap.
    """
    users: list[dict[str, Any]] = []
    hint = (
        'Is there an @app.get("/users/") route that takes skip and limit and '
        "returns a JSON list of users?"
    )
    for _ in range(MAX_PAGES):
        response = http.get("/users/", params={"skip": len(users), "limit": MAX_LIMIT})
        expect_status(response, 200, hint=hint)
        page = json_body(response, hint=hint)
        if not isinstance(page, list) or len(page) > MAX_LIMIT:
            raise CheckFailed(
                f"GET /users/ did not return a list of at most {MAX_LIMIT} users.",
                request=describe_request(response),
                expected=f"a JSON list of at most {MAX_LIMIT} users",
                actual=describe_response(response),
                hint=hint,
            )
        if not page:
            return users
        users.extend(page)
    raise CheckFailed(
        f"GET /users/ kept returning users after {MAX_PAGES} pages.",
        request=f"GET /users/?skip=...&limit={MAX_LIMIT}, {MAX_PAGES} times",
        expected="an empty page once skip passes the last user",
        actual=f"{len(users)} users and still more pages",
        hint="Does the query use skip as its OFFSET?",
    )


def _expect_not_listed(
    http: httpx.Client, user: dict[str, Any], when: str, *, hint: str
) -> None:
    """Fail if GET /users/ still lists `user`, which should be gone by `when`."""
    users = _read_all_users(http)
    if user in users:
        raise CheckFailed(
            f"GET /users/ still lists the user {when}.",
            request=f"DELETE /users/{user['id']}, then GET /users/?skip=0&"
            f"limit={MAX_LIMIT} and the pages after it",
            expected=f"a list without {show(user)}",
            actual=f"{len(users)} users, that one included",
            hint=hint,
        )


def _restart(learner_app: LearnerApp) -> None:
    """Restart the app, failing with its output if it does not start again."""
    try:
        learner_app.restart()
    except AppStartError as error:
        raise CheckFailed(
            "The app did not start again after a restart.",
            request="stop the server, then start it again on the same database",
            expected="the app starts with the tables and rows it already has",
            actual=str(error),
            hint="Does the lifespan create the table with CREATE TABLE IF NOT "
            "EXISTS, so that it starts when the table is already there?",
        ) from None


# Seven creates among some 25 requests: an app that takes a second
# per create still finishes within the timeout.
@pytest.mark.timeout(30)
def test_create_user_returns_201(http: httpx.Client) -> None:
    """POST /users/ returns 201 with the new user, and 422 for an invalid body.

    A body without an email, or one that breaks a rule of UserCreate, gets a
    422 and is not stored. Names and emails at the rules' limits, and emails
    with upper case, a plus sign, digits and subdomains, get 201 and are read
    back exactly as sent.
    """
    _create_user(http, "Ada Lovelace", "ada@example.com")
    expect_detail_locates(
        http.post("/users/", json={"name": "Ada Byron"}),
        ["body", "email"],
        hint="Does the route take `user: UserCreate`, a model with a required "
        "name and email, rather than a dict?",
    )
    for body, field, hint in INVALID_USER_BODIES:
        expect_detail_locates(
            http.post("/users/", json=body), ["body", field], hint=hint
        )
    _expect_none_stored(http, [body["email"] for body, _, _ in INVALID_USER_BODIES])
    for body in EDGE_USER_BODIES:
        response = http.post("/users/", json=body)
        expect_status(response, 201, hint=EDGE_HINT)
        user = _expect_user(response, body["name"], body["email"], hint=EDGE_HINT)
        _expect_stored(http, user, hint=EDGE_HINT)
    unusual_body = {
        "name": "Made-up email",
        "email": made_up_email(UNUSUAL_CHARACTERS, UNUSUAL_LOCAL_LENGTH),
    }
    for body in (*EMAIL_VARIANT_BODIES, unusual_body):
        response = http.post("/users/", json=body)
        expect_status(response, 201, hint=EMAIL_RULE_STRICT_HINT)
        user = _expect_user(
            response, body["name"], body["email"], hint=EMAIL_RULE_STRICT_HINT
        )
        _expect_stored(http, user, hint=EMAIL_RULE_STRICT_HINT)


def _expect_none_stored(http: httpx.Client, emails: list[str]) -> None:
    """Fail if GET /users/ lists a user with one of `emails`, which got a 422."""
    for user in _read_all_users(http):
        if isinstance(user, dict) and user.get("email") in emails:
            raise CheckFailed(
                "A user whose body got a 422 was stored anyway.",
                request="POST /users/ with each invalid body (each answered 422), "
                f"then GET /users/?skip=0&limit={MAX_LIMIT} and the pages after it",
                expected=f"no user with the email {show(user['email'])}",
                actual=f"the user {show(user)}",
                hint="Does the route take `user: UserCreate`, so that FastAPI "
                "validates the body before the route inserts anything?",
            )


def test_read_user_returns_it(http: httpx.Client) -> None:
    """GET /users/{id} returns the user created with that id, and 422 for a non-int id.

    The 422 comes for GET and DELETE alike, for a word and for a fraction.
    """
    user = _create_user(http, "Alan Turing", "alan@example.com")
    _expect_stored(
        http,
        user,
        hint='Does the @app.get("/users/{user_id}") route select the row with '
        "WHERE id = ? and return its id, name and email?",
    )
    for method in ("GET", "DELETE"):
        for not_an_int in NOT_INT_IDS:
            expect_detail_locates(
                http.request(method, f"/users/{not_an_int}"),
                ["path", "user_id"],
                hint="Is user_id annotated as int, as in `user_id: int`? FastAPI "
                "then answers 422 for an id that is not a whole number, before "
                "SQLite, which compares text and numbers loosely, sees it.",
            )


def test_missing_user_returns_404(http: httpx.Client) -> None:
    """GET /users/{id} for a missing id returns 404 with a detail message.

    The ids are MISSING_ID and those from _never_issued_ids: the next id plus
    a random offset, a large one, 0 and a negative one.
    """
    # A user that can be read first shows that the route exists, so the 404
    # below comes from the route and not from FastAPI's router.
    user = _create_user(http, "Claude Shannon", "claude@example.com")
    _expect_stored(http, user, hint=NOT_FOUND_HINT)
    _expect_not_found(http.get(f"/users/{MISSING_ID}"), NOT_FOUND_HINT)
    for user_id in _never_issued_ids():
        _expect_never_issued_not_found(http, "GET", user_id)


async def _add_filler_users(learner_app: LearnerApp, count: int) -> None:
    """Send `count` POST /users/, FILLER_BATCH at a time, to fill the table.

    Their responses are not judged: the other checks judge creates, and a
    filler user that was not stored only makes the table smaller.
    """
    bodies = [
        _user_body(f"Filler user {number}", f"filler{number}@example.com")
        for number in range(1, count + 1)
    ]
    for start in range(0, count, FILLER_BATCH):
        await _post_all_at_once(learner_app, bodies[start : start + FILLER_BATCH])


@pytest.mark.timeout(30)
def test_list_users_paginates(http: httpx.Client, learner_app: LearnerApp) -> None:
    """GET /users/ returns users in id order, one page per skip and limit."""
    # Five users created one by one, and filler users after them, so that
    # more users are stored than one page of MAX_LIMIT holds: both the
    # default limit and a cap below MAX_LIMIT then show.
    created = [
        _create_user(http, f"Page user {number}", f"page{number}@example.com")
        for number in range(1, PAGE_USERS + 1)
    ]
    stored_before = len(_read_all_users(http))
    fillers = max(0, MAX_LIMIT + 1 - stored_before)
    asyncio.run(_add_filler_users(learner_app, fillers))
    stored = len(_read_all_users(http))
    full_page = http.get("/users/", params={"limit": MAX_LIMIT})
    expect_status(full_page, 200, hint=LIMIT_RANGE_HINT)
    page = json_body(full_page, hint=LIMIT_RANGE_HINT)
    expected_count = min(MAX_LIMIT, stored)
    if not isinstance(page, list) or len(page) != expected_count:
        count = f"{len(page)} users" if isinstance(page, list) else "no list"
        raise CheckFailed(
            f"GET /users/?limit={MAX_LIMIT} did not return {expected_count} users, "
            f"while {stored} are stored.",
            request=f"{fillers} POST /users/ on top of {stored_before} users, "
            f"then {describe_request(full_page)}",
            expected=f"a list of {expected_count} users, since GET /users/ lists "
            f"{stored} users page by page",
            actual=count,
            hint=LIMIT_RANGE_HINT
            + " Is limit passed to LIMIT ? as it came, with no smaller cap?",
        )
    users = _read_all_users(http)
    ids = [user.get("id") if isinstance(user, dict) else None for user in users]
    order_hint = "Does the query end with ORDER BY id, and return every column?"
    if ids != sorted(id_ for id_ in ids if isinstance(id_, int)):
        raise CheckFailed(
            "GET /users/ does not list users in id order.",
            request=f"GET /users/?skip=0&limit={MAX_LIMIT} and the pages after it",
            expected="users sorted by id, lowest first",
            actual=f"ids {show(ids)}",
            hint=order_hint,
        )
    missing = [user for user in created if user not in users]
    if missing:
        raise CheckFailed(
            "GET /users/ does not list every user created.",
            request=f"GET /users/?skip=0&limit={MAX_LIMIT} and the pages after it",
            expected=f"a list that includes {show(missing[0])}",
            actual=f"{len(users)} users with ids {show(ids)}",
            hint=order_hint,
        )

    start = users.index(created[0])
    windows = [
        ({}, users[:DEFAULT_LIMIT]),
        ({"skip": start, "limit": 2}, users[start : start + 2]),
        ({"skip": start + 2, "limit": 3}, users[start + 2 : start + 5]),
        ({"skip": start, "limit": 1}, users[start : start + 1]),
        ({"limit": MAX_LIMIT}, users[:MAX_LIMIT]),
        ({"skip": len(users)}, []),
    ]
    for limits in DRAWN_LIMITS:
        limit = secrets.choice(limits)
        skip = secrets.randbelow(max(1, len(users) - limit))
        windows.append(({"skip": skip, "limit": limit}, users[skip : skip + limit]))
    for params, expected in windows:
        response = http.get("/users/", params=params)
        expect_status(
            response, 200, hint=LIMIT_RANGE_HINT if "limit" in params else None
        )
        if not same_json(json_body(response), expected):
            raise CheckFailed(
                "This page of users is not the expected slice of the full list.",
                request=describe_request(response),
                expected=f"status 200 with body {show(expected)}",
                actual=describe_response(response),
                hint=f"Does the query use LIMIT ? OFFSET ? with (limit, skip), "
                f"and is limit's default {DEFAULT_LIMIT}?",
            )
    far_page = http.get("/users/", params={"skip": LARGE_SKIP})
    far_hint = (
        "Is skip declared with Query(ge=0) and no upper bound? The README sets "
        "no upper bound for skip, so a skip past the last user returns an empty "
        "list."
    )
    expect_status(far_page, 200, hint=far_hint)
    if json_body(far_page, hint=far_hint) != []:
        raise CheckFailed(
            "A skip far past the last user did not return an empty list.",
            request=describe_request(far_page),
            expected="status 200 with body []",
            actual=describe_response(far_page),
            hint=far_hint,
        )


def test_delete_user_removes_it(http: httpx.Client) -> None:
    """DELETE /users/{id} returns 204 with no body, and only that user is gone."""
    user = _create_user(http, "Grace Hopper", "grace@example.com")
    other_user = _create_user(http, "Mary Jackson", "mary@example.com")
    hint = (
        'Does an @app.delete("/users/{user_id}", status_code=204) route run '
        "DELETE FROM users WHERE id = ? and commit?"
    )
    response = http.delete(f"/users/{user['id']}")
    expect_status(response, 204, hint=hint)
    if response.content:
        raise CheckFailed(
            "The 204 response has a body.",
            request=describe_request(response),
            expected="status 204 with an empty body",
            actual=describe_response(response),
            hint="Does the route return None, or Response(status_code=204), "
            "rather than a message?",
        )
    _expect_not_listed(http, user, "after it was deleted", hint=hint)
    _expect_not_found(http.get(f"/users/{user['id']}"), hint)
    _expect_stored(
        http,
        other_user,
        hint="Does the DELETE statement end with WHERE id = ?, so that it removes "
        "only the user in the path?",
        missing="Deleting one user removed another one too.",
        created=f"DELETE /users/{user['id']}, then ",
    )


def test_delete_missing_user_returns_404(http: httpx.Client, work_dir: Path) -> None:
    """DELETE of a missing user returns 404 with a detail, and ends its transaction.

    The ids are that of a user already deleted and those from
    _never_issued_ids: the next id plus a random offset, a large one, 0 and a
    negative one. The first 404 also leaves the database unlocked for other
    writers.
    """
    remaining = _create_user(http, "Frances Allen", "frances@example.com")
    user = _create_user(http, "John Backus", "john@example.com")
    response = http.delete(f"/users/{user['id']}")
    expect_status(response, 204, hint="Does DELETE /users/{user_id} return 204?")
    missing = http.delete(f"/users/{user['id']}")
    _expect_not_found(
        missing,
        "Does the delete route check cursor.rowcount and raise a 404 when no row "
        "was deleted?",
    )
    _expect_unlocked(
        work_dir / DATABASE_FILE,
        remaining,
        "The DELETE that found no row left its transaction open, so the database "
        "stays locked for every other writer.",
        f"{describe_request(missing)} (answered 404)",
        "Does the route end the transaction before it raises the 404? Python's "
        "sqlite3 starts a transaction at any DELETE, even one that removes no "
        "row, and SQLite keeps the file locked for writing until `await "
        "db.commit()` or `await db.rollback()` ends it.",
    )
    for user_id in _never_issued_ids():
        _expect_never_issued_not_found(http, "DELETE", user_id)


# Up to five rounds of twenty creates sent at once, each followed by a list
# read and a file read: the same limit as concurrent_creates_all_stored.
@pytest.mark.timeout(40)
def test_duplicate_email_returns_409(
    http: httpx.Client, work_dir: Path, learner_app: LearnerApp
) -> None:
    """A second user with the same email gets 409, and the first is unchanged.

    The rule holds for requests sent at the same time too: of several POSTs
    with one new email, exactly one gets 201 and the others 409, and the
    email is stored once.
    """
    first = _create_user(http, "Edsger Dijkstra", "edsger@example.com")
    response = http.post("/users/", json=_user_body("Impostor", "edsger@example.com"))
    hint = (
        "Is the email column UNIQUE, and does the route catch "
        "aiosqlite.IntegrityError and raise HTTPException(status_code=409, ...)?"
    )
    expect_status(response, 409, hint=hint)
    body = json_body(response, hint=hint)
    if not isinstance(body, dict) or not isinstance(body.get("detail"), str):
        raise CheckFailed(
            "The 409 response has no detail message.",
            request=describe_request(response),
            expected='status 409 with a body like {"detail": "..."}',
            actual=describe_response(response),
            hint=hint,
        )
    _expect_stored(
        http,
        first,
        missing="The first user is gone after its duplicate was rejected.",
        created=f"POST /users/ (answered 201 with id {first['id']}), a "
        "duplicate POST (answered 409), then ",
        hint="Was the first insert committed? A rollback undoes every change "
        "since the last commit, so an uncommitted insert disappears with the "
        "failed one.",
    )
    # Only the email is unique: another user may have the same name.
    namesake = http.post(
        "/users/", json=_user_body("Edsger Dijkstra", "edsger.w@example.com")
    )
    if namesake.status_code != 201:
        raise CheckFailed(
            "A user with a new email was rejected because another user has the "
            "same name.",
            request=describe_request(namesake),
            expected="status 201: only the email must be unique",
            actual=describe_response(namesake),
            hint="Is only the email column UNIQUE? Two people may share a name.",
        )
    for round_number in range(1, SAME_EMAIL_ROUNDS + 1):
        _expect_one_of_simultaneous_stored(
            http,
            learner_app,
            work_dir / DATABASE_FILE,
            _user_body(
                f"Same moment {round_number}", f"same-moment{round_number}@example.com"
            ),
        )


# Requests with one new email sent at the same time, in each of
# SAME_EMAIL_ROUNDS rounds with an email of their own. An app that looks for
# a taken email with a SELECT and then inserts lets several of them through
# whenever more than one SELECT runs before the first INSERT. Graded ten times
# with both cores loaded, such an app (the mutant
# email_checked_before_insert_without_unique) stored 6 to 20 of the twenty in
# the first round every time. With ten requests a round, a round missed it
# about one time in four.
SAME_EMAIL_CREATES = 20
SAME_EMAIL_ROUNDS = 5
SAME_EMAIL_HINT = (
    "Does the route look for a taken email with a SELECT before the INSERT? "
    "Requests sent at the same time can all find the email free before any of "
    "them inserts it. Is the email column UNIQUE, and does the route catch "
    "aiosqlite.IntegrityError from the INSERT and raise a 409, so that the "
    "database itself rejects the second row?"
)
LOST_INSERT_HINT = (
    "One request got 201, yet its user is not stored: did another request's "
    "rollback, after its 409, undo that insert before it was committed? The "
    "requests share one connection, so hold write_lock (`async with "
    "write_lock:`) around each INSERT or DELETE and its commit or rollback."
)
# Counts the rows of the users table in the file argv[1] whose email is
# argv[2], and prints one JSON line: {"count": n}, or {"error": ...}. It takes
# no write lock, so a transaction the app left open does not stop it, and it
# reads committed rows only.
COUNT_PROBE = """
import json, sqlite3, sys
database, email = sys.argv[1:3]
try:
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=1.0)
    count = connection.execute(
        "SELECT count(*) FROM users WHERE email = ?", (email,)
    ).fetchone()[0]
    connection.close()
    print(json.dumps({"count": count}), flush=True)
except sqlite3.Error as error:
    print(json.dumps({"error": f"{type(error).__name__}: {error}"}), flush=True)
"""


def _count_in_file(database: Path, email: str) -> dict[str, Any]:
    """Count the committed rows with `email` in `database`, from another connection.

    Returns the probe's JSON line: {"count": n}, or an error. The probe runs
    in a sandbox, as the lock probe does (see _start_probe).
    """
    if database.is_symlink():
        return {
            "error": "the database file is a symbolic link, not a file the app created"
        }
    folder = database.parent
    process = sandbox.start(
        [sys.executable, "-I", "-c", COUNT_PROBE, str(database), email],
        cwd=folder,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"},
        stdout=subprocess.PIPE,
        writable=folder,
    )
    try:
        return _probe_answer(process, LOCK_PROBE_TIMEOUT + PROBE_START_SECONDS)
    finally:
        process.kill()


def _expect_one_of_simultaneous_stored(
    http: httpx.Client, learner_app: LearnerApp, database: Path, body: dict[str, str]
) -> None:
    """Send SAME_EMAIL_CREATES copies of `body` at once, and expect one stored.

    Exactly one must get 201 and the others 409, GET /users/ must list the
    email once, and the file DATABASE_PATH names must not contain it twice.
    """
    responses = asyncio.run(_post_all_at_once(learner_app, [body] * SAME_EMAIL_CREATES))
    statuses = [response.status_code for response in responses]
    request = (
        f"{SAME_EMAIL_CREATES} POST /users/ sent at the same time, each with the "
        f"body {show(body)}"
    )
    expected = f"one 201 and {SAME_EMAIL_CREATES - 1} 409s"
    created = [response for response in responses if response.status_code == 201]
    if len(created) > 1:
        raise CheckFailed(
            f"{len(created)} of {SAME_EMAIL_CREATES} requests sent at the same "
            "time with the same email were stored.",
            request=request,
            expected=expected,
            actual=f"statuses {statuses}",
            hint=SAME_EMAIL_HINT,
        )
    others = [
        response for response in responses if response.status_code not in (201, 409)
    ]
    if others or not created:
        raise CheckFailed(
            "Requests sent at the same time with one new email did not get one "
            "201 and 409 for the rest.",
            request=request,
            expected=expected,
            actual=f"statuses {statuses}, the first of them: "
            f"{describe_response((others or responses)[0])}",
            hint=SAME_EMAIL_HINT,
        )
    _expect_user(created[0], body["name"], body["email"], hint=SAME_EMAIL_HINT)

    listed = [
        user
        for user in _read_all_users(http)
        if isinstance(user, dict) and user.get("email") == body["email"]
    ]
    if len(listed) != 1:
        # One 201 whose row is gone: a 409's rollback undid the insert before
        # it was committed, which the write lock prevents.
        lost = len(created) == 1 and not listed
        raise CheckFailed(
            "GET /users/ does not list the email sent at the same time exactly once.",
            request=f"{request} (statuses {statuses}), then GET /users/?skip=0&"
            f"limit={MAX_LIMIT} and the pages after it",
            expected=f"one user with the email {show(body['email'])}",
            actual=f"{len(listed)} such users: {show(listed)}",
            hint=LOST_INSERT_HINT if lost else SAME_EMAIL_HINT,
        )

    # Only duplicate rows fail here, so a probe error passes. A file without
    # the users table, or none at DATABASE_PATH, already fails
    # failed_insert_leaves_database_unlocked.
    answer = _count_in_file(database, body["email"])
    count = answer.get("count")
    if isinstance(count, int) and count > 1:
        raise CheckFailed(
            "The database file contains the email sent at the same time more "
            "than once.",
            request=f"{request} (statuses {statuses}), then SELECT count(*) FROM "
            f"users WHERE email = ? in {database.name} from another connection",
            expected=f"a count of 1: one row with {show(body['email'])}",
            actual=f"a count of {count}",
            hint=SAME_EMAIL_HINT,
        )


# Takes SQLite's write lock on the file in argv[1], waiting up to argv[2]
# seconds, and prints one JSON line. The line has the email of the user whose
# id is argv[4], null if no row has it, and read_error if the table could not
# be read. Without the lock, the line has the error instead. In "hold" mode
# (argv[3]) it keeps the lock until a line arrives on stdin, an email, and
# prints whether a user with it is already in the file; in "probe" mode it
# lets go at once.
LOCK_PROBE = """
import json, sqlite3, sys
database, timeout, mode, user_id = sys.argv[1:5]
try:
    connection = sqlite3.connect(
        f"file:{database}?mode=rw", uri=True, timeout=float(timeout),
        isolation_level=None,
    )
    connection.execute("BEGIN IMMEDIATE")
    try:
        row = connection.execute(
            "SELECT email FROM users WHERE id = ?", (int(user_id),)
        ).fetchone()
        answer = {"email": row[0] if row else None}
    except sqlite3.Error as error:
        answer = {"email": None, "read_error": f"{type(error).__name__}: {error}"}
    print(json.dumps(answer), flush=True)
    if mode == "hold":
        # The email of the user the app was asked to store meanwhile: a
        # reader that takes no lock shows whether its row is already there.
        email = sys.stdin.readline().strip()
        reader = sqlite3.connect(f"file:{database}?mode=ro&nolock=1", uri=True)
        try:
            count = reader.execute(
                "SELECT count(*) FROM users WHERE email = ?", (email,)
            ).fetchone()[0]
            print(json.dumps({"stored": count > 0}), flush=True)
        except sqlite3.Error as error:
            print(json.dumps({"stored": None, "read_error": str(error)}), flush=True)
        reader.close()
    connection.execute("ROLLBACK")
    connection.close()
except sqlite3.Error as error:
    print(json.dumps({"error": f"{type(error).__name__}: {error}"}), flush=True)
"""
# Seconds a sandboxed interpreter may take to start, on top of the lock wait.
PROBE_START_SECONDS = 15.0
# Seconds the held lock lasts while the app is asked to write, and the longest
# the app may then take to respond: Python's sqlite3, under aiosqlite, waits
# 5 s for a lock by default.
HOLD_SECONDS = 1.0
NOLOCK_HINT = (
    "Does the app connect with an option such as nolock=1? Connect to the file "
    "by its path alone, as aiosqlite.connect(DATABASE_PATH) does."
)
# An app that responds slowly gets a longer hold: HOLD_FACTOR times its own
# time for a create, up to HOLD_LIMIT. So a POST delayed past the hold, with
# locking off, must be slow everywhere, which the per-check limits catch.
HOLD_FACTOR = 10
HOLD_LIMIT = 12.0
# Seconds to wait for a probe that printed something else to end.
PROBE_EXIT_SECONDS = 2.0
HELD_WRITE_TIMEOUT = 20.0


def _start_probe(database: Path, mode: str, user_id: int) -> sandbox.SandboxedProcess:
    """Start the lock probe on `database` in a sandbox of its own.

    It runs as the app's user. A link the app puts at the database path, even
    between a check and the open, then leads only where the app itself can
    reach, never to a file of the grader's.
    """
    folder = database.parent
    command = [sys.executable, "-I", "-c", LOCK_PROBE, str(database)]
    return sandbox.start(
        [*command, f"{LOCK_PROBE_TIMEOUT:g}", mode, str(user_id)],
        cwd=folder,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"},
        stdout=subprocess.PIPE,
        writable=folder,
        stdin=subprocess.PIPE if mode == "hold" else subprocess.DEVNULL,
    )


def _probe_answer(process: sandbox.SandboxedProcess, timeout: float) -> dict[str, Any]:
    """Read the probe's JSON line, or describe why there is none as an error."""
    stdout = process.popen.stdout
    assert stdout is not None
    ready, _, _ = select.select([stdout], [], [], timeout)
    if not ready:
        return {"error": f"the lock probe did not answer within {timeout:g} s"}
    line = stdout.readline(4096).decode("utf-8", errors="replace").strip()
    try:
        answer = json.loads(line)
    except JSON_ERRORS:
        answer = None
    if not isinstance(answer, dict):
        # Not the probe's line, such as the start of a traceback: the rest of
        # the output, once the probe has ended, shows more.
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.popen.wait(timeout=PROBE_EXIT_SECONDS)
        if process.popen.poll() is not None:
            line += "\n" + stdout.read(4096).decode("utf-8", errors="replace")
        code = process.popen.poll()
        text = line.strip()[-500:]
        return {"error": text or f"the lock probe exited with code {code}"}
    return answer


def _probe_write_lock(database: Path, user_id: int) -> dict[str, Any]:
    """Take and release SQLite's write lock on `database`, reading one user.

    Returns the probe's JSON line: the email stored for `user_id`, or an error.
    """
    if database.is_symlink():
        return {
            "error": "the database file is a symbolic link, not a file the app created"
        }
    process = _start_probe(database, "probe", user_id)
    try:
        return _probe_answer(process, LOCK_PROBE_TIMEOUT + PROBE_START_SECONDS)
    finally:
        process.kill()


def _expect_database_file(database: Path) -> None:
    if not database.is_file():
        raise CheckFailed(
            "There is no database file where DATABASE_PATH points.",
            request=f"the app was started with DATABASE_PATH={database}",
            expected=f"a SQLite file at {database}",
            actual="no such file",
            hint='Does the app connect to os.environ.get("DATABASE_PATH", '
            '"users.db") instead of a fixed file name?',
        )


def _expect_unlocked(
    database: Path, user: dict[str, Any], summary: str, request: str, hint: str
) -> None:
    """Fail unless another connection can take the write lock on `database` now.

    That connection also reads `user` from the file, which must hold it: a
    user the API created is in the database DATABASE_PATH names.
    """
    _expect_database_file(database)
    lock_file = database.with_name(f"{database.name}.lock")
    if os.path.lexists(lock_file):
        raise CheckFailed(
            summary,
            request=f"{request}, then a look for {lock_file.name} next to "
            f"{database.name}",
            expected="no lock file: SQLite's own locking, which every connection sees",
            actual=f"{lock_file.name} exists: the app locks the file with "
            "SQLite's unix-dotfile method, which other connections ignore",
            hint=f"{hint} Connect with aiosqlite.connect(DATABASE_PATH) alone, "
            "with no vfs= in a URI.",
        )
    answer = _probe_write_lock(database, user["id"])
    if "error" in answer:
        raise CheckFailed(
            summary,
            request=f"{request}, then a write to {database.name} from another "
            "connection",
            expected=f"the write lock within {LOCK_PROBE_TIMEOUT:g} s",
            actual=str(answer["error"]),
            hint=hint,
        )
    if answer.get("email") != user["email"]:
        raise CheckFailed(
            "A user the app created is not in the database file DATABASE_PATH names.",
            request=f"{request}, then SELECT email FROM users WHERE id = "
            f"{user['id']} in {database.name} from another connection",
            expected=f"the row with email {show(user['email'])}",
            actual=str(
                answer.get("read_error") or f"email {show(answer.get('email'))}"
            ),
            hint="Does the app keep its users in the file os.environ.get("
            '"DATABASE_PATH", "users.db") names, in the table users, and '
            "commit each insert?",
        )


def _expect_lock_taken(process: sandbox.SandboxedProcess, database: Path) -> None:
    """Fail unless the lock probe in "hold" mode took the write lock."""
    answer = _probe_answer(process, LOCK_PROBE_TIMEOUT + PROBE_START_SECONDS)
    if "error" in answer:
        raise CheckFailed(
            "Another connection could not take the write lock on the database.",
            request=f"a write to {database.name} from another connection",
            expected=f"the write lock within {LOCK_PROBE_TIMEOUT:g} s",
            actual=str(answer["error"]),
            hint="Does a request leave a transaction open, without commit or rollback?",
        )


def _release_lock(process: sandbox.SandboxedProcess) -> None:
    """Tell the lock probe in "hold" mode to let the write lock go."""
    stdin = process.popen.stdin
    if stdin is not None:
        with contextlib.suppress(OSError):
            stdin.write(b"\n")
            stdin.close()


def _expect_app_waits_for_lock(
    database: Path, learner_app: LearnerApp, user_id: int, hold: float
) -> None:
    """Fail if the app writes while another connection holds the write lock.

    SQLite makes a writer wait while another connection holds the lock, so a
    201 before the lock is let go means the app turned SQLite's locking off
    (`?nolock=1`), and two writers could then corrupt the file. An app that
    waits, or responds with an error, passes. The lock is held `hold` seconds.
    """
    process = _start_probe(database, "hold", user_id)
    try:
        _expect_lock_taken(process, database)
        answered: list[httpx.Response] = []
        tag = secrets.token_hex(4)
        body = _user_body(f"Writer {tag}", f"writer-{tag}@example.com")

        def write() -> None:
            with learner_app.client(timeout=HELD_WRITE_TIMEOUT) as client:
                answered.append(client.post("/users/", json=body))

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        writer.join(hold)
        if answered and answered[0].status_code == 201:
            raise CheckFailed(
                "The app stored a user while another connection held the "
                "database's write lock, so it does not use SQLite's locking.",
                request=f"{describe_request(answered[0])} while another "
                f"connection held the write lock on {database.name}",
                expected="the app waits for the lock, or answers an error",
                actual=f"{describe_response(answered[0])} before the lock was let go",
                hint=NOLOCK_HINT,
            )
        # The row itself: this catches an app that writes under the lock and
        # delays its 201 until the lock is free.
        stdin = process.popen.stdin
        assert stdin is not None
        stdin.write(f"{body['email']}\n".encode())
        stdin.flush()
        stored = _probe_answer(process, PROBE_EXIT_SECONDS + LOCK_PROBE_TIMEOUT)
        if stored.get("stored"):
            raise CheckFailed(
                "The app stored a user while another connection held the "
                "database's write lock, so it does not use SQLite's locking.",
                request=f"POST /users/ while another connection held the write "
                f"lock on {database.name}",
                expected="no row for that user until the lock is let go",
                actual=f"the row for {body['email']} was in the file while the "
                "lock was held",
                hint=NOLOCK_HINT,
            )
    finally:
        _release_lock(process)
        process.kill()
    writer.join(HELD_WRITE_TIMEOUT)


@pytest.mark.timeout(60)
def test_failed_insert_leaves_database_unlocked(
    http: httpx.Client, work_dir: Path, learner_app: LearnerApp
) -> None:
    """After a rejected duplicate, the database accepts the next write at once."""
    database = work_dir / DATABASE_FILE
    body = _user_body("Barbara Liskov", "barbara@example.com")
    created = http.post("/users/", json=body)
    expect_status(created, 201, hint=CREATE_HINT)
    user = _expect_user(created, body["name"], body["email"], hint=CREATE_HINT)
    _expect_unlocked(
        database,
        user,
        "The insert was never committed, so its transaction keeps the "
        "database locked for every other writer.",
        f"{describe_request(created)} (answered 201)",
        "Does the route call `await db.commit()` after the INSERT? Until a "
        "commit or rollback ends the transaction, SQLite keeps the whole file "
        "locked for writing, and the row is lost when the connection closes.",
    )
    duplicate = http.post(
        "/users/", json=_user_body("Barbara again", "barbara@example.com")
    )
    expect_status(
        duplicate,
        409,
        hint="Does the route catch aiosqlite.IntegrityError and raise a 409?",
    )
    _expect_unlocked(
        database,
        user,
        "The failed insert left its transaction open, so the database stays "
        "locked for every other writer.",
        f"{describe_request(duplicate)} (answered 409)",
        "Does the route call `await db.rollback()` when the insert raises "
        "aiosqlite.IntegrityError? Until a commit or rollback ends the "
        "transaction, SQLite keeps the whole file locked for writing.",
    )
    hold = min(
        HOLD_LIMIT, max(HOLD_SECONDS, HOLD_FACTOR * created.elapsed.total_seconds())
    )
    _expect_app_waits_for_lock(database, learner_app, user["id"], hold)

    next_user = _create_user(http, "Barbara Colleague", "colleague@example.com")
    _expect_stored(
        http,
        next_user,
        hint="Does the insert after a failed one still commit its own row?",
    )


# While another connection holds the write lock for LOOP_HOLD_SECONDS, a
# POST /users/ waits for it. aiosqlite waits in its own thread, so the event
# loop keeps serving: a quick request takes milliseconds (QUICK_PATH). The
# blocking sqlite3 module called in `async def` waits on the loop itself, so
# a quick request sent meanwhile waits until the lock is let go, up to the
# whole hold. The line sits at half the hold. Over 20 runs with both cores
# loaded, the solution's slowest quick request took 4 to 34 ms, and the
# sqlite3 app's 0.83 to 1.02 s.
LOOP_HOLD_SECONDS = WAIT_SECONDS
QUICK_PATH = "/openapi.json"
QUICK_LINE = LOOP_HOLD_SECONDS / 2
QUICK_GAP = 0.02
WAIT_FOR_LOCK_HINT = (
    "Does the app connect with a short timeout, such as sqlite3.connect(path, "
    "timeout=0.2), or answer an error when the database is locked? SQLite "
    "makes a writer wait while another connection holds the lock, and "
    "aiosqlite.connect(DATABASE_PATH) waits up to 5 s by default. A short "
    "wait only hides blocking code: keep the default and use aiosqlite."
)
LOOP_HINT = (
    "Does the app call the sqlite3 module, or other blocking code, inside "
    "`async def`? While a query waits for the database, for example for a lock "
    "another connection holds, it then blocks the event loop and every other "
    "request waits. Use aiosqlite and await each call: it runs the query in a "
    "thread of its own."
)


@pytest.mark.timeout(60)
def test_database_wait_leaves_loop_free(
    http: httpx.Client, work_dir: Path, learner_app: LearnerApp
) -> None:
    """Other requests are served while a write waits for the database's lock."""
    user = _create_user(http, "Grace Waiting", "waiting@example.com")
    for _ in range(3):
        expect_status(http.get(QUICK_PATH), 200, hint=LOOP_HINT)
    _expect_database_file(work_dir / DATABASE_FILE)
    process = _start_probe(work_dir / DATABASE_FILE, "hold", user["id"])
    writer: threading.Thread | None = None
    elapsed: list[float] = []
    # The POST's response and when it came, in seconds after it was sent.
    written: list[tuple[httpx.Response, float]] = []
    stop = threading.Event()

    def write() -> None:
        # An address new in every run, so the app cannot single out this
        # write to send it off the event loop.
        tag = secrets.token_hex(4)
        body = _user_body(f"Writer {tag}", f"writer-{tag}@example.com")
        with learner_app.client(timeout=HELD_WRITE_TIMEOUT) as client:
            started = time.perf_counter()
            response = client.post("/users/", json=body)
            written.append((response, time.perf_counter() - started))

    def probe() -> None:
        with learner_app.client(timeout=HELD_WRITE_TIMEOUT) as client:
            while not stop.is_set():
                started = time.perf_counter()
                client.get(QUICK_PATH)
                elapsed.append(time.perf_counter() - started)
                stop.wait(QUICK_GAP)

    prober = threading.Thread(target=probe, daemon=True)
    try:
        _expect_lock_taken(process, work_dir / DATABASE_FILE)
        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        prober.start()
        time.sleep(LOOP_HOLD_SECONDS)
    finally:
        _release_lock(process)
        stop.set()
        if prober.ident is not None:
            prober.join(HELD_WRITE_TIMEOUT)
        if writer is not None:
            writer.join(HELD_WRITE_TIMEOUT)
        process.kill()

    slowest = max(elapsed, default=0.0)
    record_measurement(
        f"GET {QUICK_PATH} while POST /users/ waited for the write lock",
        slowest=round(slowest, 4),
        requests=len(elapsed),
        hold=LOOP_HOLD_SECONDS,
        pass_line=QUICK_LINE,
    )
    if slowest >= QUICK_LINE:
        raise CheckFailed(
            "Another request waited while a write waited for the database: the "
            "event loop was blocked.",
            request=f"GET {QUICK_PATH}, one after another, while POST /users/ "
            f"waited {LOOP_HOLD_SECONDS:g} s for the write lock another "
            "connection held",
            expected=f"each GET within {QUICK_LINE:g} s, half the hold (FastAPI "
            "serves it in milliseconds)",
            actual=f"the slowest of {len(elapsed)} took {slowest:.3f} s",
            hint=LOOP_HINT,
        )
    # An app that gives up on the lock at once never waits long enough to
    # block its loop, so the write itself must wait for the lock and succeed.
    # One that stores the user at once, under the lock, fails the lock check
    # of failed_insert_leaves_database_unlocked instead.
    response, took = written[0] if written else (None, 0.0)
    if response is None or response.status_code != 201:
        actual = (
            f"no response within {HELD_WRITE_TIMEOUT:g} s"
            if response is None
            else f"{describe_response(response)} after {took:.3f} s"
        )
        raise CheckFailed(
            "The write did not wait for the database's lock.",
            request=f"POST /users/ while another connection held the write lock "
            f"for {LOOP_HOLD_SECONDS:g} s",
            expected="status 201 once the lock is let go, as aiosqlite's wait "
            "of up to 5 s gives",
            actual=actual,
            hint=WAIT_FOR_LOCK_HINT,
        )


# Ten creates, each read back: an app that takes a second per create still
# finishes within the timeout.
@pytest.mark.timeout(30)
def test_name_with_sql_is_stored_verbatim(http: httpx.Client) -> None:
    """Names and emails with quotes and SQL code are stored verbatim.

    The table keeps the users created before them, and gets no other rows.
    """
    before = _create_user(http, "Before the tricky values", "before@example.com")
    users_before = _read_all_users(http)
    # Each body with the hint for a 422, which names the rule it must pass.
    bodies = [
        (_user_body(name, f"tricky{number}@example.com"), NAME_RULE_HINT)
        for number, name in enumerate(TRICKY_NAMES, start=1)
    ] + [
        (_user_body(f"Tricky email {number}", email), EMAIL_RULE_STRICT_HINT)
        for number, email in enumerate(TRICKY_EMAILS, start=1)
    ]
    created = []
    for body, invalid_hint in bodies:
        response = http.post("/users/", json=body)
        if response.status_code == 422:
            # A rule of UserCreate is stricter than the starter's.
            summary = (
                "A valid name or email with quotes and SQL keywords was rejected "
                "as invalid."
            )
            hint = invalid_hint
        else:
            summary = "A name or email with quotes and SQL keywords was not stored."
            hint = PLACEHOLDER_HINT
        if response.status_code != 201:
            raise CheckFailed(
                summary,
                request=describe_request(response),
                expected="status 201 with the user, the name and email exactly as sent",
                actual=describe_response(response),
                hint=hint,
            )
        user = _expect_user(
            response, body["name"], body["email"], hint=PLACEHOLDER_HINT
        )
        _expect_stored(http, user, hint=PLACEHOLDER_HINT)
        created.append(user)
    _expect_stored(http, before, hint=PLACEHOLDER_HINT)

    users = _read_all_users(http)
    extra = [user for user in users if user not in users_before + created]
    missing = [user for user in users_before + created if user not in users]
    if extra or missing:
        raise CheckFailed(
            "The table contains other users than the ones created.",
            request=f"{len(created)} POST /users/ with the tricky names and emails "
            f"(each answered 201), then GET /users/?skip=0&limit={MAX_LIMIT} and "
            "the pages after it",
            expected=f"the {len(users_before)} users from before and the "
            f"{len(created)} created, {len(users_before) + len(created)} in all",
            actual=f"{len(users)} users, {len(extra)} of them never created (for "
            f"example {show(extra[:1])}) and {len(missing)} created ones missing "
            f"(for example {show(missing[:1])})",
            hint=PLACEHOLDER_HINT,
        )


async def _post_all_at_once(
    learner_app: LearnerApp, bodies: list[dict[str, str]]
) -> list[httpx.Response]:
    """Send one POST /users/ per body, all at once, each on its own connection.

    A new client opens a connection for each request, and the app reads the
    requests at nearly the same moment.
    """
    async with learner_app.async_client(timeout=20.0) as client:
        return list(
            await asyncio.gather(
                *(client.post("/users/", json=body) for body in bodies)
            )
        )


async def _create_concurrently(
    learner_app: LearnerApp,
) -> list[tuple[dict[str, str], httpx.Response]]:
    bodies = [
        _user_body(f"Concurrent user {number}", f"concurrent{number}@example.com")
        for number in range(1, CONCURRENT_CREATES + 1)
    ]
    responses = await _post_all_at_once(learner_app, bodies)
    return list(zip(bodies, responses, strict=True))


@pytest.mark.timeout(40)
def test_concurrent_creates_all_stored(
    http: httpx.Client, learner_app: LearnerApp
) -> None:
    """Twenty concurrent POST /users/ all succeed, and all twenty users are stored."""
    results = asyncio.run(_create_concurrently(learner_app))
    hint = (
        "Do concurrent requests share the lifespan's connection, and does each "
        "insert take its id from cursor.lastrowid rather than a separate query?"
    )
    statuses = [response.status_code for _, response in results]
    if any(status != 201 for status in statuses):
        failed = next(
            response for _, response in results if response.status_code != 201
        )
        raise CheckFailed(
            "Some of the concurrent inserts failed.",
            request=f"{CONCURRENT_CREATES} concurrent POST /users/, each with "
            "its own email",
            expected="status 201 for each",
            actual=f"statuses {statuses}; the first failure: "
            f"{describe_response(failed)}",
            hint=hint + " Does each connection that writes commit or roll back?",
        )

    created = [
        _expect_user(response, body["name"], body["email"], hint=hint)
        for body, response in results
    ]

    ids = [user["id"] for user in created]
    if len(set(ids)) != len(ids):
        raise CheckFailed(
            "Concurrent inserts returned the same id more than once.",
            request=f"{CONCURRENT_CREATES} concurrent POST /users/",
            expected=f"{CONCURRENT_CREATES} different ids",
            actual=f"ids {ids}",
            hint=hint,
        )

    for user in created:
        _expect_stored(http, user, hint=hint)

    listed = _read_all_users(http)
    missing = [user for user in created if user not in listed]
    if missing:
        raise CheckFailed(
            "GET /users/ does not list every concurrently created user.",
            request=f"GET /users/?skip=0&limit={MAX_LIMIT} and the pages after it",
            expected=f"all {CONCURRENT_CREATES} users, for example {show(missing[0])}",
            actual=f"{len(missing)} of them missing from {len(listed)} users",
            hint=hint,
        )


def test_pagination_bounds_are_422(http: httpx.Client) -> None:
    """Out-of-range or non-int skip or limit on GET /users/ returns 422."""
    hint = (
        f"Are skip and limit ints, with skip declared with Query(ge=0) and limit "
        f"with Query(ge=1, le={MAX_LIMIT})?"
    )
    cases: list[tuple[dict[str, int | str], str]] = [
        ({"limit": 0}, "limit"),
        ({"limit": MAX_LIMIT + 1}, "limit"),
        ({"skip": -1}, "skip"),
        ({"limit": "2.5"}, "limit"),
        ({"skip": "abc"}, "skip"),
    ]
    for params, name in cases:
        response = http.get("/users/", params=params)
        expect_detail_locates(response, ["query", name], hint=hint)


@pytest.mark.timeout(60)
def test_rows_survive_restart(http: httpx.Client, learner_app: LearnerApp) -> None:
    """Users created, and users deleted, stay that way after a server restart."""
    # kept_user is created last: no other write, and so no commit of
    # another request, comes between its insert and the restart.
    removed_user = _create_user(http, "Temporary user", "temporary@example.com")
    response = http.delete(f"/users/{removed_user['id']}")
    expect_status(response, 204, hint="Does DELETE /users/{user_id} return 204?")
    kept_user = _create_user(http, "Katherine Johnson", "katherine@example.com")

    _restart(learner_app)

    hint = (
        "Does each insert end with `await db.commit()`? Rows that were never "
        "committed are rolled back when the connection closes. Does the app "
        'open os.environ.get("DATABASE_PATH", "users.db") rather than '
        '":memory:"?'
    )
    with learner_app.client() as client:
        _expect_stored(
            client,
            kept_user,
            hint=hint,
            missing="A user created before the restart is gone after it.",
            created=f"POST /users/ (answered 201 with id {kept_user['id']}), a "
            "restart, then ",
        )
        _expect_not_listed(
            client,
            removed_user,
            "after it was deleted and the server restarted",
            hint="Does the delete route commit, so that the deletion outlasts "
            "a restart?",
        )
