"""Grader for chapter 05: request bodies, validation and response models.

Every item sent includes a description, except in the check about optional
fields, so that a required description fails that check alone. Each user check
signs up its own username, because all checks share one running app.
"""

import base64
import json
import math
import secrets
import string
from collections.abc import Collection
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

# Seconds the checks must wait for the app, one after another: none here,
# because no check requests a delay from the app. scripts/bench.py takes the
# floor from these.
WAIT_SECONDS = 0.0

ITEM_HINT = (
    "Does POST /items/ take an `item: Item` parameter and return "
    "item.model_dump(), plus price_with_tax when tax is given?"
)
USER_HINT = (
    'Is there a route @app.post("/users/", response_model=UserOut, status_code=201) '
    "that takes a UserIn body?"
)
LEAK_HINT = (
    "Does the route declare response_model=UserOut? Without it, FastAPI returns "
    "every field of the UserIn you return, password included."
)
# More items with a tax, each with price_with_tax = price + tax. Their prices
# and taxes differ in size and ratio, so a formula that only agrees with the
# sum at price 20 and tax 2.5 (such as price * (1 + tax / 20)) fails. Every
# sum is exact in binary floating point.
MORE_TAXED_ITEMS = [
    ({"name": "Notebook", "description": "A5, lined", "price": 8.0, "tax": 0.5}, 8.5),
    ({"name": "Eraser", "description": "Soft", "price": 0.25, "tax": 3.0}, 3.25),
    (
        {
            "name": "Bicycle",
            "description": "Steel frame",
            "price": 1234.5,
            "tax": 0.125,
        },
        1234.625,
    ),
]
# Items whose price and tax lie outside the few values above, since the README
# bounds only the price, and only below (greater than 0). A large price, a
# negative tax (a discount), a discount larger than its price, whose total is
# below 0, and a tax larger than its price are all valid.
UNBOUNDED_TAXED_ITEMS: list[dict[str, Any]] = [
    {"name": "Sofa", "description": "Three seats", "price": 5000.0, "tax": 250.0},
    {"name": "Coat", "description": "On sale", "price": 100.0, "tax": -12.5},
    {"name": "Voucher", "description": "Pays back", "price": 10.0, "tax": -50.0},
    {"name": "Whisky", "description": "Taxed heavily", "price": 2.0, "tax": 40.0},
    # A sum of 11 digits, which a sum rounded to 10 digits gets wrong.
    {"name": "Yacht", "description": "Ocean going", "price": 987654321.25, "tax": 0.5},
]
# The check also posts a random price from 0.01 to RANDOM_PRICE_MAX_CENTS
# hundredths and a random tax within RANDOM_TAX_MAX_CENTS hundredths either
# side of 0, new in every run.
RANDOM_PRICE_MAX_CENTS = 10**11
RANDOM_TAX_MAX_CENTS = 10**6
# Items far beyond those, so a bound fitted above the random values fails too:
# prices and taxes near the largest float, 1.8e308, whose sums stay finite.
HUGE_TAXED_ITEMS: list[dict[str, Any]] = [
    {"name": "Island", "description": "Whole", "price": 1e308, "tax": -1e308},
    {"name": "Permit", "description": "Rare", "price": 1.5, "tax": 1e308},
]
# Prices just above 0, which the README accepts. The price check also posts a
# random price from 0.001 to 0.999, new in every run.
SMALL_PRICES = (0.01,)
# price_with_tax may differ from the float sum by this share of it. That is
# room for a sum taken another way, such as in Decimal, which may differ by
# one part in 10**16. Cents lost from a price near 10**9 are one part in 10**11.
PRICE_WITH_TAX_REL_TOL = 1e-12
UNBOUNDED_HINT = (
    "Is price declared as `price: float = Field(gt=0)` with no other bound, and "
    "tax as `tax: float | None = None` with no bound at all? The price has no "
    "maximum, and a tax may be negative or larger than the price. A negative "
    "tax (a discount) may be larger than the price too."
)
SUM_HINT = (
    "Is price_with_tax exactly item.price + item.tax? The tax is an amount to "
    "add, not a rate to multiply by."
)
ADDRESS = {"street": "12 Harbour Road", "city": "Portsmouth", "postcode": "PO1 3AA"}
# A username that no check signs up, so GET /users/{username} must return 404
# for it.
UNKNOWN_USERNAME = "nobody-signed-up-as-this"
# The check also reads a username of random lower-case letters, new in every
# run, so an app that returns 404 only for UNKNOWN_USERNAME still fails. Its
# length differs from every username the checks sign up, so it is never one.
RANDOM_USERNAME_LENGTH = 12
# Unknown usernames near the stored margaret and dorothy: a start, a name with
# text after it and one with text before it. The check also reads a random
# start of dorothy and edith with random letters after it, new in every run.
NEAR_USERNAMES = ("marg", "margaret2", "xdorothy")
# Usernames are exact strings, so names that differ only in case are different
# users. The check signs up a fixed lower-case name and the same name
# capitalized, then a random lower-case name of CASE_USERNAME_LENGTH letters,
# new in every run, and its capitalized form. It then reads each name in upper
# case, which no user signed up as. No other username the checks use has
# CASE_USERNAME_LENGTH letters.
CASE_USERNAME = "hedy"
CASE_USERNAME_LENGTH = 10
# Spaces around a username are part of it too. The check signs up a random
# name of PADDED_USERNAME_LENGTH letters, new in every run, and the same name
# with a space before and after it, and reads each back.
PADDED_USERNAME_LENGTH = 11
# The address of the capitalized user, unlike ADDRESS, so that each user read
# back shows which sign-up it came from.
CASE_ADDRESS = {"street": "5 Bell Street", "city": "Vienna", "postcode": "1010"}
CASE_HINT = (
    "Is the username used as the key exactly as sent, as in "
    "users[user.username] = user, and looked up the same way? Usernames are "
    "case-sensitive: ada and Ada are two users, and ADA is neither of them."
)
# The fields of an Item as POST /items/ returns it, price_with_tax aside.
ITEM_FIELDS = ("name", "description", "price", "tax")
ITEM_FIELDS_HINT = (
    "Does POST /items/ return item.model_dump(), plus price_with_tax when a tax "
    "was sent, and nothing else? A client reads every field the response has."
)
USER_FIELDS = ("username", "full_name", "address")
USER_FIELDS_HINT = (
    "Does the route return the stored user and let response_model=UserOut pick "
    "its fields? A field added by hand, such as the password encoded in base64, "
    "reaches every client that reads the user."
)


