"""Grader for chapter 12: concurrent fetches with asyncio.gather and a deadline.

GET /concurrent?delay=0.3&delay=0.1 makes the app fetch one source per delay
from a sources service that this grader runs (graders/chapter12_sources.py).
The service delays each response by the fetch's delay and records when each
fetch arrived and ended. The checks see from those records whether the fetches
ran at once and whether the deadline cancelled them, instead of trusting the
app's timing. Each response contains a random tag, so an app cannot make up
the data without fetching it.
The deadline check also compares the app's times with itself: a request cut
by its deadline against a request that lasts that long.
"""

import json
import math
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from chapter12_sources import Fetch, SourcesService, max_concurrent

from apigrade.checks import (
    CheckFailed,
    describe_request,
    describe_response,
    expect_detail_locates,
    expect_json,
    expect_status,
    json_body,
    same_json,
    show,
)
from apigrade.server import LearnerApp
from apigrade.timing import SINGLE_RUNS, WARM_UPS, pass_line, record_measurement

# Delays the checks request, in seconds: short, so grading stays fast. The
# order check requests the slowest fetch first, so completion order differs
# from request order.
SINGLE_DELAY = 0.1
ORDER_DELAYS = (0.3, 0.1, 0.2)
# Rising delays finish in request order, so only the failure decides the check.
FAILURE_DELAYS = (0.1, 0.3, 0.5)
FAILING_INDEX = 1
# Delays for a request that fails two fetches. They rise as well, because two
# fetches with equal delays may finish in either order.
TWO_FAILURE_DELAYS = (0.0, 0.2)
# The delay of the fetch whose source returns a JSON list: LIST_DELAY_MIN plus
# a random number of milliseconds below LIST_DELAY_STEPS, new in every run.
LIST_DELAY_MIN = 0.011
LIST_DELAY_STEPS = 80
# Each fetch is held this long, so fetches started together by gather, a few
# milliseconds apart, overlap by nearly the whole delay. Ten of them one after
# another take 2.5 s, within the default deadline of 3 s, so such an app gets
# its 200 and the check reports the overlap the sources service saw.
CONCURRENT_DELAY = 0.25
CONCURRENT_FETCHES = 4
# The concurrency check sends each set of delays once: a second try would pass
# an app that awaits its fetches one by one on every other request. Fetches
# that gather starts together overlap by a whole delay. Over 20 runs with both
# cores loaded, every request of the solution ran all its fetches at once.
# The counts and the range of random delays of the concurrency check's later
# requests, so an app cannot run fetches at once only for ten equal delays.
MIXED_COUNTS = range(2, 10)
MIXED_DELAY_MIN = CONCURRENT_DELAY
MIXED_DELAY_MAX = 0.45
MIXED_DELAY_STEP = 0.01
# The last request of the concurrency check has a random count of fetches from
# LONG_DELAY_COUNTS. One or more of its delays run from LONG_DELAY_MIN to
# LONG_DELAY_MAX, so an app cannot await fetches one by one for long delays alone.
LONG_DELAY_COUNTS = range(3, 10)
LONG_DELAY_MIN = 0.51
LONG_DELAY_MAX = 1.0
DEADLINE = 0.2
# The slow fetch is CONCURRENT_FETCHES times the deadline, so an app that waits
# for it takes about that many times as long as one that stops at the deadline.
# The pass line sits at the geometric middle.
SLOW_FETCH = DEADLINE * CONCURRENT_FETCHES
DEADLINE_STATUS_DELAYS = (0.1, 1.0)
# A fail position far past any fetch, sent with its negative: fail has no
# bounds, so both are accepted and fail nothing.
FAR_POSITION = 10**18
# A deadline drawn in every run from RANDOM_DEADLINE_MIN to RANDOM_DEADLINE_MAX,
# in steps of RANDOM_DEADLINE_STEP, so an app cannot keep only the fixed
# deadlines of the other requests. Its one fetch outlasts it by
# RANDOM_DEADLINE_OVERRUN and still ends before the 3 s default, so an app that
# uses the default, or no timeout, for this deadline gets a 200 after the fetch.
# The 504 may come up to RANDOM_DEADLINE_LATE_FACTOR times the deadline after
# the request.
RANDOM_DEADLINE_MIN = 1.0
RANDOM_DEADLINE_MAX = 1.5
RANDOM_DEADLINE_STEP = 0.01
RANDOM_DEADLINE_OVERRUN = 1.0
RANDOM_DEADLINE_LATE_FACTOR = 2.0
# A second request with a random deadline has a random count of fetches from
# MANY_DEADLINE_COUNTS, so an app cannot keep the deadline only for one or two
# fetches. One or more of them end from DEADLINE_FETCH_MARGIN to
# RANDOM_DEADLINE_OVERRUN after the deadline, and the others, the first one
# among them, end DEADLINE_FETCH_MARGIN or more before it.
MANY_DEADLINE_COUNTS = range(3, 11)
DEADLINE_FETCH_MARGIN = 0.5
# The README's default and maximum deadline. A request without a deadline
# has one fetch that outlasts the default, so it must end in a 504 rather than
# in a 200 after the fetch. The 504 can come no sooner than the default, since
# the grader's clock starts before the app's, and may come
# DEFAULT_DEADLINE_SLACK later on a busy machine.
DEFAULT_DEADLINE = 3.0
DEFAULT_DEADLINE_SLACK = 0.6
MAX_DEADLINE = 10.0
# The README's MAX_DELAY_SECONDS and MAX_FETCHES.
MAX_DELAY = 5.0
MAX_FETCHES = 10
DEFAULT_DEADLINE_DELAYS = (DEFAULT_DEADLINE + 1,)
# A fetch that takes under a third of its request's deadline, so the request
# gets its 200 however busy the machine.
WITHIN_DEADLINE_DELAYS = (0.3,)
WITHIN_DEADLINE = 1.0
# A deadline above the default, so an app that caps every deadline at the
# default, or at any value below the fetch, gets a 504. The fetch is drawn in
# every run from LONG_FETCH_MIN to LONG_FETCH_MAX, in steps of 10 ms, and the
# deadline from LONG_DEADLINE_FACTOR times it up to MAX_DEADLINE, so the
# fetch ends a third of its time or more before the deadline.
LONG_FETCH_MIN = DEFAULT_DEADLINE + 0.5
LONG_FETCH_MAX = DEFAULT_DEADLINE + 1.5
LONG_DEADLINE_FACTOR = 1.5
# Runs of each timed request. The fastest run counts, so a moment of load on a
# busy machine does not decide the verdict.
TIMED_RUNS = 2
# The reference request alone takes its delay plus a few milliseconds, and may
# take at most this many times its delay (2, a margin of 2 times). An app that
# pads the reference request up to this line and waits for a fetch four times
# the deadline still shows a ratio of at least the line.
REFERENCE_LINE_FACTOR = pass_line(CONCURRENT_FETCHES)
# Seconds the checks must wait for the app, one after another: each request
# waits for its slowest fetch, or for the deadline. The deadline check sends
# the reference and the judged request once each before timing, then the
# reference WARM_UPS + SINGLE_RUNS times and the judged one TIMED_RUNS times,
# then two requests cut by a random deadline. The long deadline's fetch comes
# after those. scripts/bench.py takes the floor
# from these.
WAIT_SECONDS = (
    SINGLE_DELAY
    + max(ORDER_DELAYS)
    + max(FAILURE_DELAYS)
    + max(TWO_FAILURE_DELAYS)
    + LIST_DELAY_MIN
    + LIST_DELAY_STEPS / 1000
    + CONCURRENT_DELAY
    + len(MIXED_COUNTS) * MIXED_DELAY_MAX
    + LONG_DELAY_MAX
    + DEADLINE
    + (2 + WARM_UPS + SINGLE_RUNS + TIMED_RUNS) * DEADLINE
    + 2 * RANDOM_DEADLINE_MAX
    + DEFAULT_DEADLINE
    + max(WITHIN_DEADLINE_DELAYS)
    + LONG_FETCH_MAX
)
# Invalid values get a 422 at once, but an app that accepts them starts waiting.
REJECTION_TIMEOUT = 3.0
# Seconds to wait for a 422 to the largest delay before counting it as accepted.
LIMIT_PROBE_SECONDS = 1.0
# The step by which the invalid requests pass a bound of the README, and the
# smallest deadline above 0 that the limit requests send.
BOUND_STEP = 0.01
# Numbers that are not finite, which Pydantic reads as floats.
NOT_FINITE = ("nan", "NaN", "inf", "-inf", "Infinity")
# Seconds to wait, after a response, for fetches the service has not finished.
SETTLE_SECONDS = 0.2

