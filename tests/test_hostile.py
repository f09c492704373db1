"""Hostile submissions: each must be graded, scored zero with a reason, and contained.

Every case is a chapter 01 folder that misbehaves, graded next to an honest
chapter 03, under each isolation level this machine offers (bubblewrap, and
the Landlock and limits-only fallbacks, forced). The graded target, the course and the
reports folder must be unchanged afterwards.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import socketserver
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from apigrade import sandbox
from apigrade.course import Chapter, Course
from apigrade.runner import ChapterResult, grade_chapter
from apigrade.sandbox import (
    BUBBLEWRAP,
    LANDLOCK,
    LIMITS,
    bubblewrap_works,
    landlock_works,
)
from tests.conftest import ROOT

FIRST, HONEST = "01_first_app", "03_path_parameters"
# Outside every temporary folder: a learner's code must not create this.
CANARY = Path("/tmp") / f"apigrade-canary-{uuid.uuid4().hex}"
# A server outside every sandbox that responds like a correct chapter 01 app;
# a learner's app must not lead the grader to it.
DECOY_SOCKET = Path("/tmp") / f"apigrade-decoy-{uuid.uuid4().hex[:12]}.sock"
STARTER = (ROOT / "exercises" / FIRST / "main.py").read_text(encoding="utf-8")
SOLUTION = (ROOT / "solutions" / FIRST / "main.py").read_text(encoding="utf-8")
# How a learner's code finds the course: the grader's Python runs from
# .nox/<session>/ or a venv inside the repository, whose parents it walks.
FIND_COURSE = """
import sys
from pathlib import Path

def course_folders():
    for start in (Path(sys.prefix), Path.cwd()):
        for folder in (start, *start.parents):
            if (folder / "course.toml").exists():
                yield folder