def post_item(http: httpx.Client, item: dict[str, Any]) -> tuple[httpx.Response, Any]:
    """POST `item` to /items/ and return the response with its JSON body."""
    response = http.post("/items/", json=item)
    expect_status(response, 200, hint=ITEM_HINT)
    return response, json_body(response, hint=ITEM_HINT)


def post_valid_item(
    http: httpx.Client, item: dict[str, Any], hint: str
) -> tuple[httpx.Response, Any]:
    """POST `item`, which the README accepts, and return the response and its body.

    A 422 fails with `hint`, which names the bound that rejected the item.
    """
    response = http.post("/items/", json=item)
    if response.status_code == 422:
        raise CheckFailed(
            "A valid item was rejected with a 422.",
            request=describe_request(response),
            expected="status 200 with the item",
            actual=describe_response(response),
            hint=hint,
        )
    expect_status(response, 200, hint=ITEM_HINT)
    return response, json_body(response, hint=ITEM_HINT)


def expect_object(response: httpx.Response, body: Any) -> None:
    """Fail unless `body`, the response's JSON, is an object."""
    if not isinstance(body, dict):
        raise CheckFailed(
            "The response is not a JSON object.",
            request=describe_request(response),
            expected="one JSON object",
            actual=describe_response(response),
            hint="Does the route return one model, or one dict, rather than a list "
            "or a string? Check its response_model too.",
        )