ROUTE_HINT = (
    'Is there an @app.get("/concurrent") route that takes `delay` as '
    "Annotated[list[float], Query()]? A list parameter without Query() is read "
    "from the request body."
)
ERROR_HINT = (
    "The endpoint raised an exception: the end of the app's output, below, says "
    "where. Does the endpoint take `sources: Sources`, and is every name it uses "
    "defined?"
)
SHAPE_HINT = (
    'Does each entry hold "index", "delay" and "ok", plus "value" (the data '
    'fetch returned) when ok is true or "error" (str(error)) when it is false?'
)
FETCH_HINT = (
    "Does the endpoint call the starter's fetch(sources, index, seconds, index in "
    "fail) once per delay, with the delay the request gave, and await it? Is "
    "`fail` a query parameter too, declared with Query() like `delay`? The "
    "grader runs the sources service and tells the app where it is through "
    "SOURCES_SOCKET, which the starter's lifespan reads."
)
SEQUENTIAL_HINT = (
    "Are the fetches awaited one after another, for example `await fetch(...)` "
    "inside a for loop? Each await then waits for the previous fetch to finish. "
    "Create all the coroutines first and await them together with "
    "`await asyncio.gather(*fetches, return_exceptions=True)`."
)
DEADLINE_HINT = (
    "Does the endpoint wrap the gather in `asyncio.wait_for(..., timeout=deadline)` "
    "and turn asyncio.TimeoutError into HTTPException(status_code=504, ...)?"
)


@pytest.fixture(scope="module")
def sources(work_dir: Path) -> Iterator[SourcesService]:
    """The sources service, started before the app so the app can reach it."""
    service = SourcesService(work_dir / "sources.sock")
    service.start()
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="module")
def app_env(sources: SourcesService) -> dict[str, str]:
    return {"SOURCES_SOCKET": str(sources.socket_path)}


@dataclass(frozen=True)
class Exchange:
    """One request to the app, and the fetches the sources service saw for it."""

    response: httpx.Response
    # time.monotonic() when the request was sent and when the response arrived.
    sent: float
    received: float
    fetches: list[Fetch]

    @property
    def seconds(self) -> float:
        return self.received - self.sent

    def describe_fetches(self) -> str:
        if not self.fetches:
            return "the sources service received no fetch"
        lines = [fetch.describe(self.sent) for fetch in self.fetches]
        return "the sources service saw (times from the request):\n" + "\n".join(
            f"  {line}" for line in lines
        )

    def data_of(self, index: int) -> str:
        """Return the data the service sent for `index`, or a stand-in for feedback."""
        for fetch in self.fetches:
            if fetch.index == index and not fetch.fail and fetch.data is not None:
                return fetch.data
        return f"(the data source {index} sends, which it never sent)"


def _exchange(
    http: httpx.Client,
    sources: SourcesService,
    path: str,
    *,
    settle: float = SETTLE_SECONDS,
    headers: dict[str, str] | None = None,
) -> Exchange:
    """Send GET `path` and collect the fetches the app made for it."""
    sources.clear()
    sent = time.monotonic()
    response = http.get(path, headers=headers)
    received = time.monotonic()
    return Exchange(response, sent, received, sources.fetches(settle=settle))


def _expect_fetches(
    exchange: Exchange, delays: tuple[float, ...], failing: frozenset[int] = frozenset()
) -> None:
    """Fail unless the app fetched each source once, with the request's delay."""
    expected_fetches = [
        (index, delay, index in failing) for index, delay in enumerate(delays)
    ]
    seen = sorted((fetch.index, fetch.delay, fetch.fail) for fetch in exchange.fetches)
    matches = len(seen) == len(expected_fetches) and all(
        got[0] == want[0] and math.isclose(got[1], want[1]) and got[2] == want[2]
        for got, want in zip(seen, expected_fetches, strict=True)
    )
    if matches:
        return
    expected = ", ".join(
        f"source {index} with delay={delay:g}" + (" and fail=true" if fail else "")
        for index, delay, fail in expected_fetches
    )
    summary = (
        "The app made no fetch from the sources service."
        if not seen
        else "The app's fetches do not match the delays and failures of the request."
    )
    raise CheckFailed(
        summary,
        request=describe_request(exchange.response),
        expected=f"one fetch each: {expected}",
        actual=f"{describe_response(exchange.response)}; {exchange.describe_fetches()}",
        hint=FETCH_HINT,
    )


def _status_hint(response: httpx.Response) -> str:
    return ERROR_HINT if response.status_code == 500 else ROUTE_HINT


def _query(delays: tuple[float, ...], **extra: float | int) -> str:
    parts = [f"delay={seconds:g}" for seconds in delays]
    parts += [f"{name}={value:g}" for name, value in extra.items()]
    return "/concurrent?" + "&".join(parts)


def _ok_entry(index: int, delay: float, value: str) -> dict[str, Any]:
    return {"index": index, "delay": delay, "ok": True, "value": value}


def _failed_entry(index: int, delay: float) -> dict[str, Any]:
    return {
        "index": index,
        "delay": delay,
        "ok": False,
        "error": f"source {index} failed",
    }


def _results(response: httpx.Response, hint: str) -> list[Any]:
    """Return the "results" list of a 200 response, or fail explaining its shape."""
    expect_status(response, 200, hint=_status_hint(response))
    body = json_body(response, hint=hint)
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(results, list):
        raise CheckFailed(
            'The response has no "results" list.',
            request=describe_request(response),
            expected='a body like {"results": [...]}, one entry per delay',
            actual=describe_response(response),
            hint=hint,
        )
    return results


def test_single_fetch_returns_result(
    http: httpx.Client, sources: SourcesService
) -> None:
    """GET /concurrent?delay=0.1 returns one result entry for the one fetch."""
    exchange = _exchange(http, sources, _query((SINGLE_DELAY,)))
    expect_status(exchange.response, 200, hint=_status_hint(exchange.response))
    _expect_fetches(exchange, (SINGLE_DELAY,))
    expected = {"results": [_ok_entry(0, SINGLE_DELAY, exchange.data_of(0))]}
    expect_json(exchange.response, expected, hint=SHAPE_HINT)


