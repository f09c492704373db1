"""Grader for chapter 10: the learner writes tests; the grader tests those tests.

The learner's test files never run in this process. graders/10_testing/
suite_runner.py runs them in one forked pytest process per version of the app:
first the reference app (graders/10_testing/main.py), then faulty versions of
it (the mutants in graders/10_testing/app_mutants.toml). A mutant is caught
when a test that passes against the reference app fails against it. Each run
uses this chapter's own pytest configuration, loads only the plugins named
below, loads no conftest.py and has a deadline. Afterwards the runner's whole
process group is killed.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from chapter10_async import async_test_functions, is_node_of, uses_name_in_code
from chapter10_audit import audit_source, main_functions, main_models

from apigrade import sandbox
from apigrade.checks import JSON_ERRORS, CheckFailed, read_learner_file, truncate
from apigrade.server import log_folder
from apigrade.timing import record_measurement

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

CHAPTER_FILES = Path(__file__).resolve().parent / "10_testing"
REFERENCE_APP = CHAPTER_FILES / "main.py"
LEARNER_PYTEST_CONFIG = CHAPTER_FILES / "pytest.ini"
APP_MUTANTS = CHAPTER_FILES / "app_mutants.toml"
SUITE_RUNNER = CHAPTER_FILES / "suite_runner.py"
# Names inside each job's folder: the runner and its pytest settings, the job
# file the runner reads and deletes, and pytest-json-report's output.
RUNNER_FOLDER = "_grader"
JOB_FILE = "job.json"
REPORT_NAME = "report.json"
POLL_INTERVAL = 0.02

# A run starts a fresh interpreter (its imports take about 1 s of CPU) and a
# typical test file then runs in under 1 s, both measured on 2 loaded cores.
# The deadlines, start included, leave room for a slower machine and keep the
# worst case inside the chapter's default timeout of 120 s. A reference run
# that hangs stops all the others; nine mutant runs that hang beside passing
# reference runs take 2 x 25 s + 9 x 15 s in two lanes, about 95 s.
REFERENCE_DEADLINE = 25.0
MUTANT_DEADLINE = 15.0
# The tests run twice against the reference app. A test counts only when it
# passed both times, so a test that passes or fails by chance is found out.
REFERENCE_RUNS = ("reference", "reference-again")
# Every file in a job's folder gets this modification time (2000-01-01), so
# no file's age reveals to a test when its run was prepared.
FIXED_MTIME = 946_684_800
PARALLEL_RUNS = 2
# Seconds the checks must wait for the app, one after another: none here. The
# chapter's cost is CPU: an interpreter and a pytest run per version of the
# app. scripts/bench.py takes the floor from these.
WAIT_SECONDS = 0.0
PLUGINS = ("pytest_asyncio.plugin", "pytest_jsonreport.plugin", "pytest_timeout")
SHOWN_FAILURES = 4

RUN_COMMAND = "pytest on your test_*.py files"


@dataclass(frozen=True)
class AppMutant:
    """A faulty main.py, with the words that describe its fault to a learner."""

    id: str
    fault: str
    hint: str
    source: str


@dataclass(frozen=True)
class LearnerTestResult:
    """One learner test's result in one run."""

    node_id: str
    outcome: str
    # True for an `async def` test function, read from the source, whose
    # keywords in pytest's report contain asyncio.
    is_async: bool
    message: str


@dataclass
class SuiteRun:
    """The learner's tests run once against one version of main.py."""

    variant: str
    ran: bool = False
    reported: bool = False
    exit_code: int | None = None
    outcomes: dict[str, LearnerTestResult] = field(default_factory=dict)
    collection_errors: list[str] = field(default_factory=list)
    timed_out: bool = False
    deadline: float = 0.0
    duration: float = 0.0
    # From start to end of the run, the interpreter's start included.
    wall: float = 0.0
    output_tail: str = ""

    @property
    def passed(self) -> list[str]:
        return [
            node_id
            for node_id, test in self.outcomes.items()
            if test.outcome == "passed"
        ]

    @property
    def not_passed(self) -> list[LearnerTestResult]:
        return [test for test in self.outcomes.values() if test.outcome != "passed"]


