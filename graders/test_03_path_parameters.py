"""Grader for chapter 03: path parameters, their types, and route order."""

import secrets
import string
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
    show,
)

# Seconds the checks must wait for the app, one after another: none here,
# because no check requests a delay from the app. scripts/bench.py takes the
# floor from these.
WAIT_SECONDS = 0.0

MODEL_NAMES = ("alexnet", "resnet", "lenet")

# The README's names in other cases, and other well-known networks that a
# learner might add to ModelName: each must get a 422.
MODEL_NAMES_IN_OTHER_CASES = ("ALEXNET", "LeNet", "Resnet")
UNLISTED_MODEL_NAMES = ("squeezenet", "densenet", "mobilenet", "vgg16", "inception")
# Names that only part of a README name matches: with text after it, with text
# before it, and its start. The check also sends a random start of a random
# README name and that name with random letters after it, new in every run.
PARTIAL_MODEL_NAMES = ("resnet50", "lenet-5", "myalexnet", "alex", "res")
PARTIAL_HINT = (
    "Does ModelName accept only its exact values? A _missing_ method or a route "
    "that matches the start or the end of a name accepts names the README does "
    "not list."
)
# The check also sends a name of random lower-case letters, new in every run,
# so a route that rejects only the fixed names above still fails. Its length
# differs from every name in MODEL_NAMES, so it is never a valid one.
RANDOM_MODEL_NAME_LENGTH = 9

EXTRA_MEMBER_HINT = (
    "Is model_name annotated as ModelName rather than str, and does ModelName have "
    "exactly the members alexnet, resnet and lenet?"
)

# The README types item_id and user_id as plain int, so zero, negative and
# large ids are echoed back like any other. A Path(ge=..., le=...) bound that
# rejects one of them fails the check.
UNBOUNDED_IDS = (0, -3, 1_000_000)
# Ids far outside any range a learner could mean, sent after UNBOUNDED_IDS.
FAR_IDS = (-(10**12), 10**15)
# Each check also sends one random positive and one random negative id, new in
# every run, so a bound fitted to the fixed ids above still fails. Their size
# lies between 2**53 and 10**18, below 2**63, the limit of a 64-bit signed
# integer. They are odd, and a float (an IEEE 754 double) cannot represent an
# odd integer above 2**53, so an id read as float always comes back changed.
RANDOM_ID_MIN_SIZE = 2**53
RANDOM_ID_MAX_SIZE = 10**18
UNBOUNDED_HINT = (
    "Is {name} annotated as int, with no bound? The README sets no range, so "
    "a bound such as Path(ge=1) or Path(le=50) rejects ids it accepts."
)
CHANGED_ID_HINT = (
    "Is {name} annotated as int, not float? A float represents integers exactly "
    "only up to 2**53, so a larger id comes back changed."
)
# Each check also sends a path segment of random lower-case letters, new in
# every run. It is never an int, so a route that rejects only the fixed texts
# (abc, 4.5, 7.5) and echoes other text fails. Its length differs from "me",
# so /users/{text} never matches /users/me.
RANDOM_TEXT_LENGTH = 8
NOT_INT_HINT = (
    "Is {name} annotated as int, so FastAPI rejects any text that is not a "
    "whole number, not only the values you tried?"
)
# Numbers in other notations, which an int path parameter rejects: an
# exponent and a hexadecimal prefix. A route that reads the id with Decimal
# or int(text, 0) accepts them.
OTHER_NOTATIONS = ("1e3", "0x10")
# Pydantic reads an int from text with a sign, leading zeros, a fraction of
# zero or underscores between digits. Each check sends these spellings of
# numbers drawn in every run, below LAX_NUMBER_MAX, and "-0".
LAX_NUMBER_MAX = 10**6
LAX_HINT = (
    "Is {name} annotated as plain int, with no parsing of its own? Pydantic "
    "reads 1.0, +5, 007 and 1_000 as the ints 1, 5, 7 and 1000, and so must "
    "the route."
)
NOTATION_HINT = (
    "Is {name} annotated as int? FastAPI then reads an id written in digits "
    "alone, with an optional sign, and rejects 1e3 and 0x10."
)
# JSON Schema keywords that bound a number. The README sets no range, so the
# schema of item_id and of user_id in /openapi.json has none of them.
BOUND_KEYWORDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")

# A schema may refer to itself, so $refs are followed at most this many times.
MAX_SCHEMA_REFS = 5
# The maximum number of schema objects, lists and values read in one
# parameter's schema, followed $refs included, so that a schema that refers to
# itself still ends the walk.
MAX_SCHEMA_NODES = 1000


