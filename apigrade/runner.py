"""Run each chapter's grader in its own pytest process and score the results.

A chapter is graded on a copy of the learner's folder in a temporary folder, so
grading never changes the learner's files. Chapters are independent and run
concurrently, each with a deadline; a chapter that crashes, hangs or fails to
start is reported with a reason while the others are graded as usual.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apigrade.beneath import ChapterFolder, ChapterTooLarge, Kind, read_chunks, walk
from apigrade.course import Chapter, CheckSpec, Course
from apigrade.imports import (
    describe_module,
    module_shadowing_main,
    modules_shadowed,
)
from apigrade.plugin import (
    APP_DIR_VARIABLE,
    START_TIMEOUT_VARIABLE,
    WORK_DIR_VARIABLE,
)
from apigrade.sandbox import (
    CGROUP_PREFIX_VARIABLE,
    ISOLATION_VARIABLE,
    choose_isolation,
    remove_cgroups,
)
from apigrade.server import GRADER_DIR_VARIABLE, LINKS_FILE, MODES_FILE, SKIPPED_FILE
from apigrade.zygote import ZYGOTE, GraderProcess

logger = logging.getLogger("apigrade")

IGNORED_NAMES = ("__pycache__", "*.pyc", ".pytest_cache", ".venv", "venv", ".git")
HIDDEN_FEEDBACK = "This check is hidden: its inputs and expected values stay private."
NOT_RUN_FEEDBACK = "Not run: {reason}"
OUTPUT_TAIL_LINES = 15
MISSING_MAIN = "no main.py in"
# Parts of the reason of a chapter whose folder is missing, which
# classroom.learner_status looks for.
MISSING_FOLDER = "is missing"
RENAME_FOLDER = "instead: rename"
MOVE_FOLDERS = "instead: move the chapter folders in"
PR_SET_PDEATHSIG = 1
# A chapter is a few small source files; bigger files are left out of the copy.
MAX_COPIED_FILE = 16 * 2**20
# A chapter folder past either bound is not graded: copying it would cost
# the machine's disk or minutes before the chapter's deadline starts.
MAX_CHAPTER_ENTRIES = 5_000
MAX_CHAPTER_BYTES = 64 * 2**20
# Deeper folders are not copied. copytree, which the copy used before,
# reached about 490 levels before Python's default recursion limit of 1000.
MAX_FOLDER_DEPTH = 400
# Longest temporary folder that leaves room for ".../apigrade-NN-xxxxxxxx/work/
# workers.sock" within the 107 bytes a Unix socket path may have.
MAX_ROOT_LENGTH = 60
# Memory one chapter being graded may take: its grader (about 60 MB) and its
# app with two workers (about 70 MB each), with room to spare.
MEMORY_PER_JOB = 512 * 2**20
JOBS_PER_CPU = 2


@dataclass
class CheckResult:
    """The scored outcome of one check."""

    id: str
    name: str
    status: str
    score: int
    max_score: int
    visibility: str
    feedback: str
    measurements: list[dict[str, float | str]] = field(default_factory=list)


@dataclass
class ChapterResult:
    """The scored outcome of one chapter; `reason` explains an `error` status."""

    id: str
    title: str
    status: str
    score: int
    max_score: int
    checks: list[CheckResult] = field(default_factory=list)
    reason: str | None = None
    duration: float = 0.0
    timed_out: bool = False


# A running grader: a process of its own, or a child of the zygote.
GraderHandle = subprocess.Popen[bytes] | GraderProcess


class _RunningGraders:
    """The grader processes alive now, so an interrupt can stop them all.

    Graders run in their own sessions, so Ctrl-C in the terminal does not
    reach them; `stop()` kills every process group and refuses new ones.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._processes: set[GraderHandle] = set()
        self.stopping = threading.Event()

    def add(self, process: GraderHandle) -> None:
        with self._lock:
            self._processes.add(process)
            stopping = self.stopping.is_set()
        if stopping:
            _kill_group(process)

    def discard(self, process: GraderHandle) -> None:
        with self._lock:
            self._processes.discard(process)

    def stop(self) -> None:
        with self._lock:
            self.stopping.set()
            processes = list(self._processes)
        for process in processes:
            _kill_grader(process)

    def reset(self) -> None:
        self.stopping.clear()


RUNNING = _RunningGraders()


