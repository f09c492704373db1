"""Grader for chapter 13: a line stream with StreamingResponse, and server-sent events.

Every check reads the response from the running server as it arrives, because
an in-process client collects the whole body before it returns. The timing
checks note when each complete line arrived, whatever chunks carried it, and
compare those times with each other or with the intervals the request gives,
with room of twice or half, never with a fixed number of seconds.
"""

import asyncio
import json
import re
import secrets
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise, zip_longest
from typing import Any, NoReturn

import httpx
import pytest

from apigrade.checks import (
    JSON_ERRORS,
    CheckFailed,
    describe_request,
    expect_detail_locates,
    expect_status,
    same_json,
    show,
    truncate,
)
from apigrade.server import LearnerApp
from apigrade.timing import (
    CpuWaitReader,
    Probe,
    expect_one_process,
    record_measurement,
    timed_probe,
)

SHORT_PATH = "/stream?count=4&interval=0.05"
# One line at MAX_INTERVAL_SECONDS (2): the line comes at once, and the stream
# ends with it, so the response takes milliseconds. An interval waited before
# or after the line takes 2 s, four times the pass line.
LONE_LINE_PATH = "/stream?count=1&interval=2"
LONE_LINE_SECONDS = 0.5
# Six lines 0.2 s apart: a stream of about 1 s, long enough for the timing
# checks to tell a streamed body from one built before the response.
TIMED_COUNT = 6
TIMED_INTERVAL = 0.2
TIMED_PATH = f"/stream?count={TIMED_COUNT}&interval={TIMED_INTERVAL:g}"
QUICK_PATH = "/stream?count=1&interval=0"
EVENTS_COUNT = 3
EVENTS_PATH = f"/events?count={EVENTS_COUNT}&interval=0.05"
# Four events 0.3 s apart: the first arrives at once, about 0% of the 0.9 s
# stream, and events collected first arrive together at the end, at 100%. The
# pass line sits at half. The median of the three gaps between events must be
# at least half the interval the request gives: events sent together are
# microseconds apart.
SPREAD_EVENTS_COUNT = 4
SPREAD_EVENTS_INTERVAL = 0.3
SPREAD_EVENTS_PATH = (
    f"/events?count={SPREAD_EVENTS_COUNT}&interval={SPREAD_EVENTS_INTERVAL:g}"
)
SPREAD_EVENTS_SECONDS = (SPREAD_EVENTS_COUNT - 1) * SPREAD_EVENTS_INTERVAL
SPREAD_EVENTS_SHARE_LINE = 0.5
# What marks one line or one event in a body, however it is framed: the
# defaults and spacing checks read them, and the others judge the framing.
LINE_MARK = re.compile(r"line \d+ of \d+")
EVENT_MARK = re.compile(r'"tick"\s*:')
# The stream, then the events stream, that quick requests are sent during.
# Each gets a count and an interval drawn in every run, so an app cannot block
# the loop for every request but the probed one. The intervals are longer than
# the timed stream's, so that a quick request held back for one interval is
# far slower than one slowed by a busy machine. An app that blocks only at
# intervals outside this range passes.
PROBED_COUNT_MIN = 3
PROBED_COUNT_MAX = 5
PROBED_INTERVAL_MIN = 0.41
PROBED_INTERVAL_MAX = 0.9
PROBED_INTERVAL_STEP = 0.01
# A paced stream must take half to twice its eight intervals (0.4 s). A fixed
# wait that passes this fails the defaults check, which wants 0.25 s or more.
PACED_COUNT = 9
PACED_INTERVAL = 0.05
PACED_SECONDS = (PACED_COUNT - 1) * PACED_INTERVAL
PACED_PATHS = tuple(
    f"/{endpoint}?count={PACED_COUNT}&interval={PACED_INTERVAL:g}"
    for endpoint in ("stream", "events")
)
# Two items, one interval apart, where the interval is drawn in every run from
# RANDOM_INTERVAL_MIN to RANDOM_INTERVAL_MAX in steps of RANDOM_INTERVAL_STEP.
# Every other request with two items or more sends 0.5 s or less, so an app
# could drop the longer intervals unseen. The response must take half to twice
# the interval, as the paced streams must.
RANDOM_INTERVAL_COUNT = 2
RANDOM_INTERVAL_MIN = 0.6
RANDOM_INTERVAL_MAX = 1.0
RANDOM_INTERVAL_STEP = 0.01
# Then each endpoint gets two items and a long interval, drawn from
# LONG_INTERVAL_MIN up to the README's MAX_INTERVAL_SECONDS, so that a wait
# capped below half of LONG_INTERVAL_MIN (0.75 s) fails too.
LONG_INTERVAL_MIN = 1.5
# In those two-item responses the first item must arrive within a quarter of
# the interval, 0.15 to 0.25 s, and the body must end within that time after
# the last item. The solution takes milliseconds for each, and a generator
# that waits half an interval before the first item takes twice the line. The
# other checks judge the first item against the stream's own time, which such
# a wait stretches too.
FIRST_ITEM_INTERVAL_SHARE = 0.25
# The README's defaults. The defaults check sends interval=0 to count the
# lines, and count=2 to time one default interval, which must take from half
# of DEFAULT_INTERVAL to 1.8 times it.
DEFAULT_COUNT = 5
DEFAULT_INTERVAL = 0.5
# The upper line sits below two intervals, 1 s, so that a stream that also
# waits after its last line fails by a clear margin.
DEFAULT_TWO_ITEMS_LINE = 0.9
# Seconds the checks must wait for the app, one after another: a stream of n
# lines at interval i takes at least (n - 1) * i. One short stream, the timed
# stream twice (first line, gaps), the two probed streams, the short events,
# one default interval on each endpoint, the spread events, the two paced
# streams and one random interval on each endpoint. scripts/bench.py takes the
# floor from it.
WAIT_SECONDS = (
    3 * 0.05
    + 2 * (TIMED_COUNT - 1) * TIMED_INTERVAL
    + 2 * (PROBED_COUNT_MIN - 1) * PROBED_INTERVAL_MIN
    + 2 * 0.05
    + 2 * DEFAULT_INTERVAL
    + SPREAD_EVENTS_SECONDS
    + 2 * PACED_SECONDS
    + 2 * RANDOM_INTERVAL_MIN
    + 2 * LONG_INTERVAL_MIN
)