@dataclass
class SuiteResults:
    """Every run of the learner's tests that this grader made."""

    test_files: list[str]
    main_differs: bool
    reference: SuiteRun
    mutants: dict[str, SuiteRun]
    runner_seconds: float = 0.0
    # Constructs in the test files that inspect the app; none were run if any.
    refused: list[str] = field(default_factory=list)
    # The test files' text, read before any of them ran: a test may replace
    # its own file, even with a link, once it runs.
    sources: list[str] = field(default_factory=list)


def load_app_mutants() -> dict[str, AppMutant]:
    """Read the mutants and build each one's main.py from the reference app.

    An edit that removes lines gets blank lines in their place, so every
    line of a mutant keeps the number it has in the reference app. A test
    that read line numbers from a traceback could otherwise tell the
    versions apart without checking what they do.
    """
    reference = REFERENCE_APP.read_text(encoding="utf-8")
    data = tomllib.loads(APP_MUTANTS.read_text(encoding="utf-8"))
    mutants = {}
    for raw in data["mutant"]:
        source = reference
        for edit in raw["edit"]:
            if source.count(edit["old"]) != 1:
                raise RuntimeError(
                    f"app mutant {raw['id']}: its edit must match main.py once, "
                    f"not {source.count(edit['old'])} times: {edit['old']!r}"
                )
            removed = edit["old"].count("\n") - edit["new"].count("\n")
            if removed < 0:
                raise RuntimeError(
                    f"app mutant {raw['id']}: an edit may not add lines, since "
                    f"later lines would move: {edit['new']!r}"
                )
            source = source.replace(edit["old"], edit["new"] + "\n" * removed)
        mutants[raw["id"]] = AppMutant(
            id=raw["id"], fault=raw["fault"], hint=raw["hint"], source=source
        )
    return mutants


APP_MUTANT_LIST = load_app_mutants()
MAIN_FUNCTIONS = main_functions(REFERENCE_APP.read_text(encoding="utf-8"))
MAIN_MODELS = main_models(REFERENCE_APP.read_text(encoding="utf-8"))


def _first_lines(text: str, count: int = 2) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return truncate(" ".join(lines[:count]), 200)


def _error_lines(longrepr: str) -> str:
    """Return the last lines pytest marks with "E", where it states the error."""
    lines = [line[1:].strip() for line in longrepr.splitlines() if line[:1] == "E"]
    return " ".join(lines[-2:])


def _outcome_message(test: dict[str, Any]) -> str:
    for stage in ("setup", "call", "teardown"):
        part = test.get(stage) or {}
        crash = part.get("crash") or {}
        longrepr = part.get("longrepr")
        if crash.get("message"):
            return _first_lines(str(crash["message"]))
        if part.get("outcome") == "skipped":
            # A skip's longrepr is the text of (path, line, "Skipped: reason").
            reason = re.search(r"'(Skipped: .*)'\)$", str(longrepr))
            return _first_lines(reason.group(1) if reason else "skipped")
        if part.get("outcome") == "failed" and longrepr:
            return truncate(_error_lines(str(longrepr)) or _first_lines(str(longrepr)))
    return ""


def _read_report(
    run: SuiteRun, report_path: Path, async_functions: frozenset[str]
) -> None:
    try:
        text = read_learner_file(report_path, limit=64 * 1024 * 1024)
        report = json.loads(text) if text is not None else None
    except (CheckFailed, *JSON_ERRORS):
        return
    if not isinstance(report, dict):
        return
    run.reported = True
    run.duration = float(report.get("duration", 0.0))
    for collector in report.get("collectors", []):
        if collector.get("outcome") == "failed":
            where = collector.get("nodeid") or "your test files"
            longrepr = str(collector.get("longrepr") or "")
            reason = _error_lines(longrepr) or _first_lines(longrepr, 3)
            run.collection_errors.append(f"{where}: {truncate(reason, 300)}")
    for test in report.get("tests", []):
        node_id = str(test.get("nodeid", ""))
        # The keywords contain the asyncio mark, but parametrize ids too, so
        # only a function that the source shows as `async def` counts.
        run.outcomes[node_id] = LearnerTestResult(
            node_id=node_id,
            outcome=str(test.get("outcome", "")),
            is_async="asyncio" in test.get("keywords", [])
            and any(is_node_of(node_id, function) for function in async_functions),
            message=_outcome_message(test),
        )


