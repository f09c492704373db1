"""Grade a whole class: one folder per learner, one report each, and a gradebook.

Chapters of every learner share one pool of workers, so two cores stay busy
whether the class has 3 learners or 300. A learner's report is written the
moment their last chapter finishes; an interrupted run keeps those reports,
and the next run reuses every report whose submission and graders have not
changed since.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import datetime
import hashlib
import io
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Collection
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

import jsonschema

from apigrade.course import Chapter, Course
from apigrade.errors import GradingError, TargetError
from apigrade.html import render_class_html, render_learner_html
from apigrade.report import (
    LEARNER_STATUSES,
    build_report,
    grader_version,
    reason_summary,
    safe_name,
    submission_digest,
    validate_report,
    visible_text,
    write_json_atomic,
    write_text_atomic,
)
from apigrade.runner import (
    MISSING_FOLDER,
    MISSING_MAIN,
    MOVE_FOLDERS,
    RENAME_FOLDER,
    RUNNING,
    ChapterResult,
    Interrupted,
    default_jobs,
    grade_chapter,
    interrupts_held,
    printable_name,
)
from apigrade.sandbox import choose_isolation

logger = logging.getLogger("apigrade")
EMPTY_DIGEST = f"sha256:{hashlib.sha256().hexdigest()}"
# The start of a learner's reason part for chapter folders found lower down,
# as in a whole clone handed in.
MOVED_PART = "in "

SUMMARY_FORMAT_VERSION = 1
CLASS_SUMMARY = "class.json"
GRADEBOOK = "grades.csv"
DASHBOARD = "class.html"
MAX_CSV_REASON = 500
# Learners named in one warning, at most.
MAX_NAMED_LEARNERS = 10
RESERVED_NAMES = {"class", "grades"}
CHANGED_REASON = (
    "the files changed while they were being graded, so the score may be for "
    "other files than those there now, and the next run grades them again"
)
OK, INCOMPLETE, ERROR, TIMEOUT, CRASHED, NOT_REGRADED, NOT_GRADED = LEARNER_STATUSES


@dataclass
class Learner:
    """One learner's folder in the submissions folder and their grading outcome."""

    name: str
    folder: Path
    status: str = NOT_GRADED
    reason: str | None = "grading was interrupted before this learner finished"
    report: dict[str, Any] | None = None
    # The stored report that this run grades again. If the run is interrupted
    # first, the class files show its figures, marked `not_regraded`.
    older_report: dict[str, Any] | None = None
    reused: bool = False
    # The submission_digest of the learner's chapter folders when this run
    # started, and whether a chapter's files changed while it was graded.
    digest: str | None = None
    changed: bool = False
    duration: float = 0.0
    results: dict[str, ChapterResult] = field(default_factory=dict)
    # The learner handed in an archive, `folder`, which is not graded.
    archive: bool = False


# Folders that tools leave beside the learners' folders: unzipping an archive
# made on macOS adds __MACOSX, and Python adds __pycache__.
TOOL_FOLDERS = frozenset({"__MACOSX", "__pycache__"})


# Endings of archive files that a course site's download of hand-ins may hold.
ARCHIVE_SUFFIXES = (
    ".zip",
    ".tar",
    ".tar.gz",
    ".tgz",
    ".tar.bz2",
    ".tar.xz",
    ".7z",
    ".rar",
)


def _archive_stem(path: Path) -> str | None:
    """Return an archive file's name without its ending, or None if not an archive."""
    if path.name.startswith(".") or path.is_symlink() or not path.is_file():
        return None
    lowered = path.name.lower()
    for suffix in ARCHIVE_SUFFIXES:
        if lowered.endswith(suffix) and len(lowered) > len(suffix):
            return path.name[: -len(suffix)]
    return None


def _is_learner_folder(path: Path) -> bool:
    return (
        path.is_dir()
        and not path.name.startswith(".")
        and path.name not in TOOL_FOLDERS
    )