# A streamed first line arrives within a few percent of the stream's time, and
# a body built first arrives with the last line, at 100%. The pass lines sit
# between, with room for a loaded machine on both sides.
FIRST_LINE_SHARE_LINE = 0.25
# A quick request during the stream waits for no line; one that waits for the
# loop to be free again waits up to one interval. The line sits at a quarter
# of an interval, 0.1 to 0.225 s: a generator that blocks 45% of each interval
# stayed under half an interval. Over 20 runs at a fixed interval of 0.4 s,
# with both cores loaded and other gradings beside, the solution's slowest of
# about 40 quick requests took 0.012 to 0.12 of an interval. That time is
# less its wait for a CPU. A generator blocking one interval took about 3.
QUICK_INTERVAL_SHARE_LINE = 0.25
# Quick requests go one after another, PROBE_GAP apart, from the stream's
# request to its end, so every interval has one waiting on it: an app that
# blocks the loop before its first line or in any interval holds one back. At
# least MIN_PROBES are sent, and at most MAX_PROBES, should the stream hang.
PROBE_GAP = 0.02
MIN_PROBES = 3
MAX_PROBES = 200
# Streams the check may send on each endpoint. A machine that stalls for most
# of a second, as one did once in 20 runs under heavy load, delays a quick
# request by more than its measured wait for a CPU. So a second stream is sent
# only when the slowest quick request of the first spent STALL_WAIT_SHARE of
# its time or more waiting for a CPU. A loop blocked by the app waits for no
# CPU, so an app that blocks the loop on every other stream gets no second one.
QUICK_ATTEMPTS = 2
STALL_WAIT_SHARE = 0.25
# Streamed lines arrive one interval apart, so the median gap between two lines
# is about the average spacing over the stream (1 time). Lines sent together
# arrive microseconds apart (about 0 times).
GAP_SHARE_LINE = 0.5
# Invalid values get a 422 at once, but an app that accepts them starts streaming.
REJECTION_TIMEOUT = 3.0
# The README's MAX_COUNT: the largest count both endpoints accept, and the
# number of lines or events such a request must carry.
MAX_COUNT = 100
# The hidden check also sends every count from SMALL_COUNTS, and a count from
# RANDOM_COUNT_MIN up to but not including MAX_COUNT, drawn in every run, to
# both endpoints. The other checks send only a few of the counts below ten.
SMALL_COUNTS = range(2, 10)
RANDOM_COUNT_MIN = 10
# The README's MAX_INTERVAL_SECONDS, and the step by which the invalid requests
# pass each interval bound. With count=1 a stream sends its line and ends
# without waiting, so an app that accepts such an interval responds at once.
MAX_INTERVAL = 2.0
# Numbers that are not finite, which Pydantic reads as floats.
NOT_FINITE = ("nan", "NaN", "inf", "-inf", "Infinity")
INTERVAL_STEP = 0.01

STREAM_HINT = (
    'Is there an @app.get("/stream") route returning StreamingResponse(generator, '
    'media_type="text/plain"), where the generator yields f"line {n} of {count}\\n" '
    "for n from 1 to count?"
)
BUFFERED_HINT = (
    "Is the whole body built before the response is returned, for example by "
    "collecting the lines in a list, or by iterating the generator before "
    "passing it on? Pass the generator itself to StreamingResponse, so that each "
    "line is sent as soon as it is yielded."
)
BLOCKING_HINT = (
    "Does an async generator call time.sleep between lines or events? That "
    "blocks the "
    "event loop, so no other request is served until the stream ends. Use "
    "`await asyncio.sleep(interval)`, or make the generator a plain `def`, which "
    "StreamingResponse runs in a thread pool."
)
COLLECTED_EVENTS_HINT = (
    "Does the endpoint yield each ServerSentEvent as it is made, rather than "
    "build a list first and yield from it?"
)
EVENTS_HINT = (
    'Is the route declared with @app.get("/events", response_class='
    "EventSourceResponse), yielding ServerSentEvent(data={...}, id=...)? Without "
    "response_class, FastAPI streams a generator's items as JSON Lines."
)


def held_back_hint(kind: str) -> str:
    """Return the hint for lines or events (`kind`) held back to the end."""
    built_first = BUFFERED_HINT if kind == "line" else COLLECTED_EVENTS_HINT
    return (
        f"{built_first} Or does the generator call time.sleep? That keeps the "
        f"event loop from sending the {kind} it has just yielded."
    )


@dataclass(frozen=True)
class StreamRead:
    """A response read as it arrived, with the arrival time of each line."""

    path: str
    status: int
    content_type: str
    body: str
    # Seconds from sending the request to the arrival of the chunk that
    # completed each line ("\n"), in line order.
    line_times: tuple[float, ...]
    # Seconds from sending the request to the end of the body.
    total: float

    def describe(self) -> str:
        if not self.body:
            return f"status {self.status}, empty body"
        return f"status {self.status}, body {truncate(self.body)}"


