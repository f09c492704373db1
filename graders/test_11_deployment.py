"""Grader for chapter 11: settings, health, workers, graceful shutdown, Dockerfile.

The production command is the CMD of the learner's Dockerfile, which must have
no ENTRYPOINT. The grader runs that command itself, with its bind address
swapped for a Unix socket in work_dir and its worker count set to 2; it never
builds or runs a container. The Dockerfile's other rules are read statically.
"""

from __future__ import annotations

import inspect
import itertools
import os
import re
import secrets
import shlex
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import h11
import httpx
import pytest
import uvicorn
from chapter11_dockerfile import (
    DOCKER_SIGNALS,
    MAX_UID,
    UVICORN_MODULE,
    Dockerfile,
    Instruction,
    copies_code,
    dependency_closure,
    describe_keywords,
    docker_signal_number,
    exec_form,
    expect_dependencies_installed,
    expect_main_py_in_app_folder,
    expect_requirements_name,
    expect_supported,
    expect_user_reads_copies,
    expect_visible,
    link_packages,
    looks_like_list,
    model_image,
    not_json_failure,
    option_value,
    option_width,
    read_dockerfile,
    require_dockerfile,
    requirements_of,
    stop_signal_name,
)

from apigrade import sandbox
from apigrade.checks import (
    CheckFailed,
    describe_request,
    describe_response,
    expect_status,
    json_body,
    read_learner_file,
    show,
)
from apigrade.imports import describe_module, modules_shadowed
from apigrade.server import AppStartError, LearnerApp, log_folder, skipped_paths
from apigrade.timing import record_measurement

# Words for the APP_NAME the grader sends, none of them in DEFAULT_APP_NAME.
APP_NAME_WORDS = (
    "amber",
    "copper",
    "harbor",
    "lantern",
    "meadow",
    "orbit",
    "signal",
    "summit",
)


def random_app_name() -> str:
    """Make up an APP_NAME of two words and a number, such as "Orbit lantern 418"."""
    first, second = secrets.SystemRandom().sample(APP_NAME_WORDS, 2)
    return f"{first.capitalize()} {second} {100 + secrets.randbelow(900)}"


# A name new in every run, so an app that returns a fixed name whenever
# APP_NAME is set still fails.
GRADED_APP_NAME = random_app_name()
DEFAULT_APP_NAME = "Deployment demo"
# The DOCS_ENABLED words the README accepts in any case, as (true, false)
# pairs. The main run sends "false". The settings check sends every word once
# more, each in a mixed case drawn in every run, and the made-up word below.
DOCS_WORD_PAIRS = (("true", "false"), ("1", "0"), ("yes", "no"), ("on", "off"))
# The length of the invalid DOCS_ENABLED word made up in every run. No word in
# DOCS_WORD_PAIRS has this many letters, so it is never a valid one.
INVALID_DOCS_WORD_LENGTH = 6
GRADER_WORKERS = 2
# The maximum number of workers a CMD may start, since each is a process with
# the whole app.
MAX_WORKERS = 64
# The port the README's `docker run -p 8000:8000` forwards to.
CONTAINER_PORT = 8000
# The production runs get the settings a deployment would set, so a missing
# default fails only the settings check.
PRODUCTION_ENV = {"APP_NAME": GRADED_APP_NAME, "DOCS_ENABLED": "false"}
# Seconds to send fresh connections, PROBE_PAUSE apart, before deciding that
# only one worker responds. Once both workers listen, the kernel hands new
# connections to either of them, so two pids show up within a few connections.
# A worker starts in about 1 s on an idle machine. With CI and two graders
# busy on 2 cores, one took more than 6 s, so it gets 20 s. Only an app with
# one worker waits that long.
WORKER_WAIT_SECONDS = 20.0
PROBE_PAUSE = 0.1
# The in-flight request lasts WORK_SECONDS; SIGTERM follows SIGTERM_DELAY after
# it was sent on a connection the worker has already accepted and reads.
WORK_SECONDS = 1.0
SIGTERM_DELAY = 0.3
# Seconds the checks must wait for the app, one after another: the request in
# flight during SIGTERM. Starting the app, five times with workers, costs CPU
# rather than waiting. scripts/bench.py takes the floor from these.
WAIT_SECONDS = WORK_SECONDS
EXIT_GRACE = 15.0
# What uvicorn prints when the lifespan's shutdown raises.
SHUTDOWN_FAILED = "Application shutdown failed"
# A line the grader writes into the shutdown log before the server starts,
# new at each run. Workers that append leave it first. A worker that opens the
# log with mode "w" removes it, and the lines of workers that shut down before.
EARLIER_SHUTDOWN_LINE = (
    f"written before the server started, token {secrets.token_hex(8)}"
)
# The Linux numbers of the signals that start uvicorn's graceful shutdown:
# SIGTERM and SIGINT.
GRACEFUL_SIGNALS = frozenset({DOCKER_SIGNALS["TERM"], DOCKER_SIGNALS["INT"]})
BIND_OPTIONS = ("--host", "--port", "--uds", "--fd")
# uvicorn's default --backlog (2048 in uvicorn 0.54): how many connections the
# kernel queues until a worker accepts them.
UVICORN_BACKLOG: int = inspect.signature(uvicorn.Config).parameters["backlog"].default
# The bytes of an unfinished request head that h11 buffers by default. uvicorn
# passes --h11-max-incomplete-event-size to h11 in its place, and with a
# smaller value uvicorn returns 400 for a request head that arrives in pieces.
H11_EVENT_SIZE: int = (
    inspect.signature(h11.Connection).parameters["max_incomplete_event_size"].default
)
# Other ways to write "every interface" than 0.0.0.0. Each may fail in a
# container, for the reasons the check's feedback gives.
OTHER_ALL_INTERFACES = frozenset({"0", "::", "[::]", "0:0:0:0:0:0:0:0"})
# What the `uvicorn` script runs. Python puts the script's folder first on
# sys.path, not the working folder as for `python -m uvicorn`, so a module in
# the WORKDIR is found only through uvicorn's --app-dir, which defaults to ".".
UVICORN_SCRIPT = [
    "-c",
    "import sys; del sys.path[0]; from uvicorn.main import main; "
    "sys.argv[0] = 'uvicorn'; sys.exit(main())",
]


