"""Convert a score report to Gradescope's results.json and to JUnit XML.

Both functions take a report as built by `apigrade.report.build_report` (the
format in docs/report-format.md) and ignore fields they do not map.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from apigrade.report import reason_summary

# Gradescope's visibility values: "hidden" would never show the test to the
# learner, so our hidden checks are shown once the due date has passed.
GRADESCOPE_VISIBILITY = {"visible": "visible", "hidden": "after_due_date"}

# How much of each chapter's `reason` the one-paragraph summary quotes. The
# tests of that chapter carry the full reason.
SUMMARY_REASON_CHARS = 300

# Code points that XML 1.0 does not allow anywhere in a document: the C0
# controls except tab, newline and carriage return, the UTF-16 surrogates,
# U+FFFE and U+FFFF.
_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def to_gradescope(report: dict[str, Any]) -> dict[str, Any]:
    """Build Gradescope's autograder results.json content from a score report.

    The format is the "Output format" section of
    https://gradescope-autograders.readthedocs.io/en/latest/specs/. Each check
    becomes one test, and scores stay integers.
    """
    results: dict[str, Any] = {"score": report["score"]}
    if report.get("duration") is not None:
        results["execution_time"] = round(report["duration"])
    results["output"] = _clean_json_text(_summary(report))
    # The top-level default, "simple_format", renders HTML, and reasons quote
    # tracebacks such as `File "<string>"`, so the summary is plain text.
    results["output_format"] = "text"
    results["visibility"] = "visible"
    results["stdout_visibility"] = "hidden"
    results["extra_data"] = {
        "learner": report["learner"],
        "grader_version": report["grader_version"],
        "submission_digest": report["submission_digest"],
        "graded_at": report["graded_at"],
    }
    results["tests"] = [
        _gradescope_test(chapter, number, check)
        for chapter in report["chapters"]
        for number, check in enumerate(chapter["checks"], start=1)
    ]
    return results


def to_junit(report: dict[str, Any]) -> str:
    """Render a score report as JUnit XML, one testsuite per chapter.

    The returned text starts with an XML declaration for UTF-8, so write it
    encoded as UTF-8. Code points that XML 1.0 does not allow, such as the
    control characters in a captured terminal output, become U+FFFD.
    """
    root = ET.Element("testsuites", name="apigrade")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for chapter in report["chapters"]:
        suite = _junit_suite(chapter)
        root.append(suite)
        for key in totals:
            totals[key] += int(suite.get(key, "0"))
    # NOTE: junit-10.xsd, the Jenkins xUnit plugin's schema, declares `skipped`
    # on <testsuite> only, so a validator using it rejects this attribute here.
    for key, value in totals.items():
        root.set(key, str(value))

    duration = report.get("duration")
    if duration is None:
        # Chapters graded in parallel make this sum longer than the wall time.
        duration = sum(chapter.get("duration") or 0 for chapter in report["chapters"])
    root.set("time", _seconds(duration))

    ET.indent(root)
    # ElementTree takes the declared encoding from its output stream, so the
    # declaration is written here to name UTF-8 in every case.
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(
        root, encoding="unicode"
    )


def _summary(report: dict[str, Any]) -> str:
    chapters = report["chapters"]
    text = (
        f"{report['learner']} scored {report['score']} of {report['max_score']} "
        f"points in {len(chapters)} graded chapter(s)."
    )
    errors = [
        chapter
        for chapter in chapters
        if chapter["status"] == "error" or chapter.get("timed_out")
    ]
    if not errors:
        return text + " No chapter had an error or a timeout."
    parts = []
    for chapter in errors:
        reason = reason_summary(chapter.get("reason"), limit=SUMMARY_REASON_CHARS)
        parts.append(f"{_chapter_label(chapter)} ({reason})")
    return text + " Chapters with errors or timeouts: " + "; ".join(parts) + "."


def _gradescope_test(
    chapter: dict[str, Any], number: int, check: dict[str, Any]
) -> dict[str, Any]:
    return {
        "name": _clean_json_text(f"{_chapter_label(chapter)}: {check['name']}"),
        "number": f"{chapter['id']}.{number}",
        "score": check["score"],
        "max_score": check["max_score"],
        "status": "passed" if check["status"] == "passed" else "failed",
        "output": _clean_json_text(_check_output(chapter, check)),
        # Feedback quotes the app's responses, which may hold HTML, so
        # Gradescope must show it as plain text, like the summary.
        "output_format": "text",
        "visibility": GRADESCOPE_VISIBILITY[check["visibility"]],
        "tags": [chapter["id"]],
    }


def _check_output(chapter: dict[str, Any], check: dict[str, Any]) -> str:
    """Return the check's feedback, after the chapter's reason if it had an error.

    Passed checks in an `error` chapter keep their own (empty) feedback: the
    reason explains the checks that did not pass.
    """
    feedback = str(check["feedback"])
    reason = chapter.get("reason")
    if chapter["status"] != "error" or check["status"] == "passed" or not reason:
        return feedback
    if not feedback:
        return str(reason)
    return f"{reason}\n\n{feedback}"


def _junit_suite(chapter: dict[str, Any]) -> ET.Element:
    checks = chapter["checks"]
    statuses = [check["status"] for check in checks]
    suite = ET.Element(
        "testsuite",
        name=_clean_xml_text(_chapter_label(chapter)),
        tests=str(len(checks)),
        failures=str(statuses.count("failed")),
        errors=str(statuses.count("error")),
        skipped=str(statuses.count("skipped")),
    )
    if chapter.get("duration") is not None:
        suite.set("time", _seconds(chapter["duration"]))

    properties = ET.SubElement(suite, "properties")
    for name in ("score", "max_score"):
        ET.SubElement(properties, "property", name=name, value=str(chapter[name]))

    for check in checks:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"chapter{chapter['id']}",
            name=_clean_xml_text(check["id"]),
        )
        status = check["status"]
        if status == "skipped":
            ET.SubElement(case, "skipped")
        elif status in ("failed", "error"):
            tag = "failure" if status == "failed" else "error"
            text = _clean_xml_text(_check_output(chapter, check))
            element = ET.SubElement(case, tag, message=_first_line(text))
            element.text = text
    return suite


def _chapter_label(chapter: dict[str, Any]) -> str:
    return f"{chapter['id']} {chapter['title']}"


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0].strip() if lines else ""


def _seconds(value: float) -> str:
    return f"{value:.3f}"


def _clean_xml_text(text: str) -> str:
    return _XML_INVALID.sub(REPLACEMENT, text)


def _clean_json_text(text: str) -> str:
    """Replace lone surrogates, which no UTF-8 encoder accepts, with U+FFFD."""
    return _SURROGATE.sub(REPLACEMENT, text)