def test_results_keep_request_order(
    http: httpx.Client, sources: SourcesService
) -> None:
    """Results come back in the order of the delays, not the order fetches finish."""
    exchange = _exchange(http, sources, _query(ORDER_DELAYS))
    response = exchange.response
    results = _results(response, SHAPE_HINT)
    _expect_fetches(exchange, ORDER_DELAYS)
    expected = [
        _ok_entry(index, delay, exchange.data_of(index))
        for index, delay in enumerate(ORDER_DELAYS)
    ]
    if same_json(results, expected):
        return
    # An app that collects outcomes as fetches finish still numbers its entries
    # 0, 1, 2, so the values, which name their source, show the order.
    values = [entry.get("value") for entry in results if isinstance(entry, dict)]
    finished_first = sorted(expected, key=lambda entry: float(entry["delay"]))
    if values == [entry["value"] for entry in finished_first]:
        raise CheckFailed(
            "The results are in the order the fetches finished, not the order of "
            "the delays in the request.",
            request=describe_request(response),
            expected=f'"results": {show(expected)}',
            actual=describe_response(response),
            hint="Are results appended as each fetch finishes (a callback, "
            "asyncio.as_completed)? asyncio.gather returns the outcomes in the "
            "order of its arguments, so zip them with the delays.",
        )
    raise CheckFailed(
        "The results do not match the requested delays, one entry per delay in "
        "request order, each with the data its source sent.",
        request=describe_request(response),
        expected=f'"results": {show(expected)}',
        actual=describe_response(response),
        hint=SHAPE_HINT,
    )


def test_failure_is_isolated(http: httpx.Client, sources: SourcesService) -> None:
    """A failing fetch is reported in its entry while the others still succeed."""
    exchange = _exchange(http, sources, _query(FAILURE_DELAYS, fail=FAILING_INDEX))
    response = exchange.response
    expected = [
        _failed_entry(index, delay)
        if index == FAILING_INDEX
        else _ok_entry(index, delay, exchange.data_of(index))
        for index, delay in enumerate(FAILURE_DELAYS)
    ]
    if response.status_code >= 500:
        raise CheckFailed(
            f"One failing fetch made the whole request fail with status "
            f"{response.status_code}.",
            request=describe_request(response),
            expected=f'status 200 with "results": {show(expected)}',
            actual=describe_response(response),
            hint="Is asyncio.gather called without return_exceptions=True? Then "
            "the first FetchError propagates out of the gather and the other "
            "results are lost. With return_exceptions=True it comes back as that "
            "fetch's outcome.",
        )
    results = _results(response, SHAPE_HINT)
    _expect_fetches(exchange, FAILURE_DELAYS, frozenset({FAILING_INDEX}))
    if not same_json(results, expected):
        raise CheckFailed(
            f"The entries do not report the failure of fetch {FAILING_INDEX} "
            "next to the results of the others.",
            request=describe_request(response),
            expected=f'"results": {show(expected)}',
            actual=describe_response(response),
            hint=SHAPE_HINT,
        )
    # fail repeats like delay, and a position with no fetch, past the end or
    # negative, fails nothing. fail has no bounds and no limit on its count:
    # one request sends a dozen positions, far ones and random ones among them.
    far_positions = [
        FAR_POSITION,
        -FAR_POSITION,
        *(10 + secrets.randbelow(10**6) for _ in range(5)),
        *(-2 - secrets.randbelow(10**6) for _ in range(5)),
    ]
    # Rising delays, as for two failures, so the entries' order is fixed.
    many_failures = (
        _query(TWO_FAILURE_DELAYS)
        + "&fail=1"
        + "".join(f"&fail={position}" for position in far_positions)
    )
    for path, delays, failing in (
        (
            _query(TWO_FAILURE_DELAYS) + "&fail=0&fail=1",
            TWO_FAILURE_DELAYS,
            frozenset({0, 1}),
        ),
        ("/concurrent?delay=0&fail=5", (0.0,), frozenset()),
        ("/concurrent?delay=0&fail=-1", (0.0,), frozenset()),
        (many_failures, TWO_FAILURE_DELAYS, frozenset({1})),
    ):
        exchange = _exchange(http, sources, path)
        if exchange.response.status_code == 422:
            raise CheckFailed(
                "A valid fail was rejected.",
                request=describe_request(exchange.response),
                expected="status 200: fail takes any ints, as many as are sent, "
                "and a position with no fetch fails nothing",
                actual=describe_response(exchange.response),
                hint="Is fail declared as Annotated[list[int] | None, Query()], with "
                "no bound on a position or on their number?",
            )
        results = _results(exchange.response, SHAPE_HINT)
        _expect_fetches(exchange, delays, failing)
        expected = [
            _failed_entry(index, delay)
            if index in failing
            else _ok_entry(index, delay, exchange.data_of(index))
            for index, delay in enumerate(delays)
        ]
        if not same_json(results, expected):
            raise CheckFailed(
                "The entries do not match the failures the request asked for.",
                request=describe_request(exchange.response),
                expected=f'"results": {show(expected)}',
                actual=describe_response(exchange.response),
                hint=SHAPE_HINT + " Is fail a list, Annotated[list[int] | None, "
                "Query()], so every fail=... counts, with no bound on a position "
                "or on their number?",
            )
    _expect_other_errors_raised(http, sources)


def _expect_other_errors_raised(http: httpx.Client, sources: SourcesService) -> None:
    """Fail unless an exception other than FetchError ends the request in a 500.

    The source returns a JSON list, so the starter's fetch raises TypeError at
    ["data"]. Its delay is new in every run. The request goes on a connection
    of its own, because uvicorn closes the connection after the endpoint raises.
    """
    delay = LIST_DELAY_MIN + secrets.randbelow(LIST_DELAY_STEPS) / 1000
    sources.list_delay = delay
    try:
        exchange = _exchange(
            http, sources, _query((delay,)), headers={"Connection": "close"}
        )
    finally:
        sources.list_delay = None
    response = exchange.response
    if response.status_code == 500:
        return
    raise CheckFailed(
        "A fetch that raised TypeError, not FetchError, did not end the request "
        "in a 500.",
        request=f"{describe_request(response)}, where the source returned a JSON "
        'list, so fetch raised TypeError at ["data"]',
        expected="status 500: only a FetchError becomes an error entry, and any "
        "other exception is a bug that must show",
        actual=describe_response(response),
        hint="Does the code that builds each entry turn every exception into an "
        "error entry, for example with isinstance(outcome, Exception)? Check for "
        "FetchError only and raise any other exception, so that a bug shows up as "
        "a 500 rather than as a failed fetch.",
    )


@dataclass(frozen=True)
class TimedPair:
    """The fastest time of a reference request and of the request judged."""

    reference_path: str
    judged_path: str
    reference: float
    judged: float
    reference_response: httpx.Response
    judged_response: httpx.Response

    @property
    def ratio(self) -> float:
        return self.judged / self.reference


def _fastest(http: httpx.Client, path: str, runs: int) -> tuple[float, httpx.Response]:
    """Return the fastest of `runs` timings of GET `path`, and its last response."""
    times = []
    response: httpx.Response | None = None
    for _ in range(runs):
        started = time.perf_counter()
        response = http.get(path)
        times.append(time.perf_counter() - started)
    assert response is not None
    return min(times), response


def _time_pair(http: httpx.Client, reference_path: str, judged_path: str) -> TimedPair:
    """Time `reference_path` after a warm-up, then `judged_path`, fastest of each."""
    for _ in range(WARM_UPS):
        expect_status(http.get(reference_path), 200, hint=ROUTE_HINT)
    reference, reference_response = _fastest(http, reference_path, SINGLE_RUNS)
    judged, judged_response = _fastest(http, judged_path, TIMED_RUNS)
    return TimedPair(
        reference_path=reference_path,
        judged_path=judged_path,
        reference=reference,
        judged=judged,
        reference_response=reference_response,
        judged_response=judged_response,
    )