def expect_echo(response: httpx.Response, body: Any, sent: dict[str, Any]) -> None:
    """Fail unless `body` is an object with every field of `sent`, unchanged."""
    expect_object(response, body)
    for key, value in sent.items():
        if body.get(key) != value:
            raise CheckFailed(
                f"The response's {key!r} is not the value sent.",
                request=describe_request(response),
                expected=f"{key} = {show(value)}",
                actual=describe_response(response),
                hint="Does the route return every field of the request body?",
            )


def expect_fields(
    response: httpx.Response,
    body: Any,
    expected: Collection[str],
    owner: str,
    hint: str,
    where: str = "response",
) -> None:
    """Fail unless `body` is an object whose keys are exactly `expected`.

    `owner` names what declares the fields, such as "UserOut", and `where`
    names the object in the response that `body` is.
    """
    if not isinstance(body, dict):
        raise CheckFailed(
            f"The {where} is not a JSON object with {owner}'s fields.",
            request=describe_request(response),
            expected=f"an object with exactly the fields "
            f"{', '.join(map(show, expected))} in the {where}",
            actual=describe_response(response),
            hint=hint,
        )
    extra = [key for key in body if key not in expected]
    missing = [key for key in expected if key not in body]
    if not extra and not missing:
        return
    problems = []
    if extra:
        problems.append(
            f"fields that {owner} does not have: {', '.join(map(show, extra))}"
        )
    if missing:
        problems.append(f"no {', '.join(map(show, missing))}")
    raise CheckFailed(
        f"The {where} has {' and '.join(problems)}.",
        request=describe_request(response),
        expected=f"exactly the fields {', '.join(map(show, expected))} in the {where}",
        actual=describe_response(response),
        hint=hint,
    )


def expect_item_fields(response: httpx.Response, body: Any, taxed: bool) -> None:
    """Fail unless `body` has exactly an Item's fields, plus price_with_tax if taxed."""
    expected = [*ITEM_FIELDS, "price_with_tax"] if taxed else list(ITEM_FIELDS)
    expect_fields(response, body, expected, "the item", ITEM_FIELDS_HINT)


def expect_user_fields(response: httpx.Response, body: Any) -> None:
    """Fail unless `body` has exactly UserOut's fields, and its address Address's."""
    expect_fields(response, body, USER_FIELDS, "UserOut", USER_FIELDS_HINT)
    address = body.get("address") if isinstance(body, dict) else None
    expect_fields(
        response, address, list(ADDRESS), "Address", USER_FIELDS_HINT, "address"
    )


def expect_price_with_tax(
    response: httpx.Response, body: Any, expected: float, hint: str
) -> None:
    value = body.get("price_with_tax") if isinstance(body, dict) else None
    if not isinstance(value, (int, float)) or not math.isclose(
        value, expected, rel_tol=PRICE_WITH_TAX_REL_TOL, abs_tol=1e-6
    ):
        raise CheckFailed(
            "price_with_tax is missing or wrong.",
            request=describe_request(response),
            expected=f'"price_with_tax": {expected}',
            actual=describe_response(response),
            hint=hint,
        )


def user_body(username: str) -> dict[str, Any]:
    return {
        "username": username,
        "full_name": f"{username.title()} Example",
        "address": ADDRESS,
        "password": f"correct-horse-{username}",
    }


def create_user(http: httpx.Client, user: dict[str, Any]) -> tuple[httpx.Response, Any]:
    """POST `user` to /users/, expect 201, and return the response and its body."""
    response = http.post("/users/", json=user)
    expect_status(response, 201, hint=USER_HINT)
    return response, json_body(response, hint=USER_HINT)