@pytest.fixture(scope="module")
def app_env(work_dir: Path) -> dict[str, str]:
    return {
        "APP_NAME": GRADED_APP_NAME,
        "DOCS_ENABLED": "false",
        "SHUTDOWN_LOG": str(work_dir / "engine-shutdown.log"),
    }


# --- The Dockerfile and its build context -----------------------------------


@pytest.fixture(scope="module", autouse=True)
def build_context(app_dir: Path, work_dir: Path) -> Path:
    """A copy of the chapter folder, made before any app runs, out of its reach.

    The app may write in its own folder, so it could rewrite its Dockerfile
    once it runs. The checks on the Dockerfile read this copy instead.
    """
    target = log_folder(work_dir) / "build-context"
    shutil.copytree(app_dir, target, symlinks=True)
    return target


@pytest.fixture(scope="module")
def dockerfile(build_context: Path) -> Dockerfile | None:
    path = build_context / "Dockerfile"
    # The engine's copy contains no links. A link here would lead from the copy
    # to wherever its text points, so it counts as no Dockerfile.
    if path.is_symlink() or not path.is_file():
        return None
    return read_dockerfile(
        path,
        path.read_text(encoding="utf-8", errors="replace"),
        left_out=skipped_paths(),
    )


# --- Running the production command -----------------------------------------


def uvicorn_arguments(cmd: Instruction, tokens: list[str]) -> list[str]:
    """Return the options after `uvicorn` in the CMD, or fail if it runs no uvicorn."""
    program = Path(tokens[0]).name if tokens else ""
    if program == "uvicorn":
        return tokens[1:]
    if re.fullmatch(r"python(3(\.\d+)?)?", program) and tokens[1:3] == UVICORN_MODULE:
        return tokens[3:]
    hint = (
        "This chapter runs the app with uvicorn's own --workers: does your CMD "
        "call uvicorn directly?"
    )
    if program == "fastapi":
        hint = (
            "fastapi run comes from the fastapi-cli package, which fastapi[standard] "
            "installs and plain fastapi does not, and this chapter checks uvicorn's "
            "own options, such as --timeout-graceful-shutdown. Write "
            'CMD ["uvicorn", "main:app", "--host", "0.0.0.0", ...] instead.'
        )
    elif any(token.endswith(".py") for token in tokens):
        hint = (
            "uvicorn.run(app, workers=N) with an app object exits with an error, "
            "because each worker must import the app itself from a string such as "
            "'main:app'. Could the CMD call uvicorn main:app --workers N instead?"
        )
    raise CheckFailed(
        "The CMD does not start uvicorn, so the grader cannot run it.",
        request=cmd.describe(),
        expected='a CMD that starts with "uvicorn" or "python", "-m", "uvicorn"',
        actual=f"the command {show(tokens)}",
        hint=hint,
    )


def production_command(dockerfile: Dockerfile, socket_path: Path) -> list[str]:
    """Return the CMD, bound to `socket_path` with GRADER_WORKERS workers."""
    cmd = dockerfile.require_cmd()
    arguments = uvicorn_arguments(cmd, dockerfile.cmd_tokens())
    workers = option_value(arguments, "--workers")
    if workers is not None and workers.isdigit() and int(workers) > MAX_WORKERS:
        raise CheckFailed(
            f"The production command starts {workers} worker processes, each a "
            f"copy of the whole app; the grader accepts at most {MAX_WORKERS}.",
            request=cmd.describe(),
            expected=f"--workers with a number from 2 to {MAX_WORKERS}",
            actual=f"--workers {workers}",
            hint="A worker or two per CPU core is the usual choice: how many "
            "cores does the container get?",
        )
    if workers is None or not workers.isdigit() or int(workers) < 2:
        raise CheckFailed(
            "The production command does not start several worker processes.",
            request=cmd.describe(),
            expected="--workers with a number of 2 or more",
            actual="no --workers option" if workers is None else f"--workers {workers}",
            hint="How many processes does uvicorn start without --workers, and how "
            "many CPU cores can one Python process keep busy?",
        )
    kept = []
    index = 0
    while index < len(arguments):
        width = option_width(arguments[index])
        if arguments[index].partition("=")[0] not in (*BIND_OPTIONS, "--workers"):
            kept += arguments[index : index + width]
        index += width
    program = Path(dockerfile.cmd_tokens()[0]).name
    return [
        sys.executable,
        *(UVICORN_SCRIPT if program == "uvicorn" else UVICORN_MODULE),
        *kept,
        "--uds",
        str(socket_path),
        "--workers",
        str(GRADER_WORKERS),
    ]


class ProductionApp(LearnerApp):
    """The learner's app started with the Dockerfile's CMD instead of the default."""

    def __init__(
        self,
        app_dir: Path,
        work_dir: Path,
        name: str,
        env: dict[str, str],
        *,
        read_only: bool = False,
        also_readable: Sequence[Path] = (),
    ) -> None:
        super().__init__(
            app_dir,
            work_dir,
            env=env,
            read_only=read_only,
            also_readable=also_readable,
        )
        self.socket_path = work_dir / f"{name}.sock"
        self.log_path = log_folder(work_dir) / f"{name}.log"
        self.argv: list[str] = []

    @property
    def command(self) -> list[str]:
        return self.argv


