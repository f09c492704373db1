"""The sources service that chapter 12's grader runs for the learner's app to fetch.

The app reaches it over a Unix socket and sends GET /sources/{index}?delay=D&fail=F.
The service waits D seconds, then returns {"data": ...} with a random tag that
the app cannot know in advance, or status 503 when F is true. For the one delay
the grader names in list_delay, it returns a JSON list in place of the object.
It records every fetch: when it arrived, the delay and failure it requested,
and whether the app closed the connection before the response (a cancelled
fetch). The grader judges concurrency and deadlines from these records, not
from the app's own timing, so an app cannot fake them by sleeping for delays it
reads from the query.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import select
import socket
import socketserver
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

# Maximum delay the service accepts, in seconds. The chapter's own limit is 5.
MAX_DELAY = 10.0
# More fetches than this at once get 503 at once.
MAX_ACTIVE_FETCHES = 64
# Connections past this number are closed unread, so an app that opens
# connections in a loop cannot make the grader start a thread for each.
MAX_CONNECTIONS = 128
# Seconds a connection may take to send its request line and headers.
REQUEST_TIMEOUT = 5.0
TRUE_WORDS = {"true", "1", "yes", "on"}
FALSE_WORDS = {"false", "0", "no", "off"}


@dataclass
class Fetch:
    """One GET /sources/{index} the service received, and what became of it."""

    index: int
    delay: float
    fail: bool
    # Seconds on time.monotonic() at arrival and at the end: when the response
    # was sent, or when the app closed the connection.
    started: float
    ended: float | None = None
    data: str | None = None
    cancelled: bool = False

    def describe(self, origin: float) -> str:
        """Say what happened to this fetch, with times from `origin` in seconds."""
        start = self.started - origin
        outcome = "still running"
        if self.ended is not None:
            end = self.ended - origin
            if self.cancelled:
                outcome = f"the app closed it at {end:.3f} s, before the response"
            else:
                answer = "503" if self.fail else "data"
                outcome = f"answered ({answer}) at {end:.3f} s"
        fail = ", fail=true" if self.fail else ""
        return (
            f"source {self.index} (delay={self.delay:g}{fail}): arrived at "
            f"{start:.3f} s, {outcome}"
        )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(REQUEST_TIMEOUT)

    def address_string(self) -> str:
        return "unix-socket"

    def log_message(self, format: str, *args: object) -> None:
        """Keep the grader's output clean; the records show what happened."""

    def do_GET(self) -> None:
        request = _parse(self.path)
        if request is None:
            self._send(404, {"detail": "use GET /sources/{index}?delay=D&fail=F"})
            return
        index, delay, fail = request
        service = self.server.service
        fetch = service.arrive(index, delay, fail)
        if fetch is None:
            self._send(503, {"detail": "too many fetches at once"})
            return
        try:
            if self._closed_within(delay):
                service.finish(fetch, cancelled=True)
                self.close_connection = True
                return
            # The end is recorded before the response goes out, so it comes
            # before anything the app does with the response.
            service.finish(fetch, cancelled=False)
            if fail:
                self._send(503, {"detail": f"source {index} is unavailable"})
            elif service.returns_a_list(delay):
                # A JSON list, not an object: the starter's fetch then raises
                # TypeError at ["data"], which is not a FetchError.
                self._send(200, [fetch.data])
            else:
                assert fetch.data is not None
                self._send(200, {"data": fetch.data})
        finally:
            service.leave()

    def _closed_within(self, seconds: float) -> bool:
        """Wait `seconds`; return True as soon as the client closes the connection."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([self.connection], [], [], remaining)
            if not readable:
                return False
            try:
                peeked = self.connection.recv(1, socket.MSG_PEEK)
            except OSError:
                return True
            if not peeked:
                return True
            # The client sent more (a pipelined request): only its end counts.
            time.sleep(max(0.0, deadline - time.monotonic()))
            return False
        return False

    def _send(self, status: int, body: dict[str, str] | list[str | None]) -> None:
        payload = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            self.close_connection = True


def _parse(target: str) -> tuple[int, float, bool] | None:
    """Return (index, delay, fail) from /sources/{index}?delay=D&fail=F, or None."""
    parts = urlsplit(target)
    prefix = "/sources/"
    if not parts.path.startswith(prefix):
        return None
    try:
        index = int(parts.path[len(prefix) :])
        query = parse_qs(parts.query)
        delay = float(query.get("delay", ["0"])[-1])
        fail_word = query.get("fail", ["false"])[-1].lower()
    except ValueError:
        return None
    if not (0 <= index < 1000 and math.isfinite(delay) and 0 <= delay <= MAX_DELAY):
        return None
    if fail_word not in TRUE_WORDS | FALSE_WORDS:
        return None
    return index, delay, fail_word in TRUE_WORDS


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    block_on_close = False
    # A non-blocking connect fails at once when the backlog is full, and the
    # app's fetches of one request all connect at the same moment.
    request_queue_size = MAX_CONNECTIONS

    def __init__(self, path: str, service: SourcesService) -> None:
        self.service = service
        self._connections = 0
        self._connections_lock = threading.Lock()
        super().__init__(path, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            full = self._connections >= MAX_CONNECTIONS
            if not full:
                self._connections += 1
        if full:
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._connections_lock:
                self._connections -= 1


class SourcesService:
    """The service on a Unix socket at `socket_path`, with a record of each fetch."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path
        self._lock = threading.Lock()
        self._fetches: list[Fetch] = []
        self._active = 0
        self._idle = threading.Condition(self._lock)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        # Fetches with this delay get a JSON list in place of {"data": ...}.
        self.list_delay: float | None = None

    def start(self) -> None:
        """Listen on socket_path, open to every user, before the app starts.

        The app's sandbox user must be able to connect. The socket is made
        while no learner code runs, so nothing can swap the path in between.
        """
        self.socket_path.unlink(missing_ok=True)
        self._server = _Server(str(self.socket_path), self)
        os.chmod(self.socket_path, 0o666)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="sources", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def returns_a_list(self, delay: float) -> bool:
        """Tell whether a fetch with `delay` gets a JSON list rather than an object."""
        list_delay = self.list_delay
        return list_delay is not None and math.isclose(delay, list_delay)

    def clear(self) -> None:
        """Forget the fetches so far: call before each request to the app."""
        with self._lock:
            self._fetches = []

    def fetches(self, settle: float = 0.2) -> list[Fetch]:
        """Return the fetches since clear(), sorted by arrival.

        Waits up to `settle` seconds for fetches still running, for example a
        cancelled fetch whose close the service has not seen yet.
        """
        with self._idle:
            self._idle.wait_for(lambda: self._active == 0, timeout=settle)
            return sorted(self._fetches, key=lambda fetch: fetch.started)

    def arrive(self, index: int, delay: float, fail: bool) -> Fetch | None:
        with self._lock:
            if self._active >= MAX_ACTIVE_FETCHES:
                return None
            self._active += 1
            fetch = Fetch(
                index=index,
                delay=delay,
                fail=fail,
                started=time.monotonic(),
                data=f"data from source {index} ({secrets.token_hex(4)})",
            )
            self._fetches.append(fetch)
            return fetch

    def finish(self, fetch: Fetch, *, cancelled: bool) -> None:
        with self._lock:
            fetch.ended = time.monotonic()
            fetch.cancelled = cancelled

    def leave(self) -> None:
        with self._idle:
            self._active -= 1
            self._idle.notify_all()


def max_concurrent(fetches: list[Fetch]) -> int:
    """Return the maximum number of fetches running at the same moment."""
    events: list[tuple[float, int]] = []
    for fetch in fetches:
        events.append((fetch.started, 1))
        events.append((fetch.ended if fetch.ended is not None else math.inf, -1))
    # At equal times an end sorts before a start, so touching fetches do not overlap.
    events.sort()
    running = peak = 0
    for _, change in events:
        running += change
        peak = max(peak, running)
    return peak