def _tail(path: Path, lines: int = 12) -> str:
    try:
        text = read_learner_file(path, limit=16_000) or ""
    except CheckFailed:
        return "(the log was replaced by a link or a folder)"
    return "\n".join(text.rstrip().splitlines()[-lines:])


@dataclass
class Job:
    """One run of the learner's tests against one version of main.py."""

    variant: str
    source: str
    folder: Path
    deadline: float


def _prepare_job(
    runs_dir: Path, variant: str, source: str, test_files: list[Path], deadline: float
) -> Job:
    """Create a job's folder: the original main.py, the tests and the runner.

    The folder's name is random, and every job's folder has the same files,
    so nothing in it reveals which version a test runs against.
    """
    folder = runs_dir / secrets.token_hex(8)
    folder.mkdir(parents=True)
    (folder / "main.py").write_text(
        REFERENCE_APP.read_text(encoding="utf-8"), encoding="utf-8"
    )
    for test_file in test_files:
        shutil.copyfile(test_file, folder / test_file.name)
    runner_dir = folder / RUNNER_FOLDER
    runner_dir.mkdir()
    shutil.copyfile(SUITE_RUNNER, runner_dir / SUITE_RUNNER.name)
    shutil.copyfile(LEARNER_PYTEST_CONFIG, runner_dir / LEARNER_PYTEST_CONFIG.name)
    for path in [*folder.rglob("*"), folder]:
        os.utime(path, (FIXED_MTIME, FIXED_MTIME), follow_symlinks=False)
    return Job(variant=variant, source=source, folder=folder, deadline=deadline)


def _pytest_args(test_files: list[Path]) -> list[str]:
    return [
        "-c",
        f"{RUNNER_FOLDER}/{LEARNER_PYTEST_CONFIG.name}",
        "--rootdir=.",
        "-p",
        "no:cacheprovider",
        "--noconftest",
        *(option for plugin in PLUGINS for option in ("-p", plugin)),
        "--json-report",
        f"--json-report-file={REPORT_NAME}",
        "--json-report-omit",
        "log",
        "streams",
        "warnings",
        "-q",
        # Full tracebacks through TestClient take about 0.5 s each to format;
        # the report's one-line crash messages are all the feedback uses.
        "--tb=line",
        *(test_file.name for test_file in test_files),
    ]


def _start_job(job: Job, pytest_args: list[str], log: Path) -> sandbox.SandboxedProcess:
    """Start the runner for `job` in a sandbox that contains only its folder."""
    job_file = job.folder / JOB_FILE
    job_file.write_text(
        json.dumps({"source": job.source, "pytest_args": pytest_args}),
        encoding="utf-8",
    )
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(job.folder),
        "TMPDIR": str(job.folder),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        # The same string hashes and set orders in every run, so that a test
        # cannot pass or fail by the hash seed Python draws at start.
        "PYTHONHASHSEED": "0",
    }
    with log.open("wb") as output:
        return sandbox.start(
            [sys.executable, f"{RUNNER_FOLDER}/{SUITE_RUNNER.name}", JOB_FILE],
            cwd=job.folder,
            env=env,
            stdout=output,
            writable=job.folder,
            # Every job must draw the same values: see seed_chance.
            random_devices=False,
            # /proc/self/mem would let a test search its own memory for the
            # version under test, which the runner loaded from the job file.
            proc_filesystem=False,
        )


