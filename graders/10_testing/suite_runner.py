"""Run a learner's chapter 10 tests once, against one version of main.py.

graders/test_10_testing.py starts this script once per version of the app (a
job), each time as a fresh interpreter in a sandbox of its own that contains
only the job's folder. Nothing a test does in one job can reach another.

Usage: python suite_runner.py JOB_FILE

JOB_FILE is JSON: {"source": the version's main.py, "pytest_args": [...]}.
The script reads it and deletes it, so the tests cannot read it, then puts
the version in sys.modules as the module `main` and runs pytest. main.py on
disk is the original in every job. The exit code is pytest's.

Before anything else is imported, the runner replaces Python's sources of
random bytes with one generator seeded with a fixed value (seed_chance), so
a test that draws a random value draws the same one in every job and cannot
pass against one version of the app and fail against another by chance.
"""

from __future__ import annotations

import json
import operator
import os
import random
import ssl
import sys
import types
import uuid
import warnings
from pathlib import Path

# Seed of every job's random values. Any fixed value does, because what
# matters is that every job uses the same one.
CHANCE_SEED = 10
_bytes_generator = random.Random(CHANCE_SEED)


def seeded_bytes(size: int) -> bytes:
    """Return `size` bytes from the seeded generator, in place of os.urandom."""
    size = operator.index(size)
    if size < 0:
        raise ValueError("negative argument not allowed")
    return _bytes_generator.randbytes(size)


def seeded_getrandom(size: int, flags: int = 0) -> bytes:
    """Return `size` seeded bytes in place of os.getrandom, whatever `flags` is."""
    return seeded_bytes(size)


def seeded_ssl_bytes(size: int) -> bytes:
    """Return `size` seeded bytes in place of ssl.RAND_bytes."""
    return seeded_bytes(size)


def seeded_ssl_pseudo_bytes(size: int) -> tuple[bytes, bool]:
    """Return `size` seeded bytes in place of ssl.RAND_pseudo_bytes."""
    return seeded_bytes(size), True


_unseeded_random_seed = random.Random.seed


def seed_or_draw(self: random.Random, a: object = None, version: int = 2) -> None:
    """Seed a random.Random, drawing a seed from seeded_bytes when given none.

    random.Random() and seed() with no argument would otherwise read the
    operating system's random bytes in C, past os.urandom.
    """
    if a is None:
        a = int.from_bytes(seeded_bytes(32), "big")
    _unseeded_random_seed(self, a, version)  # type: ignore[arg-type]


def seed_chance() -> None:
    """Make Python's sources of random values draw from one fixed seed.

    Replaced:
    - os.urandom and os.getrandom, which uuid.uuid4 and httpx's multipart
      boundary call;
    - random's own reference to urandom, which random.SystemRandom and so
      secrets use;
    - ssl.RAND_bytes and ssl.RAND_pseudo_bytes;
    - the seeding of random.Random instances made without a seed, such as
      tempfile's name generator, and the module random's shared instance;
    - libuuid's C code in uuid1, so its clock sequence comes from the module
      random.
    Clocks, memory addresses, the order threads run in and the files under
    /dev are not replaced, so they still differ from run to run.

    NOTE: a _random.Random made directly, past random.Random, still seeds
    itself from the operating system in C.
    """
    os.urandom = seeded_bytes
    os.getrandom = seeded_getrandom
    random._urandom = seeded_bytes  # type: ignore[attr-defined]
    random.Random.seed = seed_or_draw  # type: ignore[method-assign]
    random.seed(CHANCE_SEED)
    ssl.RAND_bytes = seeded_ssl_bytes
    ssl.RAND_pseudo_bytes = seeded_ssl_pseudo_bytes
    uuid._generate_time_safe = None  # type: ignore[attr-defined]


# This runs before pytest, FastAPI and the tests are imported, so none of them
# keeps a reference to an original.
seed_chance()

# The runner's own folder must not shadow the job's modules.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"

import pytest  # noqa: E402 (after seed_chance, which must run first)

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
