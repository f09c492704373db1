"""Timing measurements for graders that judge concurrency.

Timing checks never compare against a fixed number of seconds. They compare an
app with itself: the time for N concurrent requests divided by the same app's
time for one request, measured after a warm-up. A concurrent app scores a ratio
near 1 and a blocking one near N; the pass line is the geometric middle,
sqrt(N), which leaves the same margin (sqrt(N) times) on both sides.

measure_latency_during_load compares a quick request's mean time while slow
requests run with its mean time alone, just before and just after. An app
whose event loop stays free scores about 1. One whose loop is blocked scores
more, the longer and the more often it is blocked.

On a machine with more work than CPUs, a quick request can also wait because
the app's event loop, or the grader, was ready to run but had no CPU. Where
Linux reports those waits, each quick request is judged by the time it took
less that wait (see CpuWaitReader), so a busy machine does not make an app
look blocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from apigrade.checks import CheckFailed
from apigrade.server import (
    CLIENT_HEADERS,
    LearnerApp,
    LimitedAsyncTransport,
    ProcessWatch,
)

WARM_UPS = 2
SINGLE_RUNS = 2
# Bounds the quick requests of one probing loop, whatever the app does.
MAX_PROBES = 5000

# Figures measured during the current check. The grader plugin moves them into
# the check's result, so reports and the determinism script can show them.
_measurements: list[dict[str, float | str]] = []


def record_measurement(label: str, **figures: float) -> None:
    """Store named figures (seconds, ratios) measured by the running check."""
    _measurements.append({"label": label, **figures})


def pop_measurements() -> list[dict[str, float | str]]:
    """Return and forget the figures recorded since the last call."""
    taken = list(_measurements)
    _measurements.clear()
    return taken


# Clock ticks per second of the CPU times in /proc/<pid>/stat.
try:
    CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
except (AttributeError, ValueError, OSError):
    CLOCK_TICKS = 100


def _proc_fields(path: str | None) -> list[bytes]:
    """Return the fields of a /proc file after its last ')', or [] if unreadable."""
    if path is None:
        return []
    try:
        with open(path, "rb") as proc_file:
            return proc_file.read().rsplit(b")", 1)[-1].split()
    except OSError:
        return []


# A loop that runs less than one part in (1 + this) of the time it is ready
# to run gets no credit for its wait (see CpuSample.wait_since).
BUSY_LOOP_FACTOR = 10


@dataclass(frozen=True)
class CpuSample:
    """Running totals, in seconds, read by CpuWaitReader at one moment."""

    # The app's event loop thread: time ready to run but waiting for a CPU,
    # and time running.
    loop_wait: float
    loop_cpu: float
    # The grader's thread's time ready to run but waiting for a CPU.
    grader_wait: float
    # The CPU time of all the app's threads.
    app_cpu: float
    # Whether the loop thread has ever run at a priority below the default
    # (a nice value above 0, or a policy such as SCHED_IDLE or SCHED_BATCH).
    loop_lowered: bool = False

    def wait_since(self, earlier: CpuSample) -> float:
        """Return the seconds since `earlier` that count as waiting for a CPU.

        The longer of two waits, less all the CPU time the app used meanwhile:
        an app that keeps the CPUs busy with threads of its own makes its loop
        and the grader wait, and that wait is the app's doing.

        - The grader's wait: it is ready to run only once the response has
          come, so any wait of the grader's is the machine's.
        - The loop's wait, less BUSY_LOOP_FACTOR times the CPU time the app
          ran (the loop's, or all threads' where that is more). A loop serving
          a quick request runs for a millisecond or so and may wait far longer
          on a busy machine.
        - A loop blocked by busy work (a loop of `while time.perf_counter() <
          end`, say) is ready to run the whole time, so the app runs a large
          share of it. Its wait gets no credit unless the app ran less than
          one part in 1 + BUSY_LOOP_FACTOR of the time. In the grader's CPU
          cgroup, which shares the CPUs fairly between the app and other
          programs, that takes roughly 11 programs ready to run per CPU. Busy
          threads of the app's own, started to crowd its loop out, add their
          CPU time to the app's.
        """
        # The CPU time of the whole app counts here, not the loop's alone: an
        # app could otherwise crowd a busy loop out with threads of its own.
        ran = max(self.loop_cpu - earlier.loop_cpu, self.app_cpu - earlier.app_cpu)
        loop = (self.loop_wait - earlier.loop_wait) - BUSY_LOOP_FACTOR * ran
        if self.loop_lowered or earlier.loop_lowered:
            # A loop at a lower priority can be kept from the CPU even in the
            # grader's cgroup: SCHED_IDLE gives it almost no weight there.
            loop = 0.0
        grader = self.grader_wait - earlier.grader_wait
        return max(0.0, max(loop, grader) - (self.app_cpu - earlier.app_cpu))


class CpuWaitReader:
    """Reads how long the app's event loop thread and the grader waited for a CPU.

    Linux counts, for each thread, the time it ran and the time it was ready
    to run but waited for a CPU (the first two fields of
    /proc/<pid>/task/<tid>/schedstat). A loop blocked by time.sleep is not
    ready to run, so that blocking never counts as such a wait. Call sample()
    from the thread that sends the requests: the grader's wait is that
    thread's. Where the files are missing (not Linux, or the app has stopped)
    every total reads 0, and the checks judge the whole time a request took.

    The loop's wait counts only when the app runs in a CPU cgroup of the
    grader's (LearnerApp.has_own_cpu_share, as root). Elsewhere an app can
    lower its own priority (through /proc/self/autogroup, a nice value or
    SCHED_IDLE) until a busy loop runs almost never and waits almost all of
    the time. So only the grader's wait counts there.
    """

    def __init__(
        self,
        app_pid: int | None,
        *,
        count_loop: bool = True,
        app_cpu_total: Callable[[], float | None] | None = None,
    ) -> None:
        self._loop_path = (
            None
            if app_pid is None or not count_loop
            else f"/proc/{app_pid}/task/{app_pid}/schedstat"
        )
        self._stat_path = None if app_pid is None else f"/proc/{app_pid}/stat"
        self._loop_stat_path = (
            None if self._loop_path is None else f"/proc/{app_pid}/task/{app_pid}/stat"
        )
        # Once lowered, the loop's priority cannot be raised again in the
        # sandbox (RLIMIT_NICE is 0), and this stays True.
        self._loop_lowered = False
        # The CPU time of all the app's processes (its cgroup's), where known:
        # /proc/<pid>/stat counts the main process only, not those it forks.
        self._app_cpu_total = app_cpu_total

    @classmethod
    def for_app(cls, app: LearnerApp) -> CpuWaitReader:
        """Return a reader for `app`, counting its loop's wait where that is safe."""
        # The app's CPU time must come from its cgroup too: /proc/<pid>/stat
        # counts in whole clock ticks, too coarse to weigh a loop's wait.
        count_loop = app.has_own_cpu_share and app.cpu_seconds() is not None
        return cls(app.pid, count_loop=count_loop, app_cpu_total=app.cpu_seconds)

    @staticmethod
    def _schedstat(path: str | None) -> tuple[float, float]:
        """Return a thread's seconds running and waiting for a CPU, or zeros."""
        fields = _proc_fields(path)
        with contextlib.suppress(IndexError, ValueError):
            return int(fields[0]) / 1e9, int(fields[1]) / 1e9
        return 0.0, 0.0

    def sample(self) -> CpuSample:
        # utime and stime, fields 14 and 15 of the stat line, counted from
        # the state (field 3) after the command's closing parenthesis.
        stat = _proc_fields(self._stat_path)
        app_cpu = 0.0
        with contextlib.suppress(IndexError, ValueError):
            app_cpu = (int(stat[11]) + int(stat[12])) / CLOCK_TICKS
        total = None if self._app_cpu_total is None else self._app_cpu_total()
        if total is not None:
            app_cpu = total
        loop_cpu, loop_wait = self._schedstat(self._loop_path)
        _, grader_wait = self._schedstat("/proc/thread-self/schedstat")
        self._loop_lowered = self._loop_lowered or self._lowered_priority()
        return CpuSample(
            loop_wait=loop_wait,
            loop_cpu=loop_cpu,
            grader_wait=grader_wait,
            app_cpu=app_cpu,
            loop_lowered=self._loop_lowered,
        )

    def _lowered_priority(self) -> bool:
        """Tell whether the loop thread runs below the default priority now.

        Its nice value and scheduling policy are fields 19 and 41 of its stat
        line; the default is nice 0 and policy 0 (SCHED_OTHER). Unreadable
        counts as lowered, since then no loop wait can be trusted.
        """
        if self._loop_stat_path is None:
            return False
        fields = _proc_fields(self._loop_stat_path)
        try:
            return int(fields[16]) > 0 or int(fields[38]) != 0
        except (IndexError, ValueError):
            return True