async def _read_stream(client: httpx.AsyncClient, path: str) -> StreamRead:
    """Read GET `path` chunk by chunk."""
    received = b""
    line_times: list[float] = []
    started = time.perf_counter()
    async with client.stream("GET", path) as response:
        async for chunk in response.aiter_bytes():
            now = time.perf_counter() - started
            received += chunk
            line_times.extend([now] * (received.count(b"\n") - len(line_times)))
    total = time.perf_counter() - started
    return StreamRead(
        path=path,
        status=response.status_code,
        content_type=response.headers.get("content-type", ""),
        body=received.decode("utf-8", errors="replace"),
        line_times=tuple(line_times),
        total=total,
    )


def read_stream(learner_app: LearnerApp, path: str) -> StreamRead:
    async def run() -> StreamRead:
        async with learner_app.async_client() as client:
            return await _read_stream(client, path)

    return asyncio.run(run())


def _expected_lines(count: int) -> str:
    return "".join(f"line {number} of {count}\n" for number in range(1, count + 1))


def _expect_lines(read: StreamRead, count: int) -> None:
    """Fail unless `read` is a 200 whose body is exactly the `count` lines."""
    expected = _expected_lines(count)
    if read.status == 404:
        raise CheckFailed(
            f"Route not found: no route matches {read.path.partition('?')[0]}.",
            request=f"GET {read.path}",
            expected="status 200",
            actual=read.describe(),
            hint=STREAM_HINT,
        )
    if read.status != 200:
        raise CheckFailed(
            f"Expected status 200, got {read.status}.",
            request=f"GET {read.path}",
            expected="status 200",
            actual=read.describe(),
            hint=STREAM_HINT,
        )
    if read.body == expected:
        return
    hint = STREAM_HINT
    if read.body == expected.replace("\n", ""):
        hint = (
            'Does each line end with "\\n"? A StreamingResponse sends exactly the '
            "strings the generator yields, without adding line breaks."
        )
    raise CheckFailed(
        "The stream's content is not the expected lines.",
        request=f"GET {read.path}",
        expected=f"status 200, body {show(expected)}",
        actual=read.describe(),
        hint=hint,
    )


def _describe_arrivals(read: StreamRead) -> str:
    times = ", ".join(f"{seconds:.3f}" for seconds in read.line_times)
    return f"the lines arrived at {times} s after the request was sent"


def test_stream_lines_are_exact(learner_app: LearnerApp) -> None:
    """GET /stream streams exactly the numbered lines, as text/plain, no more."""
    read = read_stream(learner_app, SHORT_PATH)
    _expect_lines(read, 4)
    media_type = read.content_type.partition(";")[0].strip()
    if media_type != "text/plain":
        raise CheckFailed(
            "The stream is not declared as plain text.",
            request=f"GET {SHORT_PATH}",
            expected="the header Content-Type: text/plain",
            actual=f"Content-Type: {read.content_type or '(none)'}",
            hint="Does the route return StreamingResponse(..., "
            'media_type="text/plain")?',
        )
    # One line at the longest interval: nothing to wait for before or after it.
    read = read_stream(learner_app, LONE_LINE_PATH)
    _expect_lines(read, 1)
    record_measurement(f"GET {LONE_LINE_PATH}", seconds=round(read.total, 3))
    if read.total > LONE_LINE_SECONDS:
        raise CheckFailed(
            "A stream of one line waited for an interval before or after it.",
            request=f"GET {LONE_LINE_PATH}",
            expected=f"the whole response within {LONE_LINE_SECONDS:g} s",
            actual=f"the response took {read.total:.3f} s",
            hint="Does the generator sleep only between lines, as in "
            "`if number < count: await asyncio.sleep(interval)`?",
        )


@pytest.mark.timeout(30)
def test_first_line_arrives_early(learner_app: LearnerApp) -> None:
    """The first line arrives long before the last one of a 1 s stream."""
    read = read_stream(learner_app, TIMED_PATH)
    _expect_lines(read, TIMED_COUNT)

    share = read.line_times[0] / read.line_times[-1]
    record_measurement(
        f"first line of GET {TIMED_PATH}",
        first_line=round(read.line_times[0], 4),
        last_line=round(read.line_times[-1], 4),
        share=round(share, 4),
        pass_line=FIRST_LINE_SHARE_LINE,
    )
    if share >= FIRST_LINE_SHARE_LINE:
        raise CheckFailed(
            "The first line arrived only when the whole stream was ready: the "
            "body was built before the response was sent.",
            request=f"GET {TIMED_PATH}",
            expected=f"the first line within {FIRST_LINE_SHARE_LINE:.0%} of the time "
            "the last line took",
            actual=f"{_describe_arrivals(read)}; the first took {share:.0%} of the "
            "last one's time",
            hint=BUFFERED_HINT,
        )


@pytest.mark.timeout(30)
def test_lines_arrive_spread_over_time(learner_app: LearnerApp) -> None:
    """The lines of a 1 s stream arrive one by one, spread over the stream."""
    read = read_stream(learner_app, TIMED_PATH)
    _expect_lines(read, TIMED_COUNT)

    gaps = [
        later - earlier
        for earlier, later in zip(read.line_times, read.line_times[1:], strict=False)
    ]
    spacing = read.line_times[-1] / (TIMED_COUNT - 1)
    share = statistics.median(gaps) / spacing
    record_measurement(
        f"line gaps of GET {TIMED_PATH}",
        median_gap=round(statistics.median(gaps), 4),
        average_spacing=round(spacing, 4),
        share=round(share, 4),
        pass_line=GAP_SHARE_LINE,
    )
    if share < GAP_SHARE_LINE:
        raise CheckFailed(
            "The lines arrived together instead of one by one.",
            request=f"GET {TIMED_PATH}",
            expected=f"a median gap between lines of at least {GAP_SHARE_LINE:.0%} "
            f"of the average spacing (the last line's time divided by "
            f"{TIMED_COUNT - 1} gaps)",
            actual=f"{_describe_arrivals(read)}; the median gap is "
            f"{statistics.median(gaps):.3f} s, {share:.0%} of {spacing:.3f} s",
            hint=BUFFERED_HINT,
        )


