"""Grader for chapter 03: path parameters, their types, and route order."""

import httpx

from apigrade.checks import (
    CheckFailed,
    describe_request,
    describe_response,
    expect_detail_locates,
    expect_json,
    expect_status,
    json_body,
)

# Seconds the checks must wait for the app, one after another: none here,
# because no check requests a delay from the app. scripts/bench.py takes the
# floor from these.
WAIT_SECONDS = 0.0

MODEL_NAMES = ("alexnet", "resnet", "lenet")


def test_item_id_is_converted_to_int(http: httpx.Client) -> None:
    """GET /items/42 returns {"item_id": 42}, the number, not the string."""
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


def test_invalid_item_id_is_422(http: httpx.Client) -> None:
    """GET /items/abc and /items/4.5 get a 422 whose detail locates item_id."""
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


def test_model_name_rejects_other_values(http: httpx.Client) -> None:
    """GET /models/vgg and /models/googlenet return 422: neither is a ModelName."""
    for name in ("vgg", "googlenet"):
        expect_detail_locates(
            http.get(f"/models/{name}"),
            ["path", "model_name"],
            hint="Is model_name annotated as ModelName rather than str, and does "
            "ModelName have exactly the members alexnet, resnet and lenet?",
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
    """GET /users/7 returns {"user_id": 7}; GET /users/abc and /users/7.5 get 422."""
    hint = "Is there a route for /users/{user_id} with user_id annotated as int?"
    expect_json(http.get("/users/7"), {"user_id": 7}, hint=hint)
    expect_json(http.get("/users/8"), {"user_id": 8}, hint=hint)
    expect_detail_locates(http.get("/users/abc"), ["path", "user_id"], hint=hint)
    expect_detail_locates(http.get("/users/7.5"), ["path", "user_id"], hint=hint)
