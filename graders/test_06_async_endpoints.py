"""Grader for chapter 06: async endpoints, and what blocks the event loop.

The two timing checks compare the app with itself (see apigrade.timing), never
with a fixed number of seconds: a blocked event loop makes waits add up instead
of overlap, whatever the speed of the machine.
"""

import secrets
import time

import httpx
import pytest

from apigrade.checks import (
    CheckFailed,
    describe_request,
    describe_response,
    expect_detail_locates,
    expect_json,
    expect_status,
    json_body,
    show,
)
from apigrade.server import LearnerApp
from apigrade.timing import (
    SINGLE_RUNS,
    WARM_UPS,
    CpuWaitReader,
    LatencyDuringLoad,
    expect_one_process,
    measure_concurrency,
    measure_latency_during_load,
    record_measurement,
    timed_get,
)

# Delays the checks request, in seconds: short, so grading stays fast.
# Longer than any other delay the checks request, so a sleep capped at those
# shows here.
SHORT_DELAY = 0.5
FRACTIONAL_DELAY = 0.05
SLOW_DELAY = 0.3
SLOW_PATH = f"/delay/{SLOW_DELAY}"
SLOW_REQUESTS_DURING_PING = 3
# Rounds of slow requests during which the /ping check probes. The median
# round counts.
PING_ROUNDS = 3
# Seconds /ping is probed alone before the first round and after each round.
# Each round compares with the windows on both sides, 0.2 s in all.
PING_ALONE_SECONDS = SLOW_DELAY / 3
# Seconds the checks must wait for the app, one after another. These are the
# 0.5 s and 0.05 s delays and the concurrency check (one request, the warm-ups,
# the lone runs and one concurrent round of SLOW_DELAY). Then the /ping check
# waits for one FRACTIONAL_DELAY, PING_ROUNDS rounds of SLOW_DELAY and the
# alone windows around them. scripts/bench.py takes the floor from it.
WAIT_SECONDS = (
    SHORT_DELAY
    + FRACTIONAL_DELAY
    + (1 + WARM_UPS + SINGLE_RUNS + 1) * SLOW_DELAY
    + FRACTIONAL_DELAY
    + PING_ROUNDS * SLOW_DELAY
    + (PING_ROUNDS + 1) * PING_ALONE_SECONDS
)
# A request alone waits SLOW_DELAY plus milliseconds of overhead; this line
# leaves twice the delay, so load on the machine cannot reach it.
SINGLE_LINE = 2 * SLOW_DELAY
# Well below the 40 threads of AnyIO's default thread pool, so a plain `def`
# endpoint still runs every request at once.
CONCURRENT_REQUESTS = 9
# The solution's MAX_DELAY_SECONDS is 10; this value is just above it.
ABOVE_LIMIT = 10.5
# Out-of-range values closer to the bounds than 10.5 and -1. The checks also
# send a random value from 10.01 to 10.49 and one from -0.99 to -0.01, each new
# in every run, so that a bound set anywhere between 10 and 10.5, or between
# -1 and 0, fails. A random value from 11 up to but not including
# FAR_DELAY_MAX, and its negative, stand for large values.
JUST_ABOVE_LIMIT = 10.01
# Numbers that are not finite, which Pydantic reads as floats. Path(ge=0,
# le=...) rejects each, while a check of the app's own such as
# `seconds < 0 or seconds > 10` lets nan through: every comparison with nan is
# false. The check of the upper bound sends these, and the check of the lower
# bound sends -inf, so that an app without one of the bounds fails that one.
NOT_FINITE = ("nan", "NaN", "inf", "Infinity")
NEGATIVE_INFINITY = "-inf"
JUST_BELOW_ZERO = -0.01
FAR_DELAY_MAX = 10**6
# A 422 comes back at once; an app that accepts 10.5 s starts sleeping instead.
REJECTION_TIMEOUT = 3.0
# Seconds to wait for a 422 to GET /delay/10 before counting it as accepted.
LIMIT_PROBE_SECONDS = 1.0
# How many times longer /ping takes on average while the slow requests run
# than alone (the median round). An app that keeps its loop free scores about
# 1. One that blocks the loop in slices of h seconds with gaps of g between
# them scores about (h + g) / (g + a), where a is the /ping time alone. So the
# check misses slices shorter than about g + 2a (see the chapter's README).
# The line is the geometric middle of 1 and 4, the 20 ms-slice mutant's
# median score with both cores loaded. scripts/timing_determinism.py --load 2
# on 2 cores, 28 runs (8 of them beside a second grading), measured: the
# solution and the plain `def` mutant 0.76-1.12, the 20 ms-slice mutant
# 2.9-6.3, the 50 ms-slice mutant 13.7-55 and time.sleep in `async def` 49-214.
PING_SLOWDOWN_LINE = 2.0
# The slowdown compares with the app's own /ping time alone, so a /ping that
# awaits a while even alone would hide blocking slices about that long: they
# pass while it waits anyway. /ping alone must therefore return within this
# line, on average in the median round, less waits for a CPU. The solution
# took 1.5 to 5.1 ms over 20 runs with both cores loaded, and a /ping that
# awaits 60 ms hid 70 ms slices of time.sleep in every /delay request.
PING_ALONE_LINE = 0.02
# The median round hides a loop blocked in one round only, for example by
# time.sleep in one request of several. One blocked request holds the loop for
# its whole SLOW_DELAY, so the /ping waiting on it takes about that long. The
# line is half of that. The solution's slowest /ping took 12 to 70 ms over 20
# runs with both cores loaded and other gradings beside. One blocked request
# in ten gave 0.30 s. Each /ping counts less its wait for a CPU
# (timing.CpuWaitReader): on a machine loaded several times over, the
# solution's slowest took 0.18 s with that wait in it.
SLOWEST_PING_LINE = SLOW_DELAY / 2
# Clock rounding: the app rounds `waited` to 3 decimal places.
WAIT_TOLERANCE = 0.01
# GET /delay/0 requests no wait: it takes milliseconds, as /ping does, and may
# take as long as the slowest /ping during the slow requests.
ZERO_DELAY_LINE = SLOW_DELAY / 2
# GET /delay/0.5 may take at most this many times its delay, plus the time
# GET /delay/0 took just before (at most ZERO_DELAY_LINE), less the waits for
# a CPU. So a correct app, which takes the delay plus milliseconds, has
# 0.5 s to spare, and an app that waits up to about twice the delay passes.
# The 0.05 s delay gets no such line: twice it leaves 0.05 s, and a busy
# machine can add 0.2 s to a quick request.
MAX_DELAY_FACTOR = 2