def _run_jobs(
    jobs: list[Job],
    pytest_args: list[str],
    logs: Path,
    parallel: int,
    stop_after: Callable[[SuiteRun], bool],
    async_functions: frozenset[str],
) -> dict[str, SuiteRun]:
    """Run `jobs`, `parallel` at a time, each killed at its deadline.

    When a finished run makes `stop_after` true, the runs still going are
    killed and the rest are not started; their SuiteRun has ran=False.
    `async_functions` names the async test functions (async_test_functions).
    """
    runs = {
        job.variant: SuiteRun(variant=job.variant, deadline=job.deadline)
        for job in jobs
    }
    pending = list(jobs)
    running: list[tuple[Job, sandbox.SandboxedProcess, float]] = []
    try:
        while pending or running:
            while pending and len(running) < parallel:
                job = pending.pop(0)
                log = logs / f"{job.folder.name}.log"
                running.append(
                    (job, _start_job(job, pytest_args, log), time.monotonic())
                )
                runs[job.variant].ran = True
            time.sleep(POLL_INTERVAL)
            still_running = []
            for job, process, started in running:
                run = runs[job.variant]
                if process.popen.poll() is None:
                    if time.monotonic() - started <= job.deadline:
                        still_running.append((job, process, started))
                        continue
                    run.timed_out = True
                run.wall = time.monotonic() - started
                # Tests may have started processes of their own: they all go.
                process.kill()
                run.exit_code = process.popen.returncode
                _read_report(run, job.folder / REPORT_NAME, async_functions)
                run.output_tail = _tail(logs / f"{job.folder.name}.log")
                if stop_after(run):
                    pending.clear()
                    for other_job, other, _ in still_running:
                        other.kill()
                        runs[other_job.variant].ran = False
                    still_running = []
            running = still_running
    finally:
        for _, process, _ in running:
            process.kill()
    return runs


def run_suites(
    test_files: list[Path], work_dir: Path, async_functions: frozenset[str]
) -> SuiteResults:
    """Run the tests twice against the reference app and once against each mutant.

    Each run is a fresh interpreter in a sandbox of its own (the runner's
    imports cost about 0.7 s of CPU), so a test can neither see another run
    nor change its results. The runs go in a random order, and every file
    in them has the same fixed modification time, so a test cannot tell the
    reference runs from the others by when it runs. Once a reference run
    has a test that did not pass, the remaining runs are not needed (no
    fault counts as caught) and are stopped.
    """
    runs_dir = work_dir / "runs"
    logs = log_folder(work_dir) / "run-logs"
    logs.mkdir(parents=True, exist_ok=True)
    reference_source = REFERENCE_APP.read_text(encoding="utf-8")
    jobs = [
        _prepare_job(runs_dir, name, reference_source, test_files, REFERENCE_DEADLINE)
        for name in REFERENCE_RUNS
    ]
    jobs += [
        _prepare_job(runs_dir, mutant.id, mutant.source, test_files, MUTANT_DEADLINE)
        for mutant in APP_MUTANT_LIST.values()
    ]
    secrets.SystemRandom().shuffle(jobs)
    started = time.monotonic()
    runs = _run_jobs(
        jobs,
        _pytest_args(test_files),
        logs,
        PARALLEL_RUNS,
        stop_after=lambda run: run.variant in REFERENCE_RUNS and not run_passed(run),
        async_functions=async_functions,
    )
    runner_seconds = time.monotonic() - started
    first, second = (runs.pop(name) for name in REFERENCE_RUNS)
    return SuiteResults(
        [path.name for path in test_files],
        main_differs=False,
        reference=merge_reference_runs(first, second),
        mutants=runs,
        runner_seconds=runner_seconds,
    )


def run_passed(run: SuiteRun) -> bool:
    """Return True when a run reported tests and every one of them passed."""
    return run.reported and bool(run.outcomes) and not run.not_passed


def merge_reference_runs(first: SuiteRun, second: SuiteRun) -> SuiteRun:
    """Combine the two reference runs: a test passes only if it passed in both.

    A run that was stopped before it started adds nothing: the other one
    then had a test that did not pass.
    """
    if not second.ran:
        return first
    if not first.ran:
        return second
    merged = SuiteRun(
        variant="reference",
        ran=True,
        reported=first.reported and second.reported,
        exit_code=first.exit_code or second.exit_code,
        collection_errors=first.collection_errors + second.collection_errors,
        timed_out=first.timed_out or second.timed_out,
        deadline=first.deadline,
        duration=max(first.duration, second.duration),
        wall=max(first.wall, second.wall),
        output_tail=first.output_tail if not run_passed(first) else second.output_tail,
    )
    for node_id in {**first.outcomes, **second.outcomes}:
        results = [run.outcomes.get(node_id) for run in (first, second)]
        failed = [r for r in results if r is None or r.outcome != "passed"]
        if not failed:
            merged.outcomes[node_id] = first.outcomes[node_id]
        elif failed[0] is None:
            test = next(r for r in results if r is not None)
            merged.outcomes[node_id] = LearnerTestResult(
                node_id, "missing", test.is_async, "ran in only one of two runs"
            )
        else:
            merged.outcomes[node_id] = failed[0]
    return merged