def _expect_reference_in_bounds(pair: TimedPair, delay: float) -> None:
    """Fail unless the reference request took between `delay` and the line.

    Below `delay` there is no wait to compare with. Above
    REFERENCE_LINE_FACTOR times `delay` the request was slowed down, and a
    slow reference makes any request look quick beside it.
    """
    response = pair.reference_response
    if pair.reference < delay:
        raise CheckFailed(
            "The request returned before its fetch could have finished, so there "
            "is no wait to compare with.",
            request=describe_request(response),
            expected=f"a request that takes at least {delay:g} s",
            actual=f"{describe_response(response)}; it took {pair.reference:.3f} s",
            hint="Is every fetch awaited? A coroutine that is never awaited "
            "does not run.",
        )
    line = REFERENCE_LINE_FACTOR * delay
    if pair.reference > line:
        raise CheckFailed(
            f"The request for one fetch of {delay:g} s took more than "
            f"{REFERENCE_LINE_FACTOR:g} times its delay.",
            request=f"GET {pair.reference_path}, one at a time, after "
            f"{WARM_UPS} warm-up requests",
            expected=f"about {delay:g} s (at most {line:g} s), because the check "
            f"compares GET {pair.judged_path} with this request, and a reference "
            "slowed down makes any request look quick beside it",
            actual=f"the fastest of {SINGLE_RUNS} runs took {pair.reference:.3f} s; "
            f"{describe_response(response)}",
            hint="Does the endpoint wait longer than its fetches, for example by "
            "sleeping until a fixed time has passed before it responds? A request "
            f"for one fetch of {delay:g} s should take about {delay:g} s.",
        )


def _describe_pair(pair: TimedPair, line: float) -> str:
    return (
        f"GET {pair.reference_path} took {pair.reference:.3f} s; GET "
        f"{pair.judged_path} took {pair.judged:.3f} s, {pair.ratio:.1f} times as "
        f"long (the pass line is {line:.1f} times; each is the fastest of "
        f"{SINGLE_RUNS} and {TIMED_RUNS} runs after {WARM_UPS} warm-up requests)"
    )


def _mixed_delays(
    count: int, low: float = MIXED_DELAY_MIN, high: float = MIXED_DELAY_MAX
) -> tuple[float, ...]:
    """Return `count` distinct random delays from `low` to `high`.

    Each has two decimals, such as 0.37, so an entry whose delay the app
    rounded to one decimal differs from the request.
    """
    steps = round((high - low) / MIXED_DELAY_STEP)
    grid = [round(low + step * MIXED_DELAY_STEP, 2) for step in range(steps + 1)]
    two_decimals = [delay for delay in grid if round(delay * 100) % 10 != 0]
    return tuple(secrets.SystemRandom().sample(two_decimals, count))


def _long_mixed_delays() -> tuple[float, ...]:
    """Return delays for a random count from LONG_DELAY_COUNTS, one or more long.

    The long delays run from LONG_DELAY_MIN to LONG_DELAY_MAX and the others
    from MIXED_DELAY_MIN to MIXED_DELAY_MAX, in a random order.
    """
    count = secrets.choice(LONG_DELAY_COUNTS)
    long_count = 1 + secrets.randbelow(count)
    delays = [
        *_mixed_delays(long_count, LONG_DELAY_MIN, LONG_DELAY_MAX),
        *_mixed_delays(count - long_count),
    ]
    secrets.SystemRandom().shuffle(delays)
    return tuple(delays)


def _expect_all_at_once(
    http: httpx.Client,
    sources: SourcesService,
    delays: tuple[float, ...],
    failing: frozenset[int],
    hint: str,
    *,
    judge_response: bool,
) -> Exchange:
    """Fail unless one request ran every fetch at once.

    With `judge_response` false, only the fetches count here, and the caller
    judges the response afterwards, so a timing mistake is reported first.
    Each request then goes on a connection of its own, because uvicorn closes
    a connection after an endpoint raises, and a request sent on it at that
    moment fails.
    """
    path = _query(delays) + "".join(f"&fail={index}" for index in sorted(failing))
    headers = None if judge_response else {"Connection": "close"}
    exchange = _exchange(http, sources, path, headers=headers)
    if judge_response:
        _results(exchange.response, SHAPE_HINT)
    # Fetches one after another may outlast the default deadline, so the
    # later ones are never made: their order is the mistake to report.
    if not _one_by_one_until_deadline(exchange, delays, failing):
        _expect_fetches(exchange, delays, failing)
    peak = max_concurrent(exchange.fetches)
    record_measurement(
        f"GET with {len(delays)} delays",
        max_concurrent=peak,
        seconds=round(exchange.seconds, 4),
    )
    if peak == len(delays):
        return exchange
    overlap = "ran one after another" if peak <= 1 else "did not all run at once"
    every = "both" if len(delays) == 2 else f"all {len(delays)}"
    if len(set(delays)) == 1:
        duration = f"{delays[0]:g} s, not {len(delays)} times as long"
    else:
        duration = (
            f"as long as its slowest fetch, {max(delays):g} s, not the sum of "
            f"the delays, {sum(delays):.2f} s"
        )
    response = exchange.response
    status = "" if response.status_code == 200 else f"{describe_response(response)}; "
    raise CheckFailed(
        f"The fetches {overlap}: the sources service saw at most {peak} of the "
        f"{len(delays)} fetches at the same time.",
        request=f"GET {path}",
        expected=f"{every} fetches running at once, so the request "
        f"takes about {duration}",
        actual=f"the request took {exchange.seconds:.3f} s; {status}"
        f"{exchange.describe_fetches()}",
        hint=hint,
    )


def _one_by_one_until_deadline(
    exchange: Exchange, delays: tuple[float, ...], failing: frozenset[int]
) -> bool:
    """Tell whether the app made its fetches one by one until a 504 cut them off.

    Every fetch made must be one of the request's, with its delay.
    """
    fetches = exchange.fetches
    if exchange.response.status_code != 504 or len(fetches) < 2:
        return False
    if max_concurrent(fetches) > 1:
        return False
    return all(
        0 <= fetch.index < len(delays)
        and math.isclose(fetch.delay, delays[fetch.index])
        and fetch.fail == (fetch.index in failing)
        for fetch in fetches
    ) and len({fetch.index for fetch in fetches}) == len(fetches)


@pytest.mark.timeout(30)
def test_fetches_run_concurrently(http: httpx.Client, sources: SourcesService) -> None:
    """Ten fetches of 0.25 s, the maximum a request may ask for, all run at once.

    All ten, because an app that runs only a few at a time (a semaphore of
    four, say) gets a batch of four right. Then every smaller count from two,
    with random delays, so that the ten equal delays are not a special case.
    Last, a random count from three with one or more delays above 0.5 s, so
    that short delays are not a special case either.
    """
    delays = (CONCURRENT_DELAY,) * MAX_FETCHES
    exchange = _expect_all_at_once(
        http, sources, delays, frozenset(), SEQUENTIAL_HINT, judge_response=True
    )
    results = _results(exchange.response, SHAPE_HINT)
    _expect_entries(exchange, results, delays, frozenset(), SHAPE_HINT)
    special_case_hint = (
        f"The request with {MAX_FETCHES} equal delays ran its fetches at once, so "
        "does the endpoint handle some requests differently, by their number of "
        "delays, their values or a fail parameter? Every request should create all "
        "its coroutines first and await them together with asyncio.gather."
    )
    requests = [_mixed_delays(count) for count in MIXED_COUNTS]
    requests.append(_long_mixed_delays())
    for mixed in requests:
        count = len(mixed)
        failing = frozenset({secrets.randbelow(count)}) if count % 2 else frozenset()
        exchange = _expect_all_at_once(
            http, sources, mixed, failing, special_case_hint, judge_response=False
        )
        _expect_mixed_results(http, sources, exchange, mixed, failing)