BLOCKING_HINT = (
    "Does the endpoint call time.sleep (or other blocking code) inside `async "
    "def`? That blocks the event loop, so no other request is served until it "
    "returns. Use `await asyncio.sleep(...)`, or make the endpoint a plain `def` "
    "so that FastAPI runs it in its thread pool."
)
FLOAT_HINT = (
    "Is there a route for GET /delay/{seconds}, with seconds annotated as float "
    "(an int parameter rejects fractions such as 0.3)?"
)


def test_ping_returns_pong(http: httpx.Client) -> None:
    """GET /ping returns {"ping": "pong"}."""
    response = http.get("/ping")
    expect_json(
        response,
        {"ping": "pong"},
        hint='Is there an @app.get("/ping") route returning {"ping": "pong"}?',
    )


def _get_delay(http: httpx.Client, seconds: float) -> tuple[httpx.Response, float]:
    """Send GET /delay/{seconds} and return the response and the seconds it took."""
    started = time.perf_counter()
    response = http.get(f"/delay/{seconds}")
    return response, time.perf_counter() - started


def _expect_time_waited(
    response: httpx.Response, elapsed: float, seconds: float, min_elapsed: float
) -> float:
    """Fail unless `response` reports `seconds` and the time it waited.

    `waited` must be at least `seconds` and at most `elapsed`, the time the
    request took, with WAIT_TOLERANCE either way. `elapsed` must be at least
    `min_elapsed`. Returns `waited`.
    """
    body = json_body(response)
    waited = body.get("waited") if isinstance(body, dict) else None
    if (
        not isinstance(body, dict)
        or body.get("seconds") != seconds
        or not isinstance(waited, int | float)
    ):
        raise CheckFailed(
            "The response does not report the seconds requested and waited.",
            request=describe_request(response),
            expected=f"a body like "
            f"{show({'seconds': seconds, 'waited': seconds + 0.001})}",
            actual=describe_response(response),
            hint='Does the endpoint return {"seconds": seconds, "waited": ...}, '
            "with seconds as it came in and waited measured by "
            "time.perf_counter() around the sleep?",
        )
    if waited < seconds - WAIT_TOLERANCE or elapsed < min_elapsed:
        raise CheckFailed(
            "The endpoint responded before the requested time had passed.",
            request=describe_request(response),
            expected=f"a wait of {seconds:g} s: waited at least "
            f"{seconds - WAIT_TOLERANCE:g} s, and the request at least "
            f"{min_elapsed:g} s",
            actual=f"{describe_response(response)}; the request took {elapsed:.3f} s",
            hint="Is the sleep awaited, for a short delay as for a long one? "
            "`asyncio.sleep(seconds)` without `await` only creates a coroutine "
            "and does not wait.",
        )
    if waited > elapsed + WAIT_TOLERANCE:
        raise CheckFailed(
            "waited is longer than the whole request took.",
            request=describe_request(response),
            expected=f"waited at most {elapsed:.3f} s, the time the request took",
            actual=describe_response(response),
            hint="Is waited measured with time.perf_counter() just before and just "
            "after the sleep, rather than made up or computed from seconds?",
        )
    return waited


