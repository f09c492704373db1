"""Measure how fast grading is, and how close it comes to its floor.

    python scripts/bench.py [--learners 50] [--nox-python PYTHON] [--skip ...]

Run through `nox -s bench`, which passes the Python that runs nox. In one run
it measures, each as a separate process tree:

- warm: `apigrade grade` of solutions/ for one learner, its environment ready;
- naive: each chapter's grader run by plain pytest, one after another;
- cold: a fresh clone graded with `nox -s grade`, environment creation
  included (uv's package cache on this machine is kept, as on any machine
  that has installed the packages once);
- class: `apigrade grade-class` of a generated class (scripts/make_class.py).

For each: wall time, CPU time of the whole process tree (user + system, from
wait4), and peak memory (the largest sum of resident memory over the tree,
sampled every 50 ms). The script is the tree's subreaper: bwrap ends without
waiting for the init of its PID namespace, so the init, and the app it waited
for, would otherwise leave the tree with their CPU time uncounted.

The floor is the longest chain of waits any chapter's checks must observe,
from each grader's WAIT_SECONDS; chapters run concurrently, so no run can
beat the slowest chapter's chain.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apigrade.course import load_course  # noqa: E402
from apigrade.sandbox import choose_isolation  # noqa: E402

SAMPLE_INTERVAL = 0.05
MIB = 1024 * 1024
# prctl option that makes this process adopt its orphaned descendants.
PR_SET_CHILD_SUBREAPER = 36
# Seconds to wait, once the measured command has ended, for the processes it
# left to this script to end too.
ORPHAN_WAIT = 10.0


@dataclass
class Measurement:
    """One process tree's cost: what ran, and its wall, CPU and peak memory."""

    name: str
    wall: float
    cpu: float
    peak_rss: int
    exit_code: int


def tree_rss(root: int) -> int:
    """Return the summed resident memory, in bytes, of `root` and its descendants."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            statm = Path(entry.path, "statm").read_text().split()
        except OSError:
            continue
        # The command name, in brackets, may contain spaces: split after it.
        fields = stat[stat.rindex(")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry.name))
        rss[int(entry.name)] = int(statm[1]) * page
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def become_subreaper() -> None:
    """Adopt orphaned descendants, so their CPU time reaches this script's wait4."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        error = ctypes.get_errno()
        raise SystemExit(
            f"bench: prctl(PR_SET_CHILD_SUBREAPER) failed: {os.strerror(error)}"
        )


def reap_orphans() -> tuple[float, int]:
    """Wait for the processes the measured command left to this script.

    Returns their CPU time, with that of every process they waited for, and
    how many were still running after ORPHAN_WAIT seconds.
    """
    cpu = 0.0
    deadline = time.monotonic() + ORPHAN_WAIT
    while True:
        try:
            pid, _, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return cpu, 0
        if pid:
            cpu += usage.ru_utime + usage.ru_stime
            continue
        if time.monotonic() > deadline:
            return cpu, len(own_children())
        time.sleep(SAMPLE_INTERVAL)


def own_children() -> list[int]:
    """Return the pids of this script's child processes, from /proc."""
    children = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == os.getpid():
                children.append(int(entry.name))
    return children


def wait_and_sample(
    pid: int,
) -> tuple[resource.struct_rusage, int, float, int]:
    """Wait for `pid`, sampling memory meanwhile.

    Returns its resource usage and wait status, the wall time from now, and
    the peak memory, in bytes, of this script's descendants.
    """
    started = time.monotonic()
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(SAMPLE_INTERVAL):
            # From this script down, less its own memory: orphans it adopted
            # are its children, beside the command.
            peak = max(peak, tree_rss(os.getpid()) - own_rss())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    # wait4 returns the CPU time of the process and of every descendant it
    # waited for: the graders, the apps and the sandboxes they ran in.
    _, status, usage = os.wait4(pid, 0)
    wall = time.monotonic() - started
    done.set()
    sampler.join()
    return usage, status, wall, peak


def measure(
    name: str, command: list[str], *, cwd: Path, env: dict[str, str]
) -> Measurement:
    """Run `command` to its end and measure its whole process tree."""
    with tempfile.TemporaryFile() as errors_file:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=errors_file
        )
        usage, status, wall, peak = wait_and_sample(process.pid)
        orphan_cpu, running = reap_orphans()
        errors_file.seek(0)
        errors = errors_file.read().decode("utf-8", errors="replace")
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        print(
            f"{name}: exit code {process.returncode}\n{errors[-2000:]}", file=sys.stderr
        )
    if running:
        print(
            f"{name}: {running} processes still running {ORPHAN_WAIT:.0f} s after "
            "the command ended; their CPU time is not counted",
            file=sys.stderr,
        )
    return Measurement(
        name=name,
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime + orphan_cpu,
        peak_rss=peak,
        exit_code=process.returncode,
    )


def own_rss() -> int:
    """Return this script's resident memory, in bytes."""
    statm = Path("/proc/self/statm").read_text().split()
    return int(statm[1]) * os.sysconf("SC_PAGE_SIZE")