MIXED_RESULTS_HINT = (
    f"The request with {MAX_FETCHES} equal delays got its results, so does the "
    "endpoint answer some requests differently, by their number of delays, their "
    "values or a fail parameter? Every request gets status 200 with one entry per "
    "delay, built the same way."
)


def _expected_entries(
    exchange: Exchange, delays: tuple[float, ...], failing: frozenset[int]
) -> list[dict[str, Any]]:
    return [
        _failed_entry(index, delay)
        if index in failing
        else _ok_entry(index, delay, exchange.data_of(index))
        for index, delay in enumerate(delays)
    ]


def _sorted_as_json(items: list[Any]) -> list[Any]:
    return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))


def _expect_entries(
    exchange: Exchange,
    results: list[Any],
    delays: tuple[float, ...],
    failing: frozenset[int],
    hint: str,
) -> None:
    """Fail unless `results` contains one entry per delay, in any order.

    results_keep_request_order judges the order. An app that collects the
    outcomes as the fetches finish still numbers its entries in request order,
    but pairs each index with another fetch's outcome. So the pairs of index
    and delay are compared apart from the outcomes, each as a multiset.
    """
    response = exchange.response
    expected = _expected_entries(exchange, delays, failing)
    if len(results) != len(expected) or not all(
        isinstance(entry, dict) for entry in results
    ):
        raise CheckFailed(
            f"The response does not hold one entry per delay, {len(expected)} in all.",
            request=describe_request(response),
            expected=f'"results": {show(expected)}',
            actual=describe_response(response),
            hint=hint,
        )
    places = _sorted_as_json(
        [[entry.get("index"), entry.get("delay")] for entry in results]
    )
    expected_places = _sorted_as_json(
        [[index, delay] for index, delay in enumerate(delays)]
    )
    if not same_json(places, expected_places):
        raise CheckFailed(
            "The entries do not carry the index and delay of each fetch.",
            request=describe_request(response),
            expected=f'"results": {show(expected)}: each entry with its position in '
            "the request as index, from 0, and its delay exactly as the request "
            "gave it",
            actual=describe_response(response),
            hint=hint + " Is each entry's delay the value the request gave, "
            "neither rounded nor changed, and its index that delay's position?",
        )
    place_keys = ("index", "delay")
    outcomes = _sorted_as_json(
        [
            {key: value for key, value in entry.items() if key not in place_keys}
            for entry in results
        ]
    )
    expected_outcomes = _sorted_as_json(
        [
            {key: value for key, value in entry.items() if key not in place_keys}
            for entry in expected
        ]
    )
    if not same_json(outcomes, expected_outcomes):
        raise CheckFailed(
            "The results do not carry the data each source sent"
            + (", and the error of each failing fetch." if failing else "."),
            request=describe_request(response),
            expected=f'"results": {show(expected)}',
            actual=describe_response(response),
            hint=hint,
        )


def _expect_mixed_results(
    http: httpx.Client,
    sources: SourcesService,
    exchange: Exchange,
    delays: tuple[float, ...],
    failing: frozenset[int],
) -> None:
    """Fail unless a request whose fetches ran at once got all its entries.

    failure_is_isolated judges a failing fetch that ends the request in a
    500. So such a 500 counts here only when that check's own request, three
    fetches with the middle one failing, gets its results.
    """
    response = exchange.response
    if (
        response.status_code >= 500
        and failing
        and _failure_request_gets_server_error(http, sources)
    ):
        return
    if response.status_code != 200:
        expected = _expected_entries(exchange, delays, failing)
        raise CheckFailed(
            f"A request with {len(delays)} delays got status "
            f"{response.status_code} instead of its results.",
            request=describe_request(response),
            expected=f'status 200 with "results": {show(expected)}',
            actual=describe_response(response),
            hint=MIXED_RESULTS_HINT,
        )
    results = _results(response, MIXED_RESULTS_HINT)
    _expect_entries(exchange, results, delays, failing, MIXED_RESULTS_HINT)


def _failure_request_gets_server_error(
    http: httpx.Client, sources: SourcesService
) -> bool:
    """Tell whether failure_is_isolated's first request ends in a server error.

    The request goes on a connection of its own, because uvicorn closes the
    connection after the endpoint raises.
    """
    path = _query(FAILURE_DELAYS, fail=FAILING_INDEX)
    exchange = _exchange(http, sources, path, headers={"Connection": "close"})
    return exchange.response.status_code >= 500


def _deadline_hint(response: httpx.Response) -> str:
    if response.status_code == 500:
        return (
            "Does the endpoint let asyncio.TimeoutError escape? Catch it and "
            "raise HTTPException(status_code=504, detail=...) instead."
        )
    return DEADLINE_HINT


def test_deadline_returns_504(http: httpx.Client, sources: SourcesService) -> None:
    """Fetches that outlast the deadline get a 504, and ones within it a 200.

    Every fetch still running at the deadline is cancelled, not only the first.
    """
    deadline_path = _query(DEADLINE_STATUS_DELAYS, deadline=DEADLINE)
    # The wait for fetches lasts past the slow fetch's end, to see whether the
    # app cancelled it or let it finish.
    exchange = _exchange(
        http, sources, deadline_path, settle=max(DEADLINE_STATUS_DELAYS)
    )
    if exchange.response.status_code != 504 and not exchange.fetches:
        # Fetches that fail at once finish before any deadline.
        _expect_fetches(exchange, DEADLINE_STATUS_DELAYS)
    expect_status(exchange.response, 504, hint=_deadline_hint(exchange.response))
    body = json_body(exchange.response)
    detail = body.get("detail") if isinstance(body, dict) else None
    if not isinstance(detail, str) or not detail:
        raise CheckFailed(
            "The 504 response has no detail message.",
            request=describe_request(exchange.response),
            expected='a body like {"detail": "the fetches did not finish within '
            'the 0.2 s deadline"}',
            actual=describe_response(exchange.response),
            hint="Does the endpoint raise HTTPException(status_code=504, "
            "detail=...) with a message?",
        )
    for fetch in exchange.fetches:
        if fetch.delay > DEADLINE:
            _expect_cancelled(exchange, deadline_path, fetch, DEADLINE)
    # A deadline the fetches finish within lets them finish: the value given is
    # the one used, below the default and above it.
    long_fetch = _draw_seconds(LONG_FETCH_MIN, LONG_FETCH_MAX)
    long_deadline = _draw_seconds(LONG_DEADLINE_FACTOR * long_fetch, MAX_DEADLINE)
    for delays, deadline in (
        (WITHIN_DEADLINE_DELAYS, WITHIN_DEADLINE),
        ((long_fetch,), long_deadline),
    ):
        path = _query(delays, deadline=deadline)
        exchange = _exchange(http, sources, path)
        if exchange.response.status_code == 200:
            continue
        raise CheckFailed(
            f"A request whose fetches finish well within its {deadline:g} s "
            "deadline did not get its results.",
            request=f"GET {path}",
            expected="status 200 with the results",
            actual=f"{describe_response(exchange.response)} after "
            f"{exchange.seconds:.3f} s",
            hint="Does asyncio.wait_for get timeout=deadline, the value the "
            "request gives, up to MAX_DEADLINE_SECONDS, with no smaller cap?",
        )