def _expect_rounded(response: httpx.Response, waited: float) -> None:
    """Fail unless `waited` has at most 3 decimal places."""
    if waited != round(waited, 3):
        raise CheckFailed(
            "waited is not rounded to 3 decimal places.",
            request=describe_request(response),
            expected=f"waited with at most 3 decimals, such as {round(waited, 3)}",
            actual=describe_response(response),
            hint="Do you measure waited with time.perf_counter() around the sleep, "
            "rather than repeat the seconds requested, and return "
            "round(time.perf_counter() - started, 3)?",
        )


def test_delay_reports_time_waited(http: httpx.Client, learner_app: LearnerApp) -> None:
    """GET /delay/0.5 waits 0.5 s and reports the seconds requested and waited."""
    reader = CpuWaitReader.for_app(learner_app)
    # The app's own time for a request with no wait, added to the line below.
    _, no_wait = timed_get(http, "/delay/0", reader)
    response, probe = timed_get(http, f"/delay/{SHORT_DELAY}", reader)
    expect_status(response, 200, hint=FLOAT_HINT)
    waited = _expect_time_waited(response, probe.elapsed, SHORT_DELAY, SHORT_DELAY)
    _expect_rounded(response, waited)
    overhead = min(no_wait.held, ZERO_DELAY_LINE)
    max_held = MAX_DELAY_FACTOR * SHORT_DELAY + overhead
    if probe.held > max_held:
        raise CheckFailed(
            "The request took much longer than the delay it asked for.",
            request=f"GET /delay/0, then {describe_request(response)}",
            expected=f"about {SHORT_DELAY:g} s: at most {max_held:.3f} s, "
            f"{MAX_DELAY_FACTOR} times the delay plus the {overhead:.3f} s that "
            "GET /delay/0 took",
            actual=f"{describe_response(response)}; the request took "
            f"{probe.describe()}",
            hint="Does the endpoint sleep for `seconds` itself, `await "
            "asyncio.sleep(seconds)`, and not for a multiple of it?",
        )


def test_delay_accepts_fractional_seconds(
    http: httpx.Client, learner_app: LearnerApp
) -> None:
    """GET /delay/0.050x waits that long, because seconds is a float; 0 is accepted.

    The delay has a fourth decimal drawn in every run, so a `waited` that
    repeats the seconds requested is not rounded to 3 decimal places.
    """
    delay = round(FRACTIONAL_DELAY + (1 + secrets.randbelow(9)) / 10_000, 4)
    response, elapsed = _get_delay(http, delay)
    expect_status(response, 200, hint=FLOAT_HINT)
    # A response cannot come before its delay has passed, so a busy machine
    # cannot make a correct app fail this lower bound of half the delay.
    waited = _expect_time_waited(response, elapsed, delay, delay / 2)
    _expect_rounded(response, waited)
    with learner_app.watch_processes() as watch:
        response, probe = timed_get(
            http, "/delay/0", CpuWaitReader.for_app(learner_app)
        )
    expect_one_process(watch, "GET /delay/0")
    expect_status(response, 200, hint="Is 0 allowed: Path(ge=0), not gt=0?")
    if probe.held > ZERO_DELAY_LINE:
        raise CheckFailed(
            "GET /delay/0 waited although it asks for no wait.",
            request=describe_request(response),
            expected=f"a response within {ZERO_DELAY_LINE:g} s",
            actual=f"{describe_response(response)}; the request took "
            f"{probe.describe()}",
            hint="Does the endpoint sleep for the seconds in the path, "
            "`await asyncio.sleep(seconds)`, rather than a fixed time?",
        )


