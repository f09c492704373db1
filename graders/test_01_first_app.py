"""Grader for chapter 01: the first app."""

import html
import re
import unicodedata

import httpx
from confusable_homoglyphs import confusables

from apigrade.checks import (
    CheckFailed,
    describe_request,
    expect_json,
    json_body,
    truncate,
)

# Seconds the checks must wait for the app, one after another: none here,
# because no check requests a delay from the app. scripts/bench.py takes the
# floor from these.
WAIT_SECONDS = 0.0
# Letters and symbols that show as blank space: the Hangul fillers and the
# braille pattern with no dots.
BLANK_CHARACTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
# Marks that set the direction of right-to-left text around some look-alikes
# in the confusables data.
DIRECTION_MARKS = "\u200e\u200f"


def _look_alike_classes() -> dict[str, str]:
    """Return each character that looks like another, mapped to its class.

    The pairs come from Unicode's confusables data (UTS #39), such as the
    Cyrillic small a (U+0430) and the Latin a, or the Lisu tone letter MYA TI
    (U+A4F8) and the full stop. Characters joined by pairs, directly or
    through others, form a class, named by its lowest code point.
    Look-alikes of several characters, such as rn for m, are left out.
    """
    parent: dict[str, str] = {}

    def root(character: str) -> str:
        parent.setdefault(character, character)
        while parent[character] != character:
            parent[character] = parent[parent[character]]
            character = parent[character]
        return character

    for character, look_alikes in confusables.confusables_data.items():
        for look_alike in look_alikes:
            other = str(look_alike["c"]).strip(DIRECTION_MARKS)
            if len(character) == 1 and len(other) == 1:
                first, second = sorted((root(character), root(other)))
                parent[second] = first
    return {character: root(character) for character in parent}


LOOK_ALIKE_CLASSES = _look_alike_classes()

# What FastAPI's Swagger UI page contains, from get_swagger_ui_html in
# fastapi/openapi/docs.py (FastAPI 0.162): a script tag that loads
# swagger-ui's bundle, and a SwaggerUIBundle call whose url is the app's
# OpenAPI description. The patterns allow any whitespace and either quote,
# so that another FastAPI version's layout of the same page still passes.
SWAGGER_UI_MARKERS = (
    (
        "a <script> tag that loads swagger-ui-bundle.js",
        re.compile(r"""<script\s+src=["'][^"']*swagger-ui-bundle\.js["']\s*>"""),
    ),
    (
        "the call SwaggerUIBundle({url: '/openapi.json', ...})",
        re.compile(r"""SwaggerUIBundle\(\s*\{\s*url\s*:\s*["']/openapi\.json["']"""),
    ),
)
PAGE_TITLE = re.compile(r"<title>(.*?)</title>", re.DOTALL | re.IGNORECASE)
# HTML comments, which a browser does not run or show: markers inside one do
# not count. An unclosed comment runs to the end of the page.
HTML_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)


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
    """The docs at /docs are FastAPI's Swagger UI page and /openapi.json lists GET /."""
    docs = http.get("/docs")
    if docs.status_code != 200:
        raise CheckFailed(
            "The interactive docs page did not load.",
            request=describe_request(docs),
            expected="status 200 with FastAPI's Swagger UI page",
            actual=f"status {docs.status_code}",
            hint="Did you pass docs_url=None to FastAPI(...)? Leave it out.",
        )
    page = HTML_COMMENT.sub("", docs.text)
    missing = [name for name, pattern in SWAGGER_UI_MARKERS if not pattern.search(page)]
    if missing:
        raise CheckFailed(
            "The page at /docs is not FastAPI's Swagger UI page.",
            request=describe_request(docs),
            expected="status 200 with the Swagger UI page, which has "
            + " and ".join(name for name, _ in SWAGGER_UI_MARKERS),
            actual=f"status 200, a page without {' or '.join(missing)}: "
            f"{truncate(docs.text)}",
            hint="Did you pass docs_url=None to FastAPI(...), or declare a /docs "
            "route of your own? Leave both out, and FastAPI serves the page itself.",
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
    info = spec.get("info", {}) if isinstance(spec, dict) else {}
    expected_title = f"{info.get('title')} - Swagger UI"
    match = PAGE_TITLE.search(page)
    page_title = html.unescape(match.group(1)) if match else None
    # Browsers collapse runs of whitespace in a title, so the check does too.
    if page_title is None or page_title.split() != expected_title.split():
        raise CheckFailed(
            "The page at /docs does not carry the app's title.",
            request=describe_request(docs),
            expected=f"<title>{expected_title}</title>, the title in "
            '/openapi.json followed by " - Swagger UI"',
            actual="no <title> element"
            if page_title is None
            else f"<title>{page_title}</title>",
            hint="Does /docs come from FastAPI itself? It titles the page after "
            "FastAPI(title=...), and a page of your own, or one that "
            "get_swagger_ui_html builds with another title, does not match.",
        )


def _visible(text: str) -> str:
    """Return `text` as it reads: compatibility forms folded, blanks left out.

    NFKC folds forms such as full-width letters into the plain ones. Then
    letters, digits, punctuation and symbols are kept, and each run of spaces
    becomes one space. Marks (such as the combining grapheme joiner U+034F
    and variation selectors), control and format characters (such as the
    zero-width space) and BLANK_CHARACTERS go.
    """
    visible_text = "".join(
        " " if category.startswith("Z") else character
        for character in unicodedata.normalize("NFKC", text)
        if (category := unicodedata.category(character))[0] in "LNPSZ"
        and character not in BLANK_CHARACTERS
    )
    return " ".join(visible_text.split())


def _reads_as(text: str, default: str) -> bool:
    """Tell whether `text` reads as `default`, ignoring case and look-alikes.

    Each character becomes its look-alike class, then the text is case-folded
    and mapped again, so "FastAPl" with a small L, and "FastAPI" spelled with
    Greek and Cyrillic letters, both read as "fastapi".
    """

    def fold(value: str) -> str:
        classes = "".join(LOOK_ALIKE_CLASSES.get(c, c) for c in value)
        return "".join(LOOK_ALIKE_CLASSES.get(c, c) for c in classes.casefold())

    return fold(_visible(text)) == fold(default)


def test_app_has_own_title_and_version(http: httpx.Client) -> None:
    """The app sets its own title and version, shown in /openapi.json."""
    response = http.get("/openapi.json")
    spec = json_body(response)
    info = spec.get("info", {}) if isinstance(spec, dict) else {}
    title, version = info.get("title"), info.get("version")
    # Blank text is no title or version either, and characters that do not
    # show, such as a zero-width space, leave the default as it reads.
    # A title or version spelled in look-alike letters still reads as the default.
    title_ok = (
        isinstance(title, str)
        and _visible(title) != ""
        and not _reads_as(title, "FastAPI")
    )
    version_ok = (
        isinstance(version, str)
        and _visible(version) != ""
        and not _reads_as(version, "0.1.0")
    )
    if not title_ok or not version_ok:
        raise CheckFailed(
            "The app still has FastAPI's default title or version.",
            request=describe_request(response),
            expected='an "info" title other than "FastAPI" and a version '
            'other than "0.1.0", neither of them blank',
            actual=f"title {title!r}, version {version!r}",
            hint='Did you create the app as FastAPI(title="...", version="...")?',
        )
