"""Grader for chapter 09: background tasks that run after the response is sent.

The app appends one line per notification to the file NOTIFICATION_LOG names,
NOTIFICATION_DELAY seconds after the response. The grader points the log into
work_dir, sets the delay to TASK_SECONDS, and reads the file between requests.
Timing is judged against that configured delay and the same app's quick
responses, never against a fixed number of seconds alone.
"""

import asyncio
import re
import secrets
import statistics
import string
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from apigrade import sandbox
from apigrade.checks import (
    CheckFailed,
    describe_request,
    describe_response,
    expect_status,
    json_body,
    made_up_email,
    read_learner_file,
)
from apigrade.server import AppStartError, LearnerApp
from apigrade.timing import (
    CpuWaitReader,
    expect_one_process,
    record_measurement,
    timed_get,
)

LOG_FILE = "notifications.log"
# The delay each notification takes, in seconds: long enough to tell a
# response that waited for it from one that did not, short enough to grade fast.
TASK_SECONDS = 0.4
# A response that waited for the task takes at least TASK_SECONDS more than a
# quick one, and one that did not takes about as long as a quick one. The pass
# line sits halfway, which leaves TASK_SECONDS / 2 of margin for scheduling
# noise either way.
WAIT_LINE = TASK_SECONDS / 2
WARM_UPS = 2
SAMPLES = 3
QUICK_PATH = "/openapi.json"
# The POST is judged by how much longer it takes than GET QUICK_PATH, so an app
# that slowed the GET down would hide a POST that waits. FastAPI serves the
# cached schema in 1 to 10 ms (solution and mutants, 2 cores, both loaded), so
# the median GET may take at most an eighth of the task, 50 ms, five times
# that. A POST may then wait at most QUICK_LINE + WAIT_LINE in all, well short
# of the task: an app that slowed its GETs and made its POST wait part of the
# task scored full marks when this line was WAIT_LINE.
QUICK_LINE = TASK_SECONDS / 8
# How long a line may take to appear after its response, in seconds: the delay
# plus ample room for a busy machine.
APPEAR_MARGIN = 5.0
APPEAR_TIMEOUT = TASK_SECONDS + APPEAR_MARGIN
POLL_INTERVAL = 0.02
# After the lines appeared, the checks wait this long for extra lines, in seconds.
SETTLE_SECONDS = TASK_SECONDS
# Tries at reading the log before the task could have finished. A try counts
# only when the read came within WAIT_LINE of the response.
ABSENCE_TRIES = 3
BURST_SIZE = 5
# The task sleeps its delay before it writes, and it starts after its request
# has arrived, so its line cannot be in the log sooner than the delay after
# the request was sent. The pass line sits at EARLY_SHARE of it. Each read is
# timed when it returns, so a read that comes late makes a line look later,
# never sooner: a busy grader can let a hasty task through on one request,
# never fail a task that waits. Every request of DELAY_REQUESTS must be late
# enough.
EARLY_SHARE = 0.5
# And no later than LATE_FACTOR times the delay after its response: a task
# that sleeps the starter's default of 1 s, not the delay the grader sets,
# writes at 1 s. A line counts as late only when a read that started after
# that time did not have it yet. The task starts after the response, so the
# time counts from the response. A request that waited for another task's
# blocking sleep comes back late, and counted from the request its line sat
# right at 0.8 s.
LATE_FACTOR = 2
# The delay check then starts the app again with a long delay, drawn in every
# run from LONG_DELAY_MIN in steps of 10 ms, up to LONG_DELAY_STEPS steps. Its
# window, half to twice the delay, starts above the end of TASK_SECONDS's
# (0.8 s), so no fixed sleep passes both.
LONG_DELAY_MIN = 1.7
LONG_DELAY_STEPS = 30
DELAY_REQUESTS = 3
# Valid emails of other shapes than name@example.com, all of which the
# starter's EMAIL_PATTERN accepts: dots, plus signs, subdomains, upper case,
# a quote and digits.
EMAIL_VARIANTS = (
    "first.last+tag@mail.example.co.uk",
    "a_b-c@sub.example.org",
    "Ada.Lovelace@Example.COM",
    "O'Brien+news@Example.com",
    "user2024@mail42.example.co.uk",
)
# The variants check also sends one address made up at each run, of shapes
# the starter's pattern accepts beyond those. Its local part mixes every
# character of UNUSUAL_CHARACTERS with random letters. It is
# UNUSUAL_LOCAL_LENGTH characters long or more, past the 64 some patterns
# allow, and its top-level domain has one letter.
UNUSUAL_CHARACTERS = "!$&*=^`{|}~\u00fc\u00e9"
UNUSUAL_LOCAL_LENGTH = 65
# Seconds the checks must wait for the app, one after another: a task to
# write its line after the response, the delay check's tasks, which run side
# by side, then those of its long delay and the settling time after them (a
# delay each), the burst's tasks and the settling time after them, the email
# variants' tasks one by one, the made-up one and the first again, and half a
# settling time after an invalid email.
# The timing check waits for no task: its responses must come back at once.
# scripts/bench.py takes the floor from these.
# Notifications sent one at a time, with GET QUICK_PATH probed for the whole
# of each task. A task that blocks the loop now and then (time.sleep in some
# calls) shows in one slow GET, though not in the medians.
LOOP_PROBE_POSTS = 4
WAIT_SECONDS = (
    TASK_SECONDS
    + (len(EMAIL_VARIANTS) + 2) * TASK_SECONDS
    + LOOP_PROBE_POSTS * TASK_SECONDS
    + TASK_SECONDS
    + (TASK_SECONDS + SETTLE_SECONDS)
    + SETTLE_SECONDS / 2
    + 2 * LONG_DELAY_MIN
)
INVALID_EMAIL = "not-an-email"
# A line the grader writes into the log before the app starts, new at each
# run. A task that appends leaves it first and unchanged. One that rewrites
# the whole file from lines it keeps in memory looks the same on an empty log,
# but loses this line.
EARLIER_LINE = f"written before the app started, token {secrets.token_hex(8)}"
QUEUED_MESSAGE = "Notification queued"
# More addresses EMAIL_PATTERN refuses, each for another reason: no dot after
# the @, nothing before it, two of them together or apart, a space, nothing
# before or after the domain's dot, and a tab (%09 in the path). A random one
# without an @ is added at each run, so a pattern written against this list
# alone still fails.
MORE_INVALID_EMAILS = (
    "someone@localhost",
    "@example.com",
    "a@@example.com",
    "a@b@example.com",
    "two words@example.com",
    "a@.com",
    "a@example.",
    "a%09b@example.com",
)

