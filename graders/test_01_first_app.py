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
    hint = (
        'Is there a function decorated with @app.get("/") that returns the dict '
        '{"Hello": "World"}? FastAPI sends a returned dict as JSON.'
    )
    expect_json(response, {"Hello": "World"}, hint=hint)
    content_type = response.headers.get("content-type", "")
    if not content_type.startswith("application/json"):
        raise CheckFailed(
            "GET / did not answer with JSON, although its body reads like it.",
            request=describe_request(response),
            expected="Content-Type: application/json",
            actual=f"Content-Type: {content_type or 'none'}",
            hint=hint + " A response_class such as PlainTextResponse sends text.",
        )


def test_docs_are_served(http: httpx.Client) -> None:
    """The interactive docs at /docs load and /openapi.json lists GET /."""
    docs = http.get("/docs")
    # FastAPI's Swagger UI page loads swagger-ui's script and points it at
    # the app's OpenAPI description.
    if (
        docs.status_code != 200
        or "swagger-ui" not in docs.text
        or "/openapi.json" not in docs.text
    ):
        raise CheckFailed(
            "The interactive docs page did not load.",
            request=describe_request(docs),
            expected="status 200 with the Swagger UI page, which loads swagger-ui "
            "and /openapi.json",
            actual=f"status {docs.status_code}"
            + ("" if docs.status_code != 200 else ", a page without them"),
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
    # Blank text is no title or version either.
    title_ok = isinstance(title, str) and title.strip() not in ("", "FastAPI")
    version_ok = isinstance(version, str) and version.strip() not in ("", "0.1.0")
    if not title_ok or not version_ok:
        raise CheckFailed(
            "The app still has FastAPI's default title or version.",
            request=describe_request(response),
            expected='an "info" title other than "FastAPI" and a version '
            'other than "0.1.0", neither of them blank',
            actual=f"title {title!r}, version {version!r}",
            hint='Did you create the app as FastAPI(title="...", version="...")?',
        )