@dataclass(frozen=True)
class ProbedStream:
    """A stream that quick requests are sent during, drawn in every run."""

    endpoint: str
    count: int
    interval: float

    @classmethod
    def draw(cls, endpoint: str) -> "ProbedStream":
        """Return a stream on `endpoint` with a random count and interval."""
        counts = PROBED_COUNT_MAX - PROBED_COUNT_MIN + 1
        steps = round(
            (PROBED_INTERVAL_MAX - PROBED_INTERVAL_MIN) / PROBED_INTERVAL_STEP
        )
        interval = PROBED_INTERVAL_MIN + secrets.randbelow(steps + 1) * (
            PROBED_INTERVAL_STEP
        )
        return cls(
            endpoint=endpoint,
            count=PROBED_COUNT_MIN + secrets.randbelow(counts),
            interval=round(interval, 2),
        )

    @property
    def path(self) -> str:
        return f"/{self.endpoint}?count={self.count}&interval={self.interval:g}"


@dataclass(frozen=True)
class QuickDuringStream:
    """Quick requests sent while a stream ran (the slowest counts)."""

    probed: ProbedStream
    stream: StreamRead
    quick_status: int
    # The quick request that took longest, less its wait for a CPU.
    slowest: Probe
    probes: int

    @property
    def share(self) -> float:
        """Return the slowest quick request's time as a share of the interval.

        The time counts without the request's wait for a CPU, and the interval
        is the one the request gives, so an app that slows its stream down
        with a wait that does not block cannot widen its own margin.
        """
        return self.slowest.held / self.probed.interval


async def _quick_during_stream(
    learner_app: LearnerApp, probed: ProbedStream
) -> QuickDuringStream:
    async with learner_app.async_client() as client:
        # The warm-up lets the app load anything it loads on the first request.
        await client.get(QUICK_PATH)
        task = asyncio.ensure_future(_read_stream(client, probed.path))
        # Requests one after another from the moment the stream is asked for
        # until it ends, each landing at another point of it. An app that
        # blocks the loop before its first item or in any interval holds one
        # back, and so does one that frees it only briefly between items.
        reader = CpuWaitReader.for_app(learner_app)
        probes: list[Probe] = []
        while len(probes) < MAX_PROBES and (
            len(probes) < MIN_PROBES or not task.done()
        ):
            probes.append(await timed_probe(client, QUICK_PATH, reader))
            await asyncio.sleep(PROBE_GAP)
        stream = await task
    failed = [probe.status for probe in probes if probe.status != 200]
    return QuickDuringStream(
        probed=probed,
        stream=stream,
        quick_status=failed[0] if failed else 200,
        slowest=max(probes, key=lambda probe: probe.held),
        probes=len(probes),
    )


@pytest.mark.timeout(60)
def test_other_requests_served_during_stream(learner_app: LearnerApp) -> None:
    """Other requests get their responses at once while /stream, then /events, run.

    One stream at a time: a generator that blocks the loop would hold back
    the start of a stream that runs beside it, and the quick requests would
    then come after it ended. An endpoint gets a second stream, drawn anew,
    only when a busy machine held back the first one's slowest quick request.
    """
    for endpoint in ("stream", "events"):
        attempt = 1
        measured = _measure_quick_during(learner_app, endpoint, attempt)
        while (
            measured.share >= QUICK_INTERVAL_SHARE_LINE
            and attempt < QUICK_ATTEMPTS
            and measured.slowest.cpu_wait >= STALL_WAIT_SHARE * measured.slowest.elapsed
        ):
            attempt += 1
            measured = _measure_quick_during(learner_app, endpoint, attempt)
        if measured.share >= QUICK_INTERVAL_SHARE_LINE:
            _fail_quick_during(measured, attempt)


def _measure_quick_during(
    learner_app: LearnerApp, endpoint: str, attempt: int
) -> QuickDuringStream:
    """Send quick requests during a stream drawn on `endpoint`; return the times.

    Fails at once on a wrong stream, a quick request that is not a 200, or
    an app that serves requests from more than one process.
    """
    probed = ProbedStream.draw(endpoint)
    with learner_app.watch_processes() as watch:
        measured = asyncio.run(_quick_during_stream(learner_app, probed))
    stream = measured.stream
    if endpoint == "stream":
        _expect_lines(stream, probed.count)
    elif stream.status != 200:
        raise CheckFailed(
            f"Expected status 200, got {stream.status}.",
            request=f"GET {probed.path}",
            expected="status 200",
            actual=stream.describe(),
            hint=EVENTS_HINT,
        )
    expect_one_process(watch, f"GET {QUICK_PATH} while GET {probed.path} streamed")
    if measured.quick_status != 200:
        raise CheckFailed(
            f"Expected status 200, got {measured.quick_status}.",
            request=f"GET {QUICK_PATH} while GET {probed.path} was streaming",
            expected="status 200",
            actual=f"status {measured.quick_status}",
            hint=STREAM_HINT,
        )
    record_measurement(
        f"GET {QUICK_PATH} during GET /{endpoint}, attempt {attempt}",
        quick=round(measured.slowest.held, 4),
        cpu_wait=round(measured.slowest.cpu_wait, 4),
        probes=measured.probes,
        stream=round(stream.total, 4),
        count=probed.count,
        interval=probed.interval,
        share=round(measured.share, 4),
        pass_line=QUICK_INTERVAL_SHARE_LINE,
    )
    return measured


