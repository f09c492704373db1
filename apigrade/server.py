"""Run a learner's app in its own uvicorn process, reached over a Unix socket.

The grader never imports learner code. It starts `uvicorn main:app` in a new
process group, waits for the socket to accept connections, talks HTTP to it and
kills the whole group when the checks are done.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from apigrade import sandbox
from apigrade.sandbox import SandboxedProcess

START_TIMEOUT = 20.0
STOP_GRACE = 3.0
CLIENT_TIMEOUT = 60.0
BASE_URL = "http://learner-app"
LOG_TAIL_LINES = 12
GRADER_DIR_VARIABLE = "APIGRADE_GRADER_DIR"
# In the grader's own folder: the paths the copy of the chapter left out.
SKIPPED_FILE = "skipped.json"
# In the grader's own folder: the permission bits of the chapter folder (".")
# and of each folder and file the copy took, by relative path.
MODES_FILE = "modes.json"
# In the grader's own folder: the paths that were links the copy took as files.
LINKS_FILE = "links.json"
MAX_LINE = 300
MIB = 1024 * 1024
# Opens a file without reading it: Linux only.
_O_PATH: int | None = getattr(os, "O_PATH", None)
# A check never needs more than this of one response; a body that keeps
# coming (hundreds of MB, or a stream without end) must not fill the grader.
MAX_RESPONSE_BYTES = 16 * MIB
# Headers of every request the checks send. Over a Unix socket uvicorn has no
# client address, so request.client is None, where the learner's own uvicorn
# on TCP gives one. uvicorn, trusting the header (--forwarded-allow-ips),
# sets request.client to the loopback address from X-Forwarded-For instead.
CLIENT_HEADERS = {"Accept-Encoding": "identity", "X-Forwarded-For": "127.0.0.1"}


# Signals the kernel sends to a process that passes one of the sandbox's limits.
LIMIT_SIGNALS = {
    signal.SIGXFSZ: "it wrote a file, or output, past the size limit",
    signal.SIGXCPU: "it used up its CPU time limit",
    signal.SIGKILL: "it was killed, for example for using too much memory",
    signal.SIGSEGV: "it crashed (segmentation fault), for example out of memory",
}


def describe_exit(code: int) -> str:
    """Say how a process ended, from its exit code, for feedback."""
    if code >= 0:
        return f"exited with code {code}"
    try:
        sig = signal.Signals(-code)
    except ValueError:
        return f"was stopped by signal {-code}"
    reason = LIMIT_SIGNALS.get(sig)
    return f"was stopped by {sig.name}" + (f": {reason}" if reason else "")


class AppStartError(Exception):
    """The learner's app did not start; the message says why, for the learner."""


class ResponseTooLarge(httpx.HTTPError):
    """A response body passed MAX_RESPONSE_BYTES; the grader stops reading it."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"the response body passed {limit // MIB} MB, the most the grader reads"
        )


class _LimitedStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body that raises ResponseTooLarge past `limit` bytes."""

    def __init__(self, stream: Any, limit: int) -> None:
        self._stream = stream
        self._limit = limit
        self._seen = 0

    def _count(self, chunk: bytes) -> bytes:
        self._seen += len(chunk)
        if self._seen > self._limit:
            raise ResponseTooLarge(self._limit)
        return chunk

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._stream:
            yield self._count(chunk)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield self._count(chunk)

    def close(self) -> None:
        self._stream.close()

    async def aclose(self) -> None:
        await self._stream.aclose()


class _LimitedTransport(httpx.HTTPTransport):
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        response.stream = _LimitedStream(response.stream, MAX_RESPONSE_BYTES)
        _keep_encoded(response)
        return response


