"""Command line: `python -m apigrade grade [--target DIR] [--learner NAME] ...`."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from apigrade.course import Course, load_course
from apigrade.errors import GradingError, TargetError
from apigrade.report import build_report, validate_report, write_json_atomic
from apigrade.runner import ChapterResult, grade_chapters

logger = logging.getLogger("apigrade")

EXIT_OK = 0
EXIT_USAGE = 2
STATUS_STYLES = {"passed": "green", "failed": "yellow", "error": "red"}


def safe_name(raw: str) -> str:
    """Make `raw` usable as a file name: letters, digits, dot, dash, underscore."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", raw.strip())
    return name.strip("._-")[:64]


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
        help="chapters graded at once (default: the number of CPUs)",
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
        raise TargetError(
            f"target {str(shown)!r} contains no chapter folder (such as {example}/): "
            "pass the folder that contains the chapters, not a chapter itself"
        )
    return path


def resolve_report_path(course: Course, report: Path | None, learner: str) -> Path:
    path = report if report is not None else course.root / "reports" / f"{learner}.json"
    if path.is_dir():
        raise GradingError(
            f"--report {str(path)!r} is a folder: give a file path such as "
            f"{path / (learner + '.json')}"
        )
    # Check that the folder can take the report now, before minutes of grading.
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".apigrade-probe-"):
            pass
    except OSError as error:
        raise GradingError(
            f"--report {str(path)!r} cannot be written ({error.strerror}): "
            "choose a path in a folder you can write to"
        ) from None
    return path


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
    report_path = resolve_report_path(course, args.report, learner)
    if args.jobs is not None and args.jobs < 1:
        raise GradingError(f"--jobs {args.jobs} must be 1 or more")

    console.print(
        f"Grading [bold]{target}[/] for [bold]{learner}[/]: {len(chapters)} chapter(s)."
    )
    started = time.monotonic()

    def show_progress(result: ChapterResult) -> None:
        style = STATUS_STYLES.get(result.status, "")
        console.print(
            f"  {result.id} {result.title}: [{style}]{result.status}[/] "
            f"{result.score}/{result.max_score} ({result.duration:.1f} s)"
        )

    results = grade_chapters(
        course, chapters, target, jobs=args.jobs, on_done=show_progress
    )
    report = build_report(
        learner=learner,
        target=target,
        course=course,
        chapters=chapters,
        results=results,
        duration=time.monotonic() - started,
    )
    validate_report(report)
    write_json_atomic(report_path, report)
    print_summary(console, report)
    console.print(f"Report written to [bold]{report_path}[/].")
    return EXIT_OK


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

    for chapter in report["chapters"]:
        if chapter["status"] == "error" and chapter.get("reason"):
            console.print(
                f"[red]Chapter {chapter['id']}[/]: {escape(chapter['reason'])}"
            )
            return
        failing = [c for c in chapter["checks"] if c["status"] != "passed"]
        if failing:
            check = failing[0]
            console.print(
                f"Next: chapter {chapter['id']}, [bold]{escape(check['name'])}[/]"
            )
            console.print(check["feedback"], markup=False)
            return


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    console = Console(highlight=False)
    try:
        if args.command == "grade":
            return run_grade(args, console)
    except GradingError as error:
        console.print(f"[red]error:[/] {escape(str(error))}")
        return EXIT_USAGE
    parser.error(f"unknown command {args.command!r}")
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
