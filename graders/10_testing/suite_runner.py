"""Run a learner's chapter 10 tests against several versions of main.py.

graders/test_10_testing.py starts this script as a process of its own. The
script imports pytest and the libraries that tests use once, then forks one
child per version of the app (a job). Each child runs pytest in the job's
folder, so a run costs its tests' time instead of a fresh interpreter's
imports (about 2 s each). Learner code runs only in those children.

Usage: python suite_runner.py JOBS_FILE RESULTS_FILE

JOBS_FILE is JSON: {"pytest_args": [...], "parallel": N, "jobs": [{"name",
"folder", "report", "log", "deadline"}, ...]}. The first job runs alone; the
others run, N at a time, only if its pytest-json-report shows a passed test.
A job still running after its deadline (seconds) is killed with SIGKILL.
RESULTS_FILE receives {name: {"exit_code", "timed_out", "ran"}} as JSON.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import time
import traceback
import types
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

# This folder holds the reference main.py, which must never shadow the main.py
# of the job being run.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"

# Imported here once, before any fork, so every child starts with them loaded.
# The pytest plugins are left to each child: pytest warns that it cannot
# rewrite the asserts of a plugin that was imported before it.
import fastapi
import httpx  # noqa: F401
import pytest

with warnings.catch_warnings():
    # Starlette warns at import that it prefers httpx2 to httpx for its
    # TestClient. The warning is not about the learner's tests.
    warnings.simplefilter("ignore")
    import fastapi.testclient  # noqa: F401

POLL_INTERVAL = 0.02
CRASH_EXIT_CODE = 3


@dataclass
class Job:
    name: str
    source: str
    folder: str
    report: str
    log: str
    deadline: float


@dataclass
class Outcome:
    exit_code: int | None = None
    timed_out: bool = False
    ran: bool = False


def run_child(job: Job, pytest_args: list[str]) -> NoReturn:
    """Run pytest for one job in this forked child, then exit with its code."""
    code = CRASH_EXIT_CODE
    try:
        log = os.open(job.log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.chdir(job.folder)
        sys.path.insert(0, job.folder)
        load_app(job)
        os.environ["HOME"] = job.folder
        os.environ["TMPDIR"] = job.folder
        tempfile.tempdir = None
        code = int(pytest.main([*pytest_args, f"--json-report-file={job.report}"]))
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def load_app(job: Job) -> None:
    """Put this job's version of the app in sys.modules as `main`.

    main.py on disk is the original for every job; `import main` in the tests
    finds this module first, with __file__ pointing at that file.
    """
    path = os.path.join(job.folder, "main.py")
    module = types.ModuleType("main")
    module.__file__ = path
    sys.modules["main"] = module
    exec(compile(job.source, path, "exec"), module.__dict__)


def start(job: Job, pytest_args: list[str]) -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        run_child(job, pytest_args)
    return pid


def run_jobs(
    jobs: list[Job], pytest_args: list[str], parallel: int
) -> dict[str, Outcome]:
    """Run `jobs`, `parallel` at a time, each killed at its deadline."""
    outcomes = {job.name: Outcome() for job in jobs}
    pending = list(jobs)
    running: dict[int, tuple[Job, float]] = {}
    while pending or running:
        while pending and len(running) < parallel:
            job = pending.pop(0)
            running[start(job, pytest_args)] = (job, time.monotonic())
            outcomes[job.name].ran = True
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid in running:
            job, _ = running.pop(pid)
            outcomes[job.name].exit_code = os.waitstatus_to_exitcode(status)
            continue
        now = time.monotonic()
        for child, (job, started) in running.items():
            if now - started > job.deadline and not outcomes[job.name].timed_out:
                outcomes[job.name].timed_out = True
                os.kill(child, signal.SIGKILL)
        time.sleep(POLL_INTERVAL)
    return outcomes


def passed_any(report_path: str) -> bool:
    try:
        report: dict[str, Any] = json.loads(Path(report_path).read_text("utf-8"))
    except (OSError, ValueError):
        return False
    return int(report.get("summary", {}).get("passed", 0)) > 0


def main(jobs_file: str, results_file: str) -> None:
    spec = json.loads(Path(jobs_file).read_text(encoding="utf-8"))
    # The tests run in this sandbox too: they must not read which version
    # each job tests.
    Path(jobs_file).unlink()
    jobs = [Job(**raw) for raw in spec["jobs"]]
    pytest_args = [str(arg) for arg in spec["pytest_args"]]
    outcomes = {job.name: Outcome() for job in jobs}
    outcomes.update(run_jobs(jobs[:1], pytest_args, 1))
    if jobs and passed_any(jobs[0].report):
        outcomes.update(run_jobs(jobs[1:], pytest_args, int(spec["parallel"])))
    results = {name: vars(outcome) for name, outcome in outcomes.items()}
    Path(results_file).write_text(json.dumps(results), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
