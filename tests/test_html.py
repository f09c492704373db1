"""The HTML score report and class dashboard: markup, escaping, and a real browser.

The pure-Python tests always run. The browser tests open the pages in headless
Chromium, read back the DOM after the page's script has drawn the charts, and
count the bars. Without Chromium they are skipped, unless
APIGRADE_REQUIRE_BROWSER=1 makes a missing browser a failure.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

import apigrade.html
from apigrade.course import Course, load_course
from apigrade.html import (
    class_chart_data,
    distribution_bin,
    embed_json,
    learner_chart_data,
    render_class_html,
    render_learner_html,
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_REPORT = ROOT / "docs" / "report-example.json"
ARTIFACTS = ROOT / "artifacts"

HOSTILE_NAME = "<img src=x onerror=alert(1)>"
HOSTILE_FEEDBACK = "Received: </script><script>alert(1)</script> & <!-- done"
HOSTILE_TITLE = "Title </script><b>bold</b> & more"

BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome")
BROWSER_TIMEOUT = 90.0
# Flags that keep Chromium from reaching the network on its own: no first-run
# pages, updates, sync, pings or extensions, and every host name resolves to
# nothing.
BROWSER_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-breakpad",
    "--disable-domain-reliability",
    "--no-pings",
    "--host-resolver-rules=MAP * ~NOTFOUND",
)
# A console message from the page, as `--enable-logging=stderr --v=0` prints it in
# Chromium 156: `...:INFO:CONSOLE:3] "message", source: file:///... (3)`. Every
# console level is logged as INFO, so an error looks the same as a log line. The
# pages never write to the console, so any console line fails the test.
# NOTE: the `CONSOLE(3)` form is from older Chromium releases and was not checked here.
CONSOLE_LINE = re.compile(r":CONSOLE[(:]\d+")


# Test data


def example_report() -> dict[str, Any]:
    report: dict[str, Any] = json.loads(EXAMPLE_REPORT.read_text(encoding="utf-8"))
    return report


def failing_report() -> dict[str, Any]:
    """Return the example report with a failed check, an error chapter and
    hostile strings in the learner name, a title, feedback and a reason."""
    report = example_report()
    report["learner"] = HOSTILE_NAME
    first, second = report["chapters"][0], report["chapters"][1]
    first["title"] = HOSTILE_TITLE
    first["status"] = "failed"
    first["score"] -= first["checks"][0]["score"]
    first["checks"][0].update(status="failed", score=0, feedback=HOSTILE_FEEDBACK)
    second["status"] = "error"
    second["reason"] = "Traceback:\n  </pre><script>alert(2)</script>"
    second["score"] = 0
    for check in second["checks"]:
        check.update(status="error", score=0, feedback="the app did not start")
    report["score"] = first["score"]
    return report


def make_class_summary(course: Course, learner_count: int = 14) -> dict[str, Any]:
    """Build a class summary with learners of every status and spread scores.

    Scores fall in most distribution bins, including 0% and 100%. The last
    chapter has no graded learner, so its checks have no pass rate and it has no
    average.
    """
    statuses = ["ok", "ok", "error", "timeout", "ok", "crashed", "not_graded"]
    chapters = list(course.chapters)
    graded_chapters = chapters[:-1]
    max_score = sum(chapter.max_score for chapter in chapters)
    learners: list[dict[str, Any]] = []
    for index in range(learner_count):
        status = statuses[index % len(statuses)]
        fraction = 0.0 if status == "crashed" else (index / (learner_count - 1))
        chapter_scores: dict[str, int | None] = {}
        for chapter in chapters:
            if status == "crashed" or chapter not in graded_chapters:
                chapter_scores[chapter.id] = None
            else:
                chapter_scores[chapter.id] = round(chapter.max_score * fraction)
        score: int | None = sum(value or 0 for value in chapter_scores.values())
        if status == "crashed":
            score = None
        name = HOSTILE_NAME if index == 1 else f"learner{index:02d}"
        learners.append(
            {
                "learner": name,
                "status": status,
                "reason": None if status == "ok" else f"{status}: <b>details</b> &",
                "score": score,
                "max_score": max_score,
                "percent": None if score is None else round(100 * score / max_score, 1),
                "chapters": chapter_scores,
                "report": None if status == "crashed" else f"{name}.json",
            }
        )
    graded_learners = [learner for learner in learners if learner["report"]]
    summary_chapters: list[dict[str, Any]] = []
    summary_checks: list[dict[str, Any]] = []
    for chapter in chapters:
        graded = len(graded_learners) if chapter in graded_chapters else 0
        scores = [learner["chapters"][chapter.id] for learner in graded_learners]
        summary_chapters.append(
            {
                "id": chapter.id,
                "title": chapter.title,
                "max_score": chapter.max_score,
                "graded": graded,
                "average": sum(scores) / graded if graded else None,
            }
        )
        for position, check in enumerate(chapter.checks):
            # Spread the pass rates over 0-100%, in an order unrelated to the course.
            passed = (position * 5 + int(chapter.id) * 3) % (graded + 1)
            summary_checks.append(
                {
                    "chapter": chapter.id,
                    "id": check.id,
                    "name": chapter.check_name(check.id),
                    "max_score": check.points,
                    "graded": graded,
                    "passed": passed,
                    "pass_rate": passed / graded if graded else None,
                }
            )
    return {
        "format_version": 1,
        "generated_at": "2026-12-04T16:00:00+00:00",
        "grader_version": "0.1.0+483717409fe7",
        "submissions": "/srv/class <submissions>",
        "max_score": max_score,
        "learners": learners,
        "chapters": summary_chapters,
        "checks": summary_checks,
    }


@pytest.fixture(scope="module")
def course() -> Course:
    return load_course(ROOT)


@pytest.fixture(scope="module")
def class_summary(course: Course) -> dict[str, Any]:
    return make_class_summary(course)


# Page parsing


@dataclass
class ParsedPage:
    """What a page's markup contains, as read by html.parser."""

    tags: list[str] = field(default_factory=list)
    body: dict[str, str] = field(default_factory=dict)
    scripts: list[tuple[dict[str, str], str]] = field(default_factory=list)
    csp: str = ""
    links: list[str] = field(default_factory=list)
    # Per chart name: the svg's attributes and the <title> text of each bar.
    charts: dict[str, dict[str, str]] = field(default_factory=dict)
    bar_titles: dict[str, list[str]] = field(default_factory=dict)
    text: list[str] = field(default_factory=list)


class PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = ParsedPage()
        self._chart: str | None = None
        self._script: dict[str, str] | None = None
        self._in_bar_title = False
        self._bar_open = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        self.page.tags.append(tag)
        if tag == "body":
            self.page.body = attributes
        elif tag == "script":
            self._script = attributes
        elif tag == "meta" and attributes.get("http-equiv") == (
            "Content-Security-Policy"
        ):
            self.page.csp = attributes.get("content", "")
        elif tag in ("a", "link", "img") and (
            "href" in attributes or "src" in attributes
        ):
            self.page.links.append(attributes.get("href") or attributes.get("src", ""))
        elif tag == "svg" and "data-chart" in attributes:
            self._chart = attributes["data-chart"]
            self.page.charts[self._chart] = attributes
            self.page.bar_titles[self._chart] = []
        elif (
            tag == "rect"
            and self._chart
            and "bar" in attributes.get("class", "").split()
        ):
            self.page.bar_titles[self._chart].append("")
            self._bar_open = True
        elif tag == "title" and self._bar_open:
            self._in_bar_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self._chart = None
        elif tag == "rect":
            self._bar_open = False
        elif tag == "title":
            self._in_bar_title = False

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self.page.scripts.append((self._script, data))
            self._script = None
        elif self._in_bar_title and self._chart:
            self.page.bar_titles[self._chart][-1] += data
        else:
            self.page.text.append(data)


def parse_page(markup: str) -> ParsedPage:
    parser = PageParser()
    parser.feed(markup)
    parser.close()
    return parser.page


def embedded_data(page: ParsedPage) -> tuple[str, Any]:
    """Return the raw text and the parsed value of the report-data script."""
    for attributes, text in page.scripts:
        if attributes.get("id") == "report-data":
            assert attributes.get("type") == "application/json"
            return text, json.loads(text)
    raise AssertionError("the page has no <script id='report-data'>")


def csp_hash(source: str) -> str:
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


# Pure-Python tests


def pages(class_summary: dict[str, Any]) -> dict[str, str]:
    return {
        "example report": render_learner_html(example_report()),
        "failing report": render_learner_html(failing_report()),
        "class dashboard": render_class_html(class_summary),
    }


def test_pages_reference_no_urls(class_summary: dict[str, Any]) -> None:
    for name, markup in pages(class_summary).items():
        assert "http://" not in markup, name
        assert "https://" not in markup, name
        assert "//" not in "".join(parse_page(markup).links), name