def read_user(http: httpx.Client, username: str) -> tuple[httpx.Response, Any]:
    """GET /users/{username}, expect 200, and return the response and its body."""
    response = http.get(f"/users/{username}")
    expect_status(
        response,
        200,
        hint='Is there a route @app.get("/users/{username}", '
        "response_model=UserOut) that returns the stored user?",
    )
    return response, json_body(response)


def password_forms(password: str) -> tuple[str, ...]:
    """Return `password` as sent, reversed, in base64 and in hex.

    The base64 forms lose their padding, so each also matches the padded form.
    """
    raw = password.encode()
    return (
        password,
        password[::-1],
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        raw.hex(),
        raw.hex().upper(),
    )


def decoded_strings(text: str) -> list[str]:
    """Return every key and string value in the JSON `text`, escapes decoded.

    A key that comes twice is kept both times, though json.loads keeps only
    the last, so a password in a key that a later one hides still shows.
    Text that is not JSON gives no strings.
    """
    strings: list[str] = []

    def keep_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        for key, value in pairs:
            strings.append(key)
            if isinstance(value, str):
                strings.append(value)
        return dict(pairs)

    def keep_lists(value: Any) -> None:
        if isinstance(value, list):
            strings.extend(item for item in value if isinstance(item, str))
            for item in value:
                keep_lists(item)
        elif isinstance(value, dict):
            for item in value.values():
                keep_lists(item)

    try:
        keep_lists(json.loads(text, object_pairs_hook=keep_pairs))
    except JSON_ERRORS:
        return []
    return strings


def expect_no_password(response: httpx.Response, body: Any, password: str) -> None:
    """Fail if the response contains the password, under any key or in a header.

    The body as sent, its keys and string values with escapes decoded, and
    every header value are searched for password_forms.
    """
    has_key = isinstance(body, dict) and "password" in body
    forms = password_forms(password)
    searched = [response.text, *decoded_strings(response.text)]
    if has_key or any(form in text for form in forms for text in searched):
        raise CheckFailed(
            "The response contains the password.",
            request=describe_request(response),
            expected="the user's username, full_name and address, with no password "
            "in any form",
            actual=describe_response(response),
            hint=LEAK_HINT,
        )
    for name, value in response.headers.multi_items():
        if any(form in value for form in forms):
            raise CheckFailed(
                "A response header contains the password.",
                request=describe_request(response),
                expected="no password in any form, in the body or in a header",
                actual=f"the header {name}: {value}",
                hint="Does the route set a header from the user's password? "
                "Nothing the app sends back may carry it.",
            )


def missing_fields(response: httpx.Response) -> list[str]:
    """Return the body fields that a 422 response reports as missing."""
    if response.status_code != 422:
        return []
    body = json_body(response)
    details = body.get("detail") if isinstance(body, dict) else None
    if not isinstance(details, list):
        return []
    fields = []
    for entry in details:
        if not isinstance(entry, dict) or entry.get("type") != "missing":
            continue
        location = entry.get("loc")
        if isinstance(location, list) and len(location) == 2 and location[0] == "body":
            fields.append(str(location[1]))
    return fields


def test_item_with_tax_gets_price_with_tax(http: httpx.Client) -> None:
    """POST /items/ with a tax returns the item plus price_with_tax.

    price_with_tax is price + tax for each of several prices and taxes.
    """
    sent = {"name": "Desk lamp", "description": "Brass", "price": 20.0, "tax": 2.5}
    response, body = post_item(http, sent)
    expect_echo(response, body, sent)
    expect_price_with_tax(
        response,
        body,
        22.5,
        hint='Do you add "price_with_tax": item.price + item.tax to the returned '
        "dict when tax is given?",
    )
    expect_item_fields(response, body, taxed=True)
    for item, expected in MORE_TAXED_ITEMS:
        response, body = post_item(http, item)
        expect_echo(response, body, item)
        expect_price_with_tax(response, body, expected, hint=SUM_HINT)
        expect_item_fields(response, body, taxed=True)
    price_cents = 1 + secrets.randbelow(RANDOM_PRICE_MAX_CENTS)
    tax_cents = secrets.randbelow(2 * RANDOM_TAX_MAX_CENTS + 1) - RANDOM_TAX_MAX_CENTS
    random_item: dict[str, Any] = {
        "name": "Crate",
        "description": "Random contents",
        "price": price_cents / 100,
        "tax": tax_cents / 100,
    }
    for unbounded_item in (*UNBOUNDED_TAXED_ITEMS, random_item, *HUGE_TAXED_ITEMS):
        response, body = post_valid_item(http, unbounded_item, UNBOUNDED_HINT)
        expect_echo(response, body, unbounded_item)
        total = unbounded_item["price"] + unbounded_item["tax"]
        expect_price_with_tax(response, body, total, hint=SUM_HINT)
        expect_item_fields(response, body, taxed=True)