@dataclass(frozen=True)
class Probe:
    """One quick request: its time, status and the part spent waiting for a CPU."""

    elapsed: float
    status: int
    cpu_wait: float = 0.0

    @property
    def held(self) -> float:
        """Return the seconds the request took, less its wait for a CPU."""
        return self.elapsed - self.cpu_wait

    def describe(self) -> str:
        """Return the request's time, and how much of it counts when not all."""
        if self.cpu_wait < 0.0005:
            return f"{self.elapsed:.3f} s"
        return (
            f"{self.elapsed:.3f} s, of which the app's event loop or the grader "
            f"waited {self.cpu_wait:.3f} s for a CPU while the machine was busy, "
            f"so {self.held:.3f} s counts"
        )


async def timed_probe(
    client: httpx.AsyncClient, path: str, reader: CpuWaitReader
) -> Probe:
    """Send GET `path`, read the whole body, and time it with its wait for a CPU."""
    before = reader.sample()
    started = time.perf_counter()
    response = await client.get(path)
    await response.aread()
    elapsed = time.perf_counter() - started
    wait = reader.sample().wait_since(before)
    return Probe(elapsed, response.status_code, min(wait, elapsed))


def timed_get(
    client: httpx.Client, path: str, reader: CpuWaitReader
) -> tuple[httpx.Response, Probe]:
    """Send GET `path` and time it with its wait for a CPU, as timed_probe does."""
    before = reader.sample()
    started = time.perf_counter()
    response = client.get(path)
    elapsed = time.perf_counter() - started
    wait = reader.sample().wait_since(before)
    return response, Probe(elapsed, response.status_code, min(wait, elapsed))


