"""Timing measurements for graders that judge concurrency.

Timing checks never compare against a fixed number of seconds. They compare an
app with itself: the time for N concurrent requests divided by the same app's
time for one request, measured after a warm-up. A concurrent app scores a ratio
near 1 and a blocking one near N; the pass line is the geometric middle,
sqrt(N), which leaves the same margin (sqrt(N) times) on both sides.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass

import httpx

from apigrade.checks import CheckFailed
from apigrade.server import LearnerApp, ProcessWatch

WARM_UPS = 2
SINGLE_RUNS = 2

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
    transport = httpx.AsyncHTTPTransport(uds=str(app.connect_path), limits=limits)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://learner-app", timeout=timeout
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
class LatencyDuringLoad:
    """How long a quick request took while slow requests were running."""

    quick_path: str
    slow_path: str
    slow_count: int
    quick_alone: float
    quick_during: float
    slow_total: float


async def _measure_latency(
    app: LearnerApp, quick_path: str, slow_path: str, slow_count: int, lag: float
) -> LatencyDuringLoad:
    limits = httpx.Limits(max_connections=slow_count + 4)
    transport = httpx.AsyncHTTPTransport(uds=str(app.connect_path), limits=limits)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://learner-app", timeout=10.0
    ) as client:
        for _ in range(WARM_UPS):
            await _timed_get(client, quick_path)
        quick_alone = min(
            [(await _timed_get(client, quick_path))[0] for _ in range(SINGLE_RUNS)]
        )
        await _timed_get(client, slow_path)

        started = time.perf_counter()
        slow = [
            asyncio.ensure_future(_timed_get(client, slow_path))
            for _ in range(slow_count)
        ]
        await asyncio.sleep(lag)
        quick_during, _ = await _timed_get(client, quick_path)
        await asyncio.gather(*slow)
        slow_total = time.perf_counter() - started
    return LatencyDuringLoad(
        quick_path=quick_path,
        slow_path=slow_path,
        slow_count=slow_count,
        quick_alone=quick_alone,
        quick_during=quick_during,
        slow_total=slow_total,
    )


def measure_latency_during_load(
    app: LearnerApp,
    quick_path: str,
    slow_path: str,
    *,
    slow_count: int = 3,
    lag: float = 0.05,
) -> LatencyDuringLoad:
    """Time `quick_path` while `slow_count` requests to `slow_path` are running."""
    latency = asyncio.run(_measure_latency(app, quick_path, slow_path, slow_count, lag))
    record_measurement(
        f"GET {quick_path} during {slow_count} GET {slow_path}",
        quick_alone=round(latency.quick_alone, 4),
        quick_during=round(latency.quick_during, 4),
        slow_total=round(latency.slow_total, 4),
    )
    return latency


def expect_one_process(watch: ProcessWatch, request: str) -> None:
    """Fail unless the app ran one process while a timing check measured it.

    Several processes (uvicorn workers, for example) serve requests side by
    side, so they make a blocked event loop look free.
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