def test_optional_fields_can_be_omitted(http: httpx.Client) -> None:
    """POST /items/ with only name and price is accepted, without price_with_tax."""
    sent = {"name": "Pencil", "price": 0.75}
    response = http.post("/items/", json=sent)
    for field in missing_fields(response):
        if field in ("description", "tax"):
            raise CheckFailed(
                f"Leaving out {field} gave a 422: the model requires it.",
                request=describe_request(response),
                expected="status 200 with the item",
                actual=describe_response(response),
                hint=f"Does {field} have a default, as in `{field}: ... | None = "
                "None`? In Pydantic v2, Optional[X] without a default is a "
                "required field that may be null.",
            )
    expect_status(response, 200, hint=ITEM_HINT)
    body = json_body(response, hint=ITEM_HINT)
    expect_echo(response, body, sent)
    for field in ("description", "tax"):
        if field not in body or body[field] is not None:
            raise CheckFailed(
                f"The response's {field} is not null, but none was sent.",
                request=describe_request(response),
                expected=f'"{field}": null',
                actual=describe_response(response),
                hint=f"Is None the default of {field}, and does the route return "
                "item.model_dump() with every field, rather than only the fields "
                "that were sent (exclude_unset)?",
            )
    if "price_with_tax" in body:
        raise CheckFailed(
            "The response has price_with_tax, but no tax was sent.",
            request=describe_request(response),
            expected="the item without price_with_tax",
            actual=describe_response(response),
            hint="Do you add price_with_tax only when item.tax is not None?",
        )
    expect_item_fields(response, body, taxed=False)


def test_zero_tax_still_adds_price_with_tax(http: httpx.Client) -> None:
    """The response has price_with_tax whenever a tax is given, whatever its value."""
    sent = {"name": "Stamp", "description": "First class", "price": 1.5, "tax": 0}
    response, body = post_item(http, sent)
    expect_price_with_tax(
        response,
        body,
        1.5,
        hint="Do you test `item.tax is not None` rather than `if item.tax:`, "
        "which is false for 0?",
    )


def test_price_must_be_greater_than_zero(http: httpx.Client) -> None:
    """POST /items/ with a price of 0 or less gets a 422 that locates price.

    A price just above 0 is accepted.
    """
    for price in (0, -2.5):
        item = {"name": "Gift", "description": "Free", "price": price}
        expect_detail_locates(
            http.post("/items/", json=item),
            ["body", "price"],
            hint="Is price declared as `price: float = Field(gt=0)`?",
        )
    random_price = (1 + secrets.randbelow(999)) / 1000
    for price in (*SMALL_PRICES, random_price):
        item = {"name": "Sticker", "description": "Tiny", "price": price}
        response, body = post_valid_item(
            http,
            item,
            "Is price declared as `price: float = Field(gt=0)`, so that every "
            "price above 0 is valid, however small?",
        )
        expect_echo(response, body, item)


