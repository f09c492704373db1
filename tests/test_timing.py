"""How the timing checks tell a blocked event loop from a busy machine."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import cast

import pytest

from apigrade.sandbox import SandboxedProcess
from apigrade.server import LearnerApp
from apigrade.timing import CpuSample, CpuWaitReader, Probe

LINUX_SCHEDSTAT = Path("/proc/thread-self/schedstat").exists()


def start_python(code: str) -> subprocess.Popen[bytes]:
    """Start Python running `code`, with its output on a pipe."""
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)


def sample(
    loop_wait: float = 1.0,
    loop_cpu: float = 3.0,
    grader_wait: float = 5.0,
    app_cpu: float = 4.0,
) -> CpuSample:
    return CpuSample(
        loop_wait=loop_wait, loop_cpu=loop_cpu, grader_wait=grader_wait, app_cpu=app_cpu
    )


def test_wait_is_the_longer_of_loop_and_grader() -> None:
    before = sample()

    assert sample(loop_wait=1.12, grader_wait=5.03).wait_since(before) == (
        pytest.approx(0.12)
    )
    assert sample(loop_wait=1.01, grader_wait=5.08).wait_since(before) == (
        pytest.approx(0.08)
    )


def test_quick_loop_work_keeps_most_of_the_wait() -> None:
    """A loop that ran a millisecond to serve a request keeps most of its wait."""
    after = sample(loop_wait=1.15, loop_cpu=3.001)

    assert after.wait_since(sample()) == pytest.approx(0.14)


def test_busy_loop_gets_no_credit() -> None:
    """A loop that spins through a blocking wait runs a large share of the time."""
    # 0.3 s of busy waiting with a fifth of a CPU: 0.06 s running, 0.24 s waiting.
    after = sample(loop_wait=1.24, loop_cpu=3.06, app_cpu=4.06)

    assert after.wait_since(sample()) == 0.0


def test_loop_crowded_by_own_threads_gets_no_credit() -> None:
    """Busy threads of the app's own can keep its busy loop from the CPU."""
    # 0.3 s in a cgroup given 0.4 of a CPU, shared by the loop and 19 threads:
    # the loop runs 0.006 s and waits 0.294 s, and the app runs 0.12 s.
    after = sample(loop_wait=1.294, loop_cpu=3.006, app_cpu=4.12)

    assert after.wait_since(sample()) == 0.0


def test_app_cpu_time_is_not_a_wait() -> None:
    """An app whose own threads keep the CPUs busy gets no credit for the wait."""
    before = sample()

    assert sample(loop_wait=1.2, grader_wait=5.1, app_cpu=4.5).wait_since(before) == 0.0
    assert sample(grader_wait=5.2, app_cpu=4.05).wait_since(before) == (
        pytest.approx(0.15)
    )


def test_probe_counts_its_time_less_the_wait() -> None:
    probe = Probe(elapsed=0.18, status=200, cpu_wait=0.12)

    assert probe.held == pytest.approx(0.06)
    assert probe.describe() == (
        "0.180 s, of which the app's event loop or the grader waited 0.120 s "
        "for a CPU while the machine was busy, so 0.060 s counts"
    )
    assert Probe(elapsed=0.3, status=200).describe() == "0.300 s"


def test_reader_without_app_reads_no_app_figures() -> None:
    sample = CpuWaitReader(None).sample()

    assert sample.loop_wait == 0.0
    assert sample.app_cpu == 0.0


def test_loop_wait_uncounted_without_cpu_cgroup() -> None:
    """Without a CPU cgroup of the grader's, an app could lower its own priority."""
    app = SimpleNamespace(
        pid=os.getpid(), has_own_cpu_share=False, cpu_seconds=lambda: None
    )

    reader = CpuWaitReader.for_app(cast(LearnerApp, app))

    assert reader.sample().loop_wait == 0.0
    assert reader.sample().loop_cpu == 0.0


@pytest.mark.skipif(not LINUX_SCHEDSTAT, reason="needs Linux's schedstat files")
def test_loop_wait_counted_in_cpu_cgroup() -> None:
    app = SimpleNamespace(
        pid=os.getpid(), has_own_cpu_share=True, cpu_seconds=lambda: 1.5
    )

    reader = CpuWaitReader.for_app(cast(LearnerApp, app))

    # This process has run, so its main thread's running time is above zero.
    assert reader.sample().loop_cpu > 0.0
    assert reader.sample().app_cpu == 1.5


def test_loop_wait_uncounted_without_cgroup_cpu_time() -> None:
    """Without the cgroup's CPU time, the app's figure is in coarse clock ticks."""
    app = SimpleNamespace(
        pid=os.getpid(), has_own_cpu_share=True, cpu_seconds=lambda: None
    )

    reader = CpuWaitReader.for_app(cast(LearnerApp, app))

    assert reader.sample().loop_wait == 0.0
    assert reader.sample().loop_cpu == 0.0


def test_reader_of_missing_process_reads_zero() -> None:
    # PIDs never reach this value on Linux (at most 2**22).
    sample = CpuWaitReader(2**30).sample()

    assert (sample.loop_wait, sample.app_cpu) == (0.0, 0.0)