ENDPOINT_HINT = (
    'Is there an @app.post("/send-notification/{email}", status_code=202) route '
    'that returns {"message": ..., "email": email}?'
)
INLINE_HINT = (
    "Does the endpoint call write_notification(email) itself? Hand it to "
    "FastAPI with `background_tasks.add_task(write_notification, email)`, taking "
    "`background_tasks: BackgroundTasks` as a parameter, so that it runs after "
    "the response has been sent."
)
LOOP_HINT = (
    "Is the task an `async def` that calls time.sleep? A background task runs "
    "on the event loop when it is `async def`, and time.sleep there holds up "
    "every request that comes next. Make the task a plain `def`, or use "
    "`await asyncio.sleep(...)`."
)
# Characters of the log's end that feedback on its line breaks shows.
SHOWN_LOG_END = 120
LOG_HINT = (
    "Does the task append to the file named by the NOTIFICATION_LOG environment "
    'variable, opened with mode "a" in a `with` block? A file opened once, at '
    "import, keeps its lines in a buffer until it is flushed or closed."
)


@pytest.fixture(scope="module")
def app_env(work_dir: Path) -> dict[str, str]:
    """Point the app at a log in work_dir that already contains EARLIER_LINE.

    The app starts after this fixture, so the file exists before it does.
    """
    (work_dir / LOG_FILE).write_text(f"{EARLIER_LINE}\n", encoding="utf-8")
    return {
        "NOTIFICATION_LOG": str(work_dir / LOG_FILE),
        "NOTIFICATION_DELAY": f"{TASK_SECONDS:g}",
    }


def _log_lines(work_dir: Path) -> list[str]:
    """Return the lines of the notification log, or [] when it does not exist yet."""
    text = read_learner_file(work_dir / LOG_FILE)
    return [] if text is None else text.splitlines()


