"""Run a learner's chapter 10 tests once, against one version of main.py.

graders/test_10_testing.py starts this script once per version of the app (a
job), each time as a fresh interpreter in a sandbox of its own that contains
only the job's folder. Nothing a test does in one job can reach another.

Usage: python suite_runner.py JOB_FILE

JOB_FILE is JSON: {"source": the version's main.py, "pytest_args": [...]}.
The script reads it and deletes it, so the tests cannot read it, then puts
the version in sys.modules as the module `main` and runs pytest. main.py on
disk is the original in every job. The exit code is pytest's.
"""

from __future__ import annotations

import json
import os
import sys
import types
import warnings
from pathlib import Path

# The runner's own folder must not shadow the job's modules.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"

import pytest

with warnings.catch_warnings():
    # Starlette warns at import that it prefers httpx2 to httpx for its
    # TestClient. The warning is not about the learner's tests.
    warnings.simplefilter("ignore")
    import fastapi.testclient  # noqa: F401


def load_app(source: str) -> None:
    """Put `source` in sys.modules as the module `main`.

    `import main` in the tests finds this module first, with __file__
    pointing at main.py on disk, so reading or hashing that file reveals
    nothing about the version under test.
    """
    path = os.path.abspath("main.py")
    module = types.ModuleType("main")
    module.__file__ = path
    sys.modules["main"] = module
    exec(compile(source, path, "exec"), module.__dict__)


def read_job(job_file: str) -> list[str]:
    """Load the job's app and return pytest's arguments; delete the job file."""
    spec = json.loads(Path(job_file).read_text(encoding="utf-8"))
    Path(job_file).unlink()
    sys.path.insert(0, os.getcwd())
    load_app(str(spec["source"]))
    return [str(arg) for arg in spec["pytest_args"]]


if __name__ == "__main__":
    sys.exit(int(pytest.main(read_job(sys.argv[1]))))