@contextmanager
def production_app(
    dockerfile: Dockerfile | None,
    app_dir: Path,
    work_dir: Path,
    name: str,
    env: dict[str, str],
) -> Iterator[ProductionApp]:
    """Run the production command until the block ends, failing if it won't start.

    When the grader supports every line of the Dockerfile, the command runs in
    a copy of the folders the COPY lines make, from the final WORKDIR. The app
    may read that copy but not write in it, as in the container, where root
    owns the folder and the app runs as USER. So a file the image lacks is
    missing there too, and a write in it fails.
    """
    found = require_dockerfile(dockerfile)
    try:
        image = model_image(found)
    except CheckFailed:
        image = None
    packages: list[Path] = []
    root = log_folder(work_dir) / f"{name}-image"
    if image is not None:
        expect_packages_in_image(found)
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir()
        app_dir = image.copy_image(root)
        # Only the packages requirements.txt brings in, as pip would install
        # them in the image; -S keeps the grader's site-packages off sys.path.
        site = log_folder(work_dir) / f"{name}-packages"
        shutil.rmtree(site, ignore_errors=True)
        site.mkdir()
        link_packages(dependency_closure(requirements_of(found.path.parent)), site)
        packages = [root, site]
        env = {**env, "PYTHONPATH": str(site)}
    app = ProductionApp(
        app_dir,
        work_dir,
        name,
        env,
        read_only=image is not None,
        also_readable=packages,
    )
    app.argv = production_command(found, app.socket_path)
    if packages:
        app.argv.insert(1, "-S")
        app.argv = relocate_app_dir(app.argv, root)
        expect_no_shadowed_modules(app.argv, app_dir, root)
    where = "in the app's folder"
    hint = "Does the same command start the app when you run it by hand?"
    if image is not None:
        where = (
            "in a folder holding only what the Dockerfile's COPY lines put in "
            f"{image.folder}"
        )
        hint += (
            " Does requirements.txt list every package the app imports? "
            f"Does the Dockerfile copy every file the app needs into {image.folder}? "
            "The app may not write there: in the container that folder belongs "
            "to root and the app runs as USER, so files it writes belong in /tmp."
        )
    try:
        app.start()
    except AppStartError as error:
        raise CheckFailed(
            "The production command did not start.",
            request=f"{describe_command(app.argv)}, {where}",
            expected="a server that accepts connections",
            actual=last_characters(str(error)),
            hint=hint,
        ) from None
    try:
        yield app
    finally:
        app.stop()


def expect_packages_in_image(found: Dockerfile) -> None:
    """Fail if the image would not build, or would have no packages to run with."""
    try:
        expect_dependencies_installed(found)
    except CheckFailed as problem:
        raise CheckFailed(
            "The production command cannot run in this image, because the image "
            f"would not have the app's packages. {problem.summary}",
            request=problem.request,
            expected=problem.expected,
            actual=problem.actual,
            hint=problem.hint,
        ) from None


def expect_no_shadowed_modules(argv: list[str], workdir: Path, root: Path) -> None:
    """Fail if a file in a folder on the command's sys.path hides a module.

    The engine checked the chapter folder. In the image, the folders on
    sys.path are --app-dir's and, for python -m uvicorn, the WORKDIR, and a
    COPY may fill them from any folder of the build context.
    """
    image_root = root.resolve()
    folders = [(workdir / (option_value(argv, "--app-dir") or ".")).resolve()]
    if UVICORN_SCRIPT[1] not in argv:
        folders.append(workdir.resolve())
    for folder in folders:
        if not folder.is_relative_to(image_root) or not folder.is_dir():
            continue
        for path, module in modules_shadowed(folder):
            image_path = f"/{path.relative_to(image_root).as_posix()}"
            raise CheckFailed(
                f"In the image, {image_path} has the name of "
                f"{describe_module(module)}, so the production command would "
                "import it in place of that module.",
                request=f"{describe_command(argv)}, with "
                f"/{folder.relative_to(image_root).as_posix()} on sys.path",
                expected=f"no file or package named {module} in that folder",
                actual=image_path,
                hint=f"Rename {path.name} (and the imports of it): Python looks in "
                "the app's folder before the installed packages.",
            )


def describe_command(argv: list[str]) -> str:
    """Return the production command as the CMD would run it."""
    if UVICORN_SCRIPT[1] in argv:
        return shlex.join(["uvicorn", *argv[argv.index(UVICORN_SCRIPT[1]) + 1 :]])
    return shlex.join(["python", *argv[1:]])


def relocate_app_dir(argv: list[str], root: Path) -> list[str]:
    """Return `argv` with an absolute --app-dir moved under the image copy at `root`.

    A relative one is left alone: uvicorn reads it from the working folder,
    which is the WORKDIR's copy.
    """
    moved = []
    after_option = False
    for word in argv:
        name, equals, value = word.partition("=")
        if after_option and word.startswith("/"):
            word = str(root / word.lstrip("/"))
        elif name == "--app-dir" and equals and value.startswith("/"):
            word = f"--app-dir={root / value.lstrip('/')}"
        after_option = word == "--app-dir"
        moved.append(word)
    return moved


def last_characters(text: str, limit: int = 600) -> str:
    """Shorten `text` from the start, keeping its end, where errors are printed."""
    if len(text) <= limit:
        return text
    return f"({len(text) - limit} characters before) ...{text[-limit:]}"


def worker_pid(response: httpx.Response) -> int:
    """Return the pid from a GET /health response, or fail with feedback."""
    hint = 'Does GET /health return {"status": "ok", "app": ..., "pid": os.getpid()}?'
    expect_status(response, 200, hint=hint)
    body = json_body(response, hint=hint)
    pid = body.get("pid") if isinstance(body, dict) else None
    if not isinstance(pid, int) or isinstance(pid, bool):
        raise CheckFailed(
            "GET /health does not report the worker's process id.",
            request=describe_request(response),
            expected='a "pid" field holding an integer, from os.getpid()',
            actual=describe_response(response),
            hint=hint,
        )
    return pid


# --- Checks on the running app ----------------------------------------------


def test_health_reports_ok(http: httpx.Client) -> None:
    """GET /health returns status "ok" and the worker's process id."""
    response = http.get("/health")
    worker_pid(response)
    body = json_body(response)
    if body.get("status") != "ok":
        raise CheckFailed(
            'GET /health does not report status "ok".',
            request=describe_request(response),
            expected='{"status": "ok", ...}',
            actual=describe_response(response),
            hint='Does the health endpoint return "status": "ok"?',
        )


def mixed_case(word: str) -> str:
    """Return `word` in a random case that is not all lower, all upper or title.

    A word with fewer than two letters has no such case and comes back as it is.
    """
    cases = {
        "".join(letters)
        for letters in itertools.product(
            *((letter.lower(), letter.upper()) for letter in word)
        )
    }
    mixed = sorted(cases - {word.lower(), word.upper(), word.title()})
    return secrets.choice(mixed) if mixed else word