@pytest.mark.skipif(not LINUX_SCHEDSTAT, reason="needs Linux's schedstat files")
def test_sleeping_loop_never_waits_for_a_cpu() -> None:
    """A thread in time.sleep is not ready to run, so a blocked loop gains no credit."""
    with start_python(
        "print('ready', flush=True); import time; time.sleep(30)"
    ) as sleeper:
        assert sleeper.stdout is not None
        assert sleeper.stdout.readline() == b"ready\n"
        reader = CpuWaitReader(sleeper.pid)
        # Wait until the print has returned and the process sleeps.
        time.sleep(0.2)
        before = reader.sample()
        time.sleep(0.5)
        after = reader.sample()
        sleeper.kill()

    assert after.loop_wait - before.loop_wait < 0.001
    assert after.app_cpu - before.app_cpu < 0.02


@pytest.mark.skipif(not LINUX_SCHEDSTAT, reason="needs Linux's schedstat files")
def test_reader_counts_the_apps_cpu_time() -> None:
    with start_python(
        "import time\n"
        "print('ready', flush=True)\n"
        "end = time.process_time() + 0.5\n"
        "while time.process_time() < end: pass\n"
        "print('done', flush=True)\n"
        "time.sleep(30)\n"
    ) as spinner:
        assert spinner.stdout is not None
        assert spinner.stdout.readline() == b"ready\n"
        reader = CpuWaitReader(spinner.pid)
        before = reader.sample()
        assert spinner.stdout.readline() == b"done\n"
        after = reader.sample()
        spinner.kill()

    # Half a second of CPU, counted in clock ticks of 10 ms.
    assert after.app_cpu - before.app_cpu >= 0.4


def test_cgroup_cpu_time_read_from_v1_and_v2(tmp_path: Path) -> None:
    """The app's CPU time comes from its cgroup, which counts forked processes too."""
    version1 = tmp_path / "cpuacct"
    version1.mkdir()
    (version1 / "cpuacct.usage").write_text("1500000000\n")
    version2 = tmp_path / "unified"
    version2.mkdir()
    (version2 / "cpu.stat").write_text("usage_usec 2500000\nuser_usec 2000000\n")
    popen = cast("subprocess.Popen[bytes]", None)

    assert SandboxedProcess(popen, 1, [version1]).cpu_seconds() == 1.5
    assert (
        SandboxedProcess(popen, 1, [tmp_path / "pids", version2]).cpu_seconds() == 2.5
    )
    assert SandboxedProcess(popen, 1, []).cpu_seconds() is None


def test_lowered_loop_gets_no_credit() -> None:
    """A loop below the default priority counts no wait; the grader's still does."""
    before = sample()
    after = CpuSample(
        loop_wait=1.3, loop_cpu=3.001, grader_wait=5.02, app_cpu=4.0, loop_lowered=True
    )

    assert after.wait_since(before) == pytest.approx(0.02)


@pytest.mark.skipif(not LINUX_SCHEDSTAT, reason="needs Linux's schedstat files")
@pytest.mark.parametrize(
    ("code", "lowered"),
    [
        ("", False),
        ("os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))", True),
        ("os.nice(5)", True),
    ],
)
def test_reader_sees_a_lowered_loop(code: str, lowered: bool) -> None:
    with start_python(
        f"import os, time\n{code}\nprint('ready', flush=True)\ntime.sleep(30)\n"
    ) as app:
        assert app.stdout is not None
        assert app.stdout.readline() == b"ready\n"
        reader = CpuWaitReader(app.pid)

        assert reader.sample().loop_lowered is lowered
        app.kill()


def _load_grader(name: str) -> ModuleType:
    path = Path(__file__).parent.parent / "graders" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    grader = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(grader)
    return grader


def test_long_deadline_draws_stay_in_range(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chapter 12's long fetch outlasts the default, well within its deadline."""
    # The grader imports its sources service from its own folder.
    monkeypatch.syspath_prepend(str(Path(__file__).parent.parent / "graders"))
    grader = _load_grader("test_12_concurrent_tasks")
    fetches = [
        grader._draw_seconds(grader.LONG_FETCH_MIN, grader.LONG_FETCH_MAX)
        for _ in range(500)
    ]
    deadlines = [
        grader._draw_seconds(grader.LONG_DEADLINE_FACTOR * fetch, grader.MAX_DEADLINE)
        for fetch in fetches
    ]

    assert min(fetches) > grader.DEFAULT_DEADLINE
    assert max(fetches) <= grader.LONG_FETCH_MAX
    assert all(round(fetch, 2) == fetch for fetch in fetches)
    assert len(set(fetches)) > 50
    # Both are in steps of 10 ms, so the factor's product is rounded to one.
    assert all(
        round(grader.LONG_DEADLINE_FACTOR * fetch, 2) <= deadline <= grader.MAX_DEADLINE
        for fetch, deadline in zip(fetches, deadlines, strict=True)
    )


def test_probed_streams_stay_in_range() -> None:
    """Chapter 13's probed streams never use the old fixed count and interval."""
    grader = _load_grader("test_13_streaming")
    drawn = [grader.ProbedStream.draw("stream") for _ in range(500)]
    counts = {stream.count for stream in drawn}
    intervals = {stream.interval for stream in drawn}
    assert counts == {3, 4, 5}
    assert min(intervals) >= 0.41
    assert max(intervals) <= 0.9
    assert 0.4 not in intervals
    assert all(round(interval, 2) == interval for interval in intervals)
    assert len(intervals) > 30
