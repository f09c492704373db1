"""A prepared process that starts graders by forking rather than by exec.

Every grader is pytest on one grader file, with the same plugins. Started as
a new interpreter, each pays about 0.25 s of CPU (measured with compiled
bytecode) to import pytest, httpx and the engine's modules before its first
check. The zygote imports them once. For each grader it forks a child, which
starts a session of its own, takes the grader's environment, folder and
output file, and runs pytest.main. Only the engine's own grader code runs in it: learner
code always runs in a sandboxed process of its own.

The engine talks to the zygote over its stdin and stdout, one JSON object per
line: {"id", "args", "env", "cwd", "output"} starts a grader and gets back
{"id", "pid"}, then {"id", "exit"} with the exit code (negative for a signal)
when the grader ends. A grader is stopped by killing its process group.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import IO, Any

PR_SET_PDEATHSIG = 1
REAP_INTERVAL = 0.05
CLOSE_TIMEOUT = 5.0
# Imported before any fork, so that no grader imports them again. The plugin
# that pytest loads with -p is left out: pytest rewrites its asserts on import.
PRELOAD = (
    "pytest",
    "httpx",
    "pytest_jsonreport.plugin",
    "pytest_timeout",
    "apigrade.checks",
    "apigrade.server",
    "apigrade.timing",
)


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class GraderProcess:
    """A grader forked by the zygote: its pid, and its exit code once it ends."""

    def __init__(self, args: Sequence[str]) -> None:
        self.args = list(args)
        self.pid = 0
        self.returncode: int | None = None
        self._started = threading.Event()
        self._ended = threading.Event()

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the grader to end and return its exit code."""
        if not self._ended.wait(timeout):
            raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
        assert self.returncode is not None
        return self.returncode

    def _end(self, code: int) -> None:
        self.returncode = code
        self._started.set()
        self._ended.set()


class Zygote:
    """The engine's side: starts the zygote on first use, and graders through it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._graders: dict[int, GraderProcess] = {}
        self._next_id = 0

    def start(
        self, args: Sequence[str], *, env: Mapping[str, str], cwd: str, output: str
    ) -> GraderProcess:
        """Fork a grader that runs pytest with `args`; raise OSError if it cannot."""
        grader = GraderProcess(args)
        with self._lock:
            process = self._ensure_running()
            self._next_id += 1
            request_id = self._next_id
            self._graders[request_id] = grader
            request = {
                "id": request_id,
                "args": list(args),
                "env": dict(env),
                "cwd": cwd,
                "output": output,
            }
            assert process.stdin is not None
            try:
                process.stdin.write(json.dumps(request).encode() + b"\n")
                process.stdin.flush()
            except OSError:
                self._graders.pop(request_id, None)
                raise
        if not grader._started.wait(timeout=30) or grader.pid == 0:
            raise OSError("the grader zygote did not start the grader")
        return grader

    def _ensure_running(self) -> subprocess.Popen[bytes]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("PYTEST_", "PYTHON", "APIGRADE_"))
        }
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        # No parent-death signal here: Linux sends it when the thread that
        # started the zygote ends, and engine threads come and go. The zygote
        # stops instead when its stdin closes, as it does when the engine dies.
        # A session of its own keeps a terminal's Ctrl-C to the engine, which
        # stops the graders itself.
        self._process = subprocess.Popen(
            [sys.executable, "-m", "apigrade.zygote"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
        # At exit the engine closes the zygote's stdin and waits for it, so the
        # CPU time of the zygote and its graders counts in the engine's own,
        # as wait4 reports it.
        atexit.register(self.close)
        assert self._process.stdout is not None
        reader = threading.Thread(
            target=self._read_replies,
            args=(self._process, self._process.stdout),
            daemon=True,
        )
        reader.start()
        return self._process

    def close(self) -> None:
        """Stop the zygote once its running graders end, and wait for it."""
        with self._lock:
            process, self._process = self._process, None
        if process is None:
            return
        assert process.stdin is not None
        with contextlib.suppress(OSError):
            process.stdin.close()
        try:
            process.wait(timeout=CLOSE_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _read_replies(
        self, process: subprocess.Popen[bytes], stdout: IO[bytes]
    ) -> None:
        for line in stdout:
            try:
                reply: dict[str, Any] = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                grader = self._graders.get(int(reply.get("id", 0)))
                if grader is not None and "exit" in reply:
                    self._graders.pop(int(reply["id"]))
            if grader is None:
                continue
            if "pid" in reply:
                grader.pid = int(reply["pid"])
                grader._started.set()
            if "exit" in reply:
                grader._end(int(reply["exit"]))
        # The zygote is gone: every grader it was running is gone with it.
        stdout.close()
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
        process.wait()
        with self._lock:
            orphans = list(self._graders.values())
            self._graders.clear()
        for grader in orphans:
            grader._end(-signal.SIGKILL)


def _run_grader(request: dict[str, Any]) -> None:
    """Become the requested grader in this forked child, run pytest, and exit."""
    code = 3
    try:
        os.setsid()
        _die_with_parent()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        output = os.open(
            request["output"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600
        )
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.close(null)
        os.close(output)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        import pytest

        sys.argv = ["pytest", *request["args"]]
        code = int(pytest.main(request["args"]))
    except BaseException:
        # Whatever stopped pytest goes to the grader's output, which the
        # engine shows when no result comes back.
        import traceback

        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _send(reply: dict[str, int]) -> None:
    sys.stdout.buffer.write(json.dumps(reply).encode() + b"\n")
    sys.stdout.buffer.flush()


def serve() -> None:
    """Read grader requests on stdin until it closes; fork one child for each."""
    for module in PRELOAD:
        __import__(module)
    running: dict[int, int] = {}
    stdin = sys.stdin.buffer
    pending = b""
    while True:
        ready, _, _ = select.select([stdin], [], [], REAP_INTERVAL)
        if ready:
            chunk = os.read(stdin.fileno(), 65536)
            if not chunk:
                break
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                request = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    _run_grader(request)
                running[pid] = int(request["id"])
                _send({"id": running[pid], "pid": pid})
        while running:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            if pid in running:
                _send(
                    {"id": running.pop(pid), "exit": os.waitstatus_to_exitcode(status)}
                )
    for pid in running:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


ZYGOTE = Zygote()


if __name__ == "__main__":
    serve()
