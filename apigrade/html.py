"""Render score reports and the class summary as self-contained HTML pages.

Each page is one file with inline CSS and JavaScript that references nothing outside
it (the only links are to learner pages in the same folder), so it works offline and
from a file:// path. Python writes the text, the tables and the empty chart
elements, so every number is readable without JavaScript. A small script then draws
each chart as SVG bars from the chart data embedded in the page as JSON.

Every string taken from a report (names, titles, feedback, reasons) is escaped
before it reaches the page. A Content-Security-Policy allows only the page's own
inline script and style (by hash) and loads nothing but data: images, so markup that
slipped past the escaping still could not run a script or fetch a file.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from apigrade.report import LEARNER_STATUSES, visible_text

DISTRIBUTION_BINS = 10

STYLE = """
:root { color-scheme: light; --ink: #1a202c; --muted: #4a5568; --line: #cbd5e0;
  --bar: #2b6cb0; --track: #e2e8f0; --ok: #276749; --bad: #c53030; --warn: #975a16; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 60rem; padding: 1rem; color: var(--ink);
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
h1 { font-size: 1.6rem; margin: 0.5rem 0; }
h2 { font-size: 1.25rem; margin: 2rem 0 0.5rem; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.05rem; margin: 1.5rem 0 0.5rem; }
.total { font-size: 1.3rem; margin: 0.5rem 0; }
.meta { display: grid; grid-template-columns: max-content 1fr; gap: 0 1rem;
  color: var(--muted); font-size: 0.9rem; }
.meta dt { font-weight: 600; }
.meta dd { margin: 0; overflow-wrap: anywhere; }
.note { background: #fefcbf; padding: 0.5rem 0.75rem; border-radius: 4px; }
figure { margin: 0; }
figcaption { color: var(--muted); font-size: 0.9rem; }
svg[data-chart] { display: block; width: 100%; height: auto; margin: 0.5rem 0; }
svg text { font: 13px system-ui, sans-serif; fill: var(--ink); }
svg text.value { text-anchor: end; }
svg text.count, svg text.edge { text-anchor: middle; }
rect.bar { fill: var(--bar); }
rect.track { fill: var(--track); }
.status { display: inline-block; padding: 0 0.4rem; border-radius: 4px;
  font-size: 0.85rem; font-weight: 600; border: 1px solid currentColor; }
.status-passed, .status-ok { color: var(--ok); }
.status-failed, .status-error, .status-crashed { color: var(--bad); }
.status-timeout, .status-skipped, .status-not_graded,
  .status-not_regraded, .status-incomplete { color: var(--warn); }
.checks { list-style: none; padding: 0; margin: 0; }
.checks li { border-top: 1px solid var(--track); padding: 0.4rem 0; }
.check-head { display: flex; flex-wrap: wrap; gap: 0.25rem 0.75rem; }
.check-name { flex: 1 1 20rem; }
.check-id { color: var(--muted); font-size: 0.85rem; }
.points { white-space: nowrap; }
pre { background: #f7fafc; border: 1px solid var(--track); padding: 0.5rem;
  white-space: pre-wrap; overflow-wrap: anywhere; font-size: 0.85rem;
  margin: 0.4rem 0; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 0.95rem; }
th, td { text-align: left; padding: 0.3rem 0.5rem; vertical-align: top;
  border-bottom: 1px solid var(--track); }
td.number, th.number { text-align: right; white-space: nowrap; }
td.reason { overflow-wrap: anywhere; font-size: 0.85rem; }
"""

# Records uncaught errors on <body data-errors>. It runs before the drawing script,
# in its own <script>, so it also records a syntax error in that script.
ERROR_RECORDER = """
(function () {
  "use strict";
  var errors = [];
  function record(message) {
    errors.push(String(message));
    document.body.dataset.errors = JSON.stringify(errors);
  }
  window.addEventListener("error", function (event) { record(event.message); });
  window.addEventListener("unhandledrejection", function (event) {
    record(event.reason);
  });
})();
"""

# Draws every <svg data-chart="NAME"> from data.charts[NAME], then sets
# <body data-rendered="ok">. A chart is {layout, scale, bars, edges}, and a bar is
# {label, value, max, text, title}. "rows" draws one horizontal bar per row over a
# track as long as the bar's max. "columns" draws a histogram with the bin edges
# (such as 0, 10, ..., 100) under the columns' boundaries.
# Each chart is drawn at the width the page gives it, so its text keeps its CSS size
# on a phone. The viewBox then scales the drawing if the window is resized.
CHART_SCRIPT = """
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);

  // Create an SVG element in the parent's namespace, so no namespace URL is needed.
  function add(parent, name, attributes, text) {
    var node = document.createElementNS(parent.namespaceURI, name);
    Object.keys(attributes).forEach(function (key) {
      node.setAttribute(key, String(attributes[key]));
    });
    if (text !== undefined) {
      node.textContent = text;
    }
    parent.appendChild(node);
    return node;
  }

  function addBar(svg, bar, x, y, width, height) {
    var rect = add(svg, "rect", {
      "class": "bar", x: x, y: y, width: Math.max(0, width), height: Math.max(0, height)
    });
    add(rect, "title", {}, bar.title);
  }

  function drawRows(svg, chart, width) {
    var rowHeight = 40;
    var barHeight = 14;
    chart.bars.forEach(function (bar, index) {
      var top = index * rowHeight;
      add(svg, "text", {"class": "label", x: 0, y: top + 14}, bar.label);
      add(svg, "text", {"class": "value", x: width, y: top + 14}, bar.text);
      add(svg, "rect", {
        "class": "track", x: 0, y: top + 20,
        width: width * bar.max / chart.scale, height: barHeight
      });
      addBar(svg, bar, 0, top + 20, width * bar.value / chart.scale, barHeight);
    });
    return chart.bars.length * rowHeight;
  }

  function drawColumns(svg, chart, width) {
    var top = 20;
    var side = 14;
    var plotHeight = 180;
    var baseline = top + plotHeight;
    var slot = (width - 2 * side) / chart.bars.length;
    chart.bars.forEach(function (bar, index) {
      var height = plotHeight * bar.value / chart.scale;
      var left = side + index * slot;
      var countY = baseline - height - 5;
      add(svg, "text", {"class": "count", x: left + slot / 2, y: countY}, bar.text);
      addBar(svg, bar, left + 2, baseline - height, slot - 4, height);
    });
    (chart.edges || []).forEach(function (edge, index) {
      var x = side + index * slot;
      add(svg, "text", {"class": "edge", x: x, y: baseline + 18}, edge);
    });
    return baseline + 26;
  }

  function draw(svg) {
    var chart = data.charts[svg.dataset.chart];
    if (!chart) {
      throw new Error("no data for chart " + svg.dataset.chart);
    }
    var width = Math.max(240, Math.round(svg.getBoundingClientRect().width) || 640);
    var height;
    if (chart.bars.length === 0) {
      add(svg, "text", {x: 0, y: 16}, "Nothing to show.");
      height = 24;
    } else if (chart.layout === "columns") {
      height = drawColumns(svg, chart, width);
    } else {
      height = drawRows(svg, chart, width);
    }
    svg.setAttribute("viewBox", "0 0 " + width + " " + height);
  }

  Array.prototype.forEach.call(document.querySelectorAll("svg[data-chart]"), draw);
  document.body.dataset.rendered = "ok";
})();
"""


def render_learner_html(report: Mapping[str, Any]) -> str:
    """Render one learner's score report as a page.

    The page shows the total, a chart of score per chapter, and each chapter's
    checks with the feedback of every check that did not pass.
    """
    learner = str(report["learner"])
    score = int(report["score"])
    max_score = int(report["max_score"])
    chapters: Sequence[Mapping[str, Any]] = report["chapters"]

    parts = [
        f"<h1>Score report: {_escape(learner)}</h1>",
        f'<p class="total"><strong>{score} / {max_score} points</strong> '
        f"({_format_percent(_percent(score, max_score))})</p>",
        _meta_list(
            [
                ("Graded at", report.get("graded_at")),
                ("Grader version", report.get("grader_version")),
                ("Graded folder", report.get("target")),
                ("Submission digest", report.get("submission_digest")),
            ]
        ),
        _NOSCRIPT_NOTE,
        "<section>",
        "<h2>Score per chapter</h2>",
        _chart_figure(
            "chapters",
            _chapters_label(chapters),
            "Bar: points earned. Grey track: points available.",
        ),
        "</section>",
    ]
    parts.extend(_chapter_section(chapter) for chapter in chapters)
    return _page(
        title=f"Score report: {learner}",
        body="\n".join(parts),
        data=learner_chart_data(report),
    )


def render_class_html(summary: Mapping[str, Any]) -> str:
    """Render the class summary as a dashboard page.

    The page shows the score distribution, the pass rate of each check (lowest
    first), the average per chapter and a table of learners with links to their
    own pages.
    """
    learners: Sequence[Mapping[str, Any]] = summary["learners"]
    chapters: Sequence[Mapping[str, Any]] = summary["chapters"]
    checks: Sequence[Mapping[str, Any]] = summary["checks"]
    data = class_chart_data(summary)

    not_graded_checks = [check for check in checks if check.get("pass_rate") is None]
    parts = [
        "<h1>Class dashboard</h1>",
        f'<p class="total"><strong>{len(learners)} learners</strong>: '
        f"{_escape(_status_counts(learners))}</p>",
        _meta_list(
            [
                ("Generated at", summary.get("generated_at")),
                ("Grader version", summary.get("grader_version")),
                ("Submissions", summary.get("submissions")),
                ("Max score", summary.get("max_score")),
            ]
        ),
        _NOSCRIPT_NOTE,
        "<section>",
        "<h2>Score distribution</h2>",
        _chart_figure(
            "distribution",
            _distribution_label(data["charts"]["distribution"]),
            "Learners per band of 10 percentage points; 100% counts in 90-100. "
            "Learners without a grade (crashed, not graded) are left out, and "
            "those marked not regraded count with their older report's score.",
        ),
        "</section>",
        "<section>",
        "<h2>Pass rate per check</h2>",
        _chart_figure(
            "check-pass-rate",
            _pass_rate_label(data["charts"]["check-pass-rate"]),
            "Share of graded learners who passed each check, lowest first.",
        ),
        _not_graded_list(not_graded_checks),
        _details_table(
            "All checks",
            ["Chapter", "Check", "Passed", "Graded", "Pass rate"],
            [_check_row(check) for check in checks],
            number_columns={2, 3, 4},
        ),
        "</section>",
        "<section>",
        "<h2>Average per chapter</h2>",
        _chart_figure(
            "chapter-average",
            _chapter_average_label(data["charts"]["chapter-average"]),
            "Average score of the learners who handed in each chapter, "
            "as percent of the chapter's max score.",
        ),
        _details_table(
            "All chapters",
            ["Chapter", "Title", "Graded", "Average", "Max score", "Percent"],
            [_chapter_row(chapter) for chapter in chapters],
            number_columns={2, 3, 4, 5},
        ),
        "</section>",
        "<section>",
        "<h2>Learners</h2>",
        _learner_table(learners),
        "</section>",
    ]
    return _page(title="Class dashboard", body="\n".join(parts), data=data)


def learner_chart_data(report: Mapping[str, Any]) -> dict[str, Any]:
    """Build the chart data that a learner's page embeds: score per chapter."""
    chapters: Sequence[Mapping[str, Any]] = report["chapters"]
    bars: list[dict[str, Any]] = []
    for chapter in chapters:
        label = f"{chapter['id']} {chapter['title']}"
        score = int(chapter["score"])
        max_score = int(chapter["max_score"])
        bars.append(
            {
                "label": label,
                "value": score,
                "max": max_score,
                "text": f"{score} / {max_score}",
                "title": f"{label}: {score} of {max_score} points",
            }
        )
    scale = max([bar["max"] for bar in bars], default=0)
    return {"charts": {"chapters": _chart("rows", scale, bars)}}