def _fail_quick_during(measured: QuickDuringStream, attempt: int) -> NoReturn:
    """Fail with the slowest quick request of the last stream sent (`attempt`)."""
    probed = measured.probed
    items = "events" if probed.endpoint == "events" else "lines"
    second = (
        ". A second stream, drawn anew, was sent because a busy machine held "
        "back the first one's slowest request"
        if attempt > 1
        else ""
    )
    raise CheckFailed(
        "The other request waited for the stream: the event loop was "
        f"blocked between {items}.",
        request=f"{measured.probes} GET {QUICK_PATH}, one after another, "
        f"{PROBE_GAP:g} s apart, from the request for GET {probed.path} to its "
        f"end; the slowest counts{second}",
        expected=f"a response within a quarter of the {probed.interval:g} s "
        f"interval the request gives, "
        f"{QUICK_INTERVAL_SHARE_LINE * probed.interval:.3f} s",
        actual=f"the slowest took {measured.slowest.describe()}, "
        f"{measured.share:.0%} of the interval (the stream took "
        f"{measured.stream.total:.3f} s)",
        hint=BLOCKING_HINT,
    )


@pytest.mark.timeout(30)
def test_events_arrive_as_produced(learner_app: LearnerApp) -> None:
    """The first event arrives at once, and the others one interval apart."""
    read = read_stream(learner_app, SPREAD_EVENTS_PATH)
    # Each event's arrival is that of its line with the tick, however it is
    # framed: events_are_framed_correctly judges the framing.
    ends = [
        seconds
        for line, seconds in zip(read.body.split("\n"), read.line_times, strict=False)
        if EVENT_MARK.search(line)
    ]
    if read.status != 200 or len(ends) < SPREAD_EVENTS_COUNT:
        raise CheckFailed(
            f"Expected status 200 with {SPREAD_EVENTS_COUNT} events.",
            request=f"GET {SPREAD_EVENTS_PATH}",
            expected=f"status 200 with {SPREAD_EVENTS_COUNT} events, ticks 1 to "
            f"{SPREAD_EVENTS_COUNT}",
            actual=read.describe(),
            hint=EVENTS_HINT,
        )
    # The first event's line, not the first line: a comment line sent at
    # once must not stand in for events held back.
    share = ends[0] / read.total
    record_measurement(
        f"first event of GET {SPREAD_EVENTS_PATH}",
        first_event=round(ends[0], 4),
        total=round(read.total, 4),
        share=round(share, 4),
        pass_line=SPREAD_EVENTS_SHARE_LINE,
    )
    if share >= SPREAD_EVENTS_SHARE_LINE:
        raise CheckFailed(
            "The first event arrived only when the whole stream was ready: the "
            "events were held back until the end.",
            request=f"GET {SPREAD_EVENTS_PATH}",
            expected=f"the first event within {SPREAD_EVENTS_SHARE_LINE:.0%} of the "
            "stream's time",
            actual=f"the first event arrived after {ends[0]:.3f} s of "
            f"{read.total:.3f} s ({share:.0%})",
            hint=held_back_hint("event"),
        )

    gaps = [later - earlier for earlier, later in pairwise(ends[:SPREAD_EVENTS_COUNT])]
    median_gap = statistics.median(gaps)
    record_measurement(
        f"event gaps of GET {SPREAD_EVENTS_PATH}",
        median_gap=round(median_gap, 4),
        pass_line=SPREAD_EVENTS_INTERVAL / 2,
    )
    if median_gap < SPREAD_EVENTS_INTERVAL / 2:
        raise CheckFailed(
            "The events did not come one interval apart.",
            request=f"GET {SPREAD_EVENTS_PATH}",
            expected=f"a median gap between events of at least "
            f"{SPREAD_EVENTS_INTERVAL / 2:g} s, half the interval",
            actual="the events arrived at "
            + ", ".join(f"{seconds:.3f}" for seconds in ends)
            + " s after the request was sent",
            hint="Does the endpoint wait `interval` seconds between every two "
            "events, `await asyncio.sleep(interval)` after each but the last?",
        )


def test_events_use_event_stream_type(http: httpx.Client) -> None:
    """GET /events responds with the media type text/event-stream."""
    response = http.get(EVENTS_PATH)
    expect_status(response, 200, hint=EVENTS_HINT)
    media_type = response.headers.get("content-type", "").partition(";")[0].strip()
    if media_type != "text/event-stream":
        raise CheckFailed(
            "The response is not declared as server-sent events.",
            request=describe_request(response),
            expected="the header Content-Type: text/event-stream",
            actual=f"Content-Type: {response.headers.get('content-type', '(none)')}",
            hint=EVENTS_HINT,
        )


# The values of an event: field that leave an event's type "message".
NO_TYPE = ("", "message")


def parse_events(text: str) -> tuple[list[dict[str, str]], str]:
    """Parse a text/event-stream body the way a browser's EventSource does.

    Returns the dispatched events, each a dict of its fields with "data" holding
    the data lines joined by "\\n", and the text after the last blank line. A
    browser discards that text, because no blank line ends it.
    """
    normalized = text.replace("\r\n", "\n").replace("\r", "\n")
    *blocks, leftover = normalized.split("\n\n")
    events: list[dict[str, str]] = []
    for block in blocks:
        fields: dict[str, str] = {}
        data: list[str] = []
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                data.append(value)
            else:
                fields[name] = value
        # An event without data lines is not dispatched.
        if data:
            events.append({**fields, "data": "\n".join(data)})
    return events, leftover


