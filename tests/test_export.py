"""Exports of a score report: Gradescope's results.json and JUnit XML."""

from __future__ import annotations

import copy
import json
import re
import xml.etree.ElementTree as ET
from functools import cache
from typing import Any

import jsonschema
import pytest

from apigrade.export import to_gradescope, to_junit
from apigrade.report import validate_report
from tests.conftest import ROOT

GRADESCOPE_SCHEMA = ROOT / "tests" / "data" / "gradescope_results.schema.json"
EXAMPLE_REPORT = ROOT / "docs" / "report-example.json"

APP_CRASH = (
    "The app could not be started: Traceback (most recent call last):\n"
    '  File "<string>", line 1, in <module>\n'
    "ModuleNotFoundError: No module named 'fastap'"
)
NOT_RUN = "Not run: the chapter could not be graded."
FAILED_FEEDBACK = (
    "GET /items/7 answered 200, expected 404.\n"
    "Request: GET /items/7\n"
    "Expected: 404 with a detail\n"
    "Received: 200 {}\n"
    "Hint: What does your handler return when the id is unknown?"
)
HIDDEN_FEEDBACK = "This check is hidden: its inputs and expected values stay private."

# Text a learner's app can put into feedback: C0 controls, an ANSI colour
# sequence, a lone surrogate, a non-character, the CDATA end marker, markup
# and emoji.
HOSTILE = (
    "bad\x00null\x01\x08\x0b\x0c\x1b[31mred\x1b[0m \ud800 \ufffe "
    ']]> <![CDATA[ x ]]> <tag attr="\'"> &amp; & 🚀🐍 \r\n end'
)
# HOSTILE's first line as JUnit XML shows it: each invalid code point is U+FFFD.
HOSTILE_FIRST_LINE = (
    "bad\ufffdnull\ufffd\ufffd\ufffd\ufffd\ufffd[31mred\ufffd[0m \ufffd \ufffd "
    ']]> <![CDATA[ x ]]> <tag attr="\'"> &amp; & 🚀🐍'
)
BIG_FEEDBACK_CHARS = 100_000

XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@cache
def gradescope_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(GRADESCOPE_SCHEMA.read_text(encoding="utf-8"))
    return schema


def validate_gradescope(results: dict[str, Any]) -> None:
    jsonschema.validate(results, gradescope_schema())


def check(
    check_id: str,
    status: str,
    max_score: int,
    *,
    visibility: str = "visible",
    feedback: str = "",
) -> dict[str, Any]:
    return {
        "id": check_id,
        "name": f"The check {check_id} holds.",
        "status": status,
        "score": max_score if status == "passed" else 0,
        "max_score": max_score,
        "visibility": visibility,
        "feedback": feedback,
    }


def chapter(
    chapter_id: str,
    title: str,
    status: str,
    checks: list[dict[str, Any]],
    *,
    reason: str | None = None,
    duration: float | None = 1.25,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": chapter_id,
        "title": title,
        "status": status,
        "reason": reason,
        "score": sum(item["score"] for item in checks),
        "max_score": sum(item["max_score"] for item in checks),
        "checks": checks,
    }
    if duration is not None:
        entry["duration"] = duration
    return entry