def _count_lines(lines: list[str], email: str) -> int:
    return sum(1 for line in lines if email in line)


def _send(http: httpx.Client, email: str) -> httpx.Response:
    return http.post(f"/send-notification/{email}")


def _expect_accepted(
    response: httpx.Response, email: str, *, exact_status: bool = False
) -> None:
    """Fail unless the response is a success whose JSON body names `email`.

    Only notification_is_accepted needs exactly 202 (`exact_status`). The
    other checks take any 2xx, so a wrong status code costs that check's
    points alone, and the rest still judge the task.
    """
    if exact_status or not response.is_success:
        expect_status(response, 202, hint=ENDPOINT_HINT)
    body = json_body(response, hint=ENDPOINT_HINT)
    if not isinstance(body, dict) or body.get("email") != email:
        raise CheckFailed(
            "The response does not name the email it queued a notification for.",
            request=describe_request(response),
            expected=f'status 202 with a body like {{"message": ..., "email": '
            f'"{email}"}}',
            actual=describe_response(response),
            hint=ENDPOINT_HINT,
        )


def _wait_for_lines(work_dir: Path, emails: list[str], deadline: float) -> None:
    """Poll the log until each email has a line or `deadline` passes."""
    while time.monotonic() < deadline:
        lines = _log_lines(work_dir)
        if all(_count_lines(lines, email) for email in emails):
            return
        time.sleep(POLL_INTERVAL)


def _expect_one_line_each(
    work_dir: Path, emails: list[str], request: str, started: float
) -> None:
    """Fail unless each email gets exactly one line in the log, soon after `started`."""
    _wait_for_lines(work_dir, emails, started + APPEAR_TIMEOUT)
    time.sleep(SETTLE_SECONDS)
    lines = _log_lines(work_dir)
    counts = {email: _count_lines(lines, email) for email in emails}
    wrong = {email: count for email, count in counts.items() if count != 1}
    if not wrong:
        return
    missing = [email for email, count in wrong.items() if count == 0]
    hint = LOG_HINT + " Is the task added once per request, and does it write one line?"
    if missing and lines and EARLIER_LINE not in lines:
        summary = (
            "Some notifications left no line in the log, and the line the log "
            "held before the app started is gone too: each task replaced the "
            "file instead of adding to it."
        )
        request = (
            f"{LOG_FILE} holding the line {EARLIER_LINE!r} before the app "
            f"started, then {request}"
        )
        hint = (
            'Does the task open the log with mode "a", which adds to the end of '
            'the file? Mode "w", or Path.write_text, replaces everything the file '
            "held, so only the last task's line is left."
        )
    elif missing and len(missing) == len(emails) and lines in ([], [EARLIER_LINE]):
        summary = f"No notification line appeared in {LOG_FILE}."
    elif missing:
        summary = "Some notifications left no line in the log."
    else:
        summary = "Some notifications left more than one line in the log."
    line_count = "1 line" if len(lines) == 1 else f"{len(lines)} lines"
    raise CheckFailed(
        summary,
        request=request,
        expected=f"exactly one line per email in NOTIFICATION_LOG within "
        f"{APPEAR_TIMEOUT:g} s",
        actual=f"lines per email {counts}; the log has {line_count}",
        hint=hint,
    )


def test_notification_is_accepted(http: httpx.Client) -> None:
    """POST /send-notification/{email} returns 202, the message and the email."""
    email = "accepted@example.com"
    response = _send(http, email)
    _expect_accepted(response, email, exact_status=True)
    body = json_body(response)
    if body.get("message") != QUEUED_MESSAGE:
        raise CheckFailed(
            "The response does not have the message the README gives.",
            request=describe_request(response),
            expected=f'"message": "{QUEUED_MESSAGE}"',
            actual=describe_response(response),
            hint=ENDPOINT_HINT,
        )


def _timed(request: httpx.Request, http: httpx.Client) -> tuple[float, int]:
    started = time.perf_counter()
    response = http.send(request)
    return time.perf_counter() - started, response.status_code