def class_chart_data(summary: Mapping[str, Any]) -> dict[str, Any]:
    """Build the chart data that the class dashboard embeds.

    Checks without a pass rate and chapters without an average (no learner was
    graded in them) get no bar.
    """
    return {
        "charts": {
            "distribution": _distribution_chart(summary["learners"]),
            "check-pass-rate": _pass_rate_chart(summary["checks"]),
            "chapter-average": _chapter_average_chart(summary["chapters"]),
        }
    }


def distribution_bin(percent: float) -> int:
    """Return the histogram bin of a percent: 0 for [0, 10), ..., 9 for [90, 100].

    Values outside 0-100 go to the first or last bin.
    """
    index = math.floor(percent / (100 / DISTRIBUTION_BINS))
    return min(max(index, 0), DISTRIBUTION_BINS - 1)


def embed_json(data: Any) -> str:
    """Serialize data as JSON that is safe inside a <script> element.

    `<`, `>` and `&` become JSON escapes, so no string in the data can close the
    script element or open a comment. JSON.parse and json.loads read them back.
    """
    text = json.dumps(data, ensure_ascii=False, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _distribution_chart(learners: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    counts = [0] * DISTRIBUTION_BINS
    for learner in learners:
        percent = learner.get("percent")
        if percent is not None:
            counts[distribution_bin(float(percent))] += 1
    width = 100 // DISTRIBUTION_BINS
    bars: list[dict[str, Any]] = []
    for index, count in enumerate(counts):
        label = f"{index * width}-{(index + 1) * width}"
        noun = "learner" if count == 1 else "learners"
        bars.append(
            {
                "label": label,
                "value": count,
                "max": count,
                "text": str(count),
                "title": f"{label}%: {count} {noun}",
            }
        )
    chart = _chart("columns", max(counts), bars)
    chart["edges"] = [str(index * width) for index in range(DISTRIBUTION_BINS + 1)]
    return chart


def _pass_rate_chart(checks: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    graded = [check for check in checks if check.get("pass_rate") is not None]
    # sorted() is stable, so checks with equal rates keep the course order.
    graded = sorted(graded, key=lambda check: float(check["pass_rate"]))
    bars: list[dict[str, Any]] = []
    for check in graded:
        rate = 100 * float(check["pass_rate"])
        label = f"{check['chapter']} {check['id']}"
        bars.append(
            {
                "label": label,
                "value": rate,
                "max": 100,
                "text": _format_percent(rate),
                "title": (
                    f"{label}: {check['name']} "
                    f"{check['passed']} of {check['graded']} learners passed "
                    f"({_format_percent(rate)})"
                ),
            }
        )
    return _chart("rows", 100, bars)


def _chapter_average_chart(chapters: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    bars: list[dict[str, Any]] = []
    for chapter in chapters:
        average = chapter.get("average")
        if average is None:
            continue
        percent = _chapter_percent(chapter, float(average))
        label = f"{chapter['id']} {chapter['title']}"
        bars.append(
            {
                "label": label,
                "value": percent,
                "max": 100,
                "text": _format_percent(percent),
                "title": (
                    f"{label}: average {float(average):.1f} of "
                    f"{chapter['max_score']} points ({_format_percent(percent)}), "
                    f"{chapter['graded']} learners graded"
                ),
            }
        )
    return _chart("rows", 100, bars)


def _chart(layout: str, scale: float, bars: list[dict[str, Any]]) -> dict[str, Any]:
    # A scale of at least 1 keeps the script from dividing by zero when every
    # bar is 0.
    return {"layout": layout, "scale": max(scale, 1), "bars": bars}


def _page(*, title: str, body: str, data: Any) -> str:
    policy = (
        "default-src 'none'; "
        f"script-src {_csp_hash(ERROR_RECORDER)} {_csp_hash(CHART_SCRIPT)}; "
        f"style-src {_csp_hash(STYLE)}; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{_escape(policy)}">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>{_escape(title)}</title>
<style>{STYLE}</style>
</head>
<body>
<script>{ERROR_RECORDER}</script>
<main>
{body}
</main>
<script type="application/json" id="report-data">{embed_json(data)}</script>
<script>{CHART_SCRIPT}</script>
</body>
</html>
"""


def _csp_hash(source: str) -> str:
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


_NOSCRIPT_NOTE = (
    '<noscript><p class="note">The charts need JavaScript, which is off. '
    "The same numbers are in the text and tables on this page.</p></noscript>"
)


def _chart_figure(name: str, label: str, caption: str) -> str:
    return (
        "<figure>"
        f'<svg data-chart="{name}" role="img" aria-label="{_escape(label)}"></svg>'
        f"<figcaption>{_escape(caption)}</figcaption>"
        "</figure>"
    )


def _chapter_section(chapter: Mapping[str, Any]) -> str:
    status = str(chapter["status"])
    parts = [
        f'<section class="chapter" id="chapter-{_escape(chapter["id"])}">',
        f"<h2>{_escape(chapter['id'])} {_escape(chapter['title'])}</h2>",
        f"<p>{_status_badge(status)} "
        f'<span class="points">{chapter["score"]} / {chapter["max_score"]} '
        "points</span></p>",
    ]
    if chapter.get("reason"):
        parts.append(f'<pre class="reason">{_escape(chapter["reason"])}</pre>')
    checks: Sequence[Mapping[str, Any]] = chapter["checks"]
    if checks:
        parts.append('<ul class="checks">')
        parts.extend(_check_item(check) for check in checks)
        parts.append("</ul>")
    parts.append("</section>")
    return "\n".join(parts)


def _check_item(check: Mapping[str, Any]) -> str:
    status = str(check["status"])
    hidden = " (hidden)" if check.get("visibility") == "hidden" else ""
    parts = [
        f'<li class="check check-{_escape(status)}">',
        '<div class="check-head">',
        f'<span class="check-name">{_escape(check["name"])}{hidden}</span>',
        f'<code class="check-id">{_escape(check["id"])}</code>',
        _status_badge(status),
        f'<span class="points">{check["score"]} / {check["max_score"]}</span>',
        "</div>",
    ]
    feedback = check.get("feedback")
    if feedback and status != "passed":
        parts.append(f'<pre class="feedback">{_escape(feedback)}</pre>')
    for measurement in check.get("measurements") or []:
        parts.append(f'<p class="measurement">{_escape(_measurement(measurement))}</p>')
    parts.append("</li>")
    return "".join(parts)


def _measurement(measurement: Mapping[str, Any]) -> str:
    values = [f"{key} {value}" for key, value in measurement.items() if key != "label"]
    return f"{measurement.get('label', '')}: {', '.join(values)}"


def _learner_table(learners: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for learner in learners:
        name = str(learner["learner"])
        if learner.get("report") is not None:
            # quote() with safe="" turns ":" and "/" into %-escapes, so the link is
            # always a relative path next to this page and never a javascript: URL.
            href = quote(name, safe="") + ".html"
            cell = f'<a href="{_escape(href)}">{_escape(name)}</a>'
        else:
            cell = _escape(name)
        status = str(learner["status"])
        score = "-"
        if learner.get("score") is not None:
            score = f"{learner['score']} / {learner.get('max_score', 0)}"
        percent = learner.get("percent")
        rows.append(
            "<tr>"
            f"<td>{cell}</td>"
            f"<td>{_status_badge(status)}</td>"
            f'<td class="reason">{_escape(learner.get("reason") or "")}</td>'
            f'<td class="number">{_escape(score)}</td>'
            f'<td class="number">'
            f"{_format_percent(percent) if percent is not None else '-'}</td>"
            "</tr>"
        )
    head = (
        "<tr><th>Learner</th><th>Status</th><th>Reason</th>"
        '<th class="number">Score</th><th class="number">Percent</th></tr>'
    )
    return (
        '<div class="table-wrap"><table class="learners">'
        f"<thead>{head}</thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _details_table(
    summary: str,
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    number_columns: set[int],
) -> str:
    """Render a collapsed table; cells are plain text and are escaped here."""

    def cell(tag: str, index: int, text: str) -> str:
        css = ' class="number"' if index in number_columns else ""
        return f"<{tag}{css}>{_escape(text)}</{tag}>"

    head = "".join(cell("th", index, text) for index, text in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(cell("td", i, text) for i, text in enumerate(row)) + "</tr>"
        for row in rows
    )
    return (
        f"<details><summary>{_escape(summary)}</summary>"
        f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div></details>"
    )


def _check_row(check: Mapping[str, Any]) -> list[str]:
    rate = check.get("pass_rate")
    return [
        str(check["chapter"]),
        f"{check['id']}: {check['name']}",
        str(check["passed"]),
        str(check["graded"]),
        "not graded" if rate is None else _format_percent(100 * float(rate)),
    ]


def _chapter_row(chapter: Mapping[str, Any]) -> list[str]:
    average = chapter.get("average")
    if average is None:
        average_text = percent_text = "not graded"
    else:
        average_text = f"{float(average):.1f}"
        percent_text = _format_percent(_chapter_percent(chapter, float(average)))
    return [
        str(chapter["id"]),
        str(chapter["title"]),
        str(chapter["graded"]),
        average_text,
        str(chapter["max_score"]),
        percent_text,
    ]


def _not_graded_list(checks: Sequence[Mapping[str, Any]]) -> str:
    if not checks:
        return ""
    items = "".join(
        f"<li>{_escape(check['chapter'])} {_escape(check['id'])}: "
        f"{_escape(check['name'])}: not graded</li>"
        for check in checks
    )
    return (
        f"<h3>Not graded ({len(checks)})</h3>"
        "<p>No learner was graded on these checks, so they have no pass rate "
        f'and no bar.</p><ul class="not-graded">{items}</ul>'
    )


def _meta_list(items: Sequence[tuple[str, Any]]) -> str:
    rows = "".join(
        f"<dt>{_escape(label)}</dt><dd>{_escape(value)}</dd>"
        for label, value in items
        if value is not None
    )
    return f'<dl class="meta">{rows}</dl>'


def _status_badge(status: str) -> str:
    text = status.replace("_", " ")
    return f'<span class="status status-{_escape(status)}">{_escape(text)}</span>'


def _status_counts(learners: Sequence[Mapping[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for learner in learners:
        status = str(learner["status"])
        counts[status] = counts.get(status, 0) + 1
    known = [status for status in LEARNER_STATUSES if status in counts]
    other = sorted(status for status in counts if status not in LEARNER_STATUSES)
    return ", ".join(
        f"{counts[status]} {status.replace('_', ' ')}" for status in known + other
    )


def _chapters_label(chapters: Sequence[Mapping[str, Any]]) -> str:
    items = [
        f"{chapter['id']} {chapter['title']} {chapter['score']} of "
        f"{chapter['max_score']}"
        for chapter in chapters
    ]
    return "Score per chapter in points: " + "; ".join(items) + "."


def _distribution_label(chart: Mapping[str, Any]) -> str:
    items = [f"{bar['label']}%: {bar['value']}" for bar in chart["bars"]]
    return "Learners per percent band: " + "; ".join(items) + "."


def _pass_rate_label(chart: Mapping[str, Any]) -> str:
    bars = chart["bars"]
    if not bars:
        return "Pass rate per check: no check was graded."
    lowest = "; ".join(f"{bar['label']} {bar['text']}" for bar in bars[:3])
    return (
        f"Pass rate of {len(bars)} graded checks, lowest first. "
        f"Lowest: {lowest}. The table below lists every check."
    )


def _chapter_average_label(chart: Mapping[str, Any]) -> str:
    if not chart["bars"]:
        return "Average per chapter: no chapter was graded."
    items = [f"{bar['label']} {bar['text']}" for bar in chart["bars"]]
    return "Average per chapter as percent of its max score: " + "; ".join(items) + "."


def _percent(score: float, max_score: float) -> float:
    return 100 * score / max_score if max_score else 0.0


def _chapter_percent(chapter: Mapping[str, Any], average: float) -> float:
    """Return a chapter's mean percent: class.json's, or one from `average`.

    Files written before class.json had `percent` give only the rounded
    average.
    """
    percent = chapter.get("percent")
    if percent is not None:
        return float(percent)
    return _percent(average, float(chapter["max_score"]))


def _format_percent(percent: float) -> str:
    return f"{float(percent):.1f}%"


def _escape(value: Any) -> str:
    return html.escape(visible_text(str(value)), quote=True)