def draw_docs_words() -> list[tuple[str, bool]]:
    """Return every DOCS_ENABLED word the README accepts, in random order.

    Each comes as a (word, served) tuple, in a mixed case drawn in every run,
    so that an app that reads only some spellings or cases fails every run.
    """
    words = [
        (mixed_case(word), served)
        for pair in DOCS_WORD_PAIRS
        for word, served in zip(pair, (True, False), strict=True)
    ]
    secrets.SystemRandom().shuffle(words)
    return words


def random_invalid_docs_word() -> str:
    """Make up a DOCS_ENABLED value of random letters that the README rejects."""
    return "".join(
        secrets.choice(string.ascii_letters) for _ in range(INVALID_DOCS_WORD_LENGTH)
    )


@pytest.mark.timeout(60)
def test_settings_come_from_environment(
    http: httpx.Client, app_dir: Path, work_dir: Path
) -> None:
    """Settings come from environment variables and have defaults."""
    response = http.get("/health")
    expect_status(response, 200, hint="Does the app have a GET /health route?")
    body = json_body(response)
    app_name = body.get("app") if isinstance(body, dict) else None
    if app_name != GRADED_APP_NAME:
        raise CheckFailed(
            "The app name does not come from APP_NAME.",
            request=f"{describe_request(response)}, with APP_NAME={GRADED_APP_NAME!r}",
            expected=f'"app": {show(GRADED_APP_NAME)}',
            actual=describe_response(response),
            hint="Does the app read os.environ.get('APP_NAME', ...) when it "
            "starts, rather than use a fixed name?",
        )
    docs = http.get("/docs")
    spec = http.get("/openapi.json")
    if docs.status_code != 404 or spec.status_code != 404:
        raise CheckFailed(
            "DOCS_ENABLED=false does not turn off the API docs.",
            request="GET /docs and GET /openapi.json, with DOCS_ENABLED=false",
            expected="status 404 for both",
            actual=f"GET /docs: status {docs.status_code}; GET /openapi.json: "
            f"status {spec.status_code}",
            hint="bool('false') is True in Python: how does your app turn the text "
            "of DOCS_ENABLED into a bool, and does it pass docs_url=None and "
            "openapi_url=None when it is false?",
        )

    health, docs, spec = _run_with_settings(app_dir, work_dir, {})
    expect_status(health, 200, hint="Does the app have a GET /health route?")
    default_body = json_body(health)
    default_name = default_body.get("app") if isinstance(default_body, dict) else None
    if default_name != DEFAULT_APP_NAME or docs.status_code != 200:
        raise CheckFailed(
            "Without environment variables, the app does not use the defaults.",
            request="GET /health and GET /docs, with no setting in the environment",
            expected=f'"app": {show(DEFAULT_APP_NAME)} and the docs served (200)',
            actual=f'"app": {show(default_name)}; GET /docs: status {docs.status_code}',
            hint="Are the defaults APP_NAME='Deployment demo' and DOCS_ENABLED=true?",
        )

    # Every spelling of a bool, in a mixed case, and APP_NAME as the title.
    for word, served in draw_docs_words():
        env = {"APP_NAME": GRADED_APP_NAME, "DOCS_ENABLED": word}
        health, docs, spec = _run_with_settings(app_dir, work_dir, env)
        described = f"GET /docs and GET /openapi.json, with DOCS_ENABLED={word}"
        if (docs.status_code == 200) != served:
            raise CheckFailed(
                f"DOCS_ENABLED={word} was not read as {served}.",
                request=described,
                expected=f"GET /docs: status {200 if served else 404}",
                actual=f"GET /docs: status {docs.status_code}",
                hint="Does the app accept each of the README's words, true/false, "
                "1/0, yes/no and on/off, in any case, as in value.strip().lower() "
                "in ('1', 'true', 'yes', 'on')? The grader sends every word, each "
                "in a mixed case drawn in every run.",
            )
        if not served:
            continue
        schema = json_body(spec) if spec.status_code == 200 else None
        info = schema.get("info") if isinstance(schema, dict) else None
        title = info.get("title") if isinstance(info, dict) else None
        if title != GRADED_APP_NAME:
            raise CheckFailed(
                "The OpenAPI title is not APP_NAME.",
                request=f"GET /openapi.json, with APP_NAME={GRADED_APP_NAME!r}",
                expected=f'"info": {{"title": {show(GRADED_APP_NAME)}, ...}}',
                actual=f'"title": {show(title)}',
                hint="Does the app pass title=settings.app_name to FastAPI(...)?",
            )
    # An empty value, as `docker run -e DOCS_ENABLED=` sets, is not one of the
    # README's words either, so it must not count as unset.
    for invalid, described in (
        (random_invalid_docs_word(), "a word made up in every run"),
        ("", "an empty value"),
    ):
        try:
            _run_with_settings(app_dir, work_dir, {"DOCS_ENABLED": invalid})
        except CheckFailed as problem:
            error = problem.actual or ""
            if (invalid and invalid in error) or "DOCS_ENABLED" in error:
                continue
            raise
        raise CheckFailed(
            f"DOCS_ENABLED={invalid} did not stop the app.",
            request=f"uvicorn main:app, with DOCS_ENABLED={invalid}, {described}",
            expected="the app stops at start-up with an error that names the value",
            actual="the app started and served requests",
            hint="Does the app raise an error, such as ValueError(f'DOCS_ENABLED "
            "must be one of ..., not {value!r}'), for every value that is not one "
            "of the README's words, the empty value included, rather than treat it "
            "as true, false or unset?",
        )