class _AsyncLimitedTransport(httpx.AsyncHTTPTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        response.stream = _LimitedStream(response.stream, MAX_RESPONSE_BYTES)
        _keep_encoded(response)
        return response


def _keep_encoded(response: httpx.Response) -> None:
    """Stop httpx from decompressing the body, so the size limit holds.

    The limit counts the bytes that arrive, and 1 MB of gzip can unpack to
    gigabytes. The grader requests no compression (Accept-Encoding: identity),
    so an app that compresses anyway gets its body checked as sent.
    """
    encoding = response.headers.pop("content-encoding", None)
    if encoding is not None:
        response.headers["x-apigrade-content-encoding"] = encoding


LimitedAsyncTransport = _AsyncLimitedTransport


def skipped_paths() -> tuple[str, ...]:
    """Return the paths, relative to the chapter folder, its graded copy lacks.

    The engine leaves out caches, virtual environments, .git, links that lead
    out of the folder and very large files. Empty when no engine ran the grader.
    """
    return _engine_paths(SKIPPED_FILE)


def copied_links() -> tuple[str, ...]:
    """Return the paths, relative to the chapter folder, that were links.

    The copy contains the files such links lead to, so a grader that reads
    the chapter as Docker does (chapter 11, where COPY keeps a link as a
    link) learns from this which of its files were links. Empty when no
    engine ran the grader: the folder it reads then still has its links.
    """
    return _engine_paths(LINKS_FILE)


def _engine_paths(name: str) -> tuple[str, ...]:
    """Return the list of paths the engine wrote to `name` in the grader's folder."""
    private = os.environ.get(GRADER_DIR_VARIABLE)
    if not private:
        return ()
    try:
        paths = json.loads((Path(private) / name).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return ()
    return tuple(str(path) for path in paths)


def original_modes() -> dict[str, int] | None:
    """Return the permission bits of the chapter folder's paths, by relative path.

    The graded copy has modes of its own, so a grader that needs the
    learner's (chapter 11, since Docker's COPY keeps them) reads these. None
    when no engine ran the grader: the folder the grader reads is then the
    learner's own, with its modes.
    """
    private = os.environ.get(GRADER_DIR_VARIABLE)
    if not private:
        return None
    try:
        modes = json.loads((Path(private) / MODES_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return {str(path): int(mode) for path, mode in modes.items()}


def log_folder(work_dir: Path) -> Path:
    """Return where the app's output goes: the grader's own folder, if set.

    The app can write in `work_dir`, so a log there could be swapped for a
    link that the grader, outside the sandbox, would then follow.
    """
    private = os.environ.get(GRADER_DIR_VARIABLE)
    return Path(private) if private else work_dir


def _pid_namespace(pid: int) -> str | None:
    """Return the PID namespace of `pid`, or None when /proc cannot show it."""
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


@dataclass
class ProcessWatch:
    """The maximum number of processes an app ran while it was watched."""

    max_count: int


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
        read_only: bool = False,
        also_readable: Sequence[Path] = (),
    ) -> None:
        self.app_dir = app_dir
        # Whether the app may only read app_dir, not write in it, and more
        # folders it may read.
        self.read_only = read_only
        self.also_readable = list(also_readable)
        self.work_dir = work_dir
        self.env = dict(env or {})
        self.app = app
        self.extra_args = list(extra_args)
        self.start_timeout = start_timeout
        self.socket_path = work_dir / "app.sock"
        # The grader connects to the socket it checked, never by socket_path:
        # the app can replace socket_path with a link to any socket. On Linux
        # it keeps the socket open (O_PATH) and connects through /proc;
        # elsewhere it makes a hard link in its own folder.
        self._link_path = log_folder(work_dir) / f"app-{secrets.token_hex(4)}.sock"
        self._socket_fd: int | None = None
        self.log_path = log_folder(work_dir) / "app.log"
        self.process: SandboxedProcess | None = None
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
            "--forwarded-allow-ips",
            "*",
            "--timeout-graceful-shutdown",
            "2",
            *self.extra_args,
        ]

    def start(self) -> None:
        """Start the server and wait until it accepts connections, or raise."""
        if self.process is not None:
            raise RuntimeError("the app is already running; call stop() first")
        try:
            # Before anything is removed in it: the folder may be a link by now.
            sandbox.require_real_folder(self.work_dir)
        except sandbox.UnsafeFolder as error:
            raise AppStartError(str(error)) from None
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
            try:
                self.process = sandbox.start(
                    self.command,
                    cwd=self.app_dir,
                    env=env,
                    stdout=log,
                    writable=self.work_dir,
                    # A second app may run from the first one's copy of the code.
                    also_writable=[]
                    if self.read_only or self.app_dir.is_relative_to(self.work_dir)
                    else [self.app_dir],
                    readable=[
                        *([self.app_dir] if self.read_only else []),
                        *self.also_readable,
                    ],
                )
            except sandbox.UnsafeFolder as error:
                raise AppStartError(str(error)) from None
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            code = self.process.popen.poll()
            if code is not None:
                # Processes the app started may still run: end them too.
                self.process.kill()
                self.process = None
                raise AppStartError(
                    f"the app {describe_exit(code)} before it served a request. "
                    f"Last lines of its output:\n{self.log_tail()}{self._diagnose()}"
                )
            if self._accepts_connections():
                return
            time.sleep(0.02)
        self.stop()
        raise AppStartError(
            f"the app did not start within {self.start_timeout:g} s "
            "(is something at import time or in the lifespan waiting forever?). "
            f"Last lines of its output:\n{self.log_tail()}{self._diagnose()}"
        )

    def _diagnose(self) -> str:
        """Add a hint for start-up failures whose output alone is unclear."""
        hints = []
        with contextlib.suppress(OSError):
            if self.log_path.stat().st_size >= sandbox.LIMITS_DEFAULT.file_size:
                limit = sandbox.LIMITS_DEFAULT.file_size // MIB
                hints.append(
                    f"The app's output reached the {limit} MB limit for a file, so "
                    "the rest of it, errors included, was lost: does it print in a "
                    "loop?"
                )
        if "UnicodeDecodeError" in self.log_tail():
            hints.append(
                "A source file is not UTF-8 text: save it as UTF-8 in your editor."
            )
        return "".join(f"\nHint: {hint}" for hint in hints)

    def _accepts_connections(self) -> bool:
        if not self._link_socket():
            return False
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(str(self.connect_path))
            except OSError:
                return False
        return True

    @property
    def connect_path(self) -> Path:
        """The path the grader connects to: the app's socket, as checked."""
        if self._socket_fd is not None:
            return Path(f"/proc/self/fd/{self._socket_fd}")
        return self._link_path

    def _link_socket(self) -> bool:
        """Keep hold of the app's socket; return False if it is not a socket.

        Neither the O_PATH open nor os.link follows a link at socket_path,
        and the result is checked where the app cannot reach, so a link or a
        file the app put there in place of its socket is never connected to.
        """
        self._release_socket()
        if _O_PATH is not None:
            try:
                fd = os.open(self.socket_path, _O_PATH | os.O_NOFOLLOW)
            except OSError:
                return False
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                self._socket_fd = fd
                return True
            os.close(fd)
            return False
        try:
            if not stat.S_ISSOCK(os.lstat(self.socket_path).st_mode):
                return False
            os.link(self.socket_path, self._link_path, follow_symlinks=False)
            if stat.S_ISSOCK(os.lstat(self._link_path).st_mode):
                return True
        except OSError:
            return False
        self._link_path.unlink(missing_ok=True)
        return False

    def _release_socket(self) -> None:
        if self._socket_fd is not None:
            os.close(self._socket_fd)
            self._socket_fd = None
        self._link_path.unlink(missing_ok=True)

    def stop(self, grace: float = STOP_GRACE) -> int | None:
        """Stop the process group: SIGTERM, then SIGKILL after `grace` seconds.

        Returns the server's exit code, or None when it had to be killed.
        """
        process, self.process = self.process, None
        self._release_socket()
        if process is None:
            return None
        code: int | None = None
        process.terminate()
        try:
            code = process.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            code = None
        # Children the app started may outlive the server, so they are
        # killed even after a clean exit.
        process.kill()
        return code

    @property
    def pid(self) -> int | None:
        """Return the process ID of the app's uvicorn, or None when it is not running.

        Its main thread runs the event loop that serves every request.
        """
        return None if self.process is None else self.process.pid_to_signal

    @property
    def has_own_cpu_share(self) -> bool:
        """Return True when the app cannot lower its CPU priority below other programs'.

        See SandboxedProcess.has_own_cpu_share.
        """
        return self.process is not None and self.process.has_own_cpu_share

    def cpu_seconds(self) -> float | None:
        """Return the CPU time all the app's processes used, or None if unknown.

        See SandboxedProcess.cpu_seconds.
        """
        return None if self.process is None else self.process.cpu_seconds()

    def process_count(self) -> int:
        """Return how many live processes the app runs.

        Counts the app's process and its descendants from the host's /proc,
        which also shows workers an app starts by running uvicorn again. A
        process that left the tree (a double fork) is still counted where the
        sandbox shows it: the app's own PID namespace under bubblewrap (less
        bwrap's init), and its cgroups as root. Returns 0 when the app is not
        running or /proc is missing.
        """
        if self.process is None:
            return 0
        root = self.process.pid_to_signal
        children: dict[int, list[int]] = {}
        namespace = _pid_namespace(root)
        if namespace == _pid_namespace(os.getpid()):
            # The app shares the grader's namespace, so it counts nothing extra.
            namespace = None
        in_namespace = 0
        with contextlib.suppress(OSError):
            for entry in os.scandir("/proc"):
                if not entry.name.isdigit():
                    continue
                try:
                    with open(f"/proc/{entry.name}/stat", "rb") as stat_file:
                        fields = stat_file.read().rsplit(b")", 1)[1].split()
                except (OSError, IndexError):
                    continue
                if not fields or fields[0] == b"Z":
                    continue
                pid = int(entry.name)
                children.setdefault(int(fields[1]), []).append(pid)
                if namespace is not None and _pid_namespace(pid) == namespace:
                    in_namespace += 1
        if not Path(f"/proc/{root}").exists():
            return 0
        count, pending = 0, [root]
        while pending:
            count += 1
            pending.extend(children.get(pending.pop(), []))
        # bwrap itself, outside and as the sandbox's init, is not the app's.
        wrappers: set[int] = set()
        if root != self.process.popen.pid:
            wrappers = {self.process.popen.pid}
            wrappers |= {parent for parent, kids in children.items() if root in kids}
        counts = [count, in_namespace - 1]
        for cgroup in self.process.cgroups:
            with contextlib.suppress(OSError, ValueError):
                procs = {
                    int(pid) for pid in (cgroup / "cgroup.procs").read_text().split()
                }
                counts.append(len(procs - wrappers))
        return max(counts)

    @contextlib.contextmanager
    def watch_processes(self, interval: float = 0.02) -> Iterator[ProcessWatch]:
        """Count the app's processes every `interval` seconds inside the block."""
        watch = ProcessWatch(max_count=self.process_count())
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(interval):
                watch.max_count = max(watch.max_count, self.process_count())

        sampler = threading.Thread(target=sample, name="process-watch", daemon=True)
        sampler.start()
        try:
            yield watch
        finally:
            stop.set()
            sampler.join()
            watch.max_count = max(watch.max_count, self.process_count())

    def restart(self) -> None:
        self.stop()
        self.start()

    # Clients wait longer than a check's own timeout, so a hung handler is
    # reported by the check's deadline as "timed out after N s".
    def client(self, timeout: float = CLIENT_TIMEOUT) -> httpx.Client:
        transport = _LimitedTransport(uds=str(self.connect_path))
        return httpx.Client(
            transport=transport,
            base_url=BASE_URL,
            timeout=timeout,
            headers=CLIENT_HEADERS,
        )

    def async_client(self, timeout: float = CLIENT_TIMEOUT) -> httpx.AsyncClient:
        transport = _AsyncLimitedTransport(uds=str(self.connect_path))
        return httpx.AsyncClient(
            transport=transport,
            base_url=BASE_URL,
            timeout=timeout,
            headers=CLIENT_HEADERS,
        )

    def log_size(self) -> int:
        """Return the size of the server's log in bytes, 0 without a log."""
        try:
            return os.stat(self.log_path, follow_symlinks=False).st_size
        except OSError:
            return 0

    def log_since(self, offset: int, max_bytes: int = 64_000) -> str:
        """Return what the server's log gained after `offset`, up to `max_bytes`.

        Other apps of the same grader may write to the same log, so the text
        can hold their lines too.
        """
        try:
            fd = os.open(self.log_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return ""
        with os.fdopen(fd, "rb") as log:
            log.seek(offset)
            data = log.read(max_bytes)
        return data.decode("utf-8", errors="replace")

    def log_tail(self, lines: int = LOG_TAIL_LINES, max_bytes: int = 64_000) -> str:
        """Return the last lines the server printed, read from the end of its log."""
        try:
            fd = os.open(self.log_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return "(no output)"
        with os.fdopen(fd, "rb") as log:
            size = os.fstat(log.fileno()).st_size
            log.seek(max(0, size - max_bytes))
            data = log.read(max_bytes)
        text = data.decode("utf-8", errors="replace").rstrip()
        tail = [
            line if len(line) <= MAX_LINE else f"{line[:MAX_LINE]}... (line cut)"
            for line in text.splitlines()[-lines:]
        ]
        return "\n".join(tail) or "(no output)"