"""


@dataclass(frozen=True)
class Case:
    name: str
    files: dict[str, str | bytes]
    reason: str  # words the chapter's reason or a check's feedback must contain
    # Passes only at a level that hides the course from the code.
    needs_hidden_files: bool = False
    # Make the chapter folder itself a link to this folder of the course.
    folder_link: str = ""
    # Folders nested this deep inside the chapter folder.
    nested: int = 0
    # A sparse file of this many bytes in the chapter folder.
    sparse: int = 0
    # This many sparse files of `sparse` bytes, where more than one.
    sparse_count: int = 1
    # This many empty files in the chapter folder.
    many_files: int = 0
    # A link with a name that is not UTF-8, pointing at /etc/passwd.
    odd_link: bool = False
    # Passes only as root, where the work folder is a size-limited tmpfs.
    needs_root: bool = False
    # Seconds the app may take to start, or to fail. Filling memory, disk or
    # the process table up to a limit takes seconds on a loaded machine.
    start_timeout: float = 8.0


CASES = [
    Case("loop_at_import", {"main.py": "while True:\n    pass\n"}, "did not start"),
    Case(
        "loop_in_handler",
        {
            "main.py": SOLUTION
            + "\n\n@app.middleware('http')\nasync def spin(request, call_next):\n"
            "    while True:\n        pass\n"
        },
        "timed out",
    ),
    Case("sys_exit_at_import", {"main.py": "import sys\nsys.exit(3)\n"}, "code 3"),
    Case("os_exit_at_import", {"main.py": "import os\nos._exit(4)\n"}, "code 4"),
    Case(
        "memory_bomb",
        {
            "main.py": "blocks = []\nwhile True:\n"
            "    blocks.append(bytearray(64 * 1024 * 1024))\n"
        },
        "MemoryError",
        start_timeout=40.0,
    ),
    Case(
        "process_bomb",
        {
            "main.py": "import os, time\nchildren = 0\n"
            "for _ in range(100_000):\n"
            "    try:\n        if os.fork() == 0:\n            time.sleep(600)\n"
            "            os._exit(0)\n        children += 1\n"
            "    except OSError:\n        break\n"
            "raise SystemExit(f'stopped after {children} processes')\n"
        },
        "stopped after",
        start_timeout=40.0,
    ),
    Case(
        "fills_work_folder",
        {
            "main.py": "written = 0\n"
            "for number in range(40):  # 40 files of 64 MB at most\n"
            "    try:\n"
            "        with open(f'fill-{number}', 'wb') as out:\n"
            "            for _ in range(4):\n"
            "                out.write(b'x' * (16 * 1024 * 1024))\n"
            "                written += 16\n"
            "    except OSError as error:\n"
            "        raise SystemExit(f'stopped at {written} MB: {error.strerror}')\n"
            "raise SystemExit(f'wrote all {written} MB')\n"
        },
        "No space left on device",
        needs_root=True,
        start_timeout=40.0,
    ),
    Case(
        "huge_response",
        {
            "main.py": "from fastapi import FastAPI\n"
            "from fastapi.responses import Response\n\n"
            "app = FastAPI(docs_url=None, openapi_url=None)\n\n"
            "@app.get('/')\ndef root():\n"
            "    return Response(b'x' * 300_000_000, media_type='application/json')\n"
        },
        "too large",
    ),
    Case(
        "floods_stdout",
        {"main.py": "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n"},
        "reached the 256 MB limit",
    ),
    Case(
        "conftest_passes_everything",
        {
            "main.py": STARTER,
            "conftest.py": "import pytest\n\n@pytest.hookimpl(hookwrapper=True)\n"
            "def pytest_runtest_makereport(item, call):\n"
            "    outcome = yield\n    outcome.get_result().outcome = 'passed'\n",
        },
        "",
    ),
    Case(
        "sitecustomize",
        {
            "main.py": STARTER,
            "sitecustomize.py": f"open({str(CANARY)!r}, 'w').write('site')\n",
            "evil.pth": f"import os; open({str(CANARY)!r}, 'w').write('pth')\n",
        },
        "",
    ),
    Case(
        "writes_into_course",
        {
            "main.py": FIND_COURSE + STARTER + "\nfor course in course_folders():\n"
            "    for target in ('graders/test_01_first_app.py', 'reports/x.json', "
            "'course.toml'):\n"
            "        try:\n"
            "            (course / target).write_text('def test_all(): pass\\n')\n"
            "        except OSError:\n            pass\n"
            f"open({str(CANARY)!r}, 'w').write('tmp')\n"
        },
        "",
        needs_hidden_files=True,
    ),
    Case(
        "reads_solution",
        {
            "main.py": FIND_COURSE + "for course in course_folders():\n"
            "    exec((course / 'solutions/01_first_app/main.py').read_text())\n"
            "    break\n"
            "else:\n    raise SystemExit('no course found')\n"
        },
        # Under bubblewrap the course is not there ("no course found"). Under
        # Landlock, which does not hide names from stat, it is found but
        # cannot be read (PermissionError). Either way the solution never
        # runs, so the chapter scores zero.
        "",
        needs_hidden_files=True,
    ),
    Case(
        "symlink_out",
        {
            "main.py": "from pathlib import Path\n"
            "exec(Path('solution.py').read_text())\n",
            "solution.py": f"symlink:{ROOT / 'solutions' / FIRST / 'main.py'}",
        },
        "No such file",
    ),
    Case(
        "main_is_link_to_solution",
        {"main.py": f"symlink:{ROOT / 'solutions' / FIRST / 'main.py'}"},
        "Left out of the graded copy: main.py ->",
    ),
    Case(
        "links_in_work_folder",
        {
            "main.py": "import os\n"
            + "".join(
                f"os.symlink({str(ROOT / 'graders' / 'test_03_path_parameters.py')!r}, "
                f"os.path.join(os.environ['HOME'], {name!r}))\n"
                for name in ("raw.json", "app.log", "grader.log")
            )
            + "raise SystemExit(7)\n"
        },
        "code 7",
    ),
    Case("nested_folders", {"main.py": STARTER}, "nested too deep to copy", nested=900),
    Case("huge_sparse_file", {"main.py": STARTER}, "", sparse=200 * 2**20),
    Case(
        "undecodable_link_name",
        {"main.py": "raise SystemExit(5)\n"},
        "Left out of the graded copy",
        odd_link=True,
    ),
    Case(
        "chapter_folder_is_link",
        {},
        "a chapter folder must be a real folder",
        folder_link="solutions/" + FIRST,
    ),
    Case(
        "not_utf8",
        {"main.py": b"app = 'caf\xe9'\n\xff\xfe\n"},
        "not UTF-8 text: save it as UTF-8",
    ),
    Case(
        "binds_the_socket",
        {
            "main.py": "import os, socket\n"
            "s = socket.socket(socket.AF_UNIX)\n"
            "s.bind(os.path.join(os.environ['HOME'], 'app.sock'))\n"
            "s.listen()\n" + STARTER
        },
        "",
    ),
    Case(
        "many_sparse_files",
        {"main.py": STARTER},
        "contains more than 64 MB of files",
        sparse=15 * 2**20,
        sparse_count=6,
    ),
    Case(
        "many_files",
        {"main.py": STARTER},
        "contains more than 5000 files and folders",
        many_files=6_000,
    ),
    Case(
        "socket_swapped_for_link",
        {
            "main.py": "import os, threading, time\n"
            "def swap():\n"
            "    sock = os.path.join(os.environ['HOME'], 'app.sock')\n"
            "    for _ in range(2000):\n"
            "        if os.path.exists(sock) and not os.path.islink(sock):\n"
            "            os.unlink(sock)\n"
            f"            os.symlink({str(DECOY_SOCKET)!r}, sock)\n"
            "            return\n"
            "        time.sleep(0.005)\n"
            "threading.Thread(target=swap, daemon=True).start()\n" + STARTER
        },
        # The grader either linked the socket before the swap (and reached the
        # starter app) or never saw a socket ("did not start"); the decoy
        # server counts any connection, and there must be none.
        "",
    ),
    Case(
        "patches_time",
        {
            "main.py": "import asyncio, time\n"
            "time.perf_counter = time.monotonic = lambda: 0.0\n"
            "asyncio.sleep = lambda *args, **kwargs: asyncio.get_event_loop()"
            ".create_future()\n" + STARTER
        },
        "",
    ),
]


def write_case(target: Path, case: Case) -> None:
    folder = target / FIRST
    if case.folder_link:
        target.mkdir(parents=True, exist_ok=True)
        folder.symlink_to(ROOT / case.folder_link)
        shutil.copytree(ROOT / "solutions" / HONEST, target / HONEST)
        return
    folder.mkdir(parents=True)
    for name, content in case.files.items():
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif content.startswith("symlink:"):
            path.symlink_to(content.removeprefix("symlink:"))
        else:
            path.write_text(content, encoding="utf-8")
    deepest = folder
    for _ in range(case.nested):
        deepest = deepest / "d"
    if case.nested:
        os.makedirs(deepest)
    for number in range(case.sparse_count if case.sparse else 0):
        with (folder / f"data{number}.bin").open("wb") as data:
            data.truncate(case.sparse)
    for number in range(case.many_files):
        (folder / f"empty{number}.txt").touch()
    if case.odd_link:
        os.symlink("/etc/passwd", os.fsencode(folder) + b"/\xff\xfe")
    shutil.copytree(ROOT / "solutions" / HONEST, target / HONEST)


class DecoyServer(socketserver.ThreadingUnixStreamServer):
    """A Unix socket server that sends chapter 01's body on every connection."""

    daemon_threads = True

    def __init__(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        super().__init__(str(path), DecoyHandler)
        self.path = path
        self.connections = 0
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    def __enter__(self) -> DecoyServer:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join()
        self.path.unlink(missing_ok=True)


class DecoyHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        assert isinstance(self.server, DecoyServer)
        self.server.connections += 1
        body = b'{"Hello": "World"}'
        self.wfile.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body)
        )