def decode_events(events: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Reduce parsed events to their id and data, with the data decoded from JSON.

    Data that is not JSON stays the text it was sent as.
    """
    decoded: list[dict[str, Any]] = []
    for event in events:
        try:
            data: Any = json.loads(event["data"])
        except JSON_ERRORS:
            data = event["data"]
        decoded.append({"id": event.get("id"), "data": data})
    return decoded


def expected_events(count: int) -> list[dict[str, Any]]:
    return [{"id": str(tick), "data": {"tick": tick}} for tick in range(1, count + 1)]


def describe_first_difference(
    received: Sequence[Any], expected: Sequence[Any], item: str
) -> str:
    """Describe where `received` first differs from `expected`, `item` by `item`.

    The two sequences must differ.
    """
    index = next(
        index
        for index, (received_item, expected_item) in enumerate(
            zip_longest(received, expected)
        )
        if not same_json(received_item, expected_item)
    )
    received_text = show(received[index]) if index < len(received) else "missing"
    expected_text = show(expected[index]) if index < len(expected) else f"no {item}"
    return (
        f"{len(received)} {item}s in all, and {item} {index + 1} is {received_text} "
        f"where {expected_text} was expected"
    )


def test_events_are_framed_correctly(learner_app: LearnerApp) -> None:
    """GET /events?count=3 sends three events, each with an id and JSON data."""
    read = read_stream(learner_app, EVENTS_PATH)
    if read.status != 200:
        raise CheckFailed(
            f"Expected status 200, got {read.status}.",
            request=f"GET {EVENTS_PATH}",
            expected="status 200",
            actual=read.describe(),
            hint=EVENTS_HINT,
        )
    expected = expected_events(EVENTS_COUNT)
    events, leftover = parse_events(read.body)
    if leftover.strip():
        raise CheckFailed(
            "The stream ends with text that no blank line closes, so an "
            "EventSource client never dispatches it.",
            request=f"GET {EVENTS_PATH}",
            expected=f"{EVENTS_COUNT} events, each made of lines such as "
            '"data: {...}" and "id: 1", and ended by a blank line ("\\n\\n")',
            actual=f"{len(events)} complete events, then {show(leftover)}",
            hint="Does each event end with two newlines? A single \\n only ends "
            "one field line; the blank line that follows ends the event.",
        )
    # A browser dispatches an event with an event: field to the listeners of
    # that type only, so onmessage receives only events without one, or "message".
    named = [
        event["event"] for event in events if event.get("event", "") not in NO_TYPE
    ]
    if named:
        raise CheckFailed(
            f"The events have the type {show(named[0])}, so an EventSource "
            "client's onmessage never receives them.",
            request=f"GET {EVENTS_PATH}",
            expected="events without an event: line (or with event: message), "
            "which EventSource dispatches as message events",
            actual=f"{len(named)} of {len(events)} events with an event: line, in "
            f"the body {truncate(json.dumps(read.body))}",
            hint="Does the generator pass event=... to ServerSentEvent? A named "
            "event reaches only addEventListener with that name, not onmessage. "
            "Leave it out: ServerSentEvent(data=..., id=...).",
        )
    decoded = decode_events(events)
    if not same_json(decoded, expected):
        raise CheckFailed(
            "The events do not carry the expected ids and data.",
            request=f"GET {EVENTS_PATH}",
            expected=f"events (id and JSON data) {show(expected)}",
            actual=f"events {show(decoded)}, from the body "
            f"{truncate(json.dumps(read.body))}",
            hint="Does event N carry id=str(N) and data={'tick': N}, for N from 1 "
            "to count?",
        )


def test_parameters_have_defaults(learner_app: LearnerApp) -> None:
    """Without count, 5 lines or events come; without interval, 0.5 s apart."""
    hint = (
        f"Are the defaults count={DEFAULT_COUNT} and interval={DEFAULT_INTERVAL:g} "
        "on both endpoints, as in `count: Count = 5, interval: Interval = 0.5`?"
    )
    for path in ("/stream?interval=0", "/events?interval=0"):
        read = read_stream(learner_app, path)
        kind = "events" if path.startswith("/events") else "lines"
        mark = EVENT_MARK if kind == "events" else LINE_MARK
        found = len(mark.findall(read.body))
        if read.status != 200 or found != DEFAULT_COUNT:
            raise CheckFailed(
                f"Without count, the response does not have the default number "
                f"of {kind}.",
                request=f"GET {path}",
                expected=f"status 200 with {DEFAULT_COUNT} {kind}",
                actual=f"{found} {kind}: {read.describe()}",
                hint=hint,
            )
        if read.total > DEFAULT_INTERVAL / 2:
            raise CheckFailed(
                f"With interval=0, the {kind} did not come at once.",
                request=f"GET {path}",
                expected=f"the whole response within {DEFAULT_INTERVAL / 2:g} s",
                actual=f"the response took {read.total:.3f} s",
                hint="Does the generator sleep for the interval the request gives, "
                "`await asyncio.sleep(interval)`, rather than a fixed time?",
            )
    for path in ("/stream?count=2", "/events?count=2"):
        read = read_stream(learner_app, path)
        record_measurement(f"GET {path}", seconds=round(read.total, 3))
        low, high = DEFAULT_INTERVAL / 2, DEFAULT_TWO_ITEMS_LINE
        if read.status != 200 or not low <= read.total <= high:
            raise CheckFailed(
                "Without interval, two lines or events are not the default "
                "interval apart.",
                request=f"GET {path}",
                expected=f"status 200, and one interval of about "
                f"{DEFAULT_INTERVAL:g} s (from {low:g} to {high:g} s) between the "
                "two",
                actual=f"the response took {read.total:.3f} s: {read.describe()}",
                hint=f"{hint} And does the generator sleep only between two items, "
                "not before the first or after the last?",
            )


@pytest.mark.timeout(30)
def test_items_paced_by_interval(learner_app: LearnerApp) -> None:
    """Both endpoints wait the interval the request gives between two items.

    Then each endpoint gets two items and an interval drawn at random, longer
    than every fixed interval the other checks send with two items or more,
    and then two items and a long interval, up to the README's maximum. Each
    must send the first item at once and end at once after the last.
    """
    for path in PACED_PATHS:
        _expect_paced(learner_app, path, PACED_COUNT, PACED_INTERVAL)
    ranges = (
        (RANDOM_INTERVAL_MIN, RANDOM_INTERVAL_MAX),
        (LONG_INTERVAL_MIN, MAX_INTERVAL),
    )
    for low, high in ranges:
        for endpoint in ("stream", "events"):
            interval = _random_interval(low, high)
            path = f"/{endpoint}?count={RANDOM_INTERVAL_COUNT}&interval={interval:g}"
            # A wait before the first item or after the last also stretches the
            # response to about twice the interval, the window's edge. The times
            # of the items tell the cause, so they are judged first.
            read = read_stream(learner_app, path)
            _expect_item_count(read, RANDOM_INTERVAL_COUNT)
            _expect_no_wait_around_items(read, interval)
            _expect_paced_read(read, RANDOM_INTERVAL_COUNT, interval)


def _random_interval(low: float, high: float) -> float:
    """Return an interval from `low` to `high`, in steps of RANDOM_INTERVAL_STEP."""
    steps = round((high - low) / RANDOM_INTERVAL_STEP)
    step = secrets.randbelow(steps + 1)
    return round(low + step * RANDOM_INTERVAL_STEP, 2)


def _expect_paced(
    learner_app: LearnerApp, path: str, count: int, interval: float
) -> None:
    """Fail unless GET `path` sends `count` items in half to twice their intervals."""
    read = read_stream(learner_app, path)
    _expect_item_count(read, count)
    _expect_paced_read(read, count, interval)


def _expect_item_count(read: StreamRead, count: int) -> None:
    """Fail unless `read` is a 200 with `count` lines or events."""
    kind = "events" if read.path.startswith("/events") else "lines"
    mark = EVENT_MARK if kind == "events" else LINE_MARK
    found = len(mark.findall(read.body))
    if read.status == 200 and found == count:
        return
    hint = STREAM_HINT if kind == "lines" else EVENTS_HINT
    if read.status == 422:
        hint = (
            f"Is interval bounded with Query(ge=0, le=MAX_INTERVAL_SECONDS) on "
            f"both endpoints, so that every interval up to {MAX_INTERVAL:g} s "
            "is accepted?"
        )
    raise CheckFailed(
        f"Expected status 200 with {count} {kind}.",
        request=f"GET {read.path}",
        expected=f"status 200 with {count} {kind}",
        actual=f"{found} {kind}: {read.describe()}",
        hint=hint,
    )


def _expect_paced_read(read: StreamRead, count: int, interval: float) -> None:
    """Fail unless the `count` items of `read` took half to twice their intervals."""
    kind = "events" if read.path.startswith("/events") else "lines"
    # The whole response counts, not the first item to the last: items
    # held back by a blocked loop arrive together, at varying times.
    gaps = count - 1
    seconds = gaps * interval
    low, high = seconds / 2, 2 * seconds
    record_measurement(
        f"GET {read.path}", seconds=round(read.total, 4), low=low, high=high
    )
    if not low <= read.total <= high:
        intervals = "1 interval" if gaps == 1 else f"{gaps} intervals"
        raise CheckFailed(
            f"The {kind} did not come {interval:g} s apart, the interval "
            "the request gives.",
            request=f"GET {read.path}",
            expected=f"{intervals} of {interval:g} s, "
            f"{seconds:g} s in all (from {low:g} to {high:g} s)",
            actual=f"the response took {read.total:.3f} s",
            hint="Does the generator sleep for the interval the request gives, "
            "`await asyncio.sleep(interval)`, rather than a fixed time or a "
            "time worked out from it?",
        )


def _expect_no_wait_around_items(read: StreamRead, interval: float) -> None:
    """Fail unless `read` has no wait before its first item or after its last.

    Each may take up to a quarter of `interval`.
    """
    kind = "event" if read.path.startswith("/events") else "line"
    mark = EVENT_MARK if kind == "event" else LINE_MARK

    # The lines that hold an item, not the first line: a comment line sent at
    # once must not stand in for an item held back. An item on no line that
    # "\n" ends arrived by the end of the body.
    arrivals = [
        seconds
        for text, seconds in zip(read.body.split("\n"), read.line_times, strict=False)
        if mark.search(text)
    ] or [read.total]
    first = arrivals[0]

    pass_line = FIRST_ITEM_INTERVAL_SHARE * interval
    record_measurement(
        f"first {kind} of GET {read.path}",
        seconds=round(first, 4),
        pass_line=pass_line,
    )
    if first <= pass_line:
        _expect_no_wait_after_last(read, kind, arrivals[-1], pass_line)
        return
    expected = (
        f"the first {kind} at once, within {pass_line:.3g} s, a quarter of the interval"
    )
    if len(arrivals) < RANDOM_INTERVAL_COUNT or arrivals[-1] - first < pass_line:
        raise CheckFailed(
            f"The first {kind} came late, together with the last: it was held "
            "back until the response was complete.",
            request=f"GET {read.path}",
            expected=expected,
            actual=f"the first {kind} arrived after {first:.3f} s, and the "
            f"response took {read.total:.3f} s",
            hint=held_back_hint(kind),
        )

    raise CheckFailed(
        f"The first {kind} came late: the generator waited before it.",
        request=f"GET {read.path}",
        expected=expected,
        actual=f"the first {kind} arrived after {first:.3f} s, and the next "
        f"{arrivals[1] - first:.3f} s later",
        hint="Does the generator sleep before its first yield? Sleep only "
        "between two items: after each yield but the last, "
        "`await asyncio.sleep(interval)`. A time.sleep after the yield holds "
        f"the {kind} back too, since the event loop cannot send it meanwhile.",
    )


def _expect_no_wait_after_last(
    read: StreamRead, kind: str, last: float, pass_line: float
) -> None:
    """Fail unless the body of `read` ended within `pass_line` of its last item.

    `last` is the last item's arrival, and `kind` is "line" or "event".
    """
    after_last = read.total - last
    record_measurement(
        f"end after the last {kind} of GET {read.path}",
        seconds=round(after_last, 4),
        pass_line=pass_line,
    )
    if after_last <= pass_line:
        return
    raise CheckFailed(
        f"The response ended late: the generator waited after the last {kind}.",
        request=f"GET {read.path}",
        expected=f"the body to end at once after the last {kind}, within "
        f"{pass_line:.3g} s, a quarter of the interval",
        actual=f"the last {kind} arrived after {last:.3f} s, and the body ended "
        f"{after_last:.3f} s later",
        hint="Does the generator sleep after its last yield too? Sleep only "
        "between two items, as in `if number < count: await "
        "asyncio.sleep(interval)`.",
    )


def test_invalid_stream_parameters_are_422(http: httpx.Client) -> None:
    """Values out of range get 422, and counts up to the limit bring every item.

    Both endpoints must accept the limits themselves, and send exactly the
    items of count=100, of each count from 2 to 9 and of one from 10 to 99,
    in their formats.
    """
    cases: list[tuple[str, list[str | int]]] = []
    for endpoint in ("/stream", "/events"):
        cases += [
            (f"{endpoint}?count=0", ["query", "count"]),
            (f"{endpoint}?count={MAX_COUNT + 1}&interval=0", ["query", "count"]),
            (f"{endpoint}?count=1&interval=-1", ["query", "interval"]),
            (f"{endpoint}?count=1&interval={-INTERVAL_STEP:g}", ["query", "interval"]),
            (f"{endpoint}?count=1&interval=2.5", ["query", "interval"]),
            (
                f"{endpoint}?count=1&interval={MAX_INTERVAL + INTERVAL_STEP:g}",
                ["query", "interval"],
            ),
        ]
        # Pydantic reads nan and inf as floats, and a bound of the app's own
        # such as `value < 0 or value > 2` lets nan through.
        for text in NOT_FINITE:
            cases.append((f"{endpoint}?count=2&interval={text}", ["query", "interval"]))
    for path, location in cases:
        try:
            response = http.get(path, timeout=REJECTION_TIMEOUT)
        except httpx.TimeoutException:
            raise CheckFailed(
                "The app accepted an invalid value and started streaming.",
                request=f"GET {path}",
                expected="status 422 at once",
                actual=f"no complete response within {REJECTION_TIMEOUT:g} s",
            ) from None
        expect_detail_locates(
            response,
            location,
            hint="Are count and interval bounded with Query(ge=..., le=...), with "
            "the README's limits: count from 1 to MAX_COUNT, interval from 0 to "
            "MAX_INTERVAL_SECONDS?",
        )
    # The limits themselves are allowed.
    stream_path = f"/stream?count={MAX_COUNT}&interval=0"
    events_path = f"/events?count={MAX_COUNT}&interval=0"
    responses: dict[str, httpx.Response] = {}
    largest_intervals = tuple(
        f"{endpoint}?count=1&interval={MAX_INTERVAL:g}"
        for endpoint in ("/stream", "/events")
    )
    for path in (stream_path, events_path, *largest_intervals):
        response = http.get(path, timeout=REJECTION_TIMEOUT)
        expect_status(
            response,
            200,
            hint="Do the bounds include their limits: le=MAX_COUNT and "
            "le=MAX_INTERVAL_SECONDS on both endpoints, not lt=?",
        )
        responses[path] = response
    # A request for the maximum count gets all of its lines and events, and so
    # does one for each small count and for a count drawn in every run.
    expect_all_lines(responses[stream_path], MAX_COUNT)
    expect_all_events(responses[events_path], MAX_COUNT)
    drawn = RANDOM_COUNT_MIN + secrets.randbelow(MAX_COUNT - RANDOM_COUNT_MIN)
    for count in (*SMALL_COUNTS, drawn):
        for endpoint, expect_all in (
            ("stream", expect_all_lines),
            ("events", expect_all_events),
        ):
            response = http.get(
                f"/{endpoint}?count={count}&interval=0", timeout=REJECTION_TIMEOUT
            )
            expect_status(response, 200, hint=STREAM_HINT)
            expect_all(response, count)


def expect_all_lines(response: httpx.Response, count: int) -> None:
    """Fail unless `response` contains exactly the `count` numbered lines."""
    expected = _expected_lines(count).splitlines(keepends=True)
    received = response.text.splitlines(keepends=True)
    if received == expected:
        return
    raise CheckFailed(
        f"At count={count}, the stream did not send exactly the {count} lines.",
        request=describe_request(response),
        expected=f"{count} lines, from {show(expected[0])} to {show(expected[-1])}",
        actual=describe_first_difference(received, expected, "line"),
        hint="Does the generator yield one line for each number from 1 to count, "
        f"for every count up to MAX_COUNT ({MAX_COUNT})?",
    )


def expect_all_events(response: httpx.Response, count: int) -> None:
    """Fail unless `response` contains exactly the `count` events."""
    expected = expected_events(count)
    events, leftover = parse_events(response.text)
    received = decode_events(events)
    if same_json(received, expected) and not leftover.strip():
        return
    hint = (
        "Does the generator yield one event for each number from 1 to count, "
        f"for every count up to MAX_COUNT ({MAX_COUNT})?"
    )
    if same_json(received, expected):
        actual = (
            f"the {count} events, then text that no blank line closes: {show(leftover)}"
        )
        hint = "Does each event end with two newlines?"
    else:
        actual = describe_first_difference(received, expected, "event")
    raise CheckFailed(
        f"At count={count}, the events stream did not send exactly the {count} events.",
        request=describe_request(response),
        expected=f"{count} events, each ended by a blank line, from "
        f"{show(expected[0])} to {show(expected[-1])} (id and JSON data)",
        actual=actual,
        hint=hint,
    )
