"""Sessions for grading the course and testing the grader.

Run `nox -s grade` to grade exercises/ and `nox -s test` to run the project's
checks. Virtual environments are reused between runs and created with uv when
it is installed (plain virtualenv otherwise).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nox

nox.needs_version = ">=2024.3.2"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["grade"]

ROOT = Path(__file__).parent
STAMP = ".apigrade-installed"
STOP_TIMEOUT = 30.0


def install_project(session: nox.Session, extras: str = "") -> None:
    """Install the project in editable mode, skipping it when nothing changed.

    A stamp file in the venv stores a hash of pyproject.toml, so a reused
    environment starts grading at once instead of asking the installer again.
    """
    requirement = f".[{extras}]" if extras else "."
    digest = hashlib.sha256(
        (ROOT / "pyproject.toml").read_bytes() + requirement.encode()
    ).hexdigest()
    venv = session.virtualenv.location
    stamp = Path(venv) / STAMP if venv else None
    if stamp is not None and stamp.is_file() and stamp.read_text() == digest:
        return
    # uv leaves modules uncompiled unless asked; each app and grader process
    # would then compile FastAPI and pydantic again at every start (about
    # 0.5 s of CPU each). pip compiles by default and ignores this variable.
    session.install("-e", requirement, env={"UV_COMPILE_BYTECODE": "1"})
    if stamp is not None:
        stamp.write_text(digest)


@nox.session
def grade(session: nox.Session) -> None:
    """Grade a folder of chapters (exercises/ by default) and write a report."""
    install_project(session)
    # On Ctrl-C nox waits this long after its SIGTERM, so the engine can stop
    # its graders and keep what is finished.
    session.run(
        "python",
        "-m",
        "apigrade",
        "grade",
        *session.posargs,
        terminate_timeout=STOP_TIMEOUT,
    )


@nox.session(name="grade_class", default=False)
def grade_class(session: nox.Session) -> None:
    """Grade every learner in a folder of submissions; write reports and grades.csv."""
    install_project(session)
    session.run(
        "python",
        "-m",
        "apigrade",
        "grade-class",
        *session.posargs,
        terminate_timeout=STOP_TIMEOUT,
    )


@nox.session(default=False)
def report(session: nox.Session) -> None:
    """Show a score report, or a class summary, in the terminal."""
    install_project(session)
    session.run("python", "-m", "apigrade", "report", *session.posargs)


@nox.session(default=False)
def export(session: nox.Session) -> None:
    """Convert a score report to Gradescope's results.json or JUnit XML."""
    install_project(session)
    session.run("python", "-m", "apigrade", "export", *session.posargs)


@nox.session
def test(session: nox.Session) -> None:
    """Run the formatter, linter, type checker and the test suite."""
    install_project(session, extras="dev")
    warn_if_exercises_changed(session)
    session.run("ruff", "format", "--check", ".")
    session.run("ruff", "check", ".")
    session.run("mypy")
    # A root of its own for pytest's temporary folders: runs started at the
    # same time by the same user would otherwise share /tmp/pytest-of-<user>,
    # where each one deletes the oldest runs' folders.
    temp_root = tempfile.mkdtemp(prefix="apigrade-tests-")
    session.log(
        f"pytest's temporary folders: {temp_root} (kept if a test fails or the "
        "run is stopped)"
    )
    session.run("pytest", *session.posargs, env={"PYTEST_DEBUG_TEMPROOT": temp_root})
    # Reached only when pytest passed: session.run raises on a failure.
    shutil.rmtree(temp_root, ignore_errors=True)
    if Path(temp_root).exists():
        session.warn(f"could not remove every file in {temp_root}")


def warn_if_exercises_changed(session: nox.Session) -> None:
    """Warn when exercises/ differs from the committed starters.

    The suite grades exercises/ as untouched starters and checks their format,
    so a learner's own work there fails those tests. Without git, it warns of
    nothing.
    """
    git = shutil.which("git")
    if git is None:
        return
    status = subprocess.run(
        [git, "status", "--porcelain", "--", "exercises"],
        capture_output=True,
        text=True,
        check=False,
    )
    changed = status.stdout.splitlines()
    if status.returncode != 0 or not changed:
        return
    first_paths = ", ".join(line[3:] for line in changed[:3])
    more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
    session.warn(
        f"exercises/ differs from the committed starters ({first_paths}{more}). The "
        "tests expect untouched starters: the format check stops this session when "
        "ruff would reformat a changed file, and the starter tests fail. Run them "
        "on a clean checkout, such as a fresh git clone."
    )


@nox.session(default=False)
def timing(session: nox.Session) -> None:
    """Grade timing-sensitive solutions and mutants repeatedly under CPU load."""
    install_project(session)
    session.run("python", "scripts/timing_determinism.py", *session.posargs)


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Measure grading time and memory (warm, cold, naive, a class) and print them."""
    install_project(session)
    # The cold run grades a fresh clone through nox, so it needs the Python
    # that runs this nox, which has nox installed.
    session.run(
        "python", "scripts/bench.py", "--nox-python", sys.executable, *session.posargs
    )