def fingerprint(folder: Path) -> dict[str, str]:
    """Hash every file under `folder`, skipping caches and environments."""
    skipped = {".nox", ".git", "__pycache__", ".pytest_cache", ".mypy_cache"}
    skipped |= {".ruff_cache", "artifacts", ".venv", "venv"}
    found = {}
    for root, folders, files in os.walk(folder):
        folders[:] = [name for name in folders if name not in skipped]
        for name in files:
            path = Path(root, name)
            if path.is_symlink():
                found[str(path)] = f"link:{os.readlink(path)}"
            else:
                found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def short(chapter: Chapter) -> Chapter:
    return dataclasses.replace(chapter, check_timeout=4.0, timeout=60.0)


# CI sets APIGRADE_REQUIRE_SANDBOX=1, so a missing sandbox fails there.
REQUIRE_SANDBOX = bool(os.environ.get("APIGRADE_REQUIRE_SANDBOX"))
LEVELS = [
    pytest.param(
        BUBBLEWRAP,
        marks=pytest.mark.skipif(
            not bubblewrap_works() and not REQUIRE_SANDBOX,
            reason="bubblewrap cannot run here (apt-get install bubblewrap)",
        ),
    ),
    pytest.param(
        LANDLOCK,
        marks=pytest.mark.skipif(
            not landlock_works() and not REQUIRE_SANDBOX,
            reason="this kernel has no Landlock",
        ),
    ),
    LIMITS,
]