@pytest.fixture(scope="module")
def suite(app_dir: Path, work_dir: Path) -> SuiteResults:
    """Run the learner's tests against the reference app, then every mutant."""
    test_files = sorted(path for path in app_dir.glob("test_*.py") if path.is_file())
    learner_main = app_dir / "main.py"
    main_differs = not learner_main.is_file() or learner_main.read_bytes() != (
        REFERENCE_APP.read_bytes()
    )
    if not test_files:
        return SuiteResults([], main_differs, SuiteRun("reference"), {})
    sources = [read_learner_file(path) or "" for path in test_files]
    refused = [
        f"{path.name} line {finding.line}: {finding.what}"
        for path, source in zip(test_files, sources, strict=True)
        for finding in audit_source(source, MAIN_FUNCTIONS, MAIN_MODELS)
    ]
    if refused:
        names = [path.name for path in test_files]
        return SuiteResults(
            names, main_differs, SuiteRun("reference"), {}, 0.0, refused, sources
        )
    # Read from the sources, which no test has run yet.
    async_functions = frozenset(
        function
        for path, source in zip(test_files, sources, strict=True)
        for function in async_test_functions(path.name, source)
    )
    results = run_suites(test_files, work_dir, async_functions)
    results.main_differs = main_differs
    results.sources = sources
    return results


# Known causes of a test failing against the reference app: a pattern in the
# failure message, and the question that points at the fix.
DIAGNOSES = (
    (
        "Failed: not written yet",
        'Which TODOs in test_main.py still end in pytest.fail("not written '
        'yet")? Replace each with the requests and assertions it asks for.',
    ),
    (
        "unexpected keyword argument 'app'",
        "httpx 0.28 removed AsyncClient(app=...): did you create the client as "
        'AsyncClient(transport=ASGITransport(app=app), base_url="http://test")?',
    ),
    (
        "async def functions are not natively supported",
        "pytest runs an async test only when pytest-asyncio handles it: did you "
        "mark it with @pytest.mark.asyncio?",
    ),
    (
        "requested an async fixture",
        "An async fixture needs @pytest_asyncio.fixture rather than "
        "@pytest.fixture: which decorator does yours have?",
    ),
    (
        "fixture '",
        "pytest did not find a fixture. The grader copies only your test_*.py "
        "files, not conftest.py: is the fixture defined in the test file, with "
        "exactly this name?",
    ),
    (
        "Timeout (>",
        "A test ran for more than 5 s: does it wait for something that never "
        "happens, such as a request to a server that is not running?",
    ),
)
LIFESPAN_SYNC_HINT = (
    "The lifespan did not run, so app.state.store was never created: did you "
    "use TestClient(app) without `with`? Open it as "
    "`with TestClient(app) as client:` so the lifespan runs."
)
LIFESPAN_ASYNC_HINT = (
    "The lifespan did not run, so app.state.store was never created: "
    "ASGITransport never runs it. Did you enter it yourself with "
    "`async with lifespan(app):` around the AsyncClient?"
)


def diagnose(tests: list[LearnerTestResult]) -> str | None:
    """Return the hint for the first known cause among these failures."""
    for test in tests:
        if test.outcome == "skipped":
            return (
                "A skipped test never fails, so it catches nothing: can you remove "
                "its skip mark, or the pytest.skip() call, and make it pass?"
            )
        if "'State' object has no attribute" in test.message:
            return LIFESPAN_ASYNC_HINT if test.is_async else LIFESPAN_SYNC_HINT
        for pattern, hint in DIAGNOSES:
            if pattern in test.message:
                return hint
    return None