def entries_not_graded(
    submissions: Path, learners: Collection[Learner] = ()
) -> list[str]:
    """Return the names of the entries of `submissions` that are not learners.

    Those are files, hidden folders and TOOL_FOLDERS, less the archives that
    are in `learners`. Folder names end in `/`.
    """
    try:
        paths = list(submissions.iterdir())
    except OSError:
        return []
    archives = {learner.folder.name for learner in learners if learner.archive}
    return sorted(
        (printable_name(path.name) + ("/" if path.is_dir() else ""))
        for path in paths
        if not _is_learner_folder(path) and path.name not in archives
    )


def find_learners(course: Course, submissions: Path) -> list[Learner]:
    """List the learner folders in `submissions`, sorted by name.

    Raises TargetError for a missing folder, a folder that is one learner's
    work rather than a class, or two folders whose names collide.
    """
    shown = str(submissions)
    if not submissions.is_dir():
        what = "does not exist" if not submissions.exists() else "is not a folder"
        raise TargetError(
            f"submissions folder {shown!r} {what}: pass a folder that contains one "
            "folder per learner, each shaped like exercises/"
        )
    chapter_folders = {chapter.folder for chapter in course.chapters}
    # Sorted without case, so `Jose_Maria` comes after `ada`, as people expect.
    entries = sorted(
        (path for path in submissions.iterdir() if _is_learner_folder(path)),
        key=lambda path: (path.name.casefold(), path.name),
    )
    if any(path.name in chapter_folders for path in entries):
        raise TargetError(
            f"submissions folder {shown!r} contains chapter folders such as "
            f"{course.chapters[0].folder}/, so it is one learner's work: grade it with "
            f"`nox -s grade -- --target {shown}`, or pass the folder above it"
        )
    learners: dict[str, Learner] = {}
    for path in entries:
        # A learner's work has chapter folders, even with copies of the class
        # files beside them: only a folder without any stops the run.
        if (
            (path / CLASS_SUMMARY).is_file()
            and (path / GRADEBOOK).is_file()
            and not any((path / folder).is_dir() for folder in chapter_folders)
        ):
            raise TargetError(
                f"folder {path.name!r} in the submissions folder contains "
                f"{CLASS_SUMMARY} and {GRADEBOOK}, so it is a reports folder, not "
                "a learner's work: move it out of the submissions folder"
            )
        if path.is_symlink():
            # A link could lead to any folder, solutions/ included, and the
            # grade would then be that folder's, under the learner's name.
            raise TargetError(
                f"learner folder {path.name!r} is a link to {os.readlink(path)!r}: "
                "put the learner's submission itself in the submissions folder"
            )
        name = safe_name(path.name)
        if not name:
            raise TargetError(
                f"learner folder {path.name!r} has no letters or digits in its name: "
                "rename it, for example to the learner's user name"
            )
        # Compared without case: on a file system that ignores case (macOS's
        # and Windows's by default) Class.json is class.json.
        if name.casefold() in RESERVED_NAMES:
            raise TargetError(
                f"learner folder {path.name!r} would give reports named like the "
                f"class files ({name}.json, {name}.html): rename the folder"
            )
        if name.casefold() in learners:
            other = learners[name.casefold()]
            raise TargetError(
                f"learner folders {other.folder.name!r} and {path.name!r} give the "
                f"report names {other.name!r} and {name!r}, which differ only in "
                "case, or not at all: rename one of them"
            )
        learners[name.casefold()] = Learner(name=name, folder=path.resolve())
    # An archive gets a row with a reason to unpack it, so that its learner is
    # not left out of the gradebook. One beside a folder of its name is taken for
    # that folder's original, and one without a usable name stays a note.
    for path in sorted(submissions.iterdir()):
        stem = _archive_stem(path)
        name = safe_name(stem) if stem is not None else ""
        if not name or name.casefold() in learners or name.casefold() in RESERVED_NAMES:
            continue
        learners[name.casefold()] = Learner(
            name=name,
            folder=path.resolve(),
            status=ERROR,
            reason=f"{printable_name(path.name)} is an archive, not a folder: unpack "
            f"it into {printable_name(stem or '')}/ in the submissions folder, then "
            "grade again",
            archive=True,
        )
    if not learners:
        raise TargetError(
            f"submissions folder {shown!r} contains no learner folders: put one folder "
            "per learner in it, each shaped like exercises/"
        )
    # In the order of the entries' names, archives among the folders.
    return sorted(
        learners.values(),
        key=lambda learner: (learner.folder.name.casefold(), learner.folder.name),
    )