def _get_rejected(
    http: httpx.Client,
    path: str,
    hint: str = "Is seconds bounded with Path(ge=0, le=MAX_DELAY_SECONDS)?",
) -> httpx.Response:
    """Send GET `path`, failing if the app starts waiting instead of responding."""
    try:
        return http.get(path, timeout=REJECTION_TIMEOUT)
    except httpx.TimeoutException:
        raise CheckFailed(
            "The app accepted the value and started waiting.",
            request=f"GET {path}",
            expected="status 422 at once",
            actual=f"no response within {REJECTION_TIMEOUT:g} s",
            hint=hint,
        ) from None


NOT_FINITE_HINT = (
    "Is seconds bounded with Path(ge=0, le=MAX_DELAY_SECONDS)? Pydantic reads "
    "nan and inf as floats, and a check of your own such as `seconds < 0 or "
    "seconds > 10` lets nan through, since every comparison with nan is false."
)


def _random_cents(low: int, high: int) -> float:
    """Return a random number of hundredths from `low` to `high`, both included."""
    return (low + secrets.randbelow(high - low + 1)) / 100


def test_delay_above_limit_is_422(http: httpx.Client) -> None:
    """GET /delay/10.5 returns 422, because 10 seconds is the maximum wait.

    So do values just above 10, large ones, and nan and inf.
    """
    response = _get_rejected(http, f"/delay/{ABOVE_LIMIT}")
    expect_detail_locates(
        response,
        ["path", "seconds"],
        hint="Is seconds bounded with Path(le=MAX_DELAY_SECONDS)?",
    )
    hint = (
        "Is seconds bounded with Path(le=MAX_DELAY_SECONDS), where "
        "MAX_DELAY_SECONDS is 10? Every value above 10 is out of range, 10.01 "
        "as well as 10.5."
    )
    far_above = 11 + secrets.randbelow(FAR_DELAY_MAX - 11)
    for seconds in (JUST_ABOVE_LIMIT, _random_cents(1001, 1049), far_above):
        response = _get_rejected(http, f"/delay/{seconds}", hint)
        expect_detail_locates(response, ["path", "seconds"], hint=hint)
    for text in NOT_FINITE:
        response = _get_rejected(http, f"/delay/{text}", NOT_FINITE_HINT)
        expect_detail_locates(response, ["path", "seconds"], hint=NOT_FINITE_HINT)


def _expect_waited(seconds: float, measured: str) -> None:
    """Fail unless the requests to SLOW_PATH took at least the delay they asked for.

    `measured` names what `seconds` is the time of, for the feedback.
    """
    if seconds < SLOW_DELAY:
        raise CheckFailed(
            "The endpoint responded before the requested time had passed, so "
            "there was no wait to overlap.",
            request=f"GET {SLOW_PATH}",
            expected=f"a wait of at least {SLOW_DELAY} s",
            actual=f"{measured} took {seconds:.3f} s",
            hint="Is the sleep awaited? `asyncio.sleep(seconds)` without `await` "
            "only creates a coroutine and does not wait.",
        )


