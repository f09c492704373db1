"""Grader for chapter 01: the first app."""

import httpx

from apigrade.checks import CheckFailed, describe_request, expect_json, json_body

# Seconds the checks must wait for the app, one after another: none here,
# because no check requests a delay from the app. scripts/bench.py takes the
# floor from these.
WAIT_SECONDS = 0.0


def test_root_returns_hello_world(http: httpx.Client) -> None:
    """GET / returns {"Hello": "World"}."""
    response = http.get("/")
    expect_json(
        response,
        {"Hello": "World"},
        hint='Is there a function decorated with @app.get("/") that returns '
        'the dict {"Hello": "World"}?',
    )


def test_docs_are_served(http: httpx.Client) -> None:
    """The interactive docs at /docs load and /openapi.json lists GET /."""
    docs = http.get("/docs")
    if docs.status_code != 200 or "swagger" not in docs.text.lower():
        raise CheckFailed(
            "The interactive docs page did not load.",
            request=describe_request(docs),
            expected="status 200 with the Swagger UI page",
            actual=f"status {docs.status_code}",
            hint="Did you pass docs_url=None to FastAPI(...)? Leave it out.",
        )
    response = http.get("/openapi.json")
    spec = json_body(response)
    paths = spec.get("paths", {}) if isinstance(spec, dict) else {}
    if "get" not in paths.get("/", {}):
        raise CheckFailed(
            "/openapi.json does not describe GET /.",
            request=describe_request(response),
            expected='a "paths" entry for "/" with a "get" operation',
            actual=f"paths: {sorted(paths) or 'none'}",
            hint="Is the route for / declared on the same app object that "
            "uvicorn serves (main:app)?",
        )


def test_app_has_own_title_and_version(http: httpx.Client) -> None:
    """The app sets its own title and version, shown in /openapi.json."""
    response = http.get("/openapi.json")
    spec = json_body(response)
    info = spec.get("info", {}) if isinstance(spec, dict) else {}
    title, version = info.get("title"), info.get("version")
    if title in (None, "", "FastAPI") or version in (None, "", "0.1.0"):
        raise CheckFailed(
            "The app still has FastAPI's default title or version.",
            request=describe_request(response),
            expected='an "info" title other than "FastAPI" and a version '
            'other than "0.1.0"',
            actual=f"title {title!r}, version {version!r}",
            hint='Did you create the app as FastAPI(title="...", version="...")?',
        )