def test_pages_load_nothing(class_summary: dict[str, Any]) -> None:
    for name, markup in pages(class_summary).items():
        page = parse_page(markup)
        assert "default-src 'none'" in page.csp, name
        for link in page.links:
            assert link == "data:," or re.fullmatch(r"[\w%.()!*'~-]+\.html", link), (
                name,
                link,
            )
        for attributes, _ in page.scripts:
            assert "src" not in attributes, name


def test_inline_scripts_match_csp_hashes(class_summary: dict[str, Any]) -> None:
    for name, markup in pages(class_summary).items():
        page = parse_page(markup)
        code = [text for attributes, text in page.scripts if "type" not in attributes]
        assert len(code) == 2, name
        for text in code:
            assert csp_hash(text) in page.csp, name


def test_learner_json_round_trips() -> None:
    report = failing_report()
    raw, data = embedded_data(parse_page(render_learner_html(report)))
    assert data == learner_chart_data(report)
    assert data == json.loads(json.dumps(data))
    for character in "<>&":
        assert character not in raw


def test_class_json_round_trips(class_summary: dict[str, Any]) -> None:
    summary = copy.deepcopy(class_summary)
    summary["chapters"][0]["title"] = HOSTILE_TITLE
    summary["checks"][0]["name"] = HOSTILE_FEEDBACK
    raw, data = embedded_data(parse_page(render_class_html(summary)))
    assert data == class_chart_data(summary)
    assert HOSTILE_TITLE in json.dumps(data, ensure_ascii=False)
    for character in "<>&":
        assert character not in raw


def test_embed_json_escapes_script_end() -> None:
    text = embed_json({"name": "</script><!-- & -->", "emoji": "é"})
    assert text == (
        '{"name": "\\u003c/script\\u003e\\u003c!-- \\u0026 --\\u003e", "emoji": "é"}'
    )
    assert json.loads(text) == {"name": "</script><!-- & -->", "emoji": "é"}


def test_learner_page_escapes_hostile_text() -> None:
    markup = render_learner_html(failing_report())
    page = parse_page(markup)
    assert HOSTILE_NAME not in markup
    assert "</script><script>alert(1)" not in markup
    assert "<b>bold</b>" not in markup
    assert "img" not in page.tags
    assert "b" not in page.tags
    assert page.tags.count("script") == 3
    text = "".join(page.text)
    assert f"Score report: {HOSTILE_NAME}" in text
    assert HOSTILE_FEEDBACK in text
    assert "</pre><script>alert(2)</script>" in text


def test_learner_page_drops_marks_that_reorder_text() -> None:
    report = failing_report()
    report["chapters"][1]["reason"] = "app said: \u202eKO 00/01\u202c fine"
    markup = render_learner_html(report)
    assert "\u202e" not in markup
    assert "\u202c" not in markup
    assert "app said: KO 00/01 fine" in "".join(parse_page(markup).text)


def test_class_page_escapes_hostile_text(class_summary: dict[str, Any]) -> None:
    summary = copy.deepcopy(class_summary)
    summary["checks"][0]["name"] = HOSTILE_FEEDBACK
    markup = render_class_html(summary)
    page = parse_page(markup)
    assert HOSTILE_NAME not in markup
    assert "<b>details</b>" not in markup
    assert "img" not in page.tags
    assert "b" not in page.tags
    assert page.tags.count("script") == 3
    text = "".join(page.text)
    assert HOSTILE_NAME in text
    assert HOSTILE_FEEDBACK in text


def test_learner_links_need_report(class_summary: dict[str, Any]) -> None:
    summary = copy.deepcopy(class_summary)
    summary["learners"][0]["learner"] = "javascript:alert(1)"
    page = parse_page(render_class_html(summary))
    with_report = [
        learner["learner"] for learner in summary["learners"] if learner["report"]
    ]
    assert len(page.links) == len(with_report) + 1  # the favicon's data: URL
    assert "javascript%3Aalert%281%29.html" in page.links
    assert "%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E.html" in page.links
    assert "learner00.html" not in page.links  # learner00 was renamed above
    crashed = [
        learner["learner"] for learner in summary["learners"] if not learner["report"]
    ]
    assert crashed
    for name in crashed:
        assert f"{name}.html" not in page.links