def test_invalid_fields_are_each_located(http: httpx.Client) -> None:
    """A body with a missing name and a text price and tax gets a 422 for each.

    So does a name that is a number or a list, since name is a str, and a
    description that is a number.
    """
    item = {"description": "No name", "price": "free", "tax": "none"}
    response = http.post("/items/", json=item)
    for field in ("name", "price", "tax"):
        expect_detail_locates(
            response,
            ["body", field],
            hint="Is the body declared as one Item parameter, with name as str "
            "and price and tax as float?",
        )
    expect_detail_locates(
        http.post("/items/", json={"name": "Lamp", "description": 42, "price": 3.0}),
        ["body", "description"],
        hint="Is description annotated as str | None? A number is then rejected.",
    )
    names: list[Any] = [42, ["lamp"]]
    for name in names:
        expect_detail_locates(
            http.post(
                "/items/", json={"name": name, "description": "Not text", "price": 3.0}
            ),
            ["body", "name"],
            hint="Is name annotated as plain str? Pydantic then rejects a number "
            "or a list, where str | int or Any would let them through.",
        )


def test_user_password_left_out(http: httpx.Client) -> None:
    """POST /users/ and GET /users/{username} never return the password.

    Each response has exactly UserOut's fields, so the password cannot go out
    in an extra field either, encoded or not. A user without full_name gets
    null there, and no header carries the password.
    """
    user = user_body("ada")
    response, body = create_user(http, user)
    expect_no_password(response, body, user["password"])
    expect_user_fields(response, body)
    response, body = read_user(http, "ada")
    expect_no_password(response, body, user["password"])
    expect_user_fields(response, body)
    # A user who sent no full_name gets null there, so that field cannot carry
    # the password either. A 422 for the missing full_name is left to
    # user_address_is_nested, which judges that full_name is optional.
    user = {
        key: value for key, value in user_body("dennis").items() if key != "full_name"
    }
    response = http.post("/users/", json=user)
    if response.status_code == 422:
        return
    expect_status(response, 201, hint=USER_HINT)
    responses = [(response, json_body(response, hint=USER_HINT))]
    responses.append(read_user(http, "dennis"))
    for response, body in responses:
        expect_no_password(response, body, user["password"])
        expect_user_fields(response, body)
        if body.get("full_name") is not None:
            raise CheckFailed(
                "A user who sent no full_name got one back.",
                request=describe_request(response),
                expected='"full_name": null',
                actual=describe_response(response),
                hint="Does the route fill full_name in when the body has none? "
                "UserOut's full_name defaults to None, and stays so.",
            )


def test_user_address_is_nested(http: httpx.Client) -> None:
    """A user's address comes back as a nested object, on sign-up and on reading."""
    user = user_body("grace")
    expected = {key: user[key] for key in ("username", "full_name", "address")}
    response, body = create_user(http, user)
    expect_echo(response, body, expected)
    response, body = read_user(http, "grace")
    expect_echo(response, body, expected)
    # full_name is optional: a user without one is stored with null.
    user = {
        key: value for key, value in user_body("barbara").items() if key != "full_name"
    }
    response = http.post("/users/", json=user)
    if response.status_code == 422:
        raise CheckFailed(
            "A user without full_name was rejected, but full_name is optional.",
            request=describe_request(response),
            expected="status 201 with full_name null",
            actual=describe_response(response),
            hint="Does full_name have a default, as in `full_name: str | None = None`?",
        )
    response, body = read_user(http, "barbara")
    expect_echo(response, body, {"username": "barbara", "full_name": None})