def learner_status(report: dict[str, Any]) -> tuple[str, str | None]:
    """Sum up a learner's report as a status and a one-line reason."""
    status, reason = _chapters_status(report)
    if report.get("changed_during_grading"):
        reason = "; ".join(part for part in (reason, CHANGED_REASON) if part)
    return status, reason


def _chapters_status(report: dict[str, Any]) -> tuple[str, str | None]:
    timed_out = [c for c in report["chapters"] if c.get("timed_out")]
    errors = [c for c in report["chapters"] if c["status"] == "error"]
    # Chapters with nothing handed in, grouped in one short part of the
    # reason per cause. A folder that looks misnamed keeps its own reason,
    # which names the folder to rename.
    missing_parts = {c["id"]: _missing_part(c.get("reason") or "") for c in errors}
    missing = {
        c["id"]: part for c in errors if (part := missing_parts[c["id"]]) is not None
    }
    parts = sorted(set(missing.values()), key=_part_order)
    if timed_out:
        status, chapters = TIMEOUT, timed_out
    elif len(missing) == len(errors) > 0 and not _has_moved_part(parts):
        # Only chapters not handed in: the work there was graded as usual.
        status, chapters = INCOMPLETE, errors
    elif errors:
        status, chapters = ERROR, errors
    else:
        return OK, None
    if len(missing) == len(report["chapters"]):
        if len(parts) == 1 and parts[0].startswith(MOVED_PART):
            return (
                ERROR,
                f"nothing handed in at the top: chapter folders are {parts[0]}",
            )
        if not _has_moved_part(parts):
            return ERROR, "nothing handed in: no chapter folder has a main.py"
    reasons = [
        f"chapter {c['id']}: {reason_summary(c.get('reason'), limit=200)}"
        for c in chapters
        if c["id"] not in missing
    ]
    for part in parts:
        ids = [chapter_id for chapter_id, its in missing.items() if its == part]
        reasons.append(f"chapters {', '.join(ids)}: {part}")
    return status, "; ".join(reasons)


def _chapter_percent(entries: list[dict[str, Any]], max_score: int) -> float | None:
    """Return the class's mean percent on a chapter, to one decimal place."""
    if not entries or not max_score:
        return None
    total = sum(int(c["score"]) for c in entries)
    return round(100 * total / (len(entries) * max_score), 1)


def _has_moved_part(parts: list[str]) -> bool:
    return any(part.startswith(MOVED_PART) for part in parts)


def _part_order(part: str) -> tuple[int, str]:
    """Return the sort key of a reason part: folders to move up come first."""
    return (0 if part.startswith(MOVED_PART) else 1), part


def _not_handed_in(reason: str) -> bool:
    """Return whether a chapter's error `reason` is one for a chapter not handed in.

    That is no main.py in its folder, or no folder of its name, as the runner
    words it at the start of the reason (runner._missing_folder_reason), so
    an app's output quoted later in a reason cannot pass for it.
    """
    return reason.startswith(MISSING_MAIN) or (
        re.match(rf"the chapter folder [^/\n]+/ {re.escape(MISSING_FOLDER)}", reason)
        is not None
    )