@pytest.mark.timeout(30)
def test_concurrent_delays_overlap(http: httpx.Client, learner_app: LearnerApp) -> None:
    """Nine concurrent GET /delay/0.3 requests take about as long as one."""
    expect_status(http.get(SLOW_PATH), 200, hint=FLOAT_HINT)

    with learner_app.watch_processes() as watch:
        timing = measure_concurrency(learner_app, SLOW_PATH, CONCURRENT_REQUESTS)
    expect_one_process(watch, f"{CONCURRENT_REQUESTS} concurrent GET {SLOW_PATH}")
    failed = [status for status in timing.statuses if status != 200]
    if failed:
        raise CheckFailed(
            "Some of the concurrent requests failed.",
            request=f"{CONCURRENT_REQUESTS} concurrent GET {SLOW_PATH}",
            expected="status 200 for each",
            actual=f"statuses {list(timing.statuses)}",
            hint="Does the app keep state that concurrent requests change?",
        )
    _expect_waited(timing.single, "one request")
    # Each of the concurrent requests must wait too: an app that skipped the
    # wait for some of them would finish the batch early.
    _expect_waited(timing.fastest, "the quickest of the concurrent requests")
    # The ratio compares the app with itself, so an app that made a request
    # alone slower would look concurrent: one request must take about the delay.
    if timing.single > SINGLE_LINE:
        raise CheckFailed(
            "One request alone took much longer than the delay it asked for.",
            request=f"GET {SLOW_PATH}, one at a time, after a warm-up",
            expected=f"about {SLOW_DELAY} s (at most {SINGLE_LINE:g} s)",
            actual=f"the fastest of several took {timing.single:.3f} s",
            hint="Does the endpoint wait longer than `seconds`, or do extra work "
            "when a request comes alone?",
        )
    if not timing.concurrent_enough:
        raise CheckFailed(
            "The requests ran one after another: the event loop was blocked "
            "while each one waited.",
            request=f"{CONCURRENT_REQUESTS} concurrent GET {SLOW_PATH}, after a "
            f"warm-up and single requests to the same path",
            expected=f"less than {timing.pass_line:.1f} times as long as one request",
            actual=timing.describe(),
            hint=BLOCKING_HINT,
        )


def _describe_latency(latency: LatencyDuringLoad) -> str:
    rounds = ", ".join(f"{batch.slowdown:.1f}" for batch in latency.rounds)
    middle = latency.median_round
    return (
        f"in the median round, GET {latency.quick_path} took "
        f"{middle.mean_alone * 1000:.1f} ms on average alone and "
        f"{middle.mean_during * 1000:.1f} ms while the slow requests ran, "
        f"{latency.slowdown:.1f} times as long (rounds: {rounds}; an app that "
        f"keeps serving stays below {PING_SLOWDOWN_LINE:g} times)"
    )


