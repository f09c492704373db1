"""The pytest plugin every grader runs with: fixtures for the learner's app, and
metadata that turns each test's outcome into a check's name and feedback.

The engine loads it with `-p apigrade.plugin` and tells it where the learner's
chapter is through the environment variables below.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from apigrade import sandbox
from apigrade.checks import CheckFailed
from apigrade.server import (
    START_TIMEOUT,
    AppStartError,
    LearnerApp,
    ResponseTooLarge,
)
from apigrade.timing import pop_measurements

APP_DIR_VARIABLE = "APIGRADE_APP_DIR"
WORK_DIR_VARIABLE = "APIGRADE_WORK_DIR"
START_TIMEOUT_VARIABLE = "APIGRADE_START_TIMEOUT"
TIMEOUT_MESSAGE = re.compile(r"Timeout \(>([0-9.]+)s\) from pytest-timeout")


def _required_path(variable: str) -> Path:
    value = os.environ.get(variable)
    if not value:
        raise pytest.UsageError(
            f"{variable} is not set: graders run through `python -m apigrade grade`, "
            "which sets it to the chapter being graded"
        )
    return Path(value)


def pytest_configure(config: pytest.Config) -> None:
    """Cap what the learner's code can write in the work folder, where possible.

    Runs first, in the main thread, before any learner code starts, as
    sandbox.limit_folder_size requires.
    """
    work_dir = os.environ.get(WORK_DIR_VARIABLE)
    if work_dir:
        sandbox.limit_folder_size(Path(work_dir))


@pytest.fixture(scope="module")
def app_dir() -> Path:
    """The folder holding the learner's copy of the chapter (main.py)."""
    return _required_path(APP_DIR_VARIABLE)


@pytest.fixture(scope="module")
def work_dir() -> Path:
    """A folder the grader owns for this chapter: socket, logs, data files."""
    return _required_path(WORK_DIR_VARIABLE)


@pytest.fixture(scope="module")
def app_env() -> dict[str, str]:
    """Environment variables for the learner's app; graders override this."""
    return {}


@pytest.fixture(scope="module")
def learner_app(
    app_dir: Path, work_dir: Path, app_env: dict[str, str]
) -> Iterator[LearnerApp]:
    """The learner's app, running in its own uvicorn process for this grader."""
    start_timeout = float(os.environ.get(START_TIMEOUT_VARIABLE, START_TIMEOUT))
    app = LearnerApp(app_dir, work_dir, env=app_env, start_timeout=start_timeout)
    app.start()
    try:
        yield app
    finally:
        app.stop()


@pytest.fixture
def http(learner_app: LearnerApp) -> Iterator[httpx.Client]:
    """An HTTP client talking to the learner's app, new for each check.

    A check interrupted by its timeout can leave a connection half-read, so no
    client is shared between checks.
    """
    with learner_app.client() as client:
        yield client


def _check_name(item: pytest.Item) -> str:
    function = getattr(item, "function", None)
    doc = (getattr(function, "__doc__", None) or "").strip()
    return doc.splitlines()[0] if doc else item.name


def _describe_failure(excinfo: pytest.ExceptionInfo[BaseException]) -> dict[str, str]:
    error = excinfo.value
    if isinstance(error, CheckFailed):
        return {"kind": "failed", "feedback": error.feedback()}
    if isinstance(error, AppStartError):
        return {"kind": "app_error", "feedback": str(error)}
    match = TIMEOUT_MESSAGE.search(str(error))
    if match:
        seconds = float(match.group(1))
        return {
            "kind": "timeout",
            "feedback": f"timed out after {seconds:g} s: the app did not answer "
            "in time. Is a handler blocked or waiting forever?",
        }
    if isinstance(error, httpx.TimeoutException):
        return {
            "kind": "timeout",
            "feedback": f"timed out: the app did not answer a request in time "
            f"({type(error).__name__}). Is a handler blocked or waiting forever?",
        }
    if isinstance(error, ResponseTooLarge):
        return {
            "kind": "failed",
            "feedback": f"The response was too large: {error}. Does the handler "
            "build a huge body, or stream without end?",
        }
    if isinstance(error, httpx.HTTPError):
        return {
            "kind": "failed",
            "feedback": f"The request failed: {type(error).__name__}: {error}. "
            "Did the app crash or close the connection? Its output may say why.",
        }
    if isinstance(error, AssertionError):
        return {"kind": "failed", "feedback": str(error) or "An assertion failed."}
    return {
        "kind": "error",
        "feedback": f"The grader hit an unexpected error ({type(error).__name__}: "
        f"{error}). This is a bug in the grader; please report it.",
    }


@pytest.hookimpl(optionalhook=True)
def pytest_json_runtest_metadata(
    item: pytest.Item, call: pytest.CallInfo[Any]
) -> dict[str, Any]:
    """Add the check's name and, for a failure, its feedback to the JSON report."""
    metadata: dict[str, Any] = {}
    if call.when == "setup":
        metadata["name"] = _check_name(item)
        pop_measurements()
    if call.when == "call":
        metadata["measurements"] = pop_measurements()
    if call.excinfo is not None and not call.excinfo.errisinstance(
        pytest.skip.Exception
    ):
        metadata.update(_describe_failure(call.excinfo))
        app = getattr(item, "funcargs", {}).get("learner_app")
        if "Received: status 500" in metadata["feedback"] and app is not None:
            metadata["feedback"] += (
                "\nThe app raised an exception; the end of its output:\n"
                + app.log_tail()
            )
        metadata["stage"] = call.when
        if call.excinfo.errisinstance(AppStartError):
            metadata["app_error"] = True
    return metadata