def _missing_part(reason: str) -> str | None:
    if not _not_handed_in(reason):
        return None
    if reason.startswith(MISSING_MAIN):
        return "no main.py"
    moved = re.search(rf"{re.escape(MOVE_FOLDERS)} (.+/) up into (.+)$", reason)
    if moved is not None:
        # The learner's folder by its name alone, as the class summary lists it.
        into = PurePath(moved.group(2)).name
        return f"{MOVED_PART}{moved.group(1)}, so move them up into {into}/"
    if RENAME_FOLDER not in reason:
        return "no chapter folder"
    return None


def other_entries(course: Course, folder: Path) -> list[str]:
    """Name what `folder` contains besides chapter folders, folders ending in `/`."""
    return [
        printable_name(entry.name) + ("/" if entry.is_dir() else "")
        for entry in course.unknown_entries(folder)
    ]


def _stored_report(path: Path, chapter_ids: list[str]) -> dict[str, Any] | None:
    """Return the valid report at `path` if it covers exactly `chapter_ids`."""
    try:
        report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        validate_report(report)
    except (OSError, ValueError, jsonschema.ValidationError):
        return None
    if [c["id"] for c in report["chapters"]] != chapter_ids:
        return None
    return report


def _is_reusable(
    report: dict[str, Any], digest: str, version: str, isolation: str
) -> bool:
    """Tell whether a stored report graded these same files with these graders."""
    return _stale_cause(report, digest, version, isolation) is None


def _stale_cause(
    report: dict[str, Any], digest: str | None, version: str, isolation: str
) -> str | None:
    """Return in a few words why a stored report is out of date, or None."""
    if report.get("changed_during_grading") or (
        report.get("submission_digest") != digest
    ):
        return "files changed"
    if report.get("grader_version") != version:
        return "graders changed"
    if report.get("isolation") != isolation:
        return f"isolation {report.get('isolation')}, not {isolation}"
    return None


def _why_graded(
    stored: dict[str, Any] | None,
    learner: Learner,
    version: str,
    isolation: str,
    still_stale: Collection[str],
) -> str:
    """Return in a few words why a learner's stored report cannot be reused."""
    if stored is None:
        return "no report of these chapters"
    if learner.name in still_stale:
        return "an interrupted --regrade"
    cause = _stale_cause(stored, learner.digest, version, isolation)
    return cause or "report not reusable"


def keep_older_report(learner: Learner) -> None:
    """Give a learner that an interrupted run did not grade again their older report.

    The learner gets the status `not_regraded` and the older report's figures.
    The next run grades them again, since their report is still out of date.
    """
    older = learner.older_report
    if older is None or learner.status != NOT_GRADED:
        return
    learner.report = older
    learner.status = NOT_REGRADED
    reason = (
        "grading was interrupted before this learner was graded again, so the "
        f"figures are from their older report, graded at {older['graded_at']}. "
        "Run the same command again to grade them"
    )
    older_status, older_reason = learner_status(older)
    if older_status != OK:
        reason += f" (that report's status: {older_status}, {older_reason})"
    learner.reason = reason


@dataclass
class ClassRun:
    """The outcome of `grade_class`: every learner, by name, and the run's time."""

    learners: list[Learner]
    duration: float
    interrupted: bool
    summary: dict[str, Any]