@pytest.mark.timeout(30)
def test_response_does_not_wait_for_task(
    http: httpx.Client, learner_app: LearnerApp, work_dir: Path
) -> None:
    """POST /send-notification responds without waiting for the notification.

    Nor does a task hold up the requests that come while it runs.
    """
    for _ in range(WARM_UPS):
        http.get(QUICK_PATH)
    warm_up_email = _random_email(0)
    warm_up = _send(http, warm_up_email)
    _expect_accepted(warm_up, warm_up_email)

    quick_times = [
        _timed(http.build_request("GET", QUICK_PATH), http)[0] for _ in range(SAMPLES)
    ]
    post_results = [
        _timed(
            http.build_request("POST", f"/send-notification/{_random_email(number)}"),
            http,
        )
        for number in range(1, SAMPLES + 1)
    ]
    statuses = [status for _, status in post_results]
    if not all(200 <= status < 300 for status in statuses):
        raise CheckFailed(
            "Some notification requests were not accepted.",
            request=f"{SAMPLES} POST /send-notification/timing<n>@example.com",
            expected="status 202 for each",
            actual=f"statuses {statuses}",
            hint=ENDPOINT_HINT,
        )

    quick = statistics.median(quick_times)
    post = statistics.median(seconds for seconds, _ in post_results)
    waited = post - quick
    record_measurement(
        f"POST /send-notification against GET {QUICK_PATH}",
        quick=round(quick, 4),
        post=round(post, 4),
        waited=round(waited, 4),
        task=TASK_SECONDS,
        pass_line=WAIT_LINE,
    )
    if quick > QUICK_LINE:
        raise CheckFailed(
            f"GET {QUICK_PATH} took more than {QUICK_LINE:g} s, so it cannot show "
            "how long a quick response takes.",
            request=f"GET {QUICK_PATH}, {SAMPLES} times, after a warm-up",
            expected=f"a median of at most {QUICK_LINE:g} s (FastAPI serves it in "
            "milliseconds), because the check measures how much longer each POST "
            "takes than this request, and a slowed-down GET would hide a POST "
            "that waits for the task",
            actual=f"GET {QUICK_PATH} took {quick:.3f} s (median of "
            f"{', '.join(f'{seconds:.3f}' for seconds in quick_times)} s)",
            hint="Does a middleware or a dependency delay requests, or does a "
            "task hold up the event loop while they arrive? Requests that do not "
            "send a notification should not wait for anything.",
        )
    if waited >= WAIT_LINE:
        raise CheckFailed(
            "The response waited for the notification to be sent.",
            request=f"GET {QUICK_PATH} and POST /send-notification/<email>, "
            f"{SAMPLES} times each, after a warm-up",
            expected=f"a POST at most {WAIT_LINE:g} s slower than GET {QUICK_PATH}, "
            f"because the {TASK_SECONDS:g} s task runs after the response",
            actual=f"POST took {post:.3f} s and GET {QUICK_PATH} {quick:.3f} s "
            f"(medians), so the POST waited {waited:.3f} s",
            hint=_waiting_hint(http, work_dir),
        )
    _expect_tasks_leave_loop_free(http, learner_app)


def _waiting_hint(http: httpx.Client, work_dir: Path) -> str:
    """Return the hint for a POST that waits: both causes, the likelier first.

    One more notification, sent only once the check has failed, shows which.
    Sent inline, its line is in the log when the response arrives. A task that
    holds up the loop writes it a task's time later.
    """
    email = _random_email(SAMPLES + 1)
    _send(http, email)
    if _count_lines(_log_lines(work_dir), email):
        return f"{INLINE_HINT} {LOOP_HINT}"
    return f"{LOOP_HINT} {INLINE_HINT}"