def _draw_seconds(low: float, high: float) -> float:
    """Draw a time from `low` to `high` seconds, in steps of 10 ms."""
    first = math.ceil(round(low * 100, 6))
    last = math.floor(round(high * 100, 6))
    return (first + secrets.randbelow(last - first + 1)) / 100


@pytest.mark.timeout(30)
def test_deadline_defaults_to_three_seconds(
    http: httpx.Client, sources: SourcesService
) -> None:
    """A request without a deadline gets the default one, 3 s."""
    path = _query(DEFAULT_DEADLINE_DELAYS)
    exchange = _exchange(http, sources, path)
    _expect_fetches(exchange, DEFAULT_DEADLINE_DELAYS)
    hint = (
        "Does deadline have the default DEFAULT_DEADLINE_SECONDS, 3, rather than "
        "None? asyncio.wait_for(..., timeout=None) waits for every fetch."
    )
    if exchange.response.status_code == 200:
        raise CheckFailed(
            "Without a deadline in the request, the app waited for the "
            f"{DEFAULT_DEADLINE_DELAYS[0]:g} s fetch.",
            request=f"GET {path}",
            expected=f"status 504 after the default {DEFAULT_DEADLINE:g} s deadline",
            actual=f"status 200 after {exchange.seconds:.3f} s",
            hint=hint,
        )
    expect_status(exchange.response, 504, hint=_deadline_hint(exchange.response))
    record_measurement("504 without a deadline", seconds=round(exchange.seconds, 3))
    latest = DEFAULT_DEADLINE + DEFAULT_DEADLINE_SLACK
    if not DEFAULT_DEADLINE <= exchange.seconds <= latest:
        direction = "soon" if exchange.seconds < DEFAULT_DEADLINE else "late"
        hint = (
            f"Is DEFAULT_DEADLINE_SECONDS {DEFAULT_DEADLINE:g}, the README's value, "
            "and is it the default of the deadline parameter?"
        )
        if direction == "late" and not exchange.fetches[0].cancelled:
            # The fetch ran to its end: the deadline was checked after the gather.
            hint = WAITED_HINT
        raise CheckFailed(
            f"Without a deadline in the request, the 504 came too {direction} for a "
            f"{DEFAULT_DEADLINE:g} s default.",
            request=f"GET {path}",
            expected=f"status 504 after {DEFAULT_DEADLINE:g} s, and by {latest:g} s",
            actual=f"the response came after {exchange.seconds:.3f} s",
            hint=hint,
        )


EARLY_HINT = (
    "Does the endpoint decide from the delays that the fetches will be late, and "
    "answer 504 without running them? Start the fetches and let "
    "asyncio.wait_for(..., timeout=deadline) stop them at the deadline."
)
WAITED_HINT = (
    "Does the endpoint measure the time after the gather has returned? Wrap the "
    "gather in asyncio.wait_for(..., timeout=deadline), which cancels the "
    "fetches still running when the deadline passes."
)
LATE_HINT = (
    "Does the endpoint do more work, or wait, after the deadline has passed? "
    "Respond with the 504 as soon as asyncio.wait_for raises."
)


def _expect_cancelled_at_deadline(
    exchange: Exchange, path: str, deadline: float, slow_fetch: float
) -> None:
    """Fail unless the 504 came at the deadline and the slow fetch was cancelled."""
    _expect_not_before_deadline(exchange, path, deadline)
    _expect_fetches(exchange, (slow_fetch,))
    _expect_cancelled(exchange, path, exchange.fetches[0], deadline)


def _expect_not_before_deadline(exchange: Exchange, path: str, deadline: float) -> None:
    """Fail if the response came before the deadline had passed."""
    if exchange.seconds < deadline:
        raise CheckFailed(
            "The 504 came before the deadline had passed.",
            request=f"GET {path}",
            expected=f"status 504 when the {deadline:g} s deadline passes, not "
            "sooner, because a delay stands in for a remote call whose duration "
            "the app cannot know in advance",
            actual=f"the response came after {exchange.seconds:.3f} s",
            hint=EARLY_HINT,
        )


def _expect_cancelled(
    exchange: Exchange, path: str, fetch: Fetch, deadline: float
) -> None:
    """Fail unless `fetch`, still running at the deadline, was cancelled then."""
    if fetch.cancelled:
        return
    if fetch.ended is not None and fetch.ended <= exchange.received:
        raise CheckFailed(
            "The 504 came only after the slow fetch had finished: the app waited "
            "for every fetch before it looked at the deadline.",
            request=f"GET {path}",
            expected=f"a 504 after about {deadline:g} s, with the {fetch.delay:g} s "
            "fetch cancelled at the deadline",
            actual=f"the 504 came after {exchange.seconds:.3f} s; "
            f"{exchange.describe_fetches()}",
            hint=WAITED_HINT,
        )
    raise CheckFailed(
        f"A slow fetch kept running after the 504 was sent: nothing cancelled "
        f"fetch {fetch.index}.",
        request=f"GET {path}",
        expected=f"the {fetch.delay:g} s fetch cancelled at the deadline, so its "
        "connection to the source closes with the 504",
        actual=f"the 504 came after {exchange.seconds:.3f} s; "
        f"{exchange.describe_fetches()}",
        hint="Are the fetches started as tasks (asyncio.create_task) that the "
        "endpoint stops waiting for without cancelling each one still running? "
        "A task keeps running after the response, holding a connection to the "
        "source. asyncio.wait_for(gather, timeout=deadline) cancels them all "
        "for you.",
    )


@pytest.mark.timeout(30)
def test_deadline_stops_slow_fetches(
    http: httpx.Client, sources: SourcesService
) -> None:
    """A request past its deadline gets its 504 at the deadline, not after the fetch."""
    reference_path = _query((DEADLINE,))
    judged_path = _query((SLOW_FETCH,), deadline=DEADLINE)
    expect_status(http.get(reference_path), 200, hint=ROUTE_HINT)
    # A 500 can close the connection, so the status is checked before timing.
    # The wait for fetches lasts past the slow fetch's end, to see whether the
    # app cancelled it or let it finish.
    exchange = _exchange(http, sources, judged_path, settle=SLOW_FETCH)
    if exchange.response.status_code != 504 and not exchange.fetches:
        _expect_fetches(exchange, (SLOW_FETCH,))
    expect_status(exchange.response, 504, hint=_deadline_hint(exchange.response))
    _expect_cancelled_at_deadline(exchange, judged_path, DEADLINE, SLOW_FETCH)

    pair = _time_pair(http, reference_path, judged_path)
    judged_status = pair.judged_response.status_code
    if judged_status != 504:
        raise CheckFailed(
            f"Expected status 504, got {judged_status}.",
            request=f"GET {judged_path}",
            expected="status 504 once the deadline has passed",
            actual=f"status {judged_status}",
            hint=DEADLINE_HINT,
        )
    line = pass_line(CONCURRENT_FETCHES)
    record_measurement(
        f"GET with a {SLOW_FETCH:g} s fetch and a {DEADLINE:g} s deadline against "
        f"a {DEADLINE:g} s fetch",
        reference=round(pair.reference, 4),
        cut=round(pair.judged, 4),
        ratio=round(pair.ratio, 3),
        pass_line=round(line, 3),
    )
    _expect_reference_in_bounds(pair, DEADLINE)
    if pair.judged < DEADLINE:
        raise CheckFailed(
            "The 504 came before the deadline had passed.",
            request=f"GET {judged_path}",
            expected=f"status 504 when the {DEADLINE:g} s deadline passes, not sooner",
            actual=f"the fastest of {TIMED_RUNS} runs took {pair.judged:.3f} s",
            hint=EARLY_HINT,
        )
    if pair.ratio >= line:
        raise CheckFailed(
            "The 504 came long after the deadline had passed.",
            request=f"GET {judged_path}, compared with GET {reference_path}",
            expected=f"less than {line:.1f} times as long as a {DEADLINE:g} s fetch "
            f"(stopping at the deadline takes about 1 time, waiting for the "
            f"{SLOW_FETCH:g} s fetch {CONCURRENT_FETCHES} times)",
            actual=_describe_pair(pair, line),
            hint=LATE_HINT,
        )
    _expect_random_deadline_kept(http, sources)