def grade_class(
    course: Course,
    chapters: list[Chapter],
    learners: list[Learner],
    reports_dir: Path,
    *,
    jobs: int | None = None,
    regrade: bool = False,
    regrade_learners: Collection[str] = (),
    isolation: str | None = None,
    on_learner_done: Callable[[Learner], None] | None = None,
    submissions: Path | None = None,
) -> ClassRun:
    """Grade every learner's `chapters`, writing each report as soon as it is done.

    `regrade` grades every learner again, and `regrade_learners` those of
    these report names, even when their stored reports could be reused.
    Ctrl-C stops the running graders, keeps the finished reports and still
    writes the class summary and gradebook. Unfinished learners are marked
    `not_regraded` with their older report's figures when they have one, and
    `not_graded` otherwise. KeyboardInterrupt is re-raised after that.
    """
    started = time.monotonic()
    level = isolation or choose_isolation()
    version = grader_version(course)
    # --regrade makes every older report stale. If that run is interrupted,
    # the next one goes on regrading the learners it marked not_regraded.
    # Their names decide, not times: graded_at is in whole seconds, so a
    # report from the second the regrade started could be either side of it.
    previous = read_class_summary(reports_dir)
    still_stale: set[str] = set()
    if regrade:
        stale_before: str | None = _now()
    elif previous is not None and not previous.get("complete", True):
        stale_before = previous.get("regrade_before")
        still_stale = {
            str(row.get("learner"))
            for row in previous.get("learners", [])
            if row.get("status") == NOT_REGRADED
        }
    else:
        stale_before = None
    chapter_ids = [chapter.id for chapter in chapters]
    lock = threading.Lock()
    pending: dict[str, int] = {}
    to_grade: list[Learner] = []
    # Learners graded though --regrade-learner did not name them, and why.
    also_graded: list[str] = []

    for learner in learners:
        if learner.archive:
            # Nothing to grade: find_learners set the status and reason.
            if on_learner_done is not None:
                on_learner_done(learner)
            continue
        stored = _stored_report(reports_dir / f"{learner.name}.json", chapter_ids)
        if stored is not None and stored.get("target") != str(learner.folder):
            # Another class's learner of the same name, sharing the folder.
            stored = None
        # Taken before any of this learner's chapters is copied for grading.
        # finish() takes it again, and records it only if it is the same.
        learner.digest = submission_digest(learner.folder, chapters)
        if (
            stored is not None
            and not regrade
            and learner.name not in regrade_learners
            and _is_reusable(stored, learner.digest, version, level)
            and learner.name not in still_stale
        ):
            learner.report, learner.reused = stored, True
            learner.status, learner.reason = learner_status(stored)
            if on_learner_done is not None:
                on_learner_done(learner)
            continue
        learner.older_report = stored
        pending[learner.name] = len(chapters)
        to_grade.append(learner)
        if regrade_learners and not regrade and learner.name not in regrade_learners:
            cause = _why_graded(stored, learner, version, level, still_stale)
            also_graded.append(f"{learner.name} ({cause})")
    if also_graded:
        shown = ", ".join(also_graded[:MAX_NAMED_LEARNERS])
        if len(also_graded) > MAX_NAMED_LEARNERS:
            shown += f" and {len(also_graded) - MAX_NAMED_LEARNERS} more"
        logger.warning(
            "%d learner(s) besides those of --regrade-learner are graded, since "
            "their reports cannot be reused: %s",
            len(also_graded),
            shown,
        )

    def finish(learner: Learner) -> None:
        learner.duration = sum(r.duration for r in learner.results.values())
        if learner.status != CRASHED:
            results = [learner.results[chapter.id] for chapter in chapters]
            unchanged = not learner.changed and learner.digest == submission_digest(
                learner.folder, chapters
            )
            if not unchanged:
                logger.warning(
                    "the files of %s changed while they were being graded: "
                    "their report is graded again on the next run",
                    learner.name,
                )
            report = build_report(
                learner=learner.name,
                target=learner.folder,
                course=course,
                results=results,
                digest=learner.digest if unchanged else None,
                duration=learner.duration,
                isolation=level,
                version=version,
            )
            validate_report(report)
            write_json_atomic(reports_dir / f"{learner.name}.json", report)
            page = render_learner_html(report)
            write_text_atomic(reports_dir / f"{learner.name}.html", page)
            learner.report = report
            learner.status, learner.reason = learner_status(report)
        if on_learner_done is not None:
            on_learner_done(learner)

    # Learners whose chapter folders have the same files share one grading
    # of them: untouched starters, and copies of the same work, are common.
    same_files: dict[tuple[str, str], list[Learner]] = {}
    jobs_to_run: list[tuple[Chapter, str, list[Learner]]] = []
    for learner in to_grade:
        for chapter in chapters:
            digest = _sharing_digest(learner, chapter)
            key = (chapter.id, digest)
            if key not in same_files:
                same_files[key] = []
                jobs_to_run.append((chapter, digest, same_files[key]))
            same_files[key].append(learner)

    def record(learner: Learner, chapter: Chapter, result: ChapterResult) -> None:
        with lock:
            learner.results[chapter.id] = result
            pending[learner.name] -= 1
            done = pending[learner.name] == 0
        if done:
            finish(learner)

    def crash(learner: Learner, chapter: Chapter, error: Exception) -> None:
        with lock:
            learner.status = CRASHED
            kind = type(error).__name__
            learner.reason = f"grading chapter {chapter.id} raised {kind}: {error}"
            pending[learner.name] -= 1
            done = pending[learner.name] == 0
        if done:
            finish(learner)

    def grade_group(chapter: Chapter, digest: str, sharing: list[Learner]) -> None:
        """Grade the first learner's chapter and give the result to all of `sharing`.

        `sharing` had files of this `digest` when the groups were formed. If
        the first learner's files no longer have it after grading, the
        result is theirs alone, and the next learner is graded in the same way.
        """
        remaining = list(sharing)
        while remaining:
            owner = remaining.pop(0)
            try:
                result = grade_chapter(course, chapter, owner.folder, isolation=level)
            except Interrupted:
                return
            except Exception as error:
                logger.exception("grading %s chapter %s failed", owner.name, chapter.id)
                for learner in [owner, *remaining]:
                    crash(learner, chapter, error)
                return
            # NOTE: a change that is undone before this digest is taken goes
            # unnoticed, because the copy's own reads are not hashed.
            if _sharing_digest(owner, chapter) == digest:
                for learner in [owner, *remaining]:
                    record(learner, chapter, _result_for(result, owner, learner))
                return
            logger.warning(
                "the files of %s chapter %s changed while they were being graded: "
                "the learners who had the same files are graded on their own",
                owner.name,
                chapter.id,
            )
            with lock:
                owner.changed = True
            record(owner, chapter, result)

    workers = max(1, jobs or default_jobs())
    pool = ThreadPoolExecutor(max_workers=workers)
    interrupted = False
    # After a Ctrl-C, a second one must not stop the clean-up and the class
    # files: they are written with Ctrl-C ignored.
    stopping = contextlib.ExitStack()
    RUNNING.reset()
    try:
        # Learner by learner, so reports appear steadily rather than all at the end.
        futures: list[Future[None]] = [
            pool.submit(grade_group, chapter, digest, sharing)
            for chapter, digest, sharing in jobs_to_run
        ]
        for future in futures:
            future.result()
    except KeyboardInterrupt:
        interrupted = True
        stopping.enter_context(interrupts_held())
        RUNNING.stop()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        RUNNING.reset()
    with stopping:
        for learner in to_grade:
            keep_older_report(learner)
        summary = build_class_summary(
            course, chapters, learners, version=version, submissions=submissions
        )
        summary["complete"] = not interrupted
        summary["regrade_before"] = stale_before
        write_class_files(reports_dir, summary, chapters)
    run = ClassRun(
        learners=learners,
        duration=time.monotonic() - started,
        interrupted=interrupted,
        summary=summary,
    )
    if interrupted:
        raise ClassInterrupted(run)
    return run


