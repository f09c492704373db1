"""Helpers for writing graders: failures that carry the feedback a learner reads.

A failed check tells the learner the request that was sent, what was expected,
what came back (truncated) and a hint phrased as a question.
"""

from __future__ import annotations

import codecs
import errno
import json
import os
import secrets
import stat
import string
from pathlib import Path
from typing import Any

import httpx

MAX_SHOWN = 300


# The labels that start the fields of CheckFailed.feedback() after its summary.
FEEDBACK_LABELS = ("Request: ", "Expected: ", "Received: ", "Hint: ")


class CheckFailed(AssertionError):
    """A check failed because of the learner's app; the fields become feedback."""

    def __init__(
        self,
        summary: str,
        *,
        request: str | None = None,
        expected: str | None = None,
        actual: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(summary)
        self.summary = summary
        self.request = request
        self.expected = expected
        self.actual = actual
        self.hint = hint

    def feedback(self) -> str:
        lines = [self.summary]
        if self.request:
            lines.append(f"Request: {self.request}")
        if self.expected:
            lines.append(f"Expected: {self.expected}")
        if self.actual:
            lines.append(f"Received: {self.actual}")
        if self.hint:
            lines.append(f"Hint: {self.hint}")
        return "\n".join(lines)


def made_up_email(characters: str, local_length: int) -> str:
    """Make up an address, new at each call, that simple email patterns accept.

    Its local part contains every one of `characters`, shuffled among random
    letters and digits, and has `local_length` characters or up to 15 more.
    Its domain is eight random letters and a one-letter top-level domain.
    """
    letters = string.ascii_letters + string.digits
    extra = local_length - len(characters) + secrets.randbelow(16)
    local = list(characters) + [secrets.choice(letters) for _ in range(extra)]
    secrets.SystemRandom().shuffle(local)
    domain = "".join(secrets.choice(string.ascii_lowercase) for _ in range(8))
    return f"{''.join(local)}@{domain}.{secrets.choice(string.ascii_lowercase)}"


def truncate(text: str, limit: int = MAX_SHOWN) -> str:
    """Shorten `text` to `limit` characters, saying how much was cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


def show(value: Any) -> str:
    """Render a JSON-like value compactly for feedback."""
    return truncate(json.dumps(value, ensure_ascii=False, sort_keys=False))


def describe_request(response: httpx.Response) -> str:
    request = response.request
    target = request.url.raw_path.decode("ascii", errors="replace")
    text = f"{request.method} {target}"
    body = request.content
    if body:
        text += f" with body {truncate(body.decode('utf-8', errors='replace'))}"
    return text


def describe_response(response: httpx.Response) -> str:
    text = f"status {response.status_code}"
    allow = response.headers.get("allow")
    if allow:
        text += f", Allow: {allow}"
    body = response.content
    if body:
        text += f", body {truncate(body.decode('utf-8', errors='replace'))}"
    else:
        text += ", empty body"
    return text


# The exceptions json raises for text that is not JSON, and for arrays or
# objects nested deeper than Python's recursion limit.
JSON_ERRORS = (ValueError, RecursionError)


def json_body(response: httpx.Response, *, hint: str | None = None) -> Any:
    """Return the response's JSON body, or fail saying the body is not JSON."""
    try:
        return response.json()
    except JSON_ERRORS as error:
        summary = (
            "The response body nests arrays or objects too deeply to read."
            if isinstance(error, RecursionError)
            else "The response body is not valid JSON."
        )
        raise CheckFailed(
            summary,
            request=describe_request(response),
            expected="a JSON body",
            actual=describe_response(response),
            hint=hint or "Does the endpoint return a dict, list or Pydantic model?",
        ) from None


def expect_status(
    response: httpx.Response, expected: int, *, hint: str | None = None
) -> None:
    """Fail unless the response has status `expected`, diagnosing common causes."""
    got = response.status_code
    if got == expected:
        return
    summary = f"Expected status {expected}, got {got}."
    if got == 405 and expected != 405:
        allowed = response.headers.get("allow", "none listed")
        method = response.request.method
        summary = (
            f"Wrong method: the path exists but does not accept {method}; "
            f"it allows {allowed}."
        )
        hint = (
            f"Is the route declared with @app.{method.lower()}(...) "
            "rather than another method's decorator?"
        )
    elif got == 404 and expected < 400 and _is_default_not_found(response):
        summary = (
            f"FastAPI's default 404 body: no route matches "
            f"{response.request.url.path}, or the route raised HTTPException(404) "
            "without a detail."
        )
        hint = hint or "Is the route declared, with exactly this path?"
    elif expected >= 400 and 200 <= got < 300 and _looks_like_error(response):
        summary = (
            f"The app answered {got} with an error in the body, "
            f"where status {expected} was expected."
        )
        hint = (
            "Did you `return` the HTTPException instead of `raise` it? "
            "Only a raised HTTPException sets the status code."
        )
    raise CheckFailed(
        summary,
        request=describe_request(response),
        expected=f"status {expected}",
        actual=describe_response(response),
        hint=hint,
    )


def same_json(received: Any, expected: Any) -> bool:
    """Tell whether two decoded JSON values are equal, with true distinct from 1.

    Python's == takes True for 1 and False for 0, so a body with "ok": 1
    would pass for "ok": true. Here a bool equals only a bool. Numbers
    compare by value otherwise, so 1.0 still equals 1.
    """
    if isinstance(received, bool) or isinstance(expected, bool):
        return type(received) is type(expected) and received == expected
    if isinstance(received, dict) and isinstance(expected, dict):
        return received.keys() == expected.keys() and all(
            same_json(value, expected[key]) for key, value in received.items()
        )
    if isinstance(received, list) and isinstance(expected, list):
        return len(received) == len(expected) and all(
            same_json(item, other)
            for item, other in zip(received, expected, strict=True)
        )
    if isinstance(received, (dict, list)) or isinstance(expected, (dict, list)):
        return False
    return bool(received == expected)


def expect_json(
    response: httpx.Response,
    expected: Any,
    *,
    status: int = 200,
    hint: str | None = None,
) -> None:
    """Fail unless the response has `status` and exactly the JSON body `expected`."""
    expect_status(response, status, hint=hint)
    body = json_body(response, hint=hint)
    if not same_json(body, expected):
        raise CheckFailed(
            "The response body is not the expected JSON.",
            request=describe_request(response),
            expected=f"status {status} with body {show(expected)}",
            actual=describe_response(response),
            hint=hint,
        )


def expect_detail_locates(
    response: httpx.Response, location: list[str | int], *, hint: str | None = None
) -> None:
    """Fail unless the response is a 422 whose `detail` has an error at `location`."""
    expect_status(response, 422, hint=hint)
    body = json_body(response, hint=hint)
    details = body.get("detail") if isinstance(body, dict) else None
    locations = [
        entry.get("loc")
        for entry in details or []
        if isinstance(entry, dict) and isinstance(entry.get("loc"), list)
    ]
    if location not in locations:
        raise CheckFailed(
            "The 422 response does not locate the invalid value.",
            request=describe_request(response),
            expected=f"a detail entry with loc {show(location)}",
            actual=describe_response(response),
            hint=hint,
        )


def _is_default_not_found(response: httpx.Response) -> bool:
    try:
        return bool(response.json() == {"detail": "Not Found"})
    except JSON_ERRORS:
        return False


def _looks_like_error(response: httpx.Response) -> bool:
    try:
        body = response.json()
    except JSON_ERRORS:
        return False
    return isinstance(body, dict) and ("detail" in body or "status_code" in body)


MAX_LEARNER_FILE = 4 * 1024 * 1024


def read_learner_file(path: Path, limit: int = MAX_LEARNER_FILE) -> str | None:
    """Read a file the learner's app wrote, as text; None when it does not exist.

    The grader runs outside the sandbox, so it never follows a link the app
    put in place of the file (which could lead to the course's files), reads
    only regular files, and reads at most the last `limit` bytes.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as error:
        if error.errno != errno.ELOOP:
            raise
        raise CheckFailed(
            f"{path.name} is a link, not a file the app wrote.",
            expected=f"a regular file at {path.name}",
            actual="a symbolic link",
            hint="Does the app create the file itself, with open(path, 'a')?",
        ) from None
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            raise CheckFailed(
                f"{path.name} is not a regular file.",
                expected=f"a regular file at {path.name}",
                actual="a folder, pipe or device",
                hint="Does the app create the file itself, with open(path, 'a')?",
            )
        size = os.fstat(file.fileno()).st_size
        file.seek(max(0, size - limit))
        return file.read(limit).decode("utf-8", errors="replace")


def is_utf8(codec: str) -> bool:
    """Tell whether `codec` is a name Python's codecs read as UTF-8."""
    try:
        return codecs.lookup(codec).name in ("utf-8", "utf-8-sig")
    except LookupError:
        return False