def _expect_tasks_leave_loop_free(http: httpx.Client, learner_app: LearnerApp) -> None:
    """Fail if a GET sent while a notification task runs waits for the task."""
    reader = CpuWaitReader.for_app(learner_app)
    probes = []
    with learner_app.watch_processes() as watch:
        for number in range(1, LOOP_PROBE_POSTS + 1):
            _send(http, _random_email(number))
            until = time.perf_counter() + TASK_SECONDS
            while time.perf_counter() < until:
                probes.append(timed_get(http, QUICK_PATH, reader)[1])
    request = (
        f"GET {QUICK_PATH} again and again while each of {LOOP_PROBE_POSTS} "
        "notification tasks ran, one notification at a time"
    )
    expect_one_process(watch, request)
    slowest = max(probes, key=lambda probe: probe.held)
    record_measurement(
        f"GET {QUICK_PATH} while notification tasks ran",
        slowest=round(slowest.held, 4),
        cpu_wait=round(slowest.cpu_wait, 4),
        requests=len(probes),
        pass_line=WAIT_LINE,
    )
    if slowest.held >= WAIT_LINE:
        raise CheckFailed(
            "A request waited while a notification task ran: the task blocked "
            "the event loop.",
            request=request,
            expected=f"each GET within {WAIT_LINE:g} s, half the {TASK_SECONDS:g} s "
            "task (FastAPI serves it in milliseconds)",
            actual=f"the slowest of {len(probes)} took {slowest.describe()}",
            hint=f"{LOOP_HINT} Blocking in only some tasks still holds every "
            "request that comes meanwhile.",
        )


@pytest.mark.timeout(30)
def test_log_line_written_after_response(http: httpx.Client, work_dir: Path) -> None:
    """The log line is absent when the response arrives and present soon after."""
    for number in range(1, ABSENCE_TRIES + 1):
        email = f"after{number}@example.com"
        started = time.monotonic()
        response = _send(http, email)
        responded = time.monotonic()
        lines = _log_lines(work_dir)
        read_after = time.monotonic() - responded
        record_measurement(
            f"log read after POST /send-notification/{email}",
            response=round(responded - started, 4),
            read_after=round(read_after, 4),
            pass_line=WAIT_LINE,
        )
        _expect_accepted(response, email)
        if _count_lines(lines, email) == 0:
            break
        if read_after < WAIT_LINE:
            took = responded - started
            hint = (
                INLINE_HINT
                if took >= WAIT_LINE
                else "Does the task wait NOTIFICATION_DELAY seconds before it "
                "writes the line?"
            )
            raise CheckFailed(
                "The log line was already written when the response arrived.",
                request=describe_request(response),
                expected=f"no line for {email} yet, because the task takes "
                f"{TASK_SECONDS:g} s and starts after the response",
                actual=f"the response took {took:.3f} s, and the log read "
                f"{read_after:.3f} s after it had the line",
                hint=hint,
            )
        # The grader itself was delayed, so the task may have finished for
        # good reasons: try again with a new email.
    else:
        raise CheckFailed(
            "The grader could not read the log soon enough after a response.",
            request=f"{ABSENCE_TRIES} POST /send-notification/<email>",
            expected=f"a read of {LOG_FILE} within {WAIT_LINE:g} s of a response",
            actual="each read came later, and the line was there",
            hint="Is the machine very busy? Run the grader again.",
        )
    _expect_one_line_each(work_dir, [email], describe_request(response), started)


@pytest.mark.timeout(40)
def test_task_waits_the_delay(
    http: httpx.Client, work_dir: Path, app_dir: Path, app_env: dict[str, str]
) -> None:
    """A log line appears at least half the delay after its request.

    And at most twice the delay after its response. A second app, with a long
    delay drawn in every run, must wait its delay too.
    """
    _expect_waits(http, work_dir, TASK_SECONDS)
    long_delay = LONG_DELAY_MIN + secrets.randbelow(LONG_DELAY_STEPS + 1) / 100
    # A folder of its own beside work_dir, as chapter 11's settings runs have.
    folder = Path(tempfile.mkdtemp(prefix="long-delay-", dir=work_dir.parent))
    sandbox.limit_folder_size(folder)
    env = {
        **app_env,
        "NOTIFICATION_LOG": str(folder / LOG_FILE),
        "NOTIFICATION_DELAY": f"{long_delay:g}",
    }
    app = LearnerApp(app_dir, folder, env=env)
    try:
        app.start()
    except AppStartError as error:
        raise CheckFailed(
            "The app did not start with another NOTIFICATION_DELAY.",
            request=f"uvicorn main:app, with NOTIFICATION_DELAY={long_delay:g}",
            expected="the app starts",
            actual=str(error),
            hint="Does the app read NOTIFICATION_DELAY as a float, such as "
            "float(os.environ.get('NOTIFICATION_DELAY', '1.0'))?",
        ) from None
    try:
        with app.client() as client:
            _expect_waits(client, folder, long_delay)
    finally:
        app.stop()