class Interrupted(Exception):
    """Grading was stopped (Ctrl-C) before this chapter finished."""


@contextlib.contextmanager
def interrupts_held() -> Iterator[None]:
    """Ignore Ctrl-C and SIGTERM inside the block, when called from the main thread.

    Once the engine is stopping, a second Ctrl-C would cut short the killing
    of the graders and the writing of what was finished.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous_handlers = {
        number: signal.signal(number, signal.SIG_IGN)
        for number in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for number, handler in previous_handlers.items():
            signal.signal(number, handler)


def default_jobs() -> int:
    """Return how many chapters to grade at once: two per CPU, as memory allows.

    Most of a chapter's time is spent waiting for the app's sleeps, so two
    chapters per CPU keep the CPUs busy. The timing checks compare each app
    with itself under the same load, and keep their verdicts at this
    concurrency (nox -s timing while a class grades). A chapter being graded
    (its grader, its app and the app's workers) stays under MEMORY_PER_JOB.
    Where the machine reports its available memory, no more chapters run at
    once than fit in it.
    """
    jobs = JOBS_PER_CPU * (os.cpu_count() or 1)
    with (
        contextlib.suppress(OSError, ValueError),
        open("/proc/meminfo", encoding="ascii") as meminfo,
    ):
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
                jobs = min(jobs, available // MEMORY_PER_JOB)
    return max(1, jobs)


def grade_chapters(
    course: Course,
    chapters: list[Chapter],
    target: Path,
    *,
    jobs: int | None = None,
    on_done: Callable[[ChapterResult], None] | None = None,
    isolation: str | None = None,
) -> list[ChapterResult]:
    """Grade `chapters` of the folder `target` concurrently, in course order."""
    workers = max(1, min(jobs or default_jobs(), len(chapters)))

    def run(chapter: Chapter) -> ChapterResult:
        result = grade_chapter(course, chapter, target, isolation=isolation)
        if on_done is not None:
            on_done(result)
        return result

    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        return list(pool.map(run, chapters))
    except BaseException:
        # Ctrl-C: kill the graders that are running and start no others.
        with interrupts_held():
            RUNNING.stop()
            pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def grade_chapter(
    course: Course, chapter: Chapter, target: Path, *, isolation: str | None = None
) -> ChapterResult:
    """Grade one chapter of `target`; learner code problems become an `error` result.

    `isolation` is a level from apigrade.sandbox; None picks the best available.
    Raises Interrupted when `RUNNING.stop()` was called before or during grading.
    """
    if isolation is None:
        isolation = choose_isolation()
    if RUNNING.stopping.is_set():
        raise Interrupted(chapter.id)
    started = time.monotonic()
    source = target / chapter.folder
    if source.is_symlink() or (
        source.exists() and not source.resolve().is_relative_to(target.resolve())
    ):
        result = _error_result(
            chapter,
            f"{source} is a link to {source.resolve()}: a chapter folder must be a "
            "real folder inside the learner's folder. Replace the link with the "
            "folder itself",
        )
    elif not source.exists():
        result = _error_result(chapter, _missing_folder_reason(course, chapter, target))
    elif not source.is_dir():
        result = _error_result(
            chapter,
            f"{source} is a file, not a folder: replace it with the chapter folder, "
            f"shaped like exercises/{chapter.folder}/",
        )
    elif (source / "main.py").exists() and not (source / "main.py").is_file():
        result = _error_result(
            chapter,
            f"{source / 'main.py'} is not a file: make main.py the Python file "
            "that defines the app, and move anything else out of its place",
        )
    elif not (source / "main.py").is_file():
        result = _error_result(
            chapter,
            f"{MISSING_MAIN} {source}: the target folder should hold one folder "
            f"per chapter, shaped like exercises/{chapter.folder}/",
        )
    else:
        with tempfile.TemporaryDirectory(
            prefix=f"apigrade-{chapter.id}-", dir=_grading_root()
        ) as tmp:
            result = _run_grader(course, chapter, source, Path(tmp), isolation)
    result.duration = time.monotonic() - started
    logger.info(
        "chapter %s: %s, %s/%s in %.1f s",
        chapter.id,
        result.status,
        result.score,
        result.max_score,
        result.duration,
    )
    return result


def _missing_folder_reason(course: Course, chapter: Chapter, target: Path) -> str:
    # The path comes last, so a reason cut short for the class files keeps
    # the folder names.
    missing = f"the chapter folder {chapter.folder}/ {MISSING_FOLDER}"
    candidate = course.misnamed_folder(chapter, target)
    shown_target = printable(str(target))
    if candidate is not None:
        # A folder name may hold a new line, which would cut the reason short.
        shown_candidate = printable_name(candidate)
        return (
            f"{missing}, and {shown_candidate}/ is there {RENAME_FOLDER} "
            f"{shown_candidate} to {chapter.folder} in {shown_target}"
        )
    nested = course.nested_folder(chapter, target)
    if nested is not None:
        shown_nested = printable_name(nested)
        return (
            f"{missing}, and {shown_nested}/{chapter.folder}/ is there "
            f"{MOVE_FOLDERS} {shown_nested}/ up into {shown_target}"
        )
    return (
        f"{missing} from {shown_target}: add it, shaped like "
        f"exercises/{chapter.folder}/"
    )


def _run_grader(
    course: Course, chapter: Chapter, source: Path, tmp: Path, isolation: str
) -> ChapterResult:
    # The app may write in work_dir; the grader's own files stay in a folder
    # the app cannot reach, so it cannot replace them or plant links there.
    private = tmp / "grader"
    work_dir = tmp / "work"
    private.mkdir(mode=0o700)
    work_dir.mkdir()
    app_dir = work_dir / "app"
    left_out: list[str] = []
    skipped: list[str] = []
    modes: dict[str, int] = {}
    links: list[str] = []
    try:
        copy_chapter(source, app_dir, left_out, skipped, modes, links)
    except ChapterTooLarge as error:
        return _error_result(
            chapter,
            f"the chapter folder {source} {error}. A chapter needs only its source "
            "files: remove the rest (data, a virtual environment, build output) "
            "and grade again.",
        )
    except RecursionError:
        return _error_result(
            chapter,
            f"the chapter folder {source} holds folders nested too deep to copy "
            "for grading. A chapter needs only its source files: remove the "
            "deeply nested folders and grade again.",
        )
    except (OSError, shutil.Error, ValueError) as error:
        return _error_result(
            chapter,
            f"the chapter folder {source} could not be copied for grading "
            f"({printable(str(error))[:300]}). Remove the file or folder it names "
            "and grade again.",
        )
    # A grader that reads the chapter as something else does (chapter 11
    # reads it as Docker's build context) learns from this what it lacks.
    (private / SKIPPED_FILE).write_text(json.dumps(skipped), encoding="utf-8")
    # The copy's modes are its own, and Docker's COPY keeps the originals.
    (private / MODES_FILE).write_text(json.dumps(modes), encoding="utf-8")
    (private / LINKS_FILE).write_text(json.dumps(links), encoding="utf-8")
    problem = shadowing_problem(app_dir, source)
    if problem is not None:
        return _error_result(chapter, problem)
    raw_path = private / "raw.json"
    output_path = private / "grader.log"
    cgroup_prefix = f"apigrade-{uuid.uuid4().hex[:12]}"
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(course.grader_file(chapter)),
        "-c",
        str(course.graders_dir / "pytest.ini"),
        "--rootdir",
        str(course.graders_dir),
        "-p",
        "apigrade.plugin",
        "-o",
        f"timeout={chapter.check_timeout:g}",
        "--json-report",
        f"--json-report-file={raw_path}",
        "--json-report-omit",
        "collectors",
        "log",
        "streams",
        "keywords",
        "-q",
    ]
    # Variables that would change how pytest or Python runs the grader are left
    # out, so grading does not depend on the shell it was started from.
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PYTEST_", "PYTHON", "APIGRADE_"))
    }
    env.update(
        {
            APP_DIR_VARIABLE: str(app_dir),
            WORK_DIR_VARIABLE: str(work_dir),
            GRADER_DIR_VARIABLE: str(private),
            START_TIMEOUT_VARIABLE: f"{chapter.start_timeout:g}",
            ISOLATION_VARIABLE: isolation,
            CGROUP_PREFIX_VARIABLE: cgroup_prefix,
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    process = _start_grader(command, env=env, cwd=private, output=output_path)
    RUNNING.add(process)
    try:
        process.wait(timeout=chapter.timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        result = _error_result(
            chapter,
            f"timed out after {chapter.timeout:g} s: grading this chapter took "
            "too long, so it was stopped. Does the app hang at start-up or "
            "in a handler?",
        )
        result.timed_out = True
        return result
    finally:
        _kill_group(process)
        RUNNING.discard(process)
        # A grader killed above, at its timeout, could not stop its apps.
        remove_cgroups(cgroup_prefix)
    if RUNNING.stopping.is_set():
        raise Interrupted(chapter.id)

    try:
        raw = json.loads(raw_path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        tail = _tail(output_path)
        result = _error_result(
            chapter,
            f"the grader exited with code {process.returncode} without a result. "
            f"Last lines of its output:\n{tail}",
        )
        return _point_at_learner_files(result, app_dir, source)
    result = score_raw_report(chapter, raw, grader_output=_tail(output_path))
    if left_out and result.status == "error":
        result.reason = (
            f"{result.reason}\nLeft out of the graded copy: {', '.join(left_out)}. "
            "Links to files outside the chapter folder and very large files are "
            "not graded: make them regular files inside the folder, or remove them."
        )
    return _point_at_learner_files(result, app_dir, source)


def _point_at_learner_files(
    result: ChapterResult, app_dir: Path, source: Path
) -> ChapterResult:
    """Show paths in the graded copy as the learner's own files.

    Tracebacks name the copy in a temporary folder; the learner edits `source`.
    """
    # The copy's path, where it ends (not "app.sock" beside the "app" folder).
    copy = re.compile(re.escape(str(app_dir)) + r"(?![\w.-])")
    own = str(source.resolve())
    if result.reason:
        result.reason = copy.sub(lambda _: own, result.reason)
    for check in result.checks:
        check.feedback = copy.sub(lambda _: own, check.feedback)
    return result


def _grading_root() -> str:
    """Return the folder for grading's temporary folders: the system's, if short.

    The app's Unix socket lives in there, and a socket path may not be longer
    than 107 bytes; a long TMPDIR (macOS, or a test's) falls back to /tmp.
    """
    root = tempfile.gettempdir()
    if len(os.fsencode(root)) > MAX_ROOT_LENGTH and os.access("/tmp", os.W_OK):
        return "/tmp"
    return root


def printable(text: str) -> str:
    """Make a file name safe to store and show: no undecodable bytes or controls."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def printable_name(name: str) -> str:
    """Return printable(`name`), in double quotes when it starts or ends in a space.

    Without them, "03_path_parameters " reads as the name it should be.
    """
    escaped = printable(name)
    return f'"{escaped}"' if escaped != escaped.strip() else escaped


def _start_grader(
    command: list[str], *, env: dict[str, str], cwd: Path, output: Path
) -> GraderHandle:
    """Start a grader: forked from the zygote on Linux, else a new interpreter."""
    if sys.platform.startswith("linux") and command[1:3] == ["-m", "pytest"]:
        with contextlib.suppress(OSError):
            return ZYGOTE.start(command[3:], env=env, cwd=str(cwd), output=str(output))
    with output.open("wb") as log:
        return subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_engine,
        )


def _die_with_engine() -> None:
    """Ask Linux to kill the grader if the engine dies without stopping it."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def shadowing_problem(app_dir: Path, source: Path) -> str | None:
    """Return why Python would import other code from `app_dir` than it should."""
    main = module_shadowing_main(app_dir)
    shadowed = modules_shadowed(app_dir)
    if main is None and not shadowed:
        return None
    path = main if main is not None else shadowed[0][0]
    name = printable(path.relative_to(app_dir).as_posix())
    if path.is_dir():
        name = f"the folder {name}/"
    if main is not None:
        return (
            f"{name} in {source} is what Python imports as the module main, in "
            "place of main.py, so the grader would run other code than main.py "
            f"holds. Rename or remove {name} and grade again."
        )
    return (
        f"{name} in {source} has the name of {describe_module(shadowed[0][1])}, so "
        "Python would import it in place of that module, in the app's server and "
        f"in the grader's tests. Rename {name} (and the imports of it) and grade "
        "again."
    )


def copy_chapter(
    source: Path,
    app_dir: Path,
    left_out: list[str],
    skipped: list[str] | None = None,
    modes: dict[str, int] | None = None,
    links: list[str] | None = None,
) -> None:
    """Copy a chapter folder for grading, adding what it leaves out to `left_out`.

    Contents only: modes and times are the copy's own, so an app cannot tell
    two submissions with the same digest apart by them. The copy contains
    no links: a relative link to a file inside the chapter folder becomes a
    copy of that file. Kept as a link, it could lead elsewhere from the
    copy's place, into a folder the app may write. Links that are absolute,
    lead out of the folder or nowhere, or lead to a folder (copying through
    those could go round in circles) are left out, and so are caches
    (IGNORED_NAMES), FIFOs and such, and files over MAX_COPIED_FILE.
    `skipped` gets the relative path of everything left out, and `modes` the
    permission bits of the chapter folder (".") and of each folder and file
    copied, by relative path. `links` gets the relative path of each link
    copied as the file it leads to.

    Every file is opened beneath the chapter folder, rejecting links at open
    time (see apigrade.beneath), so a folder or file that the learner swaps
    for a link during the copy can never bring in files from elsewhere.
    Raises ChapterTooLarge past MAX_CHAPTER_ENTRIES or MAX_CHAPTER_BYTES,
    and RecursionError for folders nested deeper than MAX_FOLDER_DEPTH.
    """
    copied_bytes = 0
    with ChapterFolder(source) as folder:
        app_dir.mkdir(parents=True)
        if modes is not None:
            modes["."] = stat.S_IMODE(os.fstat(folder.fd).st_mode)
        for entry in walk(folder, IGNORED_NAMES, MAX_CHAPTER_ENTRIES, MAX_FOLDER_DEPTH):
            shown = printable(entry.relative)
            copy = app_dir.joinpath(*entry.parts)
            if entry.kind is Kind.FOLDER:
                copy.mkdir()
                if modes is not None:
                    modes[entry.relative] = entry.mode
                continue
            if entry.link_problem is not None:
                problem = entry.link_problem.value
                left_out.append(f"{shown} -> {printable(entry.link_text)} ({problem})")
            elif entry.kind is Kind.CHANGED:
                left_out.append(f"{shown} (changed while being copied)")
            elif entry.fd is not None and entry.size > MAX_COPIED_FILE:
                left_out.append(f"{shown} (over {MAX_COPIED_FILE // 2**20} MB)")
            elif entry.fd is not None:
                copied_bytes += entry.size
                if copied_bytes > MAX_CHAPTER_BYTES:
                    raise ChapterTooLarge(
                        f"contains more than {MAX_CHAPTER_BYTES // 2**20} MB of files"
                    )
                _copy_file(entry.fd, entry.size, copy)
                if modes is not None:
                    modes[entry.relative] = entry.mode
                if links is not None and entry.kind is Kind.LINK:
                    links.append(entry.relative)
                continue
            if skipped is not None:
                skipped.append(entry.relative)
    _reset_folder_metadata(app_dir)


def _copy_file(fd: int, size: int, copy: Path) -> None:
    """Copy at most `size` bytes of the file open as `fd` into the new file `copy`."""
    with copy.open("xb") as output:
        for chunk in read_chunks(fd, size):
            output.write(chunk)


def _reset_folder_metadata(root: Path) -> None:
    """Give every folder under `root` mode 0755 and the current time.

    copytree copies a folder's mode and times from the original; files
    copied with copyfile already have their own.
    """
    stack = [root]
    while stack:
        folder = stack.pop()
        with os.scandir(folder) as entries:
            stack += [
                Path(entry.path)
                for entry in entries
                if entry.is_dir(follow_symlinks=False)
            ]
        os.chmod(folder, 0o755)
        os.utime(folder)


def _kill_grader(process: GraderHandle) -> None:
    """Kill a grader's process group, or the grader alone while it has none.

    A grader forked by the zygote starts a session of its own first thing,
    but the zygote reports its pid at the fork, so for a moment there is no
    group of that id yet. The grader then still has no child to leave behind.
    """
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        # Only while the grader has not ended: an ended grader's pid may
        # already belong to another process.
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(process.pid, signal.SIGKILL)
    except PermissionError:
        pass


def _kill_group(process: GraderHandle) -> None:
    _kill_grader(process)
    process.wait()


def _tail(path: Path, lines: int = OUTPUT_TAIL_LINES) -> str:
    try:
        text = path.read_bytes()[-32_000:].decode("utf-8", errors="replace")
    except FileNotFoundError:
        return "(no output)"
    return "\n".join(text.rstrip().splitlines()[-lines:]) or "(no output)"


def score_raw_report(
    chapter: Chapter, raw: dict[str, Any], *, grader_output: str = ""
) -> ChapterResult:
    """Turn pytest-json-report output into a scored chapter."""
    tests: dict[str, dict[str, Any]] = {}
    for test in raw.get("tests", []):
        function = str(test.get("nodeid", "")).rpartition("::")[2]
        tests[function.removeprefix("test_")] = test

    if not tests:
        return _error_result(
            chapter,
            "the grader collected no checks (is the grader file broken?). "
            f"Last lines of its output:\n{grader_output}",
        )

    app_error = next(
        (
            test["metadata"]["feedback"]
            for test in tests.values()
            if test.get("metadata", {}).get("app_error")
        ),
        None,
    )
    if app_error is not None:
        return _error_result(chapter, f"The app could not be started: {app_error}")

    checks = [
        _score_check(chapter, spec, tests.get(spec.id)) for spec in chapter.checks
    ]
    score = sum(check.score for check in checks)
    status = "passed" if score == chapter.max_score else "failed"
    if any(check.status == "error" for check in checks):
        status = "error"
    reason = None
    if status == "error":
        reason = "some checks could not run; their feedback says why"
    timed_out = [
        spec.id
        for spec in chapter.checks
        if (tests.get(spec.id) or {}).get("metadata", {}).get("kind") == "timeout"
    ]
    if timed_out:
        reason = (
            f"{len(timed_out)} check(s) timed out after {chapter.check_timeout:g} s: "
            f"{', '.join(timed_out)}. Does the app hang or block in a handler?"
        )
    return ChapterResult(
        id=chapter.id,
        title=chapter.title,
        status=status,
        score=score,
        max_score=chapter.max_score,
        checks=checks,
        reason=reason,
        timed_out=bool(timed_out),
    )


def _score_check(
    chapter: Chapter, spec: CheckSpec, test: dict[str, Any] | None
) -> CheckResult:
    if test is None:
        return CheckResult(
            id=spec.id,
            name=chapter.check_name(spec.id),
            status="error",
            score=0,
            max_score=spec.points,
            visibility=spec.visibility,
            feedback=NOT_RUN_FEEDBACK.format(
                reason="the grader has no test for this check; please report it."
            ),
        )
    metadata = test.get("metadata", {})
    kind = metadata.get("kind")
    # The check is what setup and call did; a teardown error is the grader's
    # own clean-up and does not change the learner's score.
    setup = test.get("setup", {}).get("outcome")
    outcome = test.get("call", {}).get("outcome") if setup == "passed" else setup
    if setup == "failed":
        outcome = "error"
    if outcome == "passed":
        status, feedback = "passed", ""
    elif outcome == "skipped":
        status, feedback = "skipped", "Skipped."
    elif kind in ("failed", "timeout"):
        status, feedback = "failed", str(metadata.get("feedback", ""))
    else:
        status = "error"
        feedback = str(metadata.get("feedback", "The check could not run."))

    measurements = list(metadata.get("measurements") or [])
    if spec.visibility == "hidden":
        # Labels name the requests sent, which a hidden check keeps private.
        measurements = []
        if status != "passed":
            feedback = HIDDEN_FEEDBACK
    return CheckResult(
        id=spec.id,
        name=str(metadata.get("name") or chapter.check_name(spec.id)),
        status=status,
        score=spec.points if status == "passed" else 0,
        max_score=spec.points,
        visibility=spec.visibility,
        feedback=feedback,
        measurements=measurements,
    )


def _error_result(chapter: Chapter, reason: str) -> ChapterResult:
    """Return a chapter graded `error`: every check unrun, zero points."""
    checks = [
        CheckResult(
            id=spec.id,
            name=chapter.check_name(spec.id),
            status="error",
            score=0,
            max_score=spec.points,
            visibility=spec.visibility,
            feedback=NOT_RUN_FEEDBACK.format(reason="the chapter could not be graded."),
        )
        for spec in chapter.checks
    ]
    return ChapterResult(
        id=chapter.id,
        title=chapter.title,
        status="error",
        score=0,
        max_score=chapter.max_score,
        checks=checks,
        reason=reason,
    )