def _run_with_settings(
    app_dir: Path, work_dir: Path, env: dict[str, str]
) -> tuple[httpx.Response, httpx.Response, httpx.Response]:
    """Start the app with `env` alone; return GET /health, /docs and /openapi.json."""
    # A new folder beside work_dir, which the running app cannot reach: one
    # inside work_dir could already be the app's link to somewhere else.
    folder = Path(tempfile.mkdtemp(prefix="settings-", dir=work_dir.parent))
    sandbox.limit_folder_size(folder)
    app = LearnerApp(app_dir, folder, env=env)
    named = ", ".join(f"{name}={value}" for name, value in env.items())
    log_start = app.log_size()
    # The app's own folder only: its work folder is also its TMPDIR, where
    # an app may keep temporary files.
    files_before = _files_in(app_dir)
    try:
        app.start()
    except AppStartError as error:
        raise CheckFailed(
            "The app does not start "
            + (
                f"with the settings {named}."
                if env
                else "without its environment variables."
            ),
            request="uvicorn main:app, with "
            + (named if env else "APP_NAME, DOCS_ENABLED and SHUTDOWN_LOG unset"),
            expected="the app starts",
            actual=last_characters(str(error)),
            hint="Does every setting have a default, as in "
            "os.environ.get('APP_NAME', 'Deployment demo'), and does the app "
            "read every spelling of a bool the README lists, in any case?",
        ) from None
    try:
        with app.client() as client:
            responses = (
                client.get("/health"),
                client.get("/docs"),
                client.get("/openapi.json"),
            )
    finally:
        app.stop()
    written = sorted(_files_in(app_dir) - files_before)
    output = app.log_since(log_start)
    if written or SHUTDOWN_FAILED in output:
        raise CheckFailed(
            "With SHUTDOWN_LOG unset, the app "
            + (
                f"wrote {', '.join(written)} in its folder as it ran or shut down."
                if written
                else "failed to shut down."
            ),
            request="uvicorn main:app, with "
            + (named if env else "APP_NAME, DOCS_ENABLED and SHUTDOWN_LOG unset")
            + ", then SIGTERM",
            expected="a shutdown that writes no file, since SHUTDOWN_LOG unset "
            "means no file",
            actual=f"new files: {show(written)}"
            if written
            else last_characters(output),
            hint="Does the lifespan write its line only when SHUTDOWN_LOG is set, "
            "with no default file? In the image, the app's folder belongs to root "
            "and the app runs as another user, so a file there cannot be written.",
        )
    return responses


def _files_in(folder: Path) -> set[str]:
    """Return the paths of the files under `folder`, without following links.

    Python's __pycache__ folders are left out.
    """
    found: set[str] = set()
    for parent, folders, files in os.walk(folder):
        folders[:] = [name for name in folders if name != "__pycache__"]
        base = Path(parent).relative_to(folder)
        found.update((base / name).as_posix() for name in files)
    return found


@pytest.mark.timeout(60)
def test_production_command_runs_two_workers(
    dockerfile: Dockerfile | None, app_dir: Path, work_dir: Path
) -> None:
    """The production command serves requests from at least 2 worker processes.

    Its CMD also sets no option that turns requests away.
    """
    cmd = require_dockerfile(dockerfile).require_cmd()
    if "--reload" in require_dockerfile(dockerfile).cmd_tokens():
        # The pids come from the app itself, so an app could make them up; with
        # --reload there is one worker process whatever it reports.
        raise CheckFailed(
            "The production command runs with --reload, so it has one worker.",
            request=f"the CMD of {cmd.describe()}, run with --workers {GRADER_WORKERS}",
            expected=f"at least {GRADER_WORKERS} worker processes",
            actual="--reload in the CMD",
            hint="uvicorn ignores --workers when --reload is on and runs one "
            "process: did you remove --reload from the production command?",
        )
    expect_no_service_limit(require_dockerfile(dockerfile))
    with production_app(
        dockerfile, app_dir, work_dir, "workers", PRODUCTION_ENV
    ) as app:
        pids = []
        deadline = time.monotonic() + WORKER_WAIT_SECONDS
        while time.monotonic() < deadline:
            with app.client(timeout=10) as client:
                pids.append(worker_pid(client.get("/health")))
            if len(set(pids)) >= GRADER_WORKERS:
                record_measurement(
                    "new connections until 2 pids", connections=len(pids)
                )
                return
            time.sleep(PROBE_PAUSE)
    hint = "Is --workers passed to uvicorn itself, in the CMD?"
    raise CheckFailed(
        f"All {len(pids)} requests were answered by one process.",
        request=f"{len(pids)} requests GET /health on new connections, over "
        f"{WORKER_WAIT_SECONDS:g} s, with the CMD of "
        f"{cmd.describe()}, run with --workers {GRADER_WORKERS}",
        expected=f"at least {GRADER_WORKERS} different pids",
        actual=f"pids {sorted(set(pids))}",
        hint=hint,
    )