@pytest.mark.parametrize(
    ("percent", "expected"),
    [
        (0.0, 0),
        (9.99, 0),
        (10.0, 1),
        (55.5, 5),
        (89.99, 8),
        (90.0, 9),
        (99.9, 9),
        (100.0, 9),
        (-1.0, 0),
        (120.0, 9),
    ],
)
def test_distribution_bin_edges(percent: float, expected: int) -> None:
    assert distribution_bin(percent) == expected


def test_distribution_has_ten_bars(class_summary: dict[str, Any]) -> None:
    chart = class_chart_data(class_summary)["charts"]["distribution"]
    assert [bar["label"] for bar in chart["bars"]] == [
        f"{start}-{start + 10}" for start in range(0, 100, 10)
    ]
    counts = [bar["value"] for bar in chart["bars"]]
    graded = [row for row in class_summary["learners"] if row["score"] is not None]
    assert sum(counts) == len(graded)  # crashed learners have no grade
    assert counts[0] >= 1  # the first learner, at 0%
    assert counts[9] >= 1  # the last learner, at 100%


def test_pass_rate_lowest_first(class_summary: dict[str, Any]) -> None:
    chart = class_chart_data(class_summary)["charts"]["check-pass-rate"]
    graded = [c for c in class_summary["checks"] if c["pass_rate"] is not None]
    not_graded = [c for c in class_summary["checks"] if c["pass_rate"] is None]
    assert not_graded
    values = [bar["value"] for bar in chart["bars"]]
    assert len(values) == len(graded)
    assert values == sorted(values)
    labels = {bar["label"] for bar in chart["bars"]}
    for check in not_graded:
        assert f"{check['chapter']} {check['id']}" not in labels
    text = "".join(parse_page(render_class_html(class_summary)).text)
    for check in not_graded:
        assert f"{check['chapter']} {check['id']}: {check['name']}: not graded" in text


def test_chapter_average_percent_of_max(class_summary: dict[str, Any]) -> None:
    summary = copy.deepcopy(class_summary)
    summary["chapters"][0].update(max_score=4, average=3.0, graded=2)
    chart = class_chart_data(summary)["charts"]["chapter-average"]
    averaged = [c for c in summary["chapters"] if c["average"] is not None]
    assert len(chart["bars"]) == len(averaged) < len(summary["chapters"])
    assert chart["bars"][0]["value"] == 75.0
    assert chart["bars"][0]["text"] == "75.0%"


def test_chapter_percent_from_class_file(class_summary: dict[str, Any]) -> None:
    """The percent comes from class.json, not from the rounded average."""
    summary = copy.deepcopy(class_summary)
    # Two of three learners with 17 points: 11.33 rounded, 66.7% exactly.
    summary["chapters"][0].update(max_score=17, average=11.33, graded=3, percent=66.7)
    chart = class_chart_data(summary)["charts"]["chapter-average"]

    assert chart["bars"][0]["text"] == "66.7%"
    assert "66.7%" in render_class_html(summary)
    assert "66.6%" not in render_class_html(summary)


def test_empty_class_renders() -> None:
    summary = {
        "format_version": 1,
        "max_score": 0,
        "learners": [],
        "chapters": [],
        "checks": [],
    }
    _, data = embedded_data(parse_page(render_class_html(summary)))
    assert len(data["charts"]["distribution"]["bars"]) == 10
    assert data["charts"]["distribution"]["scale"] == 1
    assert data["charts"]["check-pass-rate"]["bars"] == []


def test_pages_fit_phones(class_summary: dict[str, Any]) -> None:
    for name, markup in pages(class_summary).items():
        assert '<meta name="viewport" content="width=device-width' in markup, name
        assert "max-width: 60rem" in markup, name
        assert "<noscript>" in markup, name
        page = parse_page(markup)
        for chart, attributes in page.charts.items():
            assert attributes.get("role") == "img", (name, chart)
            assert attributes.get("aria-label"), (name, chart)


# Browser tests


def find_browser() -> str | None:
    for name in BROWSER_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def browser() -> str:
    path = find_browser()
    if path is None:
        message = (
            f"no Chromium found (looked for {', '.join(BROWSER_NAMES)} on PATH); "
            "install it with `apt-get install chromium`"
        )
        if os.environ.get("APIGRADE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{message}. APIGRADE_REQUIRE_BROWSER=1 requires a browser.")
        pytest.skip(message)
    return path


@dataclass
class BrowserRun:
    stdout: str
    console_lines: list[str]