def describe_outcomes(tests: list[LearnerTestResult]) -> str:
    shown = []
    for test in tests[:SHOWN_FAILURES]:
        reason = test.message or test.outcome
        if test.outcome == "skipped":
            reason = f"skipped ({reason}); a skipped test checks nothing"
        shown.append(f"{test.node_id}: {reason}")
    if len(tests) > SHOWN_FAILURES:
        shown.append(f"... and {len(tests) - SHOWN_FAILURES} more")
    return "; ".join(shown)


def differs_note(suite: SuiteResults) -> str:
    if not suite.main_differs:
        return ""
    return (
        " Note: your main.py differs from the chapter's; the grader always runs "
        "your tests against its own copy of the original main.py."
    )


def fail_without_tests(suite: SuiteResults) -> None:
    """Fail when there is no test file, nothing was collected, or the run hung."""
    if not suite.test_files:
        raise CheckFailed(
            "No test file found in the chapter folder.",
            request=RUN_COMMAND,
            expected="a file named test_*.py, such as test_main.py, next to main.py",
            actual="no test_*.py file",
            hint="Did you write your tests in test_main.py in the chapter folder?",
        )
    if suite.refused:
        raise CheckFailed(
            "Your tests inspect the app's code instead of sending it requests, "
            "so the grader did not run them.",
            request=f"reading {', '.join(suite.test_files)}",
            expected="tests that use the app only through a client (TestClient "
            "or httpx.AsyncClient), its dependency overrides and its models",
            actual=truncate("; ".join(suite.refused), 600),
            hint="A test that reads code, frames, files or modules could tell "
            "the faulty versions apart without testing them. Can you check the "
            "same thing with a request and an assertion on the response?",
        )
    reference = suite.reference
    if reference.timed_out:
        raise CheckFailed(
            f"Your tests did not finish within {reference.deadline:g} s.",
            request=RUN_COMMAND,
            expected="the whole run finishes in a few seconds",
            actual=f"still running after {reference.deadline:g} s. Last output: "
            f"{truncate(reference.output_tail, 300) or '(none)'}",
            hint="Does a test or fixture wait for something that never happens?",
        )
    if reference.collection_errors:
        raise CheckFailed(
            "pytest could not collect your tests.",
            request=RUN_COMMAND,
            expected="every test file imports and its tests are collected",
            actual=truncate("; ".join(reference.collection_errors), 600),
            hint="Does `pytest -q` in the chapter folder run without an error "
            "before the first test?",
        )
    if not reference.reported:
        raise CheckFailed(
            "pytest ended without reporting any result.",
            request=RUN_COMMAND,
            expected="pytest runs every test and reports the results",
            actual=f"exit code {reference.exit_code}. Last output: "
            f"{truncate(reference.output_tail, 300) or '(none)'}",
            hint="Does a test or fixture call sys.exit() or os._exit(), or stop "
            "its own process?",
        )
    if not reference.outcomes:
        raise CheckFailed(
            "pytest collected no tests.",
            request=f"pytest on {', '.join(suite.test_files)}",
            expected="at least one test function named test_*",
            actual="0 tests collected",
            hint="Are your test functions named test_... at the top level of the "
            "file, or methods of a class named Test...?",
        )