@pytest.mark.timeout(30)
# NOTE: the baseline is the app's own /ping time alone, so an app whose /ping
# is slow even alone raises the baseline and hides blocking slices shorter
# than that time. PING_ALONE_LINE bounds how slow it may be.
def test_ping_stays_fast_during_delays(
    http: httpx.Client, learner_app: LearnerApp
) -> None:
    """GET /ping is about as fast while slow /delay requests wait as alone."""
    expect_status(http.get("/ping"), 200, hint='Is there an @app.get("/ping") route?')
    # A short delay: only its status matters here.
    expect_status(http.get(f"/delay/{FRACTIONAL_DELAY}"), 200, hint=FLOAT_HINT)

    with learner_app.watch_processes() as watch:
        latency = measure_latency_during_load(
            learner_app,
            "/ping",
            SLOW_PATH,
            slow_count=SLOW_REQUESTS_DURING_PING,
            rounds=PING_ROUNDS,
            alone_seconds=PING_ALONE_SECONDS,
        )
    probed = (
        f"GET /ping again and again, alone and while {SLOW_REQUESTS_DURING_PING} "
        f"GET {SLOW_PATH} were running, in {PING_ROUNDS} rounds"
    )
    expect_one_process(watch, probed)
    if latency.failed_statuses:
        raise CheckFailed(
            "Some GET /ping requests failed.",
            request=probed,
            expected="status 200 for each",
            actual=f"statuses {sorted(set(latency.failed_statuses))} among them",
            hint='Does the @app.get("/ping") route return {"ping": "pong"} '
            "whatever else is running?",
        )
    _expect_waited(
        latency.shortest_batch, f"{SLOW_REQUESTS_DURING_PING} concurrent requests"
    )
    alone = latency.median_round.mean_alone
    record_measurement(
        "GET /ping alone, median round", mean=round(alone, 4), pass_line=PING_ALONE_LINE
    )
    if alone >= PING_ALONE_LINE:
        raise CheckFailed(
            "GET /ping was slow even with no other request running.",
            request=probed,
            expected=f"GET /ping alone within {PING_ALONE_LINE * 1000:g} ms on "
            "average: it returns at once",
            actual=f"GET /ping alone took {alone * 1000:.1f} ms on average in the "
            "median round, less waits for a CPU",
            hint='Does /ping await or work out anything before it returns {"ping": '
            '"pong"}? A /ping that waits even alone would hide a blocked event '
            "loop from this check, since it waits anyway.",
        )
    record_measurement(
        f"GET /ping slowdown during {SLOW_REQUESTS_DURING_PING} GET {SLOW_PATH}",
        slowdown=round(latency.slowdown, 3),
        pass_line=PING_SLOWDOWN_LINE,
    )
    if latency.slowdown >= PING_SLOWDOWN_LINE:
        raise CheckFailed(
            "GET /ping waited for the slow requests: the event loop was blocked "
            "while they waited.",
            request=probed,
            expected=f"GET /ping less than {PING_SLOWDOWN_LINE:g} times as slow "
            "during the slow requests as alone",
            actual=_describe_latency(latency),
            hint=f"{BLOCKING_HINT} Blocking in short slices with an await between "
            "them still blocks the loop for most of the wait.",
        )
    slowest = latency.slowest_during
    record_measurement(
        f"slowest GET /ping during {SLOW_REQUESTS_DURING_PING} GET {SLOW_PATH}",
        slowest=round(slowest.held, 4),
        pass_line=SLOWEST_PING_LINE,
    )
    if slowest.held >= SLOWEST_PING_LINE:
        raise CheckFailed(
            "One GET /ping waited for most of a slow request: the event loop was "
            "blocked while that request waited.",
            request=probed,
            expected=f"each GET /ping during the slow requests within "
            f"{SLOWEST_PING_LINE:g} s, half the {SLOW_DELAY:g} s that one blocked "
            "request holds the loop for",
            actual=f"the slowest took {slowest.describe()}, while GET /ping alone "
            f"took {latency.median_round.mean_alone * 1000:.1f} ms on average in "
            "the median round",
            hint=f"{BLOCKING_HINT} Blocking in only some requests, or only now "
            "and then, still holds every other request for the whole wait.",
        )


# Last in the file: the request for the longest delay is left waiting in the
# app, where it can slow no other check.
def test_negative_delay_is_422(http: httpx.Client) -> None:
    """A negative delay returns 422, and the largest one, 10, is waited for."""
    response = _get_rejected(http, "/delay/-1")
    expect_detail_locates(
        response, ["path", "seconds"], hint="Is seconds bounded with Path(ge=0)?"
    )
    hint = (
        "Is seconds bounded with Path(ge=0)? Every negative value is out of "
        "range, -0.01 as well as -1."
    )
    far_below = -(11 + secrets.randbelow(FAR_DELAY_MAX - 11))
    for seconds in (
        JUST_BELOW_ZERO,
        -_random_cents(1, 99),
        far_below,
        NEGATIVE_INFINITY,
    ):
        response = _get_rejected(http, f"/delay/{seconds}", hint)
        expect_detail_locates(response, ["path", "seconds"], hint=hint)
    # A 422 comes back at once; an accepted delay of 10 s is still waiting
    # when the client gives up.
    try:
        response = http.get("/delay/10", timeout=LIMIT_PROBE_SECONDS)
    except httpx.TimeoutException:
        return
    if response.status_code == 422:
        raise CheckFailed(
            "The maximum delay, 10, was rejected.",
            request=describe_request(response),
            expected="the request accepted (10 is included)",
            actual=describe_response(response),
            hint="Is seconds bounded with Path(le=MAX_DELAY_SECONDS), where "
            "MAX_DELAY_SECONDS is 10, and le rather than lt?",
        )
    raise CheckFailed(
        f"GET /delay/10 was answered within {LIMIT_PROBE_SECONDS:g} s, without "
        "waiting 10 s.",
        request=describe_request(response),
        expected="a response after 10 s",
        actual=describe_response(response),
        hint="Does the endpoint sleep for the seconds in the path, whatever they "
        "are, rather than stop at a shorter time?",
    )