def test_invalid_nested_field_is_located(http: httpx.Client) -> None:
    """A user without a city, postcode, street, username or password gets a 422.

    Each 422 locates the missing field; so does a number in place of a str.
    """
    user = user_body("linus")
    user["address"] = {"street": "1 Kernel Way", "postcode": "00100"}
    expect_detail_locates(
        http.post("/users/", json=user),
        ["body", "address", "city"],
        hint="Is address annotated as Address, a Pydantic model with a required "
        "city, rather than dict?",
    )
    user["address"] = "1 Kernel Way, Helsinki"
    expect_detail_locates(
        http.post("/users/", json=user),
        ["body", "address"],
        hint="Is address annotated as Address, so that text is rejected?",
    )
    for missing in ("postcode", "street"):
        address = {"street": "1 Kernel Way", "city": "Helsinki", "postcode": "00100"}
        del address[missing]
        user["address"] = address
        expect_detail_locates(
            http.post("/users/", json=user),
            ["body", "address", missing],
            hint="Are street, city and postcode all str fields of Address without "
            "defaults?",
        )
    # Each field is a str, so a number in any of them is rejected.
    for path in (
        ["address", "street"],
        ["address", "city"],
        ["address", "postcode"],
        ["username"],
        ["full_name"],
        ["password"],
    ):
        numbered: dict[str, Any] = {**user_body("linus"), "address": dict(ADDRESS)}
        target = numbered["address"] if path[0] == "address" else numbered
        target[path[-1]] = 12345
        expect_detail_locates(
            http.post("/users/", json=numbered),
            ["body", *path],
            hint=f"Is {path[-1]} annotated as str (str | None for full_name)? A "
            "number is then rejected, where Any would let it through.",
        )
    without_username = {
        key: value for key, value in user_body("linus").items() if key != "username"
    }
    expect_detail_locates(
        http.post("/users/", json=without_username),
        ["body", "username"],
        hint="Is username a str field of UserOut without a default? The store "
        "needs it as the user's key.",
    )
    without_password = {
        key: value for key, value in user_body("linus").items() if key != "password"
    }
    expect_detail_locates(
        http.post("/users/", json=without_password),
        ["body", "password"],
        hint="Is password a str field of UserIn without a default?",
    )


def test_users_are_stored_by_username(http: httpx.Client) -> None:
    """A second sign-up replaces the first, others stay, and unknown names get 404."""
    first = user_body("margaret")
    create_user(http, first)
    second = {
        **first,
        "full_name": "Margaret H.",
        "address": {"street": "1 Apollo Lane", "city": "Boston", "postcode": "02139"},
    }
    create_user(http, second)
    response, body = read_user(http, "margaret")
    expect_object(response, body)
    if body.get("address") != second["address"]:
        raise CheckFailed(
            "A second user with the same username did not replace the first.",
            request="POST /users/ twice for margaret, with a new address the second "
            "time, then GET /users/margaret",
            expected=f'"address": {show(second["address"])}',
            actual=describe_response(response),
            hint="Does POST /users/ assign users[user.username] = user, so the "
            "newer sign-up takes the name's place?",
        )

    # A user signed up before is still there after later sign-ups.
    earlier = user_body("dorothy")
    create_user(http, earlier)
    create_user(http, user_body("edith"))
    response = http.get("/users/dorothy")
    if response.status_code != 200:
        raise CheckFailed(
            "A user signed up earlier was lost when the next one signed up.",
            request="POST /users/ for dorothy, then for edith, then GET /users/dorothy",
            expected="status 200 with dorothy",
            actual=describe_response(response),
            hint="Does POST /users/ add to the users dict, users[user.username] = "
            "user, rather than replace the whole dict?",
        )

    for username in (UNKNOWN_USERNAME, random_lowercase(RANDOM_USERNAME_LENGTH)):
        response = http.get(f"/users/{username}")
        if response.status_code != 404:
            raise CheckFailed(
                "An unknown username did not get a 404.",
                request=describe_request(response),
                expected="status 404",
                actual=describe_response(response),
                hint="Does GET /users/{username} raise HTTPException(status_code=404) "
                "when the name is not stored, whatever the name, rather than return "
                "something else?",
            )
    # Names that contain a stored name, or are its start, are unknown too, so
    # a lookup with startswith or endswith fails.
    cut = "dorothy"[: 1 + secrets.randbelow(len("dorothy") - 1)]
    near_names = (*NEAR_USERNAMES, cut, "edith" + random_lowercase(3))
    for username in near_names:
        response = http.get(f"/users/{username}")
        if response.status_code != 404:
            raise CheckFailed(
                "A username that only part of a stored name matches did not get a 404.",
                request=f"POST /users/ for margaret, dorothy and edith, then "
                f"{describe_request(response)}",
                expected="status 404: no user signed up as exactly this name",
                actual=describe_response(response),
                hint="Is the name looked up exactly, as in `username in users`? A "
                "name is a stored user's only when it equals it, not when one "
                "starts or ends with the other.",
            )

    for lower in (CASE_USERNAME, random_lowercase(CASE_USERNAME_LENGTH)):
        expect_usernames_case_sensitive(http, lower)
    expect_usernames_kept_with_spaces(http, random_lowercase(PADDED_USERNAME_LENGTH))