def _unbounded_ids() -> list[int]:
    """Return the ids a route must echo: the fixed ones, then two random ones."""
    span = RANDOM_ID_MAX_SIZE - RANDOM_ID_MIN_SIZE
    positive = (RANDOM_ID_MIN_SIZE + secrets.randbelow(span)) | 1
    negative = -((RANDOM_ID_MIN_SIZE + secrets.randbelow(span)) | 1)
    return [*UNBOUNDED_IDS, *FAR_IDS, positive, negative]


def _lax_spellings() -> list[tuple[str, int]]:
    """Return (text, int) pairs: ids written in the other ways Pydantic reads."""
    number = 2 + secrets.randbelow(LAX_NUMBER_MAX)
    grouped = 1000 + secrets.randbelow(LAX_NUMBER_MAX)
    return [
        (f"{number}.0", number),
        (f"+{number}", number),
        (f"-{number}.0", -number),
        (f"00{number}", number),
        (f"{grouped:_}", grouped),
        ("-0", 0),
    ]


def _expect_lax_spellings(http: httpx.Client, prefix: str, name: str) -> None:
    """Fail unless GET `prefix`/text returns the int Pydantic reads from text."""
    for text, value in _lax_spellings():
        expect_json(
            http.get(f"{prefix}/{text}"),
            {name: value},
            hint=LAX_HINT.format(name=name),
        )


def _random_text() -> str:
    """Return a path segment of random lower-case letters, which is never an int."""
    return "".join(
        secrets.choice(string.ascii_lowercase) for _ in range(RANDOM_TEXT_LENGTH)
    )


def _random_model_name() -> str:
    """Return a name of random lower-case letters that no ModelName member has."""
    return "".join(
        secrets.choice(string.ascii_lowercase) for _ in range(RANDOM_MODEL_NAME_LENGTH)
    )


def _expect_echoed(http: httpx.Client, prefix: str, name: str, value: int) -> None:
    """Fail unless GET `prefix`/`value` returns exactly {`name`: `value`}."""
    response = http.get(f"{prefix}/{value}")
    body = json_body(response) if response.status_code == 200 else None
    echoed = body.get(name) if isinstance(body, dict) else None
    changed = isinstance(echoed, (int, float)) and echoed != value
    hint = CHANGED_ID_HINT if changed else UNBOUNDED_HINT
    expect_json(response, {name: value}, hint=hint.format(name=name))


def _path_parameter_schema(spec: Any, path: str, name: str) -> Any:
    """Return the schema of path parameter `name` of GET `path` in an OpenAPI spec.

    Returns None when the spec has no such parameter or the parameter no schema.
    """
    try:
        parameters = spec["paths"][path]["get"]["parameters"]
        return next(
            parameter["schema"]
            for parameter in parameters
            if parameter.get("name") == name and parameter.get("in") == "path"
        )
    except (KeyError, TypeError, AttributeError, StopIteration):
        return None


def _component_schema(spec: Any, name: str) -> Any:
    """Return the schema `name` of the spec's components, or None."""
    components = spec.get("components") if isinstance(spec, dict) else None
    schemas = components.get("schemas") if isinstance(components, dict) else None
    return schemas.get(name) if isinstance(schemas, dict) else None


def _declared_bounds(schema: Any, spec: Any) -> list[str]:
    """Return the bound keywords found anywhere in `schema`, its $refs followed."""
    found: list[str] = []
    pending = [schema]
    for _ in range(MAX_SCHEMA_NODES):
        if not pending:
            break
        node = pending.pop()
        if isinstance(node, list):
            pending.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        found.extend(
            keyword
            for keyword in BOUND_KEYWORDS
            if keyword in node and keyword not in found
        )
        reference = node.get("$ref")
        prefix = "#/components/schemas/"
        if isinstance(reference, str) and reference.startswith(prefix):
            pending.append(_component_schema(spec, reference.removeprefix(prefix)))
        pending.extend(node.values())
    return found


def _is_integer_schema(schema: Any, spec: Any) -> bool:
    """Tell whether `schema`, its $refs followed, has "type": "integer"."""
    prefix = "#/components/schemas/"
    for _ in range(MAX_SCHEMA_REFS):
        if not isinstance(schema, dict):
            return False
        reference = schema.get("$ref")
        if not (isinstance(reference, str) and reference.startswith(prefix)):
            break
        schema = _component_schema(spec, reference.removeprefix(prefix))
    return isinstance(schema, dict) and schema.get("type") == "integer"