@dataclass(frozen=True)
class ConcurrencyTiming:
    """How long one request took and how long `count` concurrent ones took."""

    path: str
    count: int
    single: float
    concurrent: float
    statuses: tuple[int, ...]
    # The quickest of the concurrent requests, each timed on its own.
    fastest: float = 0.0

    @property
    def ratio(self) -> float:
        return self.concurrent / self.single

    @property
    def pass_line(self) -> float:
        return pass_line(self.count)

    @property
    def concurrent_enough(self) -> bool:
        return self.ratio < self.pass_line

    def describe(self) -> str:
        return (
            f"one request took {self.single:.2f} s; {self.count} concurrent "
            f"requests took {self.concurrent:.2f} s, {self.ratio:.1f} times as "
            f"long (concurrent handling stays below {self.pass_line:.1f} times)"
        )


def pass_line(count: int) -> float:
    """Return the ratio that separates concurrent from one-at-a-time handling."""
    return math.sqrt(count)


async def _timed_get(client: httpx.AsyncClient, path: str) -> tuple[float, int]:
    started = time.perf_counter()
    response = await client.get(path)
    await response.aread()
    return time.perf_counter() - started, response.status_code


async def _measure(
    app: LearnerApp, path: str, count: int, timeout: float
) -> ConcurrencyTiming:
    limits = httpx.Limits(max_connections=count + 2)
    transport = LimitedAsyncTransport(uds=str(app.connect_path), limits=limits)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://learner-app",
        timeout=timeout,
        headers=CLIENT_HEADERS,
    ) as client:
        # Warm-up requests open connections and let the app import lazily
        # loaded code, so neither counts against the single-request time.
        for _ in range(WARM_UPS):
            await _timed_get(client, path)
        single = min([(await _timed_get(client, path))[0] for _ in range(SINGLE_RUNS)])

        started = time.perf_counter()
        results = await asyncio.gather(
            *(_timed_get(client, path) for _ in range(count))
        )
        concurrent = time.perf_counter() - started
    return ConcurrencyTiming(
        path=path,
        count=count,
        single=single,
        concurrent=concurrent,
        statuses=tuple(status for _, status in results),
        fastest=min(elapsed for elapsed, _ in results),
    )