def test_tests_pass_against_reference(suite: SuiteResults) -> None:
    """Your tests pass against main.py, and some fail against a faulty version."""
    record_measurement(
        "pytest runs of the learner's tests",
        runner=round(suite.runner_seconds, 3),
        reference=round(suite.reference.duration, 3),
        slowest_mutant=round(
            max((run.duration for run in suite.mutants.values()), default=0.0), 3
        ),
    )
    fail_without_tests(suite)
    failures = suite.reference.not_passed
    if failures:
        total = len(suite.reference.outcomes)
        raise CheckFailed(
            f"{len(failures)} of your {total} tests did not pass against the "
            f"original main.py.{differs_note(suite)}",
            request=f"pytest on {', '.join(suite.test_files)}, against main.py",
            expected="every test passes (a skipped test counts as not passing)",
            actual=describe_outcomes(failures),
            hint=diagnose(failures)
            or "Does each assertion match what main.py really returns? Run "
            "`pytest -q` in the chapter folder to see the full output.",
        )
    if suite.mutants and not any(caught_by(suite, name) for name in suite.mutants):
        raise CheckFailed(
            "Your tests pass against main.py, and just as well against every "
            "faulty version of it: they do not check what the app returns.",
            request=f"{RUN_COMMAND}, against main.py and {len(suite.mutants)} "
            "faulty versions",
            expected="each test fails when the behaviour it tests is broken",
            actual=f"all {len(suite.reference.passed)} tests passed against every "
            "faulty version",
            hint="Does each test assert the status code and the body of a "
            "response, rather than `assert True` or only that no error was raised?",
        )


def test_async_test_passes(suite: SuiteResults, app_dir: Path) -> None:
    """At least one async test with httpx.AsyncClient and ASGITransport passes."""
    fail_without_tests(suite)
    async_tests = [test for test in suite.reference.outcomes.values() if test.is_async]
    if not async_tests:
        raise CheckFailed(
            "None of your tests is an `async def` test marked with "
            "@pytest.mark.asyncio, so none is run by pytest-asyncio.",
            request=f"reading and running {', '.join(suite.test_files)}",
            expected="an `async def test_...` marked with @pytest.mark.asyncio, "
            "with no decorator other than pytest marks",
            actual=f"{len(suite.reference.outcomes)} tests, none of them an "
            "`async def` function with the asyncio mark",
            hint="Did you write an `async def` test and mark it with "
            "@pytest.mark.asyncio? A plain `def` test is not async, and a "
            'parametrize id such as "asyncio" is not the mark. pytest-asyncio '
            "runs in strict mode here, so asyncio_mode = auto in your own "
            "configuration does not apply.",
        )
    if not any(test.outcome == "passed" for test in async_tests):
        raise CheckFailed(
            "None of your async tests passes against main.py.",
            request=RUN_COMMAND,
            expected="at least one async test passes",
            actual=describe_outcomes(async_tests),
            hint=diagnose(async_tests)
            or "Does the async test's assertion match what main.py returns?",
        )
    # NOTE: the use need not be in the passing async test or its fixtures,
    # because following fixtures and helpers through the source is not sound.
    if not any(uses_name_in_code(source, "ASGITransport") for source in suite.sources):
        mentioned = any("ASGITransport" in source for source in suite.sources)
        raise CheckFailed(
            "Your async tests do not use httpx.AsyncClient with ASGITransport.",
            request=f"reading {', '.join(suite.test_files)}",
            expected="code that uses ASGITransport, as in "
            "AsyncClient(transport=ASGITransport(app=app), base_url=...); an "
            "import, a comment or a string does not count",
            actual=(
                "ASGITransport appears only in imports, comments or strings"
                if mentioned
                else "no mention of ASGITransport"
            )
            + f" in {', '.join(suite.test_files)}",
            hint="How does an httpx.AsyncClient send requests to the app in "
            "memory, without a server? Does your async test send its requests "
            "through the sync TestClient instead?",
        )


def caught_by(suite: SuiteResults, mutant_id: str) -> list[str]:
    """Return the tests that pass against main.py but not against the mutant.

    A fault that makes the run hang until its deadline, or end without a
    report, has been noticed by the tests: every passing test counts.
    """
    run = suite.mutants[mutant_id]
    if not run.ran:
        raise RuntimeError(f"the tests were not run against mutant {mutant_id}")
    passing = suite.reference.passed
    if run.timed_out and not timeouts_count(suite, run):
        return []
    if run.timed_out or not run.reported:
        return list(passing)
    return [
        node_id
        for node_id in passing
        if node_id not in run.outcomes or run.outcomes[node_id].outcome != "passed"
    ]


def timeouts_count(suite: SuiteResults, run: SuiteRun) -> bool:
    """Return True when a run that hit its deadline shows a hang, not slow tests.

    Only a reference run that took at most half the mutant's deadline leaves
    that margin; otherwise tests that merely wait would "catch" every fault.
    """
    return suite.reference.wall * 2 <= run.deadline