def _expect_no_bounds(http: httpx.Client, path: str, name: str) -> None:
    """Fail unless /openapi.json gives `name` of GET `path` an unbounded int schema."""
    response = http.get("/openapi.json")
    expect_status(response, 200, hint="Is the app's openapi_url left at its default?")
    spec = json_body(response)
    request = (
        f"{describe_request(response)}, the schema of the {name} path parameter "
        f"of GET {path}"
    )
    schema = _path_parameter_schema(spec, path, name)
    if schema is None:
        raise CheckFailed(
            f"/openapi.json does not describe the {name} path parameter of GET {path}.",
            request=request,
            expected=f"a path parameter {name} with an integer schema",
            actual="no such parameter",
            hint=f"Is there a route for GET {path} with {name} annotated as int?",
        )
    if not _is_integer_schema(schema, spec):
        raise CheckFailed(
            f"The OpenAPI schema of {name} is not an integer schema.",
            request=request,
            expected='a schema with "type": "integer"',
            actual=f"schema {show(schema)}",
            hint=f"Is {name} annotated as int? FastAPI writes an int parameter "
            'into /openapi.json as "type": "integer", and a str parameter as '
            '"type": "string", which accepts any text.',
        )
    bounds = _declared_bounds(schema, spec)
    if bounds:
        raise CheckFailed(
            f"The OpenAPI schema of {name} declares a bound: {', '.join(bounds)}.",
            request=request,
            expected=f"an integer schema without {', '.join(BOUND_KEYWORDS)}",
            actual=f"schema {show(schema)}",
            hint=UNBOUNDED_HINT.format(name=name)
            + " FastAPI writes the ge and le of Path(...) into /openapi.json as "
            "minimum and maximum.",
        )


def test_item_id_is_converted_to_int(http: httpx.Client) -> None:
    """GET /items/42 returns {"item_id": 42}, the number, not the string.

    Any other int is echoed too, zero, negative and large ids included, and
    so is an int written with a sign, leading zeros, .0 or underscores.
    """
    response = http.get("/items/42")
    expect_status(response, 200, hint="Is there a route for GET /items/{item_id}?")
    if json_body(response) == {"item_id": "42"}:
        raise CheckFailed(
            "item_id came back as the string '42', not the number 42.",
            request=describe_request(response),
            expected='{"item_id": 42}',
            actual=describe_response(response),
            hint="Is item_id annotated as int in the function's parameters?",
        )
    expect_json(response, {"item_id": 42})
    expect_json(
        http.get("/items/5"),
        {"item_id": 5},
        hint="Does the route return the item_id from the path, whatever it is?",
    )
    for item_id in _unbounded_ids():
        _expect_echoed(http, "/items", "item_id", item_id)
    _expect_no_bounds(http, "/items/{item_id}", "item_id")
    _expect_lax_spellings(http, "/items", "item_id")


def test_invalid_item_id_is_422(http: httpx.Client) -> None:
    """GET /items/abc, /items/4.5 and /items/1e3 get a 422 that locates item_id."""
    expect_detail_locates(
        http.get("/items/abc"),
        ["path", "item_id"],
        hint="Is item_id annotated as int, so FastAPI rejects text that is not "
        "a number?",
    )
    expect_detail_locates(
        http.get("/items/4.5"),
        ["path", "item_id"],
        hint="Is item_id annotated as int, not float? FastAPI then rejects a "
        "number with a fraction rather than cutting it off.",
    )
    expect_detail_locates(
        http.get(f"/items/{_random_text()}"),
        ["path", "item_id"],
        hint=NOT_INT_HINT.format(name="item_id"),
    )
    for text in OTHER_NOTATIONS:
        expect_detail_locates(
            http.get(f"/items/{text}"),
            ["path", "item_id"],
            hint=NOTATION_HINT.format(name="item_id"),
        )


def test_model_name_accepts_enum_values(http: httpx.Client) -> None:
    """GET /models/{name} answers 200 for each of alexnet, resnet and lenet."""
    for name in MODEL_NAMES:
        response = http.get(f"/models/{name}")
        expect_status(response, 200, hint="Is there a route for /models/{model_name}?")
        body = json_body(response)
        if not isinstance(body, dict) or body.get("model_name") != name:
            raise CheckFailed(
                "The response does not echo the model name.",
                request=describe_request(response),
                expected=f'a body with "model_name": "{name}" and a "message"',
                actual=describe_response(response),
                hint="Do you return model_name.value (or the member itself)?",
            )
        if not isinstance(body.get("message"), str):
            raise CheckFailed(
                "The response has no message.",
                request=describe_request(response),
                expected='a body with a string "message"',
                actual=describe_response(response),
                hint='Does the returned dict have a "message" key?',
            )


def model_name_enum(spec: Any) -> Any:
    """Return the enum of the model_name path parameter in an OpenAPI `spec`.

    Returns None when the spec has no such parameter or its schema no enum.
    """
    try:
        parameters = spec["paths"]["/models/{model_name}"]["get"]["parameters"]
        schema = next(
            parameter["schema"]
            for parameter in parameters
            if parameter.get("name") == "model_name" and parameter.get("in") == "path"
        )
        for _ in range(MAX_SCHEMA_REFS):
            reference = schema.get("$ref")
            if not isinstance(reference, str):
                break
            prefix = "#/components/schemas/"
            if not reference.startswith(prefix):
                return None
            schema = spec["components"]["schemas"][reference.removeprefix(prefix)]
        return schema.get("enum")
    except (KeyError, TypeError, AttributeError, StopIteration):
        return None