def _random_deadline() -> float:
    """Return a deadline from RANDOM_DEADLINE_MIN to RANDOM_DEADLINE_MAX."""
    steps = round((RANDOM_DEADLINE_MAX - RANDOM_DEADLINE_MIN) / RANDOM_DEADLINE_STEP)
    step = secrets.randbelow(steps + 1)
    return round(RANDOM_DEADLINE_MIN + step * RANDOM_DEADLINE_STEP, 2)


def _expect_random_deadline_kept(http: httpx.Client, sources: SourcesService) -> None:
    """Fail unless a random deadline of 1 to 1.5 s cuts longer fetches then.

    The other requests send deadlines of 0.2 s, 1 s with a 0.3 s fetch, and the
    3 s default, so an app that replaces every deadline of 1 s or more passes
    them all. They also send one or two fetches, so a second request sends a
    random count of them from three to ten.
    """
    deadline = _random_deadline()
    slow_fetch = round(deadline + RANDOM_DEADLINE_OVERRUN, 2)
    _expect_deadline_kept(
        http,
        sources,
        (slow_fetch,),
        deadline,
        summary=f"A request whose fetch outlasts its {deadline:g} s deadline got "
        "its results instead of a 504.",
        cancelled=f"the {slow_fetch:g} s fetch",
        drawn=f"the deadline is drawn at random from {RANDOM_DEADLINE_MIN:g} to "
        f"{RANDOM_DEADLINE_MAX:g} s in every run",
        hint="Does asyncio.wait_for get timeout=deadline, the value the "
        "request gives, for every deadline? An endpoint that swaps some "
        "deadlines for another timeout, such as the default or None, waits "
        "past them.",
    )
    deadline = _random_deadline()
    delays = _deadline_mixed_delays(deadline)
    slow = [delay for delay in delays if delay > deadline]
    _expect_deadline_kept(
        http,
        sources,
        delays,
        deadline,
        summary=f"A request with {len(delays)} fetches, {len(slow)} of them longer "
        f"than its {deadline:g} s deadline, got its results instead of a 504.",
        cancelled=_describe_slow_fetches(slow),
        drawn=f"the deadline is drawn at random from {RANDOM_DEADLINE_MIN:g} to "
        f"{RANDOM_DEADLINE_MAX:g} s, and the number of fetches from "
        f"{MANY_DEADLINE_COUNTS[0]} to {MANY_DEADLINE_COUNTS[-1]} and their delays, "
        "in every run",
        hint="The requests with one or two fetches got their 504, so does the "
        "endpoint handle some requests differently, by their number of delays "
        "or their values? Every request should await its gather inside "
        "asyncio.wait_for(..., timeout=deadline).",
    )


def _describe_slow_fetches(slow: list[float]) -> str:
    """Name the fetches of `slow`, such as "the 2.18, 2.36 and 2.13 s fetches"."""
    if len(slow) == 1:
        return f"the {slow[0]:g} s fetch"
    listed = ", ".join(f"{delay:g}" for delay in slow[:-1])
    return f"the {listed} and {slow[-1]:g} s fetches"


def _deadline_mixed_delays(deadline: float) -> tuple[float, ...]:
    """Return delays for a random count from MANY_DEADLINE_COUNTS around `deadline`.

    One or more delays end DEADLINE_FETCH_MARGIN to RANDOM_DEADLINE_OVERRUN
    after the deadline, and the others end DEADLINE_FETCH_MARGIN or more before
    it. Each has two decimals. The first fetch is a quick one and the others
    come in a random order, so an app that cancels only the first task leaves
    a slow fetch running.
    """
    count = secrets.choice(MANY_DEADLINE_COUNTS)
    slow_count = 1 + secrets.randbelow(count - 1)
    overrun_steps = round(
        (RANDOM_DEADLINE_OVERRUN - DEADLINE_FETCH_MARGIN) / RANDOM_DEADLINE_STEP
    )
    quick_steps = round((deadline - DEADLINE_FETCH_MARGIN) / RANDOM_DEADLINE_STEP)
    delays = [
        round(
            deadline
            + DEADLINE_FETCH_MARGIN
            + secrets.randbelow(overrun_steps + 1) * RANDOM_DEADLINE_STEP,
            2,
        )
        for _ in range(slow_count)
    ]
    quick = [
        round(secrets.randbelow(quick_steps + 1) * RANDOM_DEADLINE_STEP, 2)
        for _ in range(count - slow_count)
    ]
    delays += quick[1:]
    secrets.SystemRandom().shuffle(delays)
    return (quick[0], *delays)


def _expect_deadline_kept(
    http: httpx.Client,
    sources: SourcesService,
    delays: tuple[float, ...],
    deadline: float,
    *,
    summary: str,
    cancelled: str,
    drawn: str,
    hint: str,
) -> None:
    """Fail unless `deadline` cuts the request for `delays` with a 504 then.

    The 504 comes no sooner than the deadline and by
    RANDOM_DEADLINE_LATE_FACTOR times it, and every fetch the app made that is
    longer than the deadline is cancelled. With one delay, that fetch must be
    made. `summary` and `hint` explain a 200, `cancelled`
    names the fetches longer than the deadline, and `drawn` names the random
    values of the request and the ranges they are drawn from.
    """
    path = _query(delays, deadline=deadline)
    # The wait for fetches lasts past the slowest fetch's end, to see whether
    # the app cancelled it or let it finish.
    exchange = _exchange(http, sources, path, settle=max(delays))
    if len(delays) == 1:
        label = f"GET with a {delays[0]:g} s fetch and a random {deadline:g} s deadline"
    else:
        label = (
            f"GET with {len(delays)} fetches of {max(delays):g} s at most and a "
            f"random {deadline:g} s deadline"
        )
    record_measurement(
        label,
        status=exchange.response.status_code,
        seconds=round(exchange.seconds, 3),
    )
    if exchange.response.status_code == 200:
        raise CheckFailed(
            summary,
            request=f"GET {path}, where {drawn}",
            expected=f"status 504 after {deadline:g} s, with {cancelled} "
            "cancelled then",
            actual=f"status 200 after {exchange.seconds:.3f} s; "
            f"{exchange.describe_fetches()}",
            hint=hint,
        )
    if exchange.response.status_code != 504 and not exchange.fetches:
        _expect_fetches(exchange, delays)
    expect_status(exchange.response, 504, hint=_deadline_hint(exchange.response))
    if len(delays) == 1:
        _expect_cancelled_at_deadline(exchange, path, deadline, delays[0])
    else:
        # As in deadline_returns_504, only the fetches the app made count. An
        # app that runs a few fetches at a time, which the concurrency check
        # fails, has not started the others when the deadline passes.
        _expect_not_before_deadline(exchange, path, deadline)
        for fetch in exchange.fetches:
            if fetch.delay > deadline:
                _expect_cancelled(exchange, path, fetch, deadline)
    latest = RANDOM_DEADLINE_LATE_FACTOR * deadline
    if exchange.seconds > latest:
        raise CheckFailed(
            "The 504 came long after the deadline had passed.",
            request=f"GET {path}",
            expected=f"status 504 after {deadline:g} s, and by {latest:g} s",
            actual=f"the response came after {exchange.seconds:.3f} s",
            hint=LATE_HINT,
        )