def measure_concurrency(
    app: LearnerApp, path: str, count: int, *, timeout: float = 10.0
) -> ConcurrencyTiming:
    """Time one request to `path`, then `count` concurrent ones, after a warm-up."""
    timing = asyncio.run(_measure(app, path, count, timeout))
    record_measurement(
        f"{count} concurrent GET {path}",
        single=round(timing.single, 4),
        concurrent=round(timing.concurrent, 4),
        fastest=round(timing.fastest, 4),
        ratio=round(timing.ratio, 3),
        pass_line=round(timing.pass_line, 3),
    )
    return timing


@dataclass(frozen=True)
class LatencyRound:
    """Quick requests timed during one batch of slow requests, and alone around it.

    The quick requests go one after another, each as soon as the previous
    response arrived, so one of them is waiting for the app at every moment.
    """

    # The quick requests in the alone windows just before and just after the
    # batch, and those from sending the batch until its last response.
    alone: tuple[Probe, ...]
    during: tuple[Probe, ...]
    # Seconds the slowest of the slow requests took, all sent at once.
    slow_total: float

    @property
    def mean_alone(self) -> float:
        return statistics.fmean(probe.held for probe in self.alone)

    @property
    def mean_during(self) -> float:
        return statistics.fmean(probe.held for probe in self.during)

    @property
    def slowdown(self) -> float:
        """Return how many times longer a quick request took during the batch."""
        return self.mean_during / self.mean_alone


@dataclass(frozen=True)
class LatencyDuringLoad:
    """Rounds of quick requests timed alone and during slow requests."""

    quick_path: str
    slow_path: str
    slow_count: int
    rounds: tuple[LatencyRound, ...]
    # Statuses of the quick requests that did not return 200, in order.
    failed_statuses: tuple[int, ...]

    @property
    def median_round(self) -> LatencyRound:
        """Return the round with the median slowdown (the lower of two middles).

        A burst of load from other processes can make one round an outlier
        either way, and the median ignores outliers in fewer than half of the
        rounds.
        """
        ranked = sorted(self.rounds, key=lambda batch: batch.slowdown)
        return ranked[(len(ranked) - 1) // 2]

    @property
    def slowdown(self) -> float:
        return self.median_round.slowdown

    @property
    def shortest_batch(self) -> float:
        return min(batch.slow_total for batch in self.rounds)

    @property
    def slowest_during(self) -> Probe:
        """Return the quick request that took longest during a batch.

        Longest by the time that counts: less its wait for a CPU.
        """
        return max(
            (probe for batch in self.rounds for probe in batch.during),
            key=lambda probe: probe.held,
        )


async def _probe_until(
    client: httpx.AsyncClient,
    path: str,
    reader: CpuWaitReader,
    finished: Callable[[], bool],
) -> list[Probe]:
    """Send GET `path` again and again, each as soon as the previous one ended.

    Stops after the first response for which `finished()` is true, or after
    MAX_PROBES requests.
    """
    probes: list[Probe] = []
    while len(probes) < MAX_PROBES:
        probes.append(await timed_probe(client, path, reader))
        if finished():
            break
    return probes


async def _probe_for(
    client: httpx.AsyncClient, path: str, reader: CpuWaitReader, seconds: float
) -> list[Probe]:
    deadline = time.perf_counter() + seconds
    return await _probe_until(
        client, path, reader, lambda: time.perf_counter() >= deadline
    )


async def _probe_during(
    client: httpx.AsyncClient,
    path: str,
    reader: CpuWaitReader,
    slow_path: str,
    slow_count: int,
) -> tuple[list[Probe], float]:
    """Probe `path` from sending `slow_count` GET `slow_path` until they all end.

    Returns the probes and the seconds the slowest of the slow requests took.
    """
    slow = [
        asyncio.ensure_future(_timed_get(client, slow_path)) for _ in range(slow_count)
    ]
    probes = await _probe_until(
        client, path, reader, lambda: all(task.done() for task in slow)
    )
    results = await asyncio.gather(*slow)
    return probes, max(elapsed for elapsed, _ in results)


async def _measure_latency(
    app: LearnerApp,
    quick_path: str,
    slow_path: str,
    slow_count: int,
    rounds: int,
    alone_seconds: float,
) -> LatencyDuringLoad:
    limits = httpx.Limits(max_connections=slow_count + 4)
    transport = LimitedAsyncTransport(uds=str(app.connect_path), limits=limits)
    reader = CpuWaitReader.for_app(app)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://learner-app",
        timeout=10.0,
        headers=CLIENT_HEADERS,
    ) as client:
        # Concurrent warm-ups open a connection for each slow request and one
        # for the quick ones, so no round starts by opening connections.
        await asyncio.gather(
            *(_timed_get(client, quick_path) for _ in range(slow_count + 1))
        )
        for _ in range(WARM_UPS):
            await _timed_get(client, quick_path)

        windows = [await _probe_for(client, quick_path, reader, alone_seconds)]
        batches = []
        for _ in range(rounds):
            during, slow_total = await _probe_during(
                client, quick_path, reader, slow_path, slow_count
            )
            windows.append(await _probe_for(client, quick_path, reader, alone_seconds))
            batches.append((windows[-2] + windows[-1], during, slow_total))
    probes = [probe for window in windows for probe in window] + [
        probe for _, during, _ in batches for probe in during
    ]
    return LatencyDuringLoad(
        quick_path=quick_path,
        slow_path=slow_path,
        slow_count=slow_count,
        rounds=tuple(
            LatencyRound(alone=tuple(alone), during=tuple(during), slow_total=total)
            for alone, during, total in batches
        ),
        failed_statuses=tuple(probe.status for probe in probes if probe.status != 200),
    )