def _expect_waits(http: httpx.Client, log_dir: Path, delay: float) -> None:
    """Fail unless lines appear from half to twice `delay` after their requests.

    The app logs to LOG_FILE in `log_dir` and waits NOTIFICATION_DELAY=`delay`.
    """
    early_line = delay * EARLY_SHARE
    late_line = delay * LATE_FACTOR
    sent: dict[str, float] = {}
    answered: dict[str, float] = {}
    for number in range(1, DELAY_REQUESTS + 1):
        email = f"delay{number}@example.com"
        sent[email] = time.monotonic()
        response = _send(http, email)
        answered[email] = time.monotonic()
        _expect_accepted(response, email)

    # One line is enough to judge: a line that never shows up, say because
    # mode "w" replaced it, is several_requests_one_line_each's to report.
    # After the first line, the others get the delay more.
    # A read shows what was written before it started, so the start of the
    # last read without a line bounds when the line was written from below.
    seen: dict[str, float] = {}
    missing_at: dict[str, float] = {}
    deadline = max(sent.values()) + delay + APPEAR_MARGIN
    while len(seen) < len(sent) and time.monotonic() < deadline:
        read_from = time.monotonic()
        lines = _log_lines(log_dir)
        read_at = time.monotonic()
        for email in sent:
            if email in seen:
                continue
            if _count_lines(lines, email):
                seen[email] = read_at
            else:
                missing_at[email] = read_from
        if seen:
            deadline = min(deadline, min(seen.values()) + delay)
        time.sleep(POLL_INTERVAL)

    appeared = {email: seen[email] - sent[email] for email in seen}
    for email, seconds in appeared.items():
        record_measurement(
            f"log line after POST /send-notification/{email}",
            appeared=round(seconds, 4),
            last_missing=round(missing_at.get(email, sent[email]) - sent[email], 4),
            missing_after_response=round(
                missing_at.get(email, answered[email]) - answered[email], 4
            ),
            task=delay,
            pass_line=early_line,
            late_line=late_line,
        )

    if not seen:
        raise CheckFailed(
            "No notification line appeared in the log.",
            request=f"{DELAY_REQUESTS} POST /send-notification/delay<n>@example.com",
            expected=f"a line for each within {delay + APPEAR_MARGIN:g} s",
            actual=f"no line for any of {', '.join(sent)}",
            hint=LOG_HINT,
        )

    early = {
        email: seconds for email, seconds in appeared.items() if seconds < early_line
    }
    if early:
        email, seconds = next(iter(early.items()))
        raise CheckFailed(
            "The notification line was written before NOTIFICATION_DELAY had passed.",
            request=f"POST /send-notification/{email}, with NOTIFICATION_DELAY="
            f"{delay:g}",
            expected=f"the line at least {early_line:g} s after the request, because "
            f"the task sleeps NOTIFICATION_DELAY ({delay:g} s here) before "
            "it writes",
            actual=f"the line was in the log {seconds:.3f} s after the request was "
            "sent",
            hint="Does the task sleep for NOTIFICATION_DELAY, the value the starter "
            "reads from the environment, before it writes the line? A shorter "
            "fixed sleep, or none, makes the notification look sent sooner than "
            "the mail server could accept it.",
        )
    late = {
        email: missing_at[email] - answered[email]
        for email in seen
        if email in missing_at and missing_at[email] - answered[email] > late_line
    }
    if late:
        email, seconds = next(iter(late.items()))
        raise CheckFailed(
            "The notification line was written long after NOTIFICATION_DELAY.",
            request=f"POST /send-notification/{email}, with NOTIFICATION_DELAY="
            f"{delay:g}",
            expected=f"the line at most {late_line:g} s after the response",
            actual=f"the line was not in the log yet {seconds:.3f} s after the "
            "response came back",
            hint="Does the task sleep for NOTIFICATION_DELAY, read from the "
            "environment, rather than a fixed time such as 1 s?",
        )


def _random_email(number: int) -> str:
    """Make up a `number`th address of random letters, new at each call.

    The timed, probed and burst notifications all go to such addresses, so an
    app cannot tell the grader's requests from others by their address.
    """
    name = "".join(secrets.choice(string.ascii_lowercase) for _ in range(8))
    domain = "".join(secrets.choice(string.ascii_lowercase) for _ in range(6))
    return f"{name}.{number}@{domain}.example.org"