def report_of(chapters: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    report: dict[str, Any] = {
        "format_version": 1,
        "learner": "grace",
        "target": "/tmp/submission",
        "score": sum(item["score"] for item in chapters),
        "max_score": sum(item["max_score"] for item in chapters),
        "graded_at": "2026-12-05T09:30:00+00:00",
        "grader_version": "0.1.0+0123456789ab",
        "submission_digest": "sha256:" + "ab" * 32,
        "chapters": chapters,
    }
    report.update(extra)
    validate_report(report)
    return report


def example_report() -> dict[str, Any]:
    report: dict[str, Any] = json.loads(EXAMPLE_REPORT.read_text(encoding="utf-8"))
    return report


def mixed_report() -> dict[str, Any]:
    """Build a report with every check status, a hidden check and a crashed app."""
    return report_of(
        [
            chapter(
                "01",
                "Your first app",
                "failed",
                [
                    check("root_returns_hello_world", "passed", 2),
                    check(
                        "missing_item_returns_404",
                        "failed",
                        2,
                        feedback=FAILED_FEEDBACK,
                    ),
                    check(
                        "secret_check",
                        "failed",
                        1,
                        visibility="hidden",
                        feedback=HIDDEN_FEEDBACK,
                    ),
                    check("optional_check", "skipped", 1, feedback="Skipped."),
                ],
                duration=2.5,
            ),
            chapter(
                "03",
                "Path parameters",
                "error",
                [
                    check("path_item", "error", 2, feedback=NOT_RUN),
                    check(
                        "path_hidden", "error", 1, visibility="hidden", feedback=NOT_RUN
                    ),
                ],
                reason=APP_CRASH,
                duration=None,
            ),
            chapter(
                "05",
                "Request bodies",
                "error",
                [
                    check("body_ok", "passed", 3),
                    check(
                        "body_broken", "error", 2, feedback="The check could not run."
                    ),
                ],
                reason="some checks could not run; their feedback says why",
                duration=0.5,
            ),
        ],
        duration=4.6,
    )


def hostile_report() -> dict[str, Any]:
    big = (
        "Expected 1 line, got this:\n"
        + ("x\x1b\x07 🚀" * BIG_FEEDBACK_CHARS)[:BIG_FEEDBACK_CHARS]
    )
    return report_of(
        [
            chapter(
                "02",
                "HTTP methods",
                "failed",
                [
                    check("hostile_first", "failed", 2, feedback=HOSTILE),
                    check("big_feedback", "failed", 1, feedback=big),
                ],
            ),
            chapter(
                "04",
                "Query parameters",
                "error",
                [check("query_case", "error", 1, feedback=HOSTILE)],
                reason=HOSTILE,
            ),
        ],
    )


def all_reports() -> dict[str, dict[str, Any]]:
    return {
        "example": example_report(),
        "mixed": mixed_report(),
        "hostile": hostile_report(),
    }


def checks_of(report: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(item, entry) for item in report["chapters"] for entry in item["checks"]]


# Gradescope


def test_gradescope_schema_is_valid() -> None:
    jsonschema.Draft202012Validator.check_schema(gradescope_schema())


@pytest.mark.parametrize(
    "results",
    [
        {"tests": [{"status": "error", "score": 0}]},
        {"score": 1, "grade": 1},
        {"score": 1, "visibility": "public"},
        {"score": 1, "output_format": "markdown"},
        {"tests": [{"name": "no score anywhere"}]},
        {"score": 1, "tests": [{"score": 1, "feedback": "unknown field"}]},
    ],
    ids=["status", "extra-top", "visibility", "format", "no-score", "extra-test"],
)
def test_gradescope_schema_rejects(results: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        validate_gradescope(results)


@pytest.mark.parametrize("name", ["example", "mixed", "hostile"])
def test_gradescope_export_matches_schema(name: str) -> None:
    validate_gradescope(to_gradescope(all_reports()[name]))


@pytest.mark.parametrize("name", ["example", "mixed", "hostile"])
def test_gradescope_one_test_per_check(name: str) -> None:
    report = all_reports()[name]
    results = to_gradescope(report)
    pairs = checks_of(report)

    assert len(results["tests"]) == len(pairs)
    for test, (item, entry) in zip(results["tests"], pairs, strict=True):
        assert test["tags"] == [item["id"]]
        assert test["score"] == entry["score"]
        assert test["max_score"] == entry["max_score"]
    assert results["score"] == report["score"]
    assert sum(test["score"] for test in results["tests"]) == report["score"]


def test_gradescope_example_fields() -> None:
    report = example_report()
    results = to_gradescope(report)

    assert results["score"] == 18
    assert type(results["score"]) is int
    assert results["execution_time"] == 3
    assert type(results["execution_time"]) is int
    assert results["visibility"] == "visible"
    assert results["stdout_visibility"] == "hidden"
    assert results["output_format"] == "text"
    assert results["extra_data"] == {
        "learner": "ada",
        "grader_version": report["grader_version"],
        "submission_digest": report["submission_digest"],
        "graded_at": report["graded_at"],
    }
    first = results["tests"][0]
    assert first["name"] == '01 Your first app: GET / returns {"Hello": "World"}.'
    assert first["number"] == "01.1"
    assert type(first["score"]) is int
    assert results["tests"][3]["number"] == "02.1"
    assert all(test["output_format"] == "text" for test in results["tests"])
    assert "18 of 18 points" in results["output"]
    assert "No chapter had an error or a timeout." in results["output"]


def test_gradescope_without_duration() -> None:
    report = mixed_report()
    del report["duration"]

    assert "execution_time" not in to_gradescope(report)


def test_gradescope_statuses_and_visibility() -> None:
    tests = {test["number"]: test for test in to_gradescope(mixed_report())["tests"]}

    assert tests["01.1"]["status"] == "passed"
    assert tests["01.1"]["output"] == ""
    assert tests["01.2"]["status"] == "failed"
    assert tests["01.2"]["output"] == FAILED_FEEDBACK
    assert tests["01.3"]["status"] == "failed"
    assert tests["01.3"]["visibility"] == "after_due_date"
    assert tests["01.3"]["output"] == HIDDEN_FEEDBACK
    assert tests["01.4"]["status"] == "failed"
    assert tests["01.4"]["output"] == "Skipped."
    assert tests["01.1"]["visibility"] == "visible"


def test_gradescope_error_output_starts_with_reason() -> None:
    tests = {test["number"]: test for test in to_gradescope(mixed_report())["tests"]}

    assert tests["03.1"]["status"] == "failed"
    assert tests["03.1"]["output"] == f"{APP_CRASH}\n\n{NOT_RUN}"
    assert tests["03.2"]["visibility"] == "after_due_date"
    assert tests["03.2"]["output"].startswith(APP_CRASH)
    assert tests["05.1"]["status"] == "passed"
    assert tests["05.1"]["output"] == ""
    assert tests["05.2"]["output"].startswith("some checks could not run")


def test_gradescope_summary_names_error_chapters() -> None:
    output = to_gradescope(mixed_report())["output"]

    assert output.startswith("grace scored 5 of 14 points in 3 graded chapter(s).")
    assert "03 Path parameters (The app could not be started:" in output
    assert "05 Request bodies (some checks could not run" in output
    assert "01 Your first app" not in output
    assert "\n" not in output


def test_gradescope_hostile_text_encodes() -> None:
    report = hostile_report()
    results = to_gradescope(report)
    text = json.dumps(results, ensure_ascii=False)

    assert json.loads(text.encode("utf-8")) == results
    first = results["tests"][0]["output"]
    assert "\ud800" not in first
    assert "]]>" in first
    assert "🚀🐍" in first
    assert "\x1b[31m" in first
    assert len(results["tests"][1]["output"]) > BIG_FEEDBACK_CHARS
    assert len(results["output"]) < 1_000


def test_gradescope_leaves_report_unchanged() -> None:
    report = mixed_report()
    before = copy.deepcopy(report)
    to_gradescope(report)

    assert report == before


# JUnit XML


def parse_junit(text: str) -> ET.Element:
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    return ET.fromstring(text.encode("utf-8"))


@pytest.mark.parametrize("name", ["example", "mixed", "hostile"])
def test_junit_counts_match_report(name: str) -> None:
    report = all_reports()[name]
    root = parse_junit(to_junit(report))
    statuses = [entry["status"] for _, entry in checks_of(report)]

    assert root.tag == "testsuites"
    assert root.get("name") == "apigrade"
    assert root.get("tests") == str(len(statuses))
    assert root.get("failures") == str(statuses.count("failed"))
    assert root.get("errors") == str(statuses.count("error"))
    assert root.get("skipped") == str(statuses.count("skipped"))
    assert len(root.findall("testsuite")) == len(report["chapters"])
    for suite, item in zip(root.findall("testsuite"), report["chapters"], strict=True):
        suite_statuses = [entry["status"] for entry in item["checks"]]
        assert suite.get("name") == f"{item['id']} {item['title']}"
        assert suite.get("tests") == str(len(suite_statuses))
        assert suite.get("failures") == str(suite_statuses.count("failed"))
        assert suite.get("errors") == str(suite_statuses.count("error"))
        assert suite.get("skipped") == str(suite_statuses.count("skipped"))


@pytest.mark.parametrize("name", ["example", "mixed", "hostile"])
def test_junit_one_testcase_per_check(name: str) -> None:
    report = all_reports()[name]
    root = parse_junit(to_junit(report))
    cases = root.findall("testsuite/testcase")
    pairs = checks_of(report)

    assert len(cases) == len(pairs)
    for case, (item, entry) in zip(cases, pairs, strict=True):
        assert case.get("classname") == f"chapter{item['id']}"
        assert case.get("name") == entry["id"]
        outcomes = [child.tag for child in case]
        expected = {
            "passed": [],
            "failed": ["failure"],
            "error": ["error"],
            "skipped": ["skipped"],
        }
        assert outcomes == expected[entry["status"]]


def test_junit_properties_and_time() -> None:
    report = example_report()
    root = parse_junit(to_junit(report))
    suite = root.findall("testsuite")[0]
    properties = {
        element.get("name"): element.get("value")
        for element in suite.findall("properties/property")
    }

    assert properties == {"score": "4", "max_score": "4"}
    assert suite.get("time") == "3.291"
    assert root.get("time") == "3.293"


def test_junit_time_without_durations() -> None:
    report = mixed_report()
    del report["duration"]
    root = parse_junit(to_junit(report))
    suites = root.findall("testsuite")

    assert root.get("time") == "3.000"
    assert suites[0].get("time") == "2.500"
    assert suites[1].get("time") is None


def test_junit_failure_and_error_text() -> None:
    root = parse_junit(to_junit(mixed_report()))
    cases = {case.get("name"): case for case in root.iter("testcase")}

    failure = cases["missing_item_returns_404"].find("failure")
    assert failure is not None
    assert failure.get("message") == "GET /items/7 answered 200, expected 404."
    assert failure.text == FAILED_FEEDBACK

    error = cases["path_item"].find("error")
    assert error is not None
    assert error.get("message") == (
        "The app could not be started: Traceback (most recent call last):"
    )
    assert error.text == f"{APP_CRASH}\n\n{NOT_RUN}"

    skipped = cases["optional_check"].find("skipped")
    assert skipped is not None
    assert cases["root_returns_hello_world"].find("*") is None


def test_junit_hostile_text_parses() -> None:
    text = to_junit(hostile_report())
    root = parse_junit(text)

    assert XML_INVALID.search(text) is None
    first = root.find("testsuite/testcase/failure")
    assert first is not None
    assert first.text is not None
    assert "]]> <![CDATA[ x ]]>" in first.text
    assert '<tag attr="\'"> &amp; &' in first.text
    assert "🚀🐍" in first.text
    assert "\ufffd[31mred" in first.text
    assert first.get("message") == HOSTILE_FIRST_LINE

    big = root.findall("testsuite/testcase/failure")[1]
    assert big.text is not None
    assert len(big.text) > BIG_FEEDBACK_CHARS

    error = root.find("testsuite/testcase/error")
    assert error is not None
    assert error.text is not None
    assert error.text.startswith("bad\ufffdnull")