def declared_waits() -> dict[str, float]:
    """Return each grader's WAIT_SECONDS, from the grader modules themselves."""
    course = load_course(ROOT)
    sys.path.insert(0, str(course.graders_dir))
    waits = {}
    for chapter in course.chapters:
        module = importlib.import_module(course.grader_file(chapter).stem)
        wait = getattr(module, "WAIT_SECONDS", None)
        if not isinstance(wait, (int, float)):
            raise SystemExit(
                f"{course.grader_file(chapter).name} declares no WAIT_SECONDS: "
                "add the seconds its checks must wait (see docs/writing-a-chapter.md)"
            )
        waits[chapter.id] = float(wait)
    return waits


def clean_env() -> dict[str, str]:
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PYTEST_", "APIGRADE_", "VIRTUAL_ENV", "NOX_"))
    }


def measure_naive(tmp: Path, isolation: str) -> Measurement:
    """Grade each chapter by running its grader with plain pytest, in turn."""
    course = load_course(ROOT)
    script = tmp / "naive.sh"
    lines = ["set -e"]
    for chapter in course.chapters:
        work = tmp / "naive" / chapter.folder
        lines += [
            f"rm -rf {work} && mkdir -p {work}/grader",
            f"cp -r {ROOT / 'solutions' / chapter.folder} {work}/app",
            f"cd {work}/grader",
            f"APIGRADE_APP_DIR={work}/app APIGRADE_WORK_DIR={work} "
            f"APIGRADE_GRADER_DIR={work}/grader APIGRADE_ISOLATION={isolation} "
            f"{sys.executable} -m pytest -q -p no:cacheprovider "
            f"-c {course.graders_dir / 'pytest.ini'} --rootdir {course.graders_dir} "
            f"-p apigrade.plugin {course.grader_file(chapter)} > {work}/grader.log",
        ]
    script.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return measure("naive", ["bash", str(script)], cwd=tmp, env=clean_env())


def describe_machine() -> str:
    cpu = "unknown CPU"
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {memory:.0f} GiB, Linux "
        f"{platform.release()}, Python {platform.python_version()}"
    )


def print_row(measurement: Measurement, extra: str = "") -> None:
    print(
        f"{measurement.name:<8} wall {measurement.wall:7.1f} s  "
        f"cpu {measurement.cpu:7.1f} s  peak memory "
        f"{measurement.peak_rss / MIB:7.0f} MiB  exit {measurement.exit_code}  {extra}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--learners", type=int, default=50, help="learners in the class"
    )
    parser.add_argument(
        "--nox-python",
        default=sys.executable,
        help="the Python with nox installed, for the cold run (default: this one)",
    )
    parser.add_argument(
        "--skip",
        nargs="*",
        default=[],
        choices=["warm", "naive", "cold", "class"],
        help="measurements to leave out",
    )
    args = parser.parse_args()
    become_subreaper()
    isolation = choose_isolation()
    waits = declared_waits()
    floor_chapter = max(waits, key=lambda chapter: waits[chapter])
    floor = waits[floor_chapter]
    print(f"Machine: {describe_machine()}; isolation: {isolation}")
    print(
        f"Floor: {floor:.2f} s (chapter {floor_chapter}); declared waits: "
        + ", ".join(f"{chapter} {wait:.2f}" for chapter, wait in waits.items())
    )
    results: dict[str, Measurement] = {}
    with tempfile.TemporaryDirectory(prefix="apigrade-bench-") as tmp_name:
        tmp = Path(tmp_name)
        env = clean_env()
        if "warm" not in args.skip:
            # One run first, so the warm figure has the page cache warm too.
            grade = [sys.executable, "-m", "apigrade", "grade", "--target", "solutions"]
            grade += ["--learner", "bench", "--report", str(tmp / "warm.json")]
            measure("warm-up", grade, cwd=ROOT, env=env)
            results["warm"] = measure("warm", grade, cwd=ROOT, env=env)
            report = json.loads((tmp / "warm.json").read_text(encoding="utf-8"))
            print_row(
                results["warm"],
                f"score {report['score']}/{report['max_score']}; "
                f"{results['warm'].wall / floor:.1f}x the floor",
            )
        if "naive" not in args.skip:
            results["naive"] = measure_naive(tmp, isolation)
            extra = ""
            if "warm" in results:
                speedup = results["naive"].wall / results["warm"].wall
                extra = f"warm is {speedup:.1f}x faster"
            print_row(results["naive"], extra)
        if "cold" not in args.skip:
            clone = tmp / "clone"
            subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
            cold = [args.nox_python, "-m", "nox", "-s", "grade", "--", "--target"]
            cold += ["solutions", "--learner", "bench"]
            results["cold"] = measure("cold", cold, cwd=clone, env=env)
            print_row(results["cold"], "fresh clone: environment creation included")
        if "class" not in args.skip:
            folder = tmp / "class"
            make_class = [sys.executable, str(ROOT / "scripts" / "make_class.py")]
            subprocess.run(
                [*make_class, str(folder), "--learners", str(args.learners)],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            grade_class = [sys.executable, "-m", "apigrade", "grade-class", str(folder)]
            grade_class += ["--reports", str(tmp / "class-reports")]
            results["class"] = measure("class", grade_class, cwd=ROOT, env=env)
            rate = args.learners / results["class"].wall * 60
            print_row(
                results["class"], f"{args.learners} learners: {rate:.0f} a minute"
            )
    self_usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"(this script itself: {self_usage.ru_maxrss / 1024:.0f} MiB peak)")


if __name__ == "__main__":
    main()