def int_option_value(tokens: Sequence[str], name: str) -> int | None:
    """Return the integer value of option `name` in `tokens`, or None.

    None also stands for a value that is not an integer: uvicorn rejects it at
    start-up, which fails the production runs.
    """
    value = option_value(tokens, name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def expect_no_service_limit(found: Dockerfile) -> None:
    """Fail if the CMD sets a uvicorn option that turns requests away.

    The grader's runs send one request at a time, so they would not meet such
    a limit. Its value would come from load tests of the real service, which
    this chapter does not run, so the rule is static.
    """
    cmd = found.require_cmd()
    tokens = found.cmd_tokens()
    concurrency = option_value(tokens, "--limit-concurrency")
    if concurrency is not None:
        raise CheckFailed(
            "The production command caps concurrent connections, so uvicorn "
            "answers 503 Service Unavailable to the requests past the cap.",
            request=cmd.describe(),
            expected="no --limit-concurrency",
            actual=f"--limit-concurrency {concurrency}: each worker answers 503 to "
            f"a request that arrives while it holds {concurrency} connections "
            "(idle keep-alive ones and the request's own included) or runs "
            f"{concurrency} tasks",
            hint="Which number would a load test of the real service give, and "
            "does this chapter run one? Delete --limit-concurrency, so that each "
            "worker serves every request it accepts.",
        )
    max_requests = option_value(tokens, "--limit-max-requests")
    if max_requests is not None:
        raise CheckFailed(
            "The production command makes each worker exit after a number of requests.",
            request=cmd.describe(),
            expected="no --limit-max-requests",
            actual=f"--limit-max-requests {max_requests}: each worker exits after "
            f"{max_requests} requests, closing its keep-alive connections and "
            "running the lifespan's shutdown, and uvicorn starts a new worker "
            "that imports the app again",
            hint="Replacing workers works around a memory leak. Does this app "
            "leak memory? Delete --limit-max-requests.",
        )
    backlog = option_value(tokens, "--backlog")
    queued = int_option_value(tokens, "--backlog")
    if queued is not None and queued < UVICORN_BACKLOG:
        raise CheckFailed(
            "The production command shortens the queue of connections that wait "
            "for a worker.",
            request=cmd.describe(),
            expected=f"no --backlog, or --backlog {UVICORN_BACKLOG} or more "
            "(uvicorn's default)",
            actual=f"--backlog {backlog}: the kernel queues about {backlog} "
            "connections until a worker accepts them, and drops the next ones "
            "in a burst, whose clients then wait 1 s or more to try again",
            hint="What does a shorter queue gain the service? Delete --backlog, "
            f"or give {UVICORN_BACKLOG} or more.",
        )
    event_size = option_value(tokens, "--h11-max-incomplete-event-size")
    buffered = int_option_value(tokens, "--h11-max-incomplete-event-size")
    if buffered is not None and buffered < H11_EVENT_SIZE:
        raise CheckFailed(
            "The production command makes uvicorn reject request heads that "
            "arrive in pieces.",
            request=cmd.describe(),
            expected="no --h11-max-incomplete-event-size, or "
            f"--h11-max-incomplete-event-size {H11_EVENT_SIZE} or more (h11's "
            "default)",
            actual=f"--h11-max-incomplete-event-size {event_size}: uvicorn answers "
            f"400 Bad Request once more than {buffered} "
            f"{'byte' if buffered == 1 else 'bytes'} of a request's head wait for "
            "the rest, as they do from a slow client or a proxy",
            hint="The grader's requests arrive in one piece, but which clients of "
            "the real service would? Delete --h11-max-incomplete-event-size.",
        )


@pytest.mark.timeout(40)
def test_shutdown_finishes_requests(
    dockerfile: Dockerfile | None, app_dir: Path, work_dir: Path
) -> None:
    """On SIGTERM the app finishes a request in flight, then runs its shutdown."""
    # docker stop sends the STOPSIGNAL the image names, SIGTERM without one.
    stop = docker_stop_signal(require_dockerfile(dockerfile))
    shutdown_log = work_dir / "production-shutdown.log"
    shutdown_log.write_text(f"{EARLIER_SHUTDOWN_LINE}\n", encoding="utf-8")
    env = {**PRODUCTION_ENV, "SHUTDOWN_LOG": str(shutdown_log)}
    outcome: dict[str, httpx.Response | Exception] = {}
    timings: dict[str, float] = {}
    with production_app(dockerfile, app_dir, work_dir, "shutdown", env) as app:
        process = app.process
        assert process is not None
        with app.client(timeout=20) as client:
            # The same connection carries both requests, so the worker that
            # reported its pid is the one serving the slow request.
            pid = worker_pid(client.get("/health"))

            def send_slow_request() -> None:
                try:
                    outcome["response"] = client.get(f"/work?seconds={WORK_SECONDS}")
                except httpx.HTTPError as error:
                    outcome["error"] = error
                timings["request"] = time.monotonic() - sent

            sender = threading.Thread(target=send_slow_request)
            sent = time.monotonic()
            sender.start()
            time.sleep(SIGTERM_DELAY)
            early_lines = read_lines(shutdown_log)
            process.terminate(stop)
            signalled = time.monotonic()
            try:
                exit_code: int | None = process.popen.wait(timeout=EXIT_GRACE)
            except subprocess.TimeoutExpired:
                exit_code = None
            timings["exit"] = time.monotonic() - signalled
            sender.join(timeout=EXIT_GRACE)
    record_measurement(
        f"{stop.name} during GET /work?seconds={WORK_SECONDS:g}",
        request=round(timings.get("request", -1.0), 3),
        signal_to_exit=round(timings["exit"], 3),
    )

    request = (
        f"GET /work?seconds={WORK_SECONDS:g}, then {stop.name} to the server after "
        f"{SIGTERM_DELAY:g} s (what docker stop sends), with SHUTDOWN_LOG set"
    )
    stop_hint = (
        ""
        if stop == signal.SIGTERM
        else f" docker stop sends the Dockerfile's STOPSIGNAL, {stop.name}, and "
        "uvicorn shuts down gracefully only on SIGTERM or SIGINT."
    )
    response = outcome.get("response")
    if not isinstance(response, httpx.Response) or response.status_code != 200:
        received = (
            describe_response(response)
            if isinstance(response, httpx.Response)
            else f"no response: {outcome.get('error', 'the request did not end')!r}"
        )
        raise CheckFailed(
            f"The request in flight did not complete after {stop.name}.",
            request=request,
            expected="status 200 once the request has waited its time",
            actual=received,
            hint="Does the CMD set --timeout-graceful-shutdown to 0, or does the "
            f"app stop in a way that cancels the requests in flight?{stop_hint}",
        )
    if exit_code is None:
        raise CheckFailed(
            f"The server did not exit within {EXIT_GRACE:g} s of {stop.name}.",
            request=request,
            expected="the server exits once its requests are done",
            actual="still running",
            hint="Does the lifespan's shutdown part wait for something that "
            f"never ends?{stop_hint}",
        )
    pid_line = re.compile(rf"\b{pid}\b")
    if any(pid_line.search(line) for line in early_lines):
        raise CheckFailed(
            "The shutdown line was written before the server was stopped.",
            request=request,
            expected=f"a line with pid {pid} appended after {stop.name}",
            actual=f"{shutdown_log.name} already had it: {show(early_lines)}",
            hint="Is the line written after the lifespan's `yield`, not before it?",
        )
    lines = read_lines(shutdown_log)
    if not any(pid_line.search(line) for line in lines):
        raise CheckFailed(
            "The lifespan's shutdown did not record the worker's pid.",
            request=request,
            expected=f'a line "worker {pid} shut down" in the file SHUTDOWN_LOG names',
            actual=f"lines in it: {show(lines)}",
            hint="Does the code after the lifespan's `yield` append the line to "
            "the file that SHUTDOWN_LOG names?",
        )
    if f"worker {pid} shut down" not in lines:
        raise CheckFailed(
            "The shutdown line is not in the form the README gives.",
            request=request,
            expected=f'the line "worker {pid} shut down"',
            actual=f"lines with the pid: "
            f"{show([line for line in lines if pid_line.search(line)])}",
            hint='Does the lifespan write f"worker {os.getpid()} shut down\\n", '
            "with nothing else on the line?",
        )
    if lines[0] != EARLIER_SHUTDOWN_LINE:
        raise CheckFailed(
            "The line the shutdown log held before the server started is gone.",
            request=f"{shutdown_log.name} holding the line "
            f"{EARLIER_SHUTDOWN_LINE!r} before the server started, then {request}",
            expected=f"the line {EARLIER_SHUTDOWN_LINE!r} still first, with a line "
            "for each worker after it",
            actual=f"lines in it: {show(lines)}",
            hint='Does the lifespan open SHUTDOWN_LOG with mode "a"? Mode "w" '
            "replaces the file, so each worker removes the lines written before "
            "its own, those of the other workers included.",
        )


def docker_stop_signal(found: Dockerfile) -> signal.Signals:
    """Return the signal docker stop sends: the STOPSIGNAL in effect, or SIGTERM."""
    item = found.stop_signal
    if item is None:
        return signal.SIGTERM
    number = docker_signal_number(item.arguments.strip())
    try:
        # The image runs on Linux, so the signal goes by its Linux name, whose
        # number on the grader's system may differ.
        return signal.Signals[stop_signal_name(number or 0)]
    except KeyError:
        # A value that is not a signal, or one this system lacks, fails the
        # static checks, so this check sends SIGTERM, docker stop's default.
        return signal.SIGTERM


def read_lines(path: Path) -> list[str]:
    text = read_learner_file(path)
    return [] if text is None else text.splitlines()


# --- Checks on the Dockerfile, read statically ------------------------------


def test_dockerfile_binds_all_interfaces(dockerfile: Dockerfile | None) -> None:
    """The Dockerfile's CMD binds the server to 0.0.0.0."""
    found = require_dockerfile(dockerfile)
    cmd = found.require_cmd()
    tokens = found.cmd_tokens()
    socket_option = next(
        (name for name in ("--uds", "--fd") if option_value(tokens, name) is not None),
        None,
    )
    if socket_option is not None:
        raise CheckFailed(
            "The server in the container would listen on a socket of its own, not "
            "on a port Docker can forward.",
            request=cmd.describe(),
            expected="--host 0.0.0.0 and --port 8000, and no --uds or --fd",
            actual=f"{socket_option} {option_value(tokens, socket_option)}",
            hint="uvicorn listens on --uds or --fd instead of --host and --port "
            "when either is given. Which option should go?",
        )
    host = option_value(tokens, "--host")
    if host in OTHER_ALL_INTERFACES:
        raise CheckFailed(
            f"--host {host} is not the address the grader supports for all interfaces.",
            request=cmd.describe(),
            expected="--host 0.0.0.0",
            actual=f"--host {host}",
            hint="'0' reaches 0.0.0.0 only through the C library's shorthand for "
            "addresses, which reads like a typo, and '::' listens on IPv6, which a "
            "container has only where its Docker network enables IPv6 (the "
            "default bridge network does not). --host 0.0.0.0 works in every "
            "container.",
        )
    if host != "0.0.0.0":
        raise CheckFailed(
            "The server in the container would not accept outside connections.",
            request=cmd.describe(),
            expected="--host 0.0.0.0",
            actual="no --host, so uvicorn binds 127.0.0.1"
            if host is None
            else f"--host {host}",
            hint="Inside a container, 127.0.0.1 is the container's own loopback: "
            "which address accepts connections that Docker forwards from outside?",
        )
    port = option_value(tokens, "--port")
    if port not in (None, str(CONTAINER_PORT)):
        raise CheckFailed(
            f"The server in the container would listen on port {port}, where "
            f"`docker run -p {CONTAINER_PORT}:{CONTAINER_PORT}` forwards nothing.",
            request=cmd.describe(),
            expected=f"--port {CONTAINER_PORT}, or no --port (uvicorn's default)",
            actual=f"--port {port}",
            hint=f"The image EXPOSEs {CONTAINER_PORT} and the README runs it with "
            f"-p {CONTAINER_PORT}:{CONTAINER_PORT}: which port should uvicorn "
            "listen on?",
        )
    expect_supported(found)


def test_dockerfile_cmd_in_exec_form(dockerfile: Dockerfile | None) -> None:
    """The Dockerfile's CMD is in exec form (a JSON array)."""
    found = require_dockerfile(dockerfile)
    cmd = found.require_cmd()
    if exec_form(cmd.arguments) is not None:
        expect_supported(found)
        return
    if looks_like_list(cmd.arguments):
        raise not_json_failure(cmd)
    raise CheckFailed(
        "The CMD is in shell form, so /bin/sh runs the server and receives "
        "SIGTERM in its place.",
        request=cmd.describe(),
        expected='exec form: CMD ["uvicorn", "main:app", ...]',
        actual="shell form: CMD uvicorn main:app ...",
        hint="With a shell as PID 1, docker stop's SIGTERM never reaches uvicorn, "
        "which is killed 10 s later without a graceful shutdown: how does the "
        'JSON-array form CMD ["uvicorn", ...] avoid the shell?',
    )


def test_dockerfile_has_no_reload(dockerfile: Dockerfile | None) -> None:
    """The production command does not use --reload."""
    found = require_dockerfile(dockerfile)
    cmd = found.require_cmd()
    if "--reload" in found.cmd_tokens():
        raise CheckFailed(
            "The production command uses --reload.",
            request=cmd.describe(),
            expected="no --reload",
            actual="--reload is on",
            hint="--reload is for development: it watches files, restarts on "
            "changes and makes uvicorn ignore --workers. Did you remove it?",
        )
    expect_supported(found)


def test_dockerfile_limits_graceful_shutdown(dockerfile: Dockerfile | None) -> None:
    """The CMD sets --timeout-graceful-shutdown below Docker's 10 s stop timeout."""
    found = require_dockerfile(dockerfile)
    cmd = found.require_cmd()
    stop_signal = found.stop_signal
    if stop_signal is not None:
        number = docker_signal_number(stop_signal.arguments.strip())
        if number is None:
            # Docker stops the build on this value, so expect_supported fails
            # and names the line.
            expect_supported(found)
        if number not in GRACEFUL_SIGNALS:
            signal_name = "not a signal" if number is None else stop_signal_name(number)
            raise CheckFailed(
                "The Dockerfile changes the signal docker stop sends, and uvicorn "
                "shuts down gracefully only on SIGTERM or SIGINT.",
                request=stop_signal.describe(),
                expected="no STOPSIGNAL, or STOPSIGNAL SIGTERM",
                actual=f"STOPSIGNAL {stop_signal.arguments.strip()}, which is "
                f"{signal_name}",
                hint="docker stop sends the STOPSIGNAL, then SIGKILL 10 s later. "
                "Which signal starts uvicorn's graceful shutdown?",
            )
    value = option_value(found.cmd_tokens(), "--timeout-graceful-shutdown")
    hint = (
        "docker stop sends SIGTERM, waits 10 s, then sends SIGKILL: does the CMD "
        "pass --timeout-graceful-shutdown with a number of seconds below 10, such "
        "as 8, so uvicorn ends slow requests itself and runs its shutdown in time?"
    )
    if value is None:
        raise CheckFailed(
            "The CMD does not limit how long a graceful shutdown may take.",
            request=cmd.describe(),
            expected="--timeout-graceful-shutdown N with 0 < N < 10",
            actual="no --timeout-graceful-shutdown",
            hint=hint,
        )
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < 10:
        raise CheckFailed(
            "The graceful shutdown limit does not fit in Docker's 10 s stop timeout.",
            request=cmd.describe(),
            expected="--timeout-graceful-shutdown N with 0 < N < 10",
            actual=f"--timeout-graceful-shutdown {value}",
            hint=hint,
        )
    expect_supported(found)


def test_dockerfile_installs_dependencies_first(
    dockerfile: Dockerfile | None,
) -> None:
    """The Dockerfile installs the dependencies, then copies the code where it runs."""
    found = require_dockerfile(dockerfile)
    install = expect_dependencies_installed(found)
    code = next((item for item in found.stage if copies_code(item)), None)
    expect_requirements_name(found.path.parent, ("fastapi", "uvicorn"))
    if code is None:
        raise CheckFailed(
            "The Dockerfile copies no code into the image.",
            request="read Dockerfile",
            expected="a COPY of main.py after the dependencies are installed",
            actual=f"instructions: {describe_keywords(found.stage)}",
            hint="How does main.py get into the image?",
        )
    if code.line < install.line:
        raise CheckFailed(
            "The code is copied before the dependencies are installed.",
            request="read Dockerfile",
            expected="COPY requirements.txt, RUN pip install, then COPY of the code",
            actual=f"{code.describe()} comes before {install.describe()}",
            hint="Docker rebuilds every layer after the first one that changed: "
            "which order keeps the install layer cached when only main.py changes?",
        )
    expect_main_py_in_app_folder(found)
    expect_supported(found)


def test_dockerfile_runs_as_non_root(dockerfile: Dockerfile | None) -> None:
    """The container runs as a numeric uid, not root's, that can read its files."""
    found = require_dockerfile(dockerfile)
    last = found.user
    if last is None:
        raise CheckFailed(
            "The container runs as root: the Dockerfile has no USER line.",
            request="read Dockerfile",
            expected="a USER line with the uid of a user without root rights, "
            "before CMD",
            actual=f"instructions: {describe_keywords(found.stage)}",
            hint="If the app is broken into, which user does the attacker get? "
            "Did you create one with useradd --uid and switch to it with USER?",
        )
    # str.strip() below would take a trailing \x1f for whitespace, and Docker
    # keeps it in the user's name.
    expect_visible(last)
    user, _, group = (part.strip() for part in last.arguments.partition(":"))
    if "$" in user:
        # ENV or ARG can set the variable to root, and a build argument can
        # change it at build time, so the file alone does not say who runs.
        raise CheckFailed(
            "The USER line names its user through a variable, so the Dockerfile "
            "does not show which user the container runs as.",
            request=last.describe(),
            expected="USER with the uid of the user you created, such as USER 10001",
            actual=f"USER {last.arguments}",
            hint="Write the uid itself, as in `USER 10001`: a variable, or a "
            "build argument, can still make it root.",
        )
    numeric = re.fullmatch(r"[0-9]+", user) is not None
    if user == "root" or (numeric and int(user) == 0):
        raise CheckFailed(
            "The container runs as root.",
            request=last.describe(),
            expected="a USER other than root (uid 0)",
            actual=f"USER {last.arguments}",
            hint="Which uid did you give the user you created, and is it the last "
            "USER?",
        )
    if numeric and (
        int(user) > MAX_UID or (group and not re.fullmatch(r"[0-9]+", group))
    ):
        raise CheckFailed(
            "The USER line gives a uid or group that a container cannot start with.",
            request=last.describe(),
            expected=f"a uid from 1 to {MAX_UID}, and a numeric group if any, "
            "such as USER 10001 or USER 10001:10001",
            actual=f"USER {last.arguments}",
            hint="Container runtimes take uids up to 2^31 - 1, and a group name "
            "must exist in the image: which numbers did you give useradd?",
        )
    if not numeric:
        # A RUN line can give a name any uid (useradd --non-unique --uid 0),
        # so only a number shows who runs without building the image.
        raise CheckFailed(
            "The USER line names a user, so the Dockerfile does not show that the "
            "container runs without root: a RUN line can give any name uid 0.",
            request=last.describe(),
            expected="USER with the numeric uid of the user you created, such as "
            "USER 10001",
            actual=f"USER {last.arguments}",
            hint="Kubernetes, told to run a container as non-root, refuses an image "
            "whose USER is a name for the same reason. Which uid did you give "
            "the user with useradd --uid?",
        )
    expect_supported(found)
    expect_user_reads_copies(found, int(user), user_group(found, int(user), group))


def user_group(found: Dockerfile, uid: int, group: str) -> int | None:
    """Return the gid the container runs with, or None when the file does not show it.

    Without a group in USER, the runtime takes the user's group from the
    image's /etc/passwd, and gid 0 for a uid that is not there. The grader
    takes a uid that the Dockerfile's useradd may have created as having a
    group of its own, whose gid it cannot tell.
    """
    if group:
        return int(group)
    image = model_image(found)
    if image.user_added and image.added_uid in (None, uid):
        return None
    return 0
