"""Command line: `python -m apigrade grade [--target DIR] [--learner NAME] ...`."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import logging
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jsonschema
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from apigrade.checks import FEEDBACK_LABELS, JSON_ERRORS
from apigrade.classroom import (
    DASHBOARD,
    NOT_GRADED,
    NOT_REGRADED,
    RESERVED_NAMES,
    ClassInterrupted,
    Learner,
    check_reports_dir,
    entries_not_graded,
    find_learners,
    grade_class,
    other_entries,
    reports_losing_chapters,
)
from apigrade.course import Course, load_course
from apigrade.errors import GradingError, TargetError
from apigrade.export import to_gradescope, to_junit
from apigrade.html import render_class_html, render_learner_html
from apigrade.report import (
    build_report,
    safe_name,
    submission_digest,
    validate_class_summary,
    validate_report,
    visible_text,
    write_json_atomic,
    write_text_atomic,
)
from apigrade.runner import ChapterResult, grade_chapters, printable_name
from apigrade.sandbox import LEVELS, choose_isolation

logger = logging.getLogger("apigrade")

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
CLASS_STYLES = {
    "ok": "green",
    "incomplete": "yellow",
    "error": "red",
    "timeout": "red",
    "crashed": "red",
    "not_regraded": "yellow",
}
STATUS_STYLES = {"passed": "green", "failed": "yellow", "error": "red"}
# How many checks a class summary lists as failed most, and how many report
# names an error about a missing report lists.
MAX_HARDEST_CHECKS = 5
MAX_LISTED_REPORTS = 10
# Characters of a learner's reason in the class table; class.json has it whole.
MAX_TABLE_REASON = 300
# A file larger than this is not read to see whether it is a report before an
# export or a web page replaces it.
MAX_REPORT_PROBE_BYTES = 64 * 1024 * 1024
# How many files and folders that are not chapter folders a note names.
MAX_LISTED_ENTRIES = 5


def _git_user_name() -> str | None:
    try:
        completed = subprocess.run(
            ["git", "config", "user.name"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return completed.stdout.strip() or None


def default_learner() -> str:
    """Pick the learner's name: $LEARNER, then git's user.name, then the OS user."""
    candidates = [os.environ.get("LEARNER"), _git_user_name()]
    with contextlib.suppress(KeyError, OSError):
        candidates.append(getpass.getuser())
    for candidate in candidates:
        if candidate and safe_name(candidate):
            return safe_name(candidate)
    return "learner"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="apigrade",
        description="Grade the chapters of the FastAPI course.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    commands = parser.add_subparsers(dest="command", required=True)

    grade = commands.add_parser(
        "grade",
        help="grade one learner's folder and write a score report",
        description="Grade one learner's folder and write a JSON score report.",
    )
    grade.add_argument(
        "--target",
        type=Path,
        default=None,
        help="folder with one subfolder per chapter (default: exercises)",
    )
    grade.add_argument(
        "--learner",
        default=None,
        help="name for the report (default: $LEARNER, git user.name, OS user)",
    )
    grade.add_argument(
        "--chapter",
        nargs="+",
        action="extend",
        metavar="ID",
        help="grade only these chapters, by id (01) or folder (01_first_app)",
    )
    grade.add_argument(
        "--report",
        type=Path,
        default=None,
        help="where to write the report (default: reports/<learner>.json)",
    )
    grade.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="chapters graded at once (default: twice the number of CPUs, fewer "
        "if memory is short)",
    )
    grade.add_argument(
        "--isolation",
        choices=["auto", *LEVELS],
        default="auto",
        help="how learner code is isolated (default: bubblewrap when it works here, "
        "else landlock, else limits only)",
    )

    grade_class = commands.add_parser(
        "grade-class",
        help="grade every learner in a folder of submissions",
        description=(
            "Grade every learner folder in SUBMISSIONS (one folder per learner, each "
            "shaped like exercises/). Writes <learner>.json for each learner, "
            "class.json and grades.csv. Reports of unchanged submissions are reused."
        ),
    )
    # Optional here, so that leaving it out gets a message with nox's usage.
    grade_class.add_argument(
        "submissions", type=Path, nargs="?", default=None, metavar="SUBMISSIONS"
    )
    grade_class.add_argument(
        "--chapter",
        nargs="+",
        action="extend",
        metavar="ID",
        help="grade only these chapters, by id (01) or folder (01_first_app)",
    )
    grade_class.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="chapters graded at once, across learners (default: twice the "
        "number of CPUs, fewer if memory is short)",
    )
    grade_class.add_argument(
        "--reports",
        type=Path,
        default=None,
        help="folder for the reports and the gradebook (default: reports)",
    )
    grade_class.add_argument(
        "--isolation",
        choices=["auto", *LEVELS],
        default="auto",
        help="how learner code is isolated (default: bubblewrap when it works here, "
        "else landlock, else limits only)",
    )
    grade_class.add_argument(
        "--regrade",
        action="store_true",
        help="grade every learner again, even when their files and the graders "
        "are unchanged",
    )
    grade_class.add_argument(
        "--regrade-learner",
        action="append",
        default=[],
        metavar="NAME",
        help="grade this learner again, by folder or report name, even when "
        "unchanged (repeat for more learners)",
    )

    show = commands.add_parser(
        "report",
        help="show a score report or a class summary in the terminal",
        description="Show a score report (or reports/class.json) in the terminal.",
    )
    show.add_argument(
        "path",
        type=Path,
        nargs="?",
        metavar="REPORT",
        help="the report to show (default: reports/<learner>.json for you)",
    )
    show.add_argument(
        "--html",
        type=Path,
        default=None,
        metavar="PATH",
        help="also write the report as a web page to PATH",
    )

    export = commands.add_parser(
        "export",
        help="convert a score report to Gradescope's results.json or JUnit XML",
        description="Convert a score report to Gradescope's results.json or JUnit XML.",
    )
    export.add_argument("path", type=Path, metavar="REPORT")
    export.add_argument(
        "--format", choices=["gradescope", "junit"], required=True, dest="fmt"
    )
    export.add_argument(
        "--output",
        type=Path,
        default=None,
        metavar="PATH",
        help="file to write (default: print to the terminal)",
    )
    return parser


def resolve_target(course: Course, target: Path | None) -> Path:
    """Check that `target` is a folder with at least one chapter folder in it."""
    path = (target if target is not None else course.root / "exercises").resolve()
    shown = target if target is not None else "exercises"
    if not path.exists():
        raise TargetError(
            f"target {str(shown)!r} does not exist: pass --target with a folder "
            "such as exercises or solutions"
        )
    if not path.is_dir():
        raise TargetError(
            f"target {str(shown)!r} is not a folder: pass --target with a folder "
            "that holds chapter folders such as 01_first_app"
        )
    if not any((path / chapter.folder).is_dir() for chapter in course.chapters):
        example = course.chapters[0].folder
        folders = [child for child in path.iterdir() if child.is_dir()]
        holders = [child for child in folders if (child / example).is_dir()]
        if len(holders) == 1:
            inner = Path(str(shown)) / holders[0].name
            raise TargetError(
                f"target {str(shown)!r} contains no chapter folder, but "
                f"{str(inner)!r} does: pass --target {inner}, or, if "
                f"{str(shown)!r} holds one folder per learner, grade them with "
                f"`nox -s grade_class -- {shown}`"
            )
        if holders:
            raise TargetError(
                f"target {str(shown)!r} contains one folder per learner: grade them "
                f"all with `nox -s grade_class -- {shown}`, or pass one learner's "
                "folder"
            )
        if path.name in {chapter.folder for chapter in course.chapters}:
            raise TargetError(
                f"target {str(shown)!r} is a chapter folder: pass the folder above "
                f"it, and --chapter {path.name[:2]} to grade only that chapter"
            )
        renames = [
            f"{printable_name(candidate)} to {chapter.folder}"
            for chapter in course.chapters
            if (candidate := course.misnamed_folder(chapter, path)) is not None
        ]
        if renames:
            raise TargetError(
                f"target {str(shown)!r} contains no chapter folder, but folders that "
                f"look misnamed: rename {', '.join(renames)}"
            )
        not_folders = [
            chapter.folder
            for chapter in course.chapters
            if (path / chapter.folder).exists() or (path / chapter.folder).is_symlink()
        ]
        if not_folders:
            name = not_folders[0]
            raise TargetError(
                f"target {str(shown)!r} contains {name}, but it is not a folder: "
                f"make {name} a folder that holds the chapter's main.py"
            )
        raise TargetError(
            f"target {str(shown)!r} contains no chapter folder (such as {example}/): "
            "pass the folder that holds the chapter folders, shaped like exercises/"
        )
    return path


def resolve_report_path(course: Course, report: Path | None, learner: str) -> Path:
    default = course.root / "reports" / f"{learner}.json"
    path = report if report is not None else default
    if path.is_dir():
        # The default, since the folder given is often the learner's own copy
        # or the submissions folder, where a report does not belong.
        raise GradingError(
            f"--report {str(path)!r} is a folder: give a file path, such as "
            f"{default} in the reports folder"
        )
    if path.suffix.lower() == ".html":
        # The web page goes next to the report, as the same name ending in .html.
        raise GradingError(
            f"--report {str(path)!r} ends in .html, the name of the web page written "
            f"next to the JSON report: give the report's path, such as "
            f"{path.with_suffix('.json')}"
        )
    # Check that the folder can take the report now, before minutes of grading.
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".apigrade-probe-"):
            pass
    except OSError as error:
        blocking = next((parent for parent in path.parents if parent.is_file()), None)
        if blocking is not None:
            raise GradingError(
                f"--report {str(path)!r} cannot be written: {blocking} is a file, "
                "not a folder. Choose a path in a folder"
            ) from None
        raise GradingError(
            f"--report {str(path)!r} cannot be written ({error.strerror}): "
            "choose a path in a folder you can write to"
        ) from None
    return path


def resolve_isolation(requested: str) -> str:
    try:
        return choose_isolation(requested)
    except ValueError as error:
        raise GradingError(str(error)) from None


def check_jobs(jobs: int | None) -> None:
    if jobs is not None and jobs < 1:
        raise GradingError(f"--jobs {jobs} must be 1 or more")


def run_grade(args: argparse.Namespace, console: Console) -> int:
    course = load_course()
    chapters = course.select(args.chapter)
    target = resolve_target(course, args.target)

    if args.learner is not None:
        learner = safe_name(args.learner)
        if not learner:
            raise GradingError(
                f"--learner {args.learner!r} has no letters or digits: "
                "pass a name such as ada_lovelace"
            )
        if learner != args.learner:
            console.print(f"Learner name {args.learner!r} is saved as {learner!r}.")
    else:
        learner = default_learner()
    # Class.json and class.json are one file on macOS and Windows.
    if learner.casefold() in RESERVED_NAMES:
        raise GradingError(
            f"the learner name {learner!r} is kept for the class files "
            f"({learner}.json, {learner}.html in reports/): pass --learner with "
            "another name"
        )
    report_path = resolve_report_path(course, args.report, learner)
    check_jobs(args.jobs)
    isolation = resolve_isolation(args.isolation)

    console.print(
        f"Grading [bold]{shown_path(target)}[/] for [bold]{learner}[/]: "
        f"{len(chapters)} "
        f"chapter(s), isolation: {isolation}."
    )
    note = other_entries_note(course, target)
    if note is not None:
        console.print(escape(terminal_safe(note)), highlight=False)
    started = time.monotonic()
    # Taken before any chapter is copied for grading, and recorded only if
    # the files still have it when grading ends.
    digest = submission_digest(target, chapters)

    def show_progress(result: ChapterResult) -> None:
        style = STATUS_STYLES.get(result.status, "")
        console.print(
            f"  {result.id} {result.title}: [{style}]{result.status}[/] "
            f"{result.score}/{result.max_score} ({result.duration:.1f} s)"
        )

    try:
        results = grade_chapters(
            course,
            chapters,
            target,
            jobs=args.jobs,
            on_done=show_progress,
            isolation=isolation,
        )
    except KeyboardInterrupt:
        console.print(
            "[red]Interrupted[/]: no report written; earlier reports are kept."
        )
        return EXIT_INTERRUPTED
    changed = submission_digest(target, chapters) != digest
    report = build_report(
        learner=learner,
        target=target,
        course=course,
        results=results,
        digest=None if changed else digest,
        duration=time.monotonic() - started,
        isolation=isolation,
    )
    validate_report(report)
    write_json_atomic(report_path, report)
    page_path = report_path.with_suffix(".html")
    write_text_atomic(page_path, render_learner_html(report))
    print_summary(console, report)
    if changed:
        console.print(
            f"Note: files in {escape(terminal_safe(str(target)))} changed while they "
            "were being graded, so the score may be for other files than those "
            "there now. Grade again once they stop changing.",
            highlight=False,
        )
    show_command = "nox -s report"
    # Without arguments the report session shows the default learner's report.
    if report_path != resolve_report_path(course, None, default_learner()):
        show_command += f" -- {shlex.quote(str(report_path))}"
    console.print(
        f"Report written to [bold]{shown_path(report_path)}[/] (web page: "
        f"{shown_path(page_path)}); "
        f"`{escape(show_command)}` shows every check's feedback."
    )
    return EXIT_OK


def other_entries_note(course: Course, folder: Path) -> str | None:
    """Say which files and folders in `folder` are not chapter folders, if any."""
    names = other_entries(course, folder)
    if not names:
        return None
    shown = ", ".join(names[:MAX_LISTED_ENTRIES])
    if len(names) > MAX_LISTED_ENTRIES:
        shown += f" and {len(names) - MAX_LISTED_ENTRIES} more"
    if len(names) == 1:
        return (
            f"Note: {folder} also contains {shown}, which is not a chapter folder "
            "and is not graded."
        )
    return (
        f"Note: {folder} also contains {shown}, which are not chapter folders "
        "and are not graded."
    )


def shown_path(path: Path | str) -> str:
    """Return `path` for rich markup: control characters shown, brackets escaped."""
    return escape(terminal_safe(str(path)))


def terminal_safe(text: str) -> str:
    """Make learner text safe to print: no escape sequences or reordering marks.

    Lines and tabs stay. Lone surrogates, which no terminal encoding can
    write, become "?".
    """
    text = text.encode("utf-8", errors="replace").decode("utf-8")
    return visible_text(text)


def print_summary(console: Console, report: dict[str, Any]) -> None:
    """Print a table of chapter scores and the first thing to fix."""
    table = Table(title=f"Score for {report['learner']}")
    table.add_column("Chapter")
    table.add_column("Title")
    table.add_column("Status")
    table.add_column("Score", justify="right")
    for chapter in report["chapters"]:
        style = STATUS_STYLES.get(chapter["status"], "")
        table.add_row(
            chapter["id"],
            chapter["title"],
            f"[{style}]{chapter['status']}[/]",
            f"{chapter['score']}/{chapter['max_score']}",
        )
    table.add_row("", "[bold]Total[/]", "", f"{report['score']}/{report['max_score']}")
    console.print(table)

    errors = [
        c for c in report["chapters"] if c["status"] == "error" and c.get("reason")
    ]
    for chapter in report["chapters"]:
        if chapter in errors:
            console.print(
                f"[red]Chapter {chapter['id']}[/]: "
                f"{escape(terminal_safe(chapter['reason']))}"
            )
            others = [c["id"] for c in errors if c is not chapter]
            if len(others) == 1:
                console.print(
                    f"Chapter {others[0]} has an error too: `nox -s report` gives "
                    "its reason."
                )
            elif others:
                console.print(
                    f"Chapters {', '.join(others)} have errors too: `nox -s report` "
                    "gives each one's reason."
                )
            return
        failing = [c for c in chapter["checks"] if c["status"] != "passed"]
        if failing:
            check = failing[0]
            console.print(
                f"Next: chapter {chapter['id']}, [bold]{escape(check['name'])}[/]"
            )
            console.print(terminal_safe(check["feedback"]), markup=False)
            return


def learners_named(
    learners: list[Learner], names: list[str], submissions: Path
) -> set[str]:
    """Return the report names of the learners `names` gives, by folder or report name.

    Raises GradingError for a name that matches no learner, listing the names.
    """
    by_name = {learner.name: learner.name for learner in learners}
    by_name |= {learner.folder.name: learner.name for learner in learners}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        known = ", ".join(sorted({learner.folder.name for learner in learners}))
        raise GradingError(
            f"--regrade-learner {unknown[0]!r}: no learner folder of that name in "
            f"{submissions}. Give a folder name from: {known}"
        )
    return {by_name[name] for name in names}


def run_grade_class(args: argparse.Namespace, console: Console) -> int:
    if args.submissions is None:
        raise GradingError(
            "the submissions folder is missing: run `nox -s grade_class -- DIR` "
            "(or `python -m apigrade grade-class DIR`), where DIR contains one "
            "folder per learner, each shaped like exercises/"
        )
    course = load_course()
    chapters = course.select(args.chapter)
    check_jobs(args.jobs)
    isolation = resolve_isolation(args.isolation)
    learners = find_learners(course, args.submissions)
    regrade_names = learners_named(learners, args.regrade_learner, args.submissions)
    reports_dir = check_reports_dir(
        args.reports if args.reports is not None else course.root / "reports",
        args.submissions,
    )
    losing = reports_losing_chapters(learners, chapters, reports_dir)
    if losing:
        shown = ", ".join(losing[:3]) + (" ..." if len(losing) > 3 else "")
        raise GradingError(
            f"{reports_dir} contains reports of chapters that this run does not "
            f"grade ({shown}); they would be replaced by reports of "
            f"{', '.join(c.id for c in chapters)} only. Pass --reports with another "
            "folder for a partial run, or grade every chapter"
        )
    console.print(
        f"Grading {len(learners)} learner(s) in [bold]{shown_path(args.submissions)}"
        f"[/], {len(chapters)} chapter(s) each; reports go to "
        f"[bold]{shown_path(reports_dir)}[/]."
    )
    left_out = entries_not_graded(args.submissions, learners)
    if left_out:
        shown = ", ".join(left_out[:MAX_LISTED_ENTRIES])
        if len(left_out) > MAX_LISTED_ENTRIES:
            shown += f" and {len(left_out) - MAX_LISTED_ENTRIES} more"
        console.print(
            escape(
                terminal_safe(
                    f"Note: {args.submissions} also contains {shown}: files, "
                    "hidden folders and tool folders are not learners and are not "
                    "graded."
                )
            ),
            highlight=False,
        )
    done = 0

    def show_progress(learner: Learner) -> None:
        nonlocal done
        done += 1
        style = CLASS_STYLES.get(learner.status, "")
        score = learner.report["score"] if learner.report else 0
        how = (
            "unchanged, report reused"
            if learner.reused
            else f"{learner.duration:.1f} s of chapter time"
        )
        line = (
            f"  [{done}/{len(learners)}] {learner.name}: [{style}]{learner.status}[/] "
            f"{score}/{learner.report['max_score'] if learner.report else '-'} ({how})"
        )
        console.print(line)
        # An `ok` learner has a reason only when their files changed during grading.
        if learner.reason:
            reason = escape(terminal_safe(learner.reason[:300]))
            console.print(f"      {reason}", highlight=False)
        note = other_entries_note(course, learner.folder)
        if note is not None:
            console.print(f"      {escape(terminal_safe(note))}", highlight=False)

    try:
        run = grade_class(
            course,
            chapters,
            learners,
            reports_dir,
            jobs=args.jobs,
            regrade=args.regrade,
            regrade_learners=regrade_names,
            isolation=isolation,
            on_learner_done=show_progress,
            submissions=args.submissions.resolve(),
        )
    except ClassInterrupted as interrupt:
        statuses = [learner.status for learner in interrupt.run.learners]
        older = statuses.count(NOT_REGRADED)
        missing = statuses.count(NOT_GRADED)
        finished = len(statuses) - older - missing
        console.print(
            f"[red]Interrupted[/] after {finished} of {len(learners)} learner(s); "
            "their reports are written. In grades.csv and class.json, "
            f"{older} learner(s) not graded again are marked not_regraded and "
            f"keep the figures of their older report, and {missing} without an "
            "older report of these chapters are marked not_graded. Run the same "
            "command again to grade them: learners graded in this run are not "
            "graded twice."
        )
        return EXIT_INTERRUPTED
    print_class_summary(console, run.summary)
    console.print(
        f"Graded in {run.duration:.1f} s. Wrote "
        f"{shown_path(reports_dir / 'grades.csv')}, "
        f"{shown_path(reports_dir / 'class.json')}, the dashboard "
        f"{shown_path(reports_dir / DASHBOARD)} "
        "and one report per learner (JSON and web page)."
    )
    return EXIT_OK


def print_class_summary(console: Console, summary: dict[str, Any]) -> None:
    """Print learners' totals and the checks the class fails most."""
    table = Table(title="Class")
    table.add_column("Learner")
    table.add_column("Status")
    table.add_column("Score", justify="right")
    table.add_column("Percent", justify="right")
    table.add_column("Reason")
    for row in summary["learners"]:
        style = CLASS_STYLES.get(row["status"], "")
        # A learner without a grade has a null score and percent.
        graded = row["score"] is not None
        # Already one line per chapter (classroom.learner_status); long ones
        # are cut, with their end shown as "...".
        reason = visible_text(row["reason"] or "")
        if len(reason) > MAX_TABLE_REASON:
            reason = reason[: MAX_TABLE_REASON - 3] + "..."
        table.add_row(
            escape(row["learner"]),
            f"[{style}]{escape(row['status'])}[/]",
            f"{row['score']}/{row['max_score']}" if graded else "-",
            f"{row['percent']:.1f}" if graded else "-",
            escape(terminal_safe(reason)),
        )
    console.print(table)
    rated = [c for c in summary["checks"] if c["pass_rate"] is not None]
    ranked = sorted(rated, key=lambda c: c["pass_rate"])
    hardest = ranked[:MAX_HARDEST_CHECKS]
    if hardest and hardest[0]["pass_rate"] < 1:
        console.print("Checks the class fails most:")
        for check in hardest:
            console.print(
                f"  {check['pass_rate']:.0%} passed  "
                f"chapter {escape(check['chapter'])}: {escape(check['name'])}"
            )
        # Ties past the list would make its choice look arbitrary: count them.
        last_rate = hardest[-1]["pass_rate"]
        tied = sum(
            1 for c in ranked[MAX_HARDEST_CHECKS:] if c["pass_rate"] == last_rate
        )
        if tied:
            console.print(f"  and {tied} more at {last_rate:.0%} passed")


