"""Run a learner's app in its own uvicorn process, reached over a Unix socket.

The grader never imports learner code. It starts `uvicorn main:app` in a new
process group, waits for the socket to accept connections, talks HTTP to it and
kills the whole group when the checks are done.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

START_TIMEOUT = 20.0
STOP_GRACE = 3.0
CLIENT_TIMEOUT = 60.0
BASE_URL = "http://learner-app"
LOG_TAIL_LINES = 12


class AppStartError(Exception):
    """The learner's app did not start; the message says why, for the learner."""


class LearnerApp:
    """One learner app served by uvicorn on a Unix socket in `work_dir`."""

    def __init__(
        self,
        app_dir: Path,
        work_dir: Path,
        *,
        env: Mapping[str, str] | None = None,
        app: str = "main:app",
        extra_args: Sequence[str] = (),
        start_timeout: float = START_TIMEOUT,
    ) -> None:
        self.app_dir = app_dir
        self.work_dir = work_dir
        self.env = dict(env or {})
        self.app = app
        self.extra_args = list(extra_args)
        self.start_timeout = start_timeout
        self.socket_path = work_dir / "app.sock"
        self.log_path = work_dir / "app.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "uvicorn",
            self.app,
            "--uds",
            str(self.socket_path),
            "--app-dir",
            str(self.app_dir),
            "--no-access-log",
            "--timeout-graceful-shutdown",
            "2",
            *self.extra_args,
        ]

    def start(self) -> None:
        """Start the server and wait until it accepts connections, or raise."""
        if self.process is not None:
            raise RuntimeError("the app is already running; call stop() first")
        self.socket_path.unlink(missing_ok=True)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.work_dir),
            "TMPDIR": str(self.work_dir),
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "PYTHONNOUSERSITE": "1",
            **self.env,
        }
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self.starts} ---\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                self.command,
                cwd=self.app_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                self.process = None
                raise AppStartError(
                    f"the app exited with code {code} before it served a request. "
                    f"Last lines of its output:\n{self.log_tail()}"
                )
            if self._accepts_connections():
                return
            time.sleep(0.02)
        self.stop()
        raise AppStartError(
            f"the app did not start within {self.start_timeout:g} s "
            "(is something at import time or in the lifespan waiting forever?). "
            f"Last lines of its output:\n{self.log_tail()}"
        )

    def _accepts_connections(self) -> bool:
        if not self.socket_path.exists():
            return False
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(str(self.socket_path))
            except OSError:
                return False
        return True

    def stop(self, grace: float = STOP_GRACE) -> int | None:
        """Stop the process group: SIGTERM, then SIGKILL after `grace` seconds.

        Returns the server's exit code, or None when it had to be killed.
        """
        process, self.process = self.process, None
        if process is None:
            return None
        code: int | None = None
        self._signal_group(process, signal.SIGTERM)
        try:
            code = process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            code = None
        # Children the app started may outlive the server, so the group is
        # killed even after a clean exit.
        self._signal_group(process, signal.SIGKILL)
        process.wait()
        return code

    @staticmethod
    def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)

    def restart(self) -> None:
        self.stop()
        self.start()

    # Clients wait longer than a check's own timeout, so a hung handler is
    # reported by the check's deadline as "timed out after N s".
    def client(self, timeout: float = CLIENT_TIMEOUT) -> httpx.Client:
        transport = httpx.HTTPTransport(uds=str(self.socket_path))
        return httpx.Client(transport=transport, base_url=BASE_URL, timeout=timeout)

    def async_client(self, timeout: float = CLIENT_TIMEOUT) -> httpx.AsyncClient:
        transport = httpx.AsyncHTTPTransport(uds=str(self.socket_path))
        return httpx.AsyncClient(
            transport=transport, base_url=BASE_URL, timeout=timeout
        )

    def log_tail(self, lines: int = LOG_TAIL_LINES, max_bytes: int = 64_000) -> str:
        """Return the last lines the server printed, read from the end of its log."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(0, os.SEEK_END)
                size = log.tell()
                log.seek(max(0, size - max_bytes))
                data = log.read()
        except FileNotFoundError:
            return "(no output)"
        text = data.decode("utf-8", errors="replace").rstrip()
        return "\n".join(text.splitlines()[-lines:]) or "(no output)"