def _sharing_digest(learner: Learner, chapter: Chapter) -> str:
    """Return the key by which learners share a grading of `chapter`: its digest.

    A chapter with no file to compare gets a key of its own, since its folder
    is missing or contains only entries that grading leaves out (a FIFO, say),
    which its reason names.
    """
    digest = submission_digest(learner.folder, [chapter])
    if digest == EMPTY_DIGEST:
        return f"learner:{learner.name}"
    return digest


def _result_for(
    result: ChapterResult, owner: Learner, learner: Learner
) -> ChapterResult:
    """Return `owner`'s result as `learner`'s, with paths naming `learner`'s folder."""
    if learner is owner:
        return result
    shared = copy.deepcopy(result)
    mine, theirs = str(owner.folder), str(learner.folder)
    if shared.reason is not None:
        shared.reason = shared.reason.replace(mine, theirs)
    for check in shared.checks:
        check.feedback = check.feedback.replace(mine, theirs)
    return shared


class ClassInterrupted(KeyboardInterrupt):
    """Ctrl-C during `grade_class`; `run` contains what was finished."""

    def __init__(self, run: ClassRun) -> None:
        super().__init__()
        self.run = run


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def read_class_summary(reports_dir: Path) -> dict[str, Any] | None:
    """Return the class.json of an earlier run in `reports_dir`, if readable."""
    try:
        data = json.loads((reports_dir / CLASS_SUMMARY).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def reports_losing_chapters(
    learners: list[Learner], chapters: list[Chapter], reports_dir: Path
) -> list[str]:
    """Name the stored reports that hold chapters a partial run would drop."""
    wanted = {chapter.id for chapter in chapters}
    losing = []
    for learner in learners:
        path = reports_dir / f"{learner.name}.json"
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
            ids = {chapter["id"] for chapter in stored["chapters"]}
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if ids - wanted:
            losing.append(path.name)
    return losing


def build_class_summary(
    course: Course,
    chapters: list[Chapter],
    learners: list[Learner],
    *,
    version: str,
    submissions: Path | None,
) -> dict[str, Any]:
    """Sum up the class: learner totals, chapter averages, check pass rates."""
    max_score = sum(chapter.max_score for chapter in chapters)
    rows = []
    for learner in learners:
        report = learner.report
        scores: dict[str, int | None] = dict.fromkeys((c.id for c in chapters), None)
        # No grade (crashed, not graded) is null, not a zero, as in grades.csv.
        score: int | None = None
        if report is not None and learner.status != CRASHED:
            for chapter in report["chapters"]:
                scores[chapter["id"]] = chapter["score"]
            score = report["score"]
        percent = None
        if score is not None:
            percent = round(100 * score / max_score, 1) if max_score else 0.0
        rows.append(
            {
                "learner": learner.name,
                "status": learner.status,
                "reason": learner.reason,
                "score": score,
                "max_score": max_score,
                "percent": percent,
                "chapters": scores,
                "report": f"{learner.name}.json" if report is not None else None,
                "graded_at": report["graded_at"] if report is not None else None,
                "other_entries": other_entries(course, learner.folder),
            }
        )

    reports = [
        learner.report
        for learner in learners
        if learner.report is not None and learner.status != CRASHED
    ]
    chapter_rows = []
    check_rows = []
    for chapter in chapters:
        # A chapter not handed in (or under another name) is left out of the
        # average, as its checks are left out of the pass rates.
        entries = [
            c
            for report in reports
            for c in report["chapters"]
            if c["id"] == chapter.id
            and not (c["status"] == "error" and _not_handed_in(c.get("reason") or ""))
        ]
        chapter_rows.append(
            {
                "id": chapter.id,
                "title": chapter.title,
                "max_score": chapter.max_score,
                "graded": len(entries),
                "average": round(sum(c["score"] for c in entries) / len(entries), 2)
                if entries
                else None,
                # From the scores themselves, not the rounded average.
                "percent": _chapter_percent(entries, chapter.max_score),
            }
        )
        for spec in chapter.checks:
            # A check that could not run (no main.py, an app that did not
            # start) tells nothing about how hard the check is.
            outcomes = [
                check["status"]
                for entry in entries
                for check in entry["checks"]
                if check["id"] == spec.id and check["status"] in ("passed", "failed")
            ]
            passed = outcomes.count("passed")
            check_rows.append(
                {
                    "chapter": chapter.id,
                    "id": spec.id,
                    "name": chapter.check_name(spec.id),
                    "max_score": spec.points,
                    "graded": len(outcomes),
                    "passed": passed,
                    "pass_rate": round(passed / len(outcomes), 3) if outcomes else None,
                }
            )
    return {
        "format_version": SUMMARY_FORMAT_VERSION,
        "generated_at": _now(),
        "grader_version": version,
        "submissions": str(submissions) if submissions is not None else None,
        "max_score": max_score,
        "learners": rows,
        "chapters": chapter_rows,
        "checks": check_rows,
    }


def gradebook_csv(summary: dict[str, Any], chapters: list[Chapter]) -> str:
    """Build the gradebook: a row per learner with chapter scores and status."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        [
            "learner",
            *(chapter.folder for chapter in chapters),
            "total",
            "max_score",
            "percent",
            "status",
            "reason",
        ]
    )
    for row in summary["learners"]:
        # No grade at all (crashed, not graded) leaves the totals empty, so a
        # gradebook import does not record a zero.
        graded = row["score"] is not None
        writer.writerow(
            [
                row["learner"],
                *(
                    "" if row["chapters"][c.id] is None else row["chapters"][c.id]
                    for c in chapters
                ),
                row["score"] if graded else "",
                row["max_score"],
                f"{row['percent']:.1f}" if graded else "",
                row["status"],
                _spreadsheet_safe(row["reason"] or "")[:MAX_CSV_REASON],
            ]
        )
    return buffer.getvalue()


def _spreadsheet_safe(text: str) -> str:
    """Keep a spreadsheet from reading learner-influenced text as a formula."""
    text = " ".join(visible_text(text).split())
    return "'" + text if text.startswith(("=", "+", "-", "@")) else text


def write_class_files(
    reports_dir: Path, summary: dict[str, Any], chapters: list[Chapter]
) -> None:
    """Write class.json, grades.csv and the class.html dashboard, each atomically."""
    write_json_atomic(reports_dir / CLASS_SUMMARY, summary)
    write_text_atomic(reports_dir / GRADEBOOK, gradebook_csv(summary, chapters))
    write_text_atomic(reports_dir / DASHBOARD, render_class_html(summary))


def check_reports_dir(reports_dir: Path, submissions: Path | None = None) -> Path:
    """Create `reports_dir` if needed and make sure it can be written.

    Raises GradingError for a file, or for a folder inside `submissions`.
    """
    shown = str(reports_dir)
    if reports_dir.exists() and not reports_dir.is_dir():
        raise GradingError(
            f"--reports {shown!r} is a file, not a folder: pass a folder, such as "
            "reports, which is created if it does not exist"
        )
    blocking = next(
        (parent for parent in reports_dir.parents if parent.is_file()), None
    )
    if blocking is not None:
        raise GradingError(
            f"--reports {shown!r} cannot be created: {blocking} is a file, not a "
            "folder. Pass a folder path, such as reports"
        )
    # Rejected rather than skipped when listing learners: later runs may use
    # another --reports, and a skip rule would also hide a learner folder that
    # happened to have the same name.
    if submissions is not None and reports_dir.resolve().is_relative_to(
        submissions.resolve()
    ):
        raise GradingError(
            f"--reports {shown!r} is inside the submissions folder "
            f"{str(submissions)!r}, so the next run would grade it as a learner: "
            "pass a folder outside it, such as reports"
        )
    try:
        reports_dir.mkdir(parents=True, exist_ok=True)
        probe = reports_dir / ".apigrade-probe"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise GradingError(
            f"--reports {str(reports_dir)!r} cannot be written ({error.strerror}): "
            "choose a folder you can write to"
        ) from None
    return reports_dir