def load_json_file(path: Path) -> Any:
    """Read a report or class summary, or raise GradingError naming the fix."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        others = sorted(path.parent.glob("*.json"))[:MAX_LISTED_REPORTS]
        listed = (
            f"; {str(path.parent)!r} has {', '.join(other.name for other in others)}"
            if others
            else ""
        )
        raise GradingError(
            f"report {str(path)!r} does not exist{listed}: grade first with "
            "`nox -s grade`, pass the report's path, or set LEARNER to the name "
            "you graded with"
        ) from None
    except ValueError as error:
        # Also a UnicodeDecodeError: a binary file is not JSON either.
        problem = f"is not JSON ({error})"
        if path.suffix == ".csv":
            problem = "is a CSV file, not JSON: open it in a spreadsheet, or"
        else:
            problem += ":"
        raise GradingError(
            f"report {str(path)!r} {problem} pass a JSON score report, such as "
            "reports/<learner>.json, or reports/class.json for the class summary"
        ) from None
    except OSError as error:
        raise GradingError(f"report {str(path)!r} cannot be read: {error}") from None
    return data


def load_report(path: Path) -> dict[str, Any]:
    data = load_json_file(path)
    if is_class_summary(data):
        raise GradingError(
            f"{str(path)!r} is the class summary, not a learner's score report: "
            f"pass a learner's report, such as {path.parent / '<learner>.json'}. "
            f"For the whole class, {path.parent / 'grades.csv'} is already the "
            "export, for a spreadsheet or a gradebook import"
        )
    try:
        validate_report(data)
    except jsonschema.ValidationError as error:
        raise GradingError(
            f"{str(path)!r} is not a score report ({describe_invalid(error)}): pass "
            "a learner's report, such as reports/<learner>.json, written by "
            "`nox -s grade` or `nox -s grade_class`"
        ) from None
    report: dict[str, Any] = data
    return report


def describe_invalid(error: jsonschema.ValidationError) -> str:
    """Say where a file breaks the report format, without quoting its content."""
    place = "".join(
        f"[{part}]" if isinstance(part, int) else f".{part}"
        for part in error.absolute_path
    )
    where = f"field {place.lstrip('.')}" if place else "the top level"
    if error.validator == "required":
        # The message is "'name' is a required property".
        missing = error.message.split(" is a required property")[0]
        return f"{where} has no {missing} field"
    return f"{where} is invalid"


def is_class_summary(data: Any) -> bool:
    return isinstance(data, dict) and "learners" in data and "checks" in data


def run_show_report(args: argparse.Namespace, console: Console) -> int:
    course = load_course()
    path = args.path
    if path is None:
        path = course.root / "reports" / f"{default_learner()}.json"
    data = load_json_file(path)
    if is_class_summary(data):
        try:
            validate_class_summary(data)
        except jsonschema.ValidationError as error:
            raise GradingError(
                f"{str(path)!r} is not a class summary ({describe_invalid(error)}): "
                "pass the class.json that `nox -s grade_class` wrote in the reports "
                "folder"
            ) from None
        print_class_summary(console, data)
        page = render_class_html(data)
    else:
        data = load_report(path)
        print_report(console, data)
        page = render_learner_html(data)
    if args.html is not None:
        write_output(args.html, page, "--html", path, f"{path.stem}.html")
        console.print(f"Web page written to [bold]{escape(str(args.html))}[/].")
    return EXIT_OK


def run_export(args: argparse.Namespace, console: Console) -> int:
    report = load_report(args.path)
    if args.fmt == "gradescope":
        text = json.dumps(to_gradescope(report), indent=2, ensure_ascii=False) + "\n"
    else:
        text = to_junit(report)
    if args.output is None:
        sys.stdout.write(text)
    else:
        example = (
            "results.json" if args.fmt == "gradescope" else f"{args.path.stem}.xml"
        )
        write_output(args.output, text, "--output", args.path, example)
        console.print(f"Wrote {escape(str(args.output))}.")
    return EXIT_OK


def write_output(
    path: Path, text: str, option: str, source: Path, example: str
) -> None:
    """Write `text` to `path`, given as `option`, or raise GradingError naming the fix.

    `path` must not be a folder, the file `source` that was read, or another
    report or class summary, which the write would replace. `example` is a file
    name to suggest.
    """
    if path.is_dir():
        raise GradingError(
            f"{option} {str(path)!r} is a folder: give a file path, such as "
            f"{path / example}"
        )
    if path.exists() and source.exists() and path.samefile(source):
        raise GradingError(
            f"{option} {str(path)!r} is the file being read, which this would "
            f"replace: give another file, such as {path.with_name(example)}"
        )
    if is_report_file(path):
        raise GradingError(
            f"{option} {str(path)!r} is a score report or class summary, which this "
            f"would replace: give another file, such as {path.with_name(example)}"
        )
    try:
        write_text_atomic(path, text)
    except OSError as error:
        raise GradingError(
            f"{option} {str(path)!r} cannot be written ({error.strerror}): choose a "
            "path in a folder you can write to"
        ) from None


def is_report_file(path: Path) -> bool:
    """Return whether `path` is a score report or class summary file."""
    if not path.is_file() or path.stat().st_size > MAX_REPORT_PROBE_BYTES:
        return False
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, *JSON_ERRORS):  # UnicodeDecodeError is a ValueError
        return False
    return (
        isinstance(data, dict)
        and "format_version" in data
        and ("learner" in data or is_class_summary(data))
    )


def print_report(console: Console, report: dict[str, Any]) -> None:
    """Print every chapter's checks, with the feedback of those that failed."""
    total = f"{report['score']}/{report['max_score']}"
    console.print(
        f"[bold]{escape(report['learner'])}[/]: {total}, "
        f"graded {escape(report['graded_at'])} from {shown_path(report['target'])}"
    )
    marks = {"passed": "[green]pass[/]", "failed": "[yellow]FAIL[/]"}
    for chapter in report["chapters"]:
        style = STATUS_STYLES.get(chapter["status"], "")
        title = escape(f"{chapter['id']} {chapter['title']}")
        console.rule(
            f"{title}: [{style}]{chapter['status']}[/] "
            f"{chapter['score']}/{chapter['max_score']}",
            align="left",
        )
        if chapter.get("reason"):
            console.print(terminal_safe(chapter["reason"]), markup=False)
        for check in chapter["checks"]:
            mark = marks.get(check["status"], f"[red]{check['status']}[/]")
            points = f"{check['score']}/{check['max_score']}"
            # The id is the name the chapter README lists the check by.
            console.print(
                f"  {mark} {points}  {escape(check['name'])} [dim]({check['id']})[/]"
            )
            if check["status"] != "passed" and check["feedback"]:
                lines = terminal_safe(check["feedback"]).splitlines()
                for number, line in enumerate(lines):
                    # A value of several lines, such as a body, goes further
                    # in than the labels, so each label still starts a field.
                    continued = number > 0 and not line.startswith(FEEDBACK_LABELS)
                    indent = " " * (12 if continued else 8)
                    console.print(f"{indent}{line}", markup=False)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    console = Console(highlight=False)
    # A process manager, or nox when it is interrupted, stops the engine with
    # SIGTERM: it gets the same clean stop as Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    # Ctrl-C, or SIGINT from a script. A shell that starts a command in the
    # background makes it ignore SIGINT, and Python then leaves it ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    commands = {
        "grade": run_grade,
        "grade-class": run_grade_class,
        "report": run_show_report,
        "export": run_export,
    }
    if args.command not in commands:
        parser.error(f"unknown command {args.command!r}")
    try:
        code = commands[args.command](args, console)
    except GradingError as error:
        # Unwrapped, so a long path in the message stays whole for copying.
        console.print(f"[red]error:[/] {escape(str(error))}", soft_wrap=True)
        return EXIT_USAGE
    if code == EXIT_INTERRUPTED:
        # The engine exits next, stopping the grader zygote at exit: a second
        # Ctrl-C would only interrupt that with a traceback.
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, signal.SIG_IGN)
    return code


if __name__ == "__main__":
    sys.exit(main())