def check_mutant_caught(suite: SuiteResults, mutant_id: str) -> None:
    """Fail unless a test that passes against main.py fails against the mutant."""
    mutant = APP_MUTANT_LIST[mutant_id]
    fail_without_tests(suite)

    passing = suite.reference.passed
    if not passing:
        raise CheckFailed(
            "None of your tests passes against the original main.py, so none "
            "can catch a fault.",
            request=RUN_COMMAND,
            expected="tests that pass against main.py and fail against an app "
            f"that {mutant.fault}",
            actual=f"0 of {len(suite.reference.outcomes)} tests pass against main.py",
            hint="What does the check 'Your tests pass against main.py, and some "
            "fail against a faulty version' report?",
        )

    failures = suite.reference.not_passed
    if failures:
        raise CheckFailed(
            "Not every one of your tests passes against the original main.py, so "
            "none of them counts as catching a fault.",
            request=f"{RUN_COMMAND}, twice against main.py",
            expected="every test passes against main.py, both times",
            actual=describe_outcomes(failures),
            hint="A test that fails against a correct app cannot tell a fault from "
            "its own mistake: what does the check 'Your tests pass against main.py' "
            "report?",
        )
    run = suite.mutants[mutant_id]
    if run.timed_out and not timeouts_count(suite, run):
        raise CheckFailed(
            "Your tests ran out of time against a faulty version, but they are "
            "too slow against main.py for that to count as catching it.",
            request=f"{RUN_COMMAND}, against main.py with this fault",
            expected=f"a run against main.py of at most {run.deadline / 2:g} s, so "
            f"a run still going after {run.deadline:g} s shows a fault",
            actual=f"{suite.reference.wall:.1f} s against main.py",
            hint="Does a test sleep or wait for a long time? Tests of an app in "
            "memory should take well under a second each.",
        )
    if not caught_by(suite, mutant_id):
        raise CheckFailed(
            "Your tests did not catch a faulty version of the app: every test "
            "that passes against main.py also passed against a version that "
            f"{mutant.fault}.",
            request=f"{RUN_COMMAND}, against main.py with this fault",
            expected="at least one of your tests fails against the faulty version",
            actual=f"all {len(passing)} tests that pass against main.py passed "
            "against it too",
            hint=mutant.hint,
        )


def test_catches_wrong_status_code(suite: SuiteResults) -> None:
    """Your tests catch an app that returns the wrong status code."""
    check_mutant_caught(suite, "wrong_status_code")


def test_catches_missing_validation(suite: SuiteResults) -> None:
    """Your tests catch an app that accepts an invalid request body."""
    check_mutant_caught(suite, "missing_validation")


def test_catches_broken_dependency(suite: SuiteResults) -> None:
    """Your tests catch an app whose user dependency lets anyone in."""
    check_mutant_caught(suite, "broken_dependency")


def test_catches_pagination_off_by_one(suite: SuiteResults) -> None:
    """Your tests catch an off-by-one error in pagination."""
    check_mutant_caught(suite, "pagination_off_by_one")


def test_catches_missing_lifespan_setup(suite: SuiteResults) -> None:
    """Your tests catch an app whose lifespan skips its setup."""
    check_mutant_caught(suite, "missing_lifespan_setup")


def test_catches_other_users_tasks_listed(suite: SuiteResults) -> None:
    """Your tests catch an app that lists other users' tasks."""
    check_mutant_caught(suite, "other_users_tasks_listed")


def test_catches_other_users_task_readable(suite: SuiteResults) -> None:
    """Your tests catch an app that lets a user reach another user's task."""
    check_mutant_caught(suite, "other_users_task_readable")


def test_catches_delete_that_keeps_task(suite: SuiteResults) -> None:
    """Your tests catch a DELETE that does not delete."""
    check_mutant_caught(suite, "delete_keeps_task")


def test_catches_missing_await(suite: SuiteResults) -> None:
    """Your tests catch a missing await in the async endpoint."""
    check_mutant_caught(suite, "missing_await")