def run_browser(browser: str, profile: Path, *args: str) -> BrowserRun:
    """Run headless Chromium once with a private profile and return its output.

    Chromium starts helper processes, so it runs in its own session and the whole
    process group is killed if it outlives BROWSER_TIMEOUT.
    """
    command = [
        browser,
        *BROWSER_FLAGS,
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        *args,
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=BROWSER_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"Chromium timed out after {BROWSER_TIMEOUT} s: {command}")
    assert process.returncode == 0, (
        f"Chromium exited with {process.returncode}:\n{stderr}"
    )
    console = [line for line in stderr.splitlines() if CONSOLE_LINE.search(line)]
    return BrowserRun(stdout=stdout, console_lines=console)


def render_in_browser(
    browser: str, tmp_path: Path, name: str, markup: str
) -> tuple[ParsedPage, BrowserRun]:
    """Open the page in Chromium and parse the DOM after its scripts ran."""
    path = tmp_path / name
    path.write_text(markup, encoding="utf-8")
    run = run_browser(browser, tmp_path / "profile", "--dump-dom", path.as_uri())
    return parse_page(run.stdout), run


def assert_rendered(page: ParsedPage, run: BrowserRun) -> None:
    assert page.body.get("data-errors") is None, page.body.get("data-errors")
    assert page.body.get("data-rendered") == "ok"
    assert run.console_lines == []


def test_class_dashboard_in_browser(
    browser: str, tmp_path: Path, class_summary: dict[str, Any]
) -> None:
    learners = class_summary["learners"]
    assert len(learners) >= 12
    assert {learner["status"] for learner in learners} == {
        "ok",
        "error",
        "timeout",
        "crashed",
        "not_graded",
    }
    page, run = render_in_browser(
        browser, tmp_path, "class.html", render_class_html(class_summary)
    )
    assert_rendered(page, run)
    graded_checks = [c for c in class_summary["checks"] if c["pass_rate"] is not None]
    averaged = [c for c in class_summary["chapters"] if c["average"] is not None]
    bars = {chart: len(titles) for chart, titles in page.bar_titles.items()}
    assert bars == {
        "distribution": 10,
        "check-pass-rate": len(graded_checks),
        "chapter-average": len(averaged),
    }
    assert page.bar_titles["distribution"][0].startswith("0-10%: ")
    assert page.bar_titles["distribution"][-1].startswith("90-100%: ")
    for titles in page.bar_titles.values():
        assert all(titles)
    assert HOSTILE_NAME in "".join(page.text)
    assert "img" not in page.tags


def test_learner_report_in_browser(browser: str, tmp_path: Path) -> None:
    for report in (example_report(), failing_report()):
        page, run = render_in_browser(
            browser, tmp_path, "learner.html", render_learner_html(report)
        )
        assert_rendered(page, run)
        assert list(page.bar_titles) == ["chapters"]
        titles = page.bar_titles["chapters"]
        assert len(titles) == len(report["chapters"])
        assert titles[0] == (
            f"01 {report['chapters'][0]['title']}: "
            f"{report['chapters'][0]['score']} of "
            f"{report['chapters'][0]['max_score']} points"
        )
        assert "img" not in page.tags


def test_browser_reports_script_errors(
    browser: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A script that throws leaves data-errors set, no data-rendered and a
    console line, so the checks in the tests above can fail."""
    broken = apigrade.html.CHART_SCRIPT.replace(
        'document.body.dataset.rendered = "ok";',
        'null.missing; document.body.dataset.rendered = "ok";',
    )
    assert broken != apigrade.html.CHART_SCRIPT
    monkeypatch.setattr(apigrade.html, "CHART_SCRIPT", broken)
    page, run = render_in_browser(
        browser, tmp_path, "broken.html", render_learner_html(example_report())
    )
    assert "data-rendered" not in page.body
    errors = json.loads(page.body["data-errors"])
    assert len(errors) == 1
    assert "TypeError" in errors[0]
    assert len(run.console_lines) == 1
    assert "Uncaught TypeError" in run.console_lines[0]


def test_dashboard_screenshot(
    browser: str, tmp_path: Path, class_summary: dict[str, Any]
) -> None:
    path = tmp_path / "class.html"
    path.write_text(render_class_html(class_summary), encoding="utf-8")
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "dashboard.png"
    screenshot.unlink(missing_ok=True)
    run = run_browser(
        browser,
        tmp_path / "profile",
        "--hide-scrollbars",
        f"--screenshot={screenshot}",
        "--window-size=1200,2000",
        path.as_uri(),
    )
    assert run.console_lines == []
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