# Last in the file: an app that ignores the deadline is left holding its
# longest fetch, where it can slow no other check.
def test_invalid_parameters_are_422(learner_app: LearnerApp) -> None:
    """Values out of range return 422, and the limits themselves are accepted."""
    # A connection of its own: the checks before may have left the shared one
    # to an app that closes it after an unhandled exception.
    with learner_app.client() as http:
        _expect_parameters_judged(http)


def _expect_parameters_judged(http: httpx.Client) -> None:
    """Fail unless invalid values get 422 and the limits are accepted."""
    _expect_limits_accepted(http)
    _expect_invalid_values_rejected(http)
    # Last, since an app that ignores the deadline keeps this fetch running.
    _expect_max_delay_accepted(http)


LIMITS_HINT = (
    "Do the bounds include their limits: le=MAX_DEADLINE_SECONDS, not lt=, and "
    "max_length=MAX_FETCHES? Is the deadline bounded with gt=0, so any deadline "
    "above 0 is allowed?"
)


def _expect_limits_accepted(http: httpx.Client) -> None:
    """Fail unless MAX_FETCHES delays and the deadline's limits are accepted."""
    for path in (_query((0.0,) * MAX_FETCHES), _query((0.0,), deadline=MAX_DEADLINE)):
        expect_status(
            _get_again_if_dropped(http, path, REJECTION_TIMEOUT), 200, hint=LIMITS_HINT
        )
    # A deadline just above 0 may pass before the fetch ends, so a 504 counts
    # as accepted too.
    path = _query((0.0,), deadline=BOUND_STEP)
    response = _get_again_if_dropped(http, path, REJECTION_TIMEOUT)
    if response.status_code not in (200, 504):
        raise CheckFailed(
            f"A deadline of {BOUND_STEP:g}, above 0, was not accepted.",
            request=f"GET {path}",
            expected="status 200, or 504 when the fetch outlasts the deadline",
            actual=describe_response(response),
            hint=LIMITS_HINT,
        )


def _expect_invalid_values_rejected(http: httpx.Client) -> None:
    """Fail unless each value just past a bound, and others, get 422 at once."""
    too_many = (0.0,) * (MAX_FETCHES + 1)
    # Each invalid request, with the `loc` values that its 422 may name. A delay
    # above the maximum comes with a short deadline, so an app that accepts it
    # returns its 504 within REJECTION_TIMEOUT.
    cases: list[tuple[str, list[list[str | int]]]] = [
        (_query((-1.0,)), [["query", "delay", 0]]),
        (_query((-BOUND_STEP,)), [["query", "delay", 0]]),
        (_query((0.1, MAX_DELAY + 1), deadline=0.5), [["query", "delay", 1]]),
        (
            _query((0.1, MAX_DELAY + BOUND_STEP), deadline=0.5),
            [["query", "delay", 1]],
        ),
        (_query(too_many), [["query", "delay"]]),
        ("/concurrent", [["query", "delay"]]),
        (_query((0.1,), deadline=0), [["query", "deadline"]]),
        (_query((0.1,), deadline=-1), [["query", "deadline"]]),
        (_query((0.1,), deadline=MAX_DEADLINE + 0.5), [["query", "deadline"]]),
        (_query((0.1,), deadline=MAX_DEADLINE + BOUND_STEP), [["query", "deadline"]]),
        # fail is a list of int, so a value that is not an integer is invalid
        # rather than a position to skip or round. A fail declared as one int
        # rejects it too, at ["query", "fail"], and failure_is_isolated fails
        # that declaration.
        (_query((0.0,)) + "&fail=abc", [["query", "fail", 0], ["query", "fail"]]),
        (_query((0.0,)) + "&fail=1.5", [["query", "fail", 0], ["query", "fail"]]),
    ]
    # Pydantic reads nan and inf as floats, and a bound of the app's own such
    # as `value < 0 or value > limit` lets nan through.
    for text in NOT_FINITE:
        cases.append(
            (
                f"/concurrent?delay=0.1&delay={text}&deadline=0.5",
                [["query", "delay", 1]],
            )
        )
        cases.append(
            (f"/concurrent?delay=0.1&deadline={text}", [["query", "deadline"]])
        )
    for path, locations in cases:
        try:
            response = _get_again_if_dropped(http, path, REJECTION_TIMEOUT)
        except httpx.TimeoutException:
            raise CheckFailed(
                "The app accepted an invalid value and started waiting.",
                request=f"GET {path}",
                expected="status 422 at once",
                actual=f"no response within {REJECTION_TIMEOUT:g} s",
            ) from None
        _expect_detail_locates_any(
            response,
            locations,
            hint="Are the delays bounded with Field(ge=0, le=MAX_DELAY_SECONDS) "
            "inside the list type, the list with Query(min_length=1, "
            "max_length=MAX_FETCHES), the deadline with Query(gt=0, "
            "le=MAX_DEADLINE_SECONDS), and is fail declared as "
            "Annotated[list[int] | None, Query()]?",
        )


def _expect_max_delay_accepted(http: httpx.Client) -> None:
    """Fail if the largest delay, cut short by a deadline, gets 422.

    An accepting app returns a 504, or for an app that waits for the fetch
    anyway, is still waiting when the client gives up. Either way the delay
    was accepted.
    """
    path = _query((MAX_DELAY,), deadline=DEADLINE)
    try:
        response = http.get(path, timeout=LIMIT_PROBE_SECONDS)
    except httpx.TransportError:
        # Still waiting, or the app dropped the connection at the deadline:
        # either way it did not return 422.
        return
    if response.status_code == 422:
        raise CheckFailed(
            f"The maximum delay, {MAX_DELAY:g}, was rejected.",
            request=f"GET {path}",
            expected=f"the request accepted ({MAX_DELAY:g} is included)",
            actual=describe_response(response),
            hint="Is each delay bounded with Field(ge=0, le=MAX_DELAY_SECONDS), "
            "le rather than lt?",
        )


def _expect_detail_locates_any(
    response: httpx.Response, locations: list[list[str | int]], *, hint: str
) -> None:
    """Fail unless the response is a 422 with an error at one of `locations`.

    The feedback of a failure names the first location.
    """
    first_failure: CheckFailed | None = None
    for location in locations:
        try:
            expect_detail_locates(response, location, hint=hint)
        except CheckFailed as failure:
            first_failure = first_failure or failure
        else:
            return
    if first_failure is not None:
        raise first_failure


def _get_again_if_dropped(
    http: httpx.Client, path: str, timeout: float
) -> httpx.Response:
    """Send GET `path`, once more if the app dropped the connection.

    An app whose endpoint raised in an earlier check may still close a
    connection under a later request; this check judges status codes only.
    """
    try:
        return http.get(path, timeout=timeout)
    except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError):
        return http.get(path, timeout=timeout)