async def _send_burst(learner_app: LearnerApp, emails: list[str]) -> list[int]:
    async with learner_app.async_client(timeout=20.0) as client:
        responses = await asyncio.gather(
            *(client.post(f"/send-notification/{email}") for email in emails)
        )
    return [response.status_code for response in responses]


@pytest.mark.timeout(30)
def test_several_requests_one_line_each(
    learner_app: LearnerApp, work_dir: Path
) -> None:
    """Five concurrent notifications leave exactly one log line each, as given.

    The line the log contained before the app started stays first and unchanged.
    """
    # Addresses made up at each run, so an app cannot write the README's line
    # for these alone and another line for every other address.
    emails = [_random_email(number) for number in range(1, BURST_SIZE + 1)]
    started = time.monotonic()
    statuses = asyncio.run(_send_burst(learner_app, emails))
    request = (
        f"{BURST_SIZE} concurrent POST /send-notification/<email>, to "
        f"{', '.join(emails)}"
    )
    if not all(200 <= status < 300 for status in statuses):
        raise CheckFailed(
            "Some of the concurrent notification requests were not accepted.",
            request=request,
            expected="status 202 for each",
            actual=f"statuses {statuses}",
            hint=ENDPOINT_HINT,
        )
    _expect_one_line_each(work_dir, emails, request, started)
    lines = _log_lines(work_dir)
    for email in emails:
        line = next(line for line in lines if email in line)
        expected_line = f"notification sent to {email}"
        if line != expected_line:
            raise CheckFailed(
                "A log line is not in the form the README gives.",
                request=request,
                expected=f"the line {expected_line!r}",
                actual=f"the line {line!r}",
                hint='Does the task write f"notification sent to {email}\\n", '
                "with nothing before or after it?",
            )
    # The lines above are split at every line break, so the text itself shows
    # a blank line, or a last line without its "\n", which the next line
    # written would be joined to.
    text = read_learner_file(work_dir / LOG_FILE) or ""
    if not text.endswith("\n") or "\n\n" in text:
        raise CheckFailed(
            "The log has a blank line, or its last line does not end in a new line.",
            request=request,
            expected='one line per notification, each ending in "\\n", with no '
            "blank line between them",
            actual=f"the end of the log is {text[-SHOWN_LOG_END:]!r}",
            hint='Does the task write f"notification sent to {email}\\n", with the '
            '"\\n" at the end and nowhere else? print(..., file=log) adds a "\\n" '
            "of its own, so another one in the text leaves a blank line.",
        )
    if not lines or lines[0] != EARLIER_LINE:
        raise CheckFailed(
            "The line the log contained before the app started is gone or changed.",
            request=f"{LOG_FILE} holding the line {EARLIER_LINE!r} before the app "
            f"started, then {request}",
            expected=f"the line {EARLIER_LINE!r} still first in the log, with the "
            "notification lines after it",
            actual=f"the first line is {lines[0]!r}" if lines else "an empty log",
            hint='Does the task open the log with mode "a", which adds to the end '
            'of the file? Mode "w", or Path.write_text, replaces everything the '
            "file held, lines the app did not write included.",
        )


@pytest.mark.timeout(30)
def test_invalid_email_is_rejected(http: httpx.Client, work_dir: Path) -> None:
    """Invalid emails get 422, and none of them writes a line to the log."""
    random_email = (
        f"{secrets.choice('abcdefghijklm')}{secrets.token_hex(4)}.example.com"
    )
    invalid = (INVALID_EMAIL, *MORE_INVALID_EMAILS, random_email)
    responses = [_send(http, email) for email in invalid]
    _expect_rejected(responses[0])

    # A task for an invalid email would finish about when one for a valid
    # email sent right after it does, so the valid one's line marks the moment
    # to look.
    marker = "after-invalid@example.com"
    started = time.monotonic()
    _expect_accepted(_send(http, marker), marker)
    _wait_for_lines(work_dir, [marker], started + APPEAR_TIMEOUT)
    time.sleep(SETTLE_SECONDS / 2)
    lines = _log_lines(work_dir)
    for email, response in zip(invalid, responses, strict=True):
        if response.status_code != 422:
            continue
        # The whole address, so "@example.com" does not match inside the marker.
        address = re.compile(rf"(?<![\w.@-]){re.escape(email)}(?![\w.@-])")
        written = [line for line in lines if address.search(line)]
        if written:
            raise CheckFailed(
                "A request rejected with 422 still wrote a notification line.",
                request=describe_request(response),
                expected="no line for it in the log",
                actual=f"the line {written[0]!r}",
                hint="Does the endpoint add the task before it checks the email? "
                "A Response returned from the endpoint still runs the tasks added "
                "to BackgroundTasks, so validate first, best with "
                "Path(pattern=...).",
            )
    for response in responses[1:]:
        _expect_rejected(response)