def measure_latency_during_load(
    app: LearnerApp,
    quick_path: str,
    slow_path: str,
    *,
    slow_count: int = 3,
    rounds: int = 3,
    alone_seconds: float = 0.1,
) -> LatencyDuringLoad:
    """Time `quick_path` alone and during `slow_count` requests to `slow_path`.

    Probes `quick_path` for `alone_seconds`, then `rounds` times sends the
    slow requests, probes until they end, and probes alone again. Each round
    compares its probes with those of the alone windows on both sides, which
    ran under the same load from other processes. Each quick request counts
    its time less its wait for a CPU (CpuWaitReader).
    """
    latency = asyncio.run(
        _measure_latency(app, quick_path, slow_path, slow_count, rounds, alone_seconds)
    )
    slowdowns = [batch.slowdown for batch in latency.rounds]
    middle = latency.median_round
    slowest = latency.slowest_during
    probes = [probe for batch in latency.rounds for probe in batch.during]
    # Milliseconds, because a quick request alone takes about one. The means
    # are the median round's, the ones the feedback quotes.
    record_measurement(
        f"GET {quick_path} during {slow_count} GET {slow_path}",
        median_round_alone_ms=round(middle.mean_alone * 1000, 3),
        median_round_during_ms=round(middle.mean_during * 1000, 3),
        slowest_during_ms=round(slowest.held * 1000, 2),
        slowest_during_cpu_wait_ms=round(slowest.cpu_wait * 1000, 2),
        most_cpu_wait_during_ms=round(max(p.cpu_wait for p in probes) * 1000, 2),
        lowest_round_slowdown=round(min(slowdowns), 3),
        highest_round_slowdown=round(max(slowdowns), 3),
    )
    return latency


def expect_one_process(watch: ProcessWatch, request: str) -> None:
    """Fail unless the app ran one process while a timing check measured it.

    Several processes (uvicorn workers, for example) serve requests side by
    side, so they make a blocked event loop look free. NOTE: threads are not
    counted, since plain `def` endpoints run in a thread pool, so an app that
    gives each request an event loop in a thread of its own passes.
    """
    if watch.max_count <= 1:
        return
    raise CheckFailed(
        f"The app ran {watch.max_count} processes while it was measured, so the "
        "check cannot tell whether its event loop was blocked.",
        request=request,
        expected="one uvicorn process, whose one event loop serves every request",
        actual=f"up to {watch.max_count} processes: the app's own and those it started",
        hint="Does the app start uvicorn workers or other processes, for example "
        "by running uvicorn again with --workers, or with multiprocessing? This "
        "chapter is about one event loop: time.sleep in `async def` blocks every "
        "request its process serves, and more processes only hide that.",
    )