@pytest.fixture(scope="module", params=LEVELS)
def graded(
    request: pytest.FixtureRequest,
    course: Course,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[str, dict[str, tuple[ChapterResult, ChapterResult]], list[str]]:
    """Grade every case under one isolation level; return results and changes."""
    level: str = request.param
    chapters = {chapter.folder: short(chapter) for chapter in course.chapters}
    cases = [
        c
        for c in CASES
        if (level != LIMITS or not c.needs_hidden_files)
        and (os.geteuid() == 0 or not c.needs_root)
    ]
    targets = {}
    for case in cases:
        targets[case.name] = tmp_path_factory.mktemp(case.name)
        write_case(targets[case.name], case)
    before = fingerprint(ROOT) | {
        name: str(fingerprint(target)) for name, target in targets.items()
    }
    CANARY.unlink(missing_ok=True)

    def grade(case: Case) -> tuple[str, tuple[ChapterResult, ChapterResult]]:
        target = targets[case.name]
        first_chapter = dataclasses.replace(
            chapters[FIRST], start_timeout=case.start_timeout
        )
        first = grade_chapter(course, first_chapter, target, isolation=level)
        honest = grade_chapter(course, chapters[HONEST], target, isolation=level)
        return case.name, (first, honest)

    with (
        DecoyServer(DECOY_SOCKET) as decoy,
        ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool,
    ):
        results = dict(pool.map(grade, cases))
    after = fingerprint(ROOT) | {
        name: str(fingerprint(target)) for name, target in targets.items()
    }
    changed = sorted(
        name
        for name in before.keys() | after.keys()
        if before.get(name) != after.get(name)
    )
    if level != LIMITS and CANARY.exists():
        changed.append(str(CANARY))
    if decoy.connections:
        changed.append(f"{decoy.connections} connection(s) to {DECOY_SOCKET}")
    CANARY.unlink(missing_ok=True)
    return level, results, changed


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_chapter_scores_zero(
    case: Case,
    graded: tuple[str, dict[str, tuple[ChapterResult, ChapterResult]], list[str]],
) -> None:
    level, results, _ = graded
    if case.name not in results and case.needs_root:
        pytest.skip("without root the work folder cannot be a size-limited tmpfs")
    if case.name not in results:
        pytest.skip(f"{level} isolation does not hide files; the report says so")
    first, honest = results[case.name]

    assert first.score == 0, [(c.id, c.status, c.feedback) for c in first.checks]
    # Nothing of the course reaches the feedback through a planted link.
    assert "def test_" not in str(first.reason)
    messages = " ".join([str(first.reason), *(c.feedback for c in first.checks)])
    assert case.reason in messages
    assert first.duration < 60 + 30
    assert honest.status == "passed", honest.reason


def test_hostile_cases_change_no_files(
    graded: tuple[str, dict[str, tuple[ChapterResult, ChapterResult]], list[str]],
) -> None:
    _, _, changed = graded

    assert changed == []


# The app starts a child that sleeps, with this marker in its command line, then
# hangs in its handler, so the engine kills the grader at the chapter's timeout.
ORPHAN_APP = """\
import subprocess
import sys

from fastapi import FastAPI

subprocess.Popen(
    [sys.executable, "-c", "import time; time.sleep(600)", "{marker}"],
    start_new_session=True,
)
app = FastAPI(title="T", version="1")


@app.get("/")
async def root():
    import asyncio

    await asyncio.sleep(600)
"""


def _living_processes_with(marker: str) -> list[int]:
    """Return the pids of running (not zombie) processes whose command has `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in command and state != "Z":
            found.append(int(entry.name))
    return found


@pytest.mark.parametrize("level", LEVELS)
def test_killed_grader_leaves_no_process(
    level: str, course: Course, tmp_path: Path
) -> None:
    if level != BUBBLEWRAP and os.geteuid() != 0:
        pytest.skip(
            "without root there is no cgroup, so a process the app starts in a new "
            "session outlives a killed grader at this level"
        )
    marker = f"apigrade-orphan-{uuid.uuid4().hex}"
    target = tmp_path / "target"
    (target / "01_first_app").mkdir(parents=True)
    (target / "01_first_app" / "main.py").write_text(ORPHAN_APP.format(marker=marker))
    first = next(c for c in course.chapters if c.id == "01")
    # The chapter's time runs out while a check still waits for the app.
    short_first = dataclasses.replace(first, timeout=6, check_timeout=60)

    result = grade_chapter(course, short_first, target, isolation=level)

    assert result.timed_out, result.reason
    # Processes die a moment after their killer, so the check waits a little.
    left = _living_processes_with(marker)
    for _ in range(50):
        if not left:
            break
        time.sleep(0.1)
        left = _living_processes_with(marker)
    assert left == []


# Builds the sandbox's pre-exec function in one process and runs it in a
# grandchild, after the process that built it has ended (argv[2] == "orphan")
# or while it still waits (argv[2] == "waits").
LATE_START = """
import os, sys, time
from apigrade import sandbox
set_limits = sandbox._set_limits_function(sandbox.LIMITS_DEFAULT, cgroups=())
if os.fork() == 0:
    time.sleep(0.5)
    set_limits()
    with open(sys.argv[1], "w") as marker:
        marker.write("started")
    os._exit(0)
if sys.argv[2] == "waits":
    time.sleep(2)
"""


@pytest.mark.parametrize(("parent", "starts"), [("orphan", False), ("waits", True)])
def test_code_never_starts_after_its_grader_died(
    parent: str, starts: bool, tmp_path: Path
) -> None:
    """A grader killed while it starts an app leaves no app behind."""
    marker = tmp_path / "started"

    subprocess.run(
        [sys.executable, "-c", LATE_START, str(marker), parent],
        cwd=ROOT,
        check=True,
        timeout=30,
    )
    # The grandchild runs on for half a second after an orphaned parent ends.
    for _ in range(30):
        if marker.exists():
            break
        time.sleep(0.1)

    assert marker.exists() == starts


@pytest.mark.parametrize("level", [level for level in LEVELS if level != LIMITS])
def test_readable_folder_cannot_be_written(level: str, tmp_path: Path) -> None:
    work = tmp_path / "work"
    read_only = tmp_path / "read_only"
    work.mkdir()
    read_only.mkdir()
    (read_only / "data.txt").write_text("kept")

    script = (
        "import pathlib\n"
        f"folder = pathlib.Path({str(read_only)!r})\n"
        "print(folder.joinpath('data.txt').read_text())\n"
        "for name in ('data.txt', 'new.txt'):\n"
        "    try:\n"
        "        folder.joinpath(name).write_text('changed')\n"
        "    except OSError as error:\n"
        "        print(type(error).__name__)\n"
    )

    output = work / "output.txt"
    with output.open("wb") as stdout:
        process = sandbox.start(
            [sys.executable, "-c", script],
            cwd=read_only,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            stdout=stdout,
            writable=work,
            readable=[read_only],
            isolation=level,
        )
        assert process.popen.wait(timeout=30) == 0

    lines = output.read_text().split()
    assert lines[0] == "kept"
    assert len(lines) == 3
    assert (read_only / "data.txt").read_text() == "kept"
    assert not (read_only / "new.txt").exists()


def _open_each(paths: tuple[str, ...], expression: str) -> str:
    """Return a script that opens each path and prints `expression` or the error."""
    return (
        f"for name in {paths!r}:\n"
        "    try:\n"
        "        with open(name, 'rb') as file:\n"
        f"            print({expression})\n"
        "    except OSError as error:\n"
        "        print(type(error).__name__)\n"
    )


def _words_printed(
    script: str,
    level: str,
    folder: Path,
    *,
    random_devices: bool = True,
    proc_filesystem: bool = True,
) -> list[str]:
    """Run `script` in a sandbox at `level` and return the words it printed."""
    output = folder / f"output-{random_devices}-{proc_filesystem}.txt"
    with output.open("wb") as stdout:
        process = sandbox.start(
            [sys.executable, "-c", script],
            cwd=folder,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            stdout=stdout,
            writable=folder,
            isolation=level,
            random_devices=random_devices,
            proc_filesystem=proc_filesystem,
        )
        assert process.popen.wait(timeout=30) == 0
    return output.read_text().split()


@pytest.mark.parametrize("level", [level for level in LEVELS if level != LIMITS])
def test_random_devices_can_be_replaced(level: str, tmp_path: Path) -> None:
    script = _open_each(("/dev/urandom", "/dev/random"), "file.read(8).hex()")
    script += "import os\nprint(len(os.urandom(8)))\n"

    with_devices = _words_printed(script, level, tmp_path, random_devices=True)
    without_devices = _words_printed(script, level, tmp_path, random_devices=False)

    assert with_devices[0] != "0" * 16
    assert with_devices[1] != "0" * 16
    expected = "0" * 16 if level == BUBBLEWRAP else "PermissionError"
    assert without_devices[:2] == [expected, expected]
    # os.urandom takes its bytes from the getrandom system call.
    assert without_devices[2] == "8"


@pytest.mark.parametrize("level", [level for level in LEVELS if level != LIMITS])
def test_proc_filesystem_can_be_hidden(level: str, tmp_path: Path) -> None:
    script = _open_each(("/proc/self/maps", "/proc/self/mem"), "'opened'")

    with_proc = _words_printed(script, level, tmp_path, proc_filesystem=True)
    without_proc = _words_printed(script, level, tmp_path, proc_filesystem=False)

    assert with_proc == ["opened", "opened"]
    expected = "FileNotFoundError" if level == BUBBLEWRAP else "PermissionError"
    assert without_proc == [expected, expected]


def test_python_paths_follow_links_to_the_interpreter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # uv makes a venv from another venv's python: env/bin/python links to
    # outer/bin/python, which links to the real one.
    outer = tmp_path / "outer" / "bin"
    env = tmp_path / "env" / "bin"
    outer.mkdir(parents=True)
    env.mkdir(parents=True)
    (outer / "python").symlink_to(sys.executable)
    (env / "python").symlink_to(outer / "python")
    monkeypatch.setattr(sys, "executable", str(env / "python"))
    paths = sandbox._python_paths()
    assert env in paths
    assert outer in paths
    assert Path(os.path.realpath(sys.executable)).parent in paths