def test_model_name_rejects_other_values(http: httpx.Client) -> None:
    """GET /models/{name} returns 422 for names other than alexnet, resnet and lenet.

    The names are matched exactly, so ALEXNET is rejected too, and the OpenAPI
    schema lists only the three names.
    """
    for name in ("vgg", "googlenet"):
        expect_detail_locates(
            http.get(f"/models/{name}"), ["path", "model_name"], hint=EXTRA_MEMBER_HINT
        )
    for name in MODEL_NAMES_IN_OTHER_CASES:
        expect_detail_locates(
            http.get(f"/models/{name}"),
            ["path", "model_name"],
            hint="Does ModelName accept only its exact values? A _missing_ method "
            "that compares names in lower case, or a route that lowers the name "
            "itself, accepts names the README does not list.",
        )
    for name in UNLISTED_MODEL_NAMES:
        expect_detail_locates(
            http.get(f"/models/{name}"), ["path", "model_name"], hint=EXTRA_MEMBER_HINT
        )
    expect_detail_locates(
        http.get(f"/models/{_random_model_name()}"),
        ["path", "model_name"],
        hint="Is model_name annotated as ModelName rather than str? Every name "
        "other than alexnet, resnet and lenet must get a 422, not only the "
        "names a route rejects one by one.",
    )
    listed = secrets.choice(MODEL_NAMES)
    random_partial = (
        listed[: 1 + secrets.randbelow(len(listed) - 1)],
        listed + _random_text()[:3],
    )
    for name in (*PARTIAL_MODEL_NAMES, *random_partial):
        expect_detail_locates(
            http.get(f"/models/{name}"), ["path", "model_name"], hint=PARTIAL_HINT
        )
    response = http.get("/openapi.json")
    expect_status(response, 200, hint="Is the app's openapi_url left at its default?")
    enum = model_name_enum(json_body(response))
    names_ok = isinstance(enum, list) and all(isinstance(name, str) for name in enum)
    if not names_ok or sorted(enum) != sorted(MODEL_NAMES):
        raise CheckFailed(
            "The OpenAPI schema does not list exactly the model names the README "
            "accepts.",
            request=f"{describe_request(response)}, the schema of the model_name "
            "path parameter of GET /models/{model_name}",
            expected=f"an enum with exactly {', '.join(MODEL_NAMES)}",
            actual=f"enum {show(enum)}"
            if enum is not None
            else "no enum for model_name",
            hint=EXTRA_MEMBER_HINT,
        )


def test_users_me_is_not_shadowed(http: httpx.Client) -> None:
    """GET /users/me reaches its own route, not /users/{user_id}."""
    response = http.get("/users/me")
    if response.status_code == 422:
        raise CheckFailed(
            '/users/{user_id} matched "me" and failed to read it as an int.',
            request=describe_request(response),
            expected='status 200 with {"user_id": "the current user"}',
            actual=describe_response(response),
            hint="FastAPI tries routes in the order they are declared: is "
            "/users/me declared before /users/{user_id}?",
        )
    expect_json(
        response,
        {"user_id": "the current user"},
        hint="Is /users/me declared, before /users/{user_id}?",
    )


def test_user_id_route_works(http: httpx.Client) -> None:
    """GET /users/7 returns {"user_id": 7}; GET /users/abc and /users/7.5 get 422.

    Any other int is echoed too, zero, negative and large ids included, and
    so is an int written with a sign, leading zeros, .0 or underscores.
    """
    hint = "Is there a route for /users/{user_id} with user_id annotated as int?"
    expect_json(http.get("/users/7"), {"user_id": 7}, hint=hint)
    expect_json(http.get("/users/8"), {"user_id": 8}, hint=hint)
    for user_id in _unbounded_ids():
        _expect_echoed(http, "/users", "user_id", user_id)
    _expect_no_bounds(http, "/users/{user_id}", "user_id")
    _expect_lax_spellings(http, "/users", "user_id")
    expect_detail_locates(http.get("/users/abc"), ["path", "user_id"], hint=hint)
    expect_detail_locates(http.get("/users/7.5"), ["path", "user_id"], hint=hint)
    expect_detail_locates(
        http.get(f"/users/{_random_text()}"),
        ["path", "user_id"],
        hint=NOT_INT_HINT.format(name="user_id"),
    )
    for text in OTHER_NOTATIONS:
        expect_detail_locates(
            http.get(f"/users/{text}"),
            ["path", "user_id"],
            hint=NOTATION_HINT.format(name="user_id"),
        )