def random_lowercase(length: int) -> str:
    """Return `length` random lower-case ASCII letters, new in every call."""
    return "".join(secrets.choice(string.ascii_lowercase) for _ in range(length))


def expect_usernames_case_sensitive(http: httpx.Client, lower: str) -> None:
    """Sign up `lower` and its capitalized form as two users, and read them apart.

    Each name must return its own address, and the name in upper case, which
    no user signed up as, must get a 404.
    """
    capitalized = lower.capitalize()
    sign_ups = f"POST /users/ for {lower}, then for {capitalized}"
    users = {
        lower: user_body(lower),
        capitalized: {**user_body(capitalized), "address": CASE_ADDRESS},
    }
    expect_users_kept_apart(
        http,
        users,
        sign_ups,
        "Two usernames that differ only in case were not kept apart.",
        CASE_HINT,
    )
    upper = lower.upper()
    response = http.get(f"/users/{upper}")
    if response.status_code != 404:
        raise CheckFailed(
            f"The username {upper}, which no user signed up as, did not get a "
            f"404. It matches {lower} and {capitalized} only when case is ignored.",
            request=f"{sign_ups}, then {describe_request(response)}",
            expected="status 404",
            actual=describe_response(response),
            hint=CASE_HINT,
        )


def expect_usernames_kept_with_spaces(http: httpx.Client, plain: str) -> None:
    """Sign up `plain` and the name with a space on each side; read them apart."""
    padded = f" {plain} "
    sign_ups = f"POST /users/ for {plain!r}, then for {padded!r}"
    users = {
        plain: user_body(plain),
        # A password without spaces around it, so that only the username is
        # padded.
        padded: {
            **user_body(padded),
            "address": CASE_ADDRESS,
            "password": f"correct-horse-{plain}-padded",
        },
    }
    expect_users_kept_apart(
        http,
        users,
        sign_ups,
        "Two usernames that differ only in the spaces around them were not kept apart.",
        "Is every field stored exactly as sent? A username is an exact string, "
        "spaces included: a model with str_strip_whitespace, or a .strip() of "
        "your own, makes two users one.",
    )


def expect_users_kept_apart(
    http: httpx.Client,
    users: dict[str, dict[str, Any]],
    sign_ups: str,
    summary: str,
    hint: str,
) -> None:
    """Sign up each of `users`, then fail unless each username reads back its own."""
    for user in users.values():
        create_user(http, user)
    for username, user in users.items():
        response = http.get(f"/users/{username}")
        body = json_body(response) if response.status_code == 200 else None
        # Only USER_FIELDS are compared, because user_password_left_out judges
        # any other field.
        received = (
            {key: body.get(key) for key in USER_FIELDS}
            if isinstance(body, dict)
            else None
        )
        expected = {key: user[key] for key in USER_FIELDS}
        if not same_json(received, expected):
            raise CheckFailed(
                summary,
                request=f"{sign_ups}, then {describe_request(response)}",
                expected=f"status 200 with {show(expected)}",
                actual=describe_response(response),
                hint=hint,
            )