def _expect_rejected(response: httpx.Response) -> None:
    if response.status_code != 422:
        raise CheckFailed(
            f"An invalid email was answered with status {response.status_code}.",
            request=describe_request(response),
            expected="status 422",
            actual=describe_response(response),
            hint="Is the email path parameter declared as "
            "Annotated[str, Path(pattern=EMAIL_PATTERN)], with the EMAIL_PATTERN "
            "the starter gives?",
        )


@pytest.mark.timeout(30)
def test_email_variants_are_accepted(http: httpx.Client, work_dir: Path) -> None:
    """Emails with dots, plus signs, subdomains, upper case and quotes are accepted.

    Each gets its notification: a line with the email as sent appears in the
    log before the next email is sent, and the first, sent again, gets a
    second line. several_requests_one_line_each judges the form of the lines
    and the mode of the log.
    """
    unusual_email = made_up_email(UNUSUAL_CHARACTERS, UNUSUAL_LOCAL_LENGTH)
    for email in (*EMAIL_VARIANTS, unusual_email):
        response = _send(http, email)
        if response.status_code == 422:
            raise CheckFailed(
                "A valid email was rejected as invalid.",
                request=describe_request(response),
                expected=f'status 202 with a body like {{"message": ..., "email": '
                f'"{email}"}}',
                actual=describe_response(response),
                hint="The starter's EMAIL_PATTERN accepts any character but @, "
                "/ and white space, upper case letters, quotes, symbols and "
                "letters beyond ASCII included, in a name of any length and "
                "after a top-level domain of one letter. Is your EMAIL_PATTERN "
                "stricter than the starter's?",
            )
        _expect_accepted(response, email)
        _wait_for_lines(work_dir, [email], time.monotonic() + APPEAR_TIMEOUT)
        if not _count_lines(_log_lines(work_dir), email):
            raise CheckFailed(
                "A valid email was accepted, but its notification left no line "
                "in the log.",
                request=describe_request(response),
                expected=f"a line with {email!r} in NOTIFICATION_LOG within "
                f"{APPEAR_TIMEOUT:g} s",
                actual=f"no line with {email!r} after {APPEAR_TIMEOUT:g} s",
                hint="Is the task queued for every accepted email, with "
                "background_tasks.add_task(write_notification, email), whatever "
                "its shape?",
            )
    # An address sent again gets a notification again: a new last line. Only
    # the last line counts, so a log opened with mode "w", which
    # several_requests_one_line_each judges, passes here.
    repeated_email = EMAIL_VARIANTS[0]
    before = _log_lines(work_dir)
    response = _send(http, repeated_email)
    _expect_accepted(response, repeated_email)
    deadline = time.monotonic() + APPEAR_TIMEOUT
    while time.monotonic() < deadline:
        lines = _log_lines(work_dir)
        if lines != before and lines and repeated_email in lines[-1]:
            return
        time.sleep(POLL_INTERVAL)
    lines = _log_lines(work_dir)
    last = f"the last line is {lines[-1]!r}" if lines else "the log is empty"
    raise CheckFailed(
        "An email sent a second time got no second notification.",
        request=f"{describe_request(response)}, a second time",
        expected=f"a new line with {repeated_email!r} at the end of "
        f"NOTIFICATION_LOG within {APPEAR_TIMEOUT:g} s",
        actual=f"{last}, {APPEAR_TIMEOUT:g} s after the response",
        hint="Is the task queued for every request, even for an address that was "
        "notified before? Each request asks for one notification.",
    )
