"""Grade timing-sensitive submissions repeatedly under CPU load; report verdicts.

For each chapter that has timing mutants (tests/mutants/*.toml, `timing = true`),
the solution and every timing mutant are graded RUNS times while LOAD processes
spin on the CPU. A variant passes when every run gives the same check statuses.
A variant whose statuses differ from an earlier run's is printed as it happens.
The figures the timing checks measured (ratios, seconds) are printed as ranges.

    python scripts/timing_determinism.py [--runs 20] [--load 2] [--chapter 06 ...]

Exits with 1 if any variant's verdict changed between runs, or if Ctrl-C (SIGINT)
ended the runs early; the summary then covers the runs finished.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apigrade.course import Chapter, Course, load_course  # noqa: E402
from apigrade.runner import ChapterResult, grade_chapter  # noqa: E402
from tests.mutants import Mutant, build_mutant, load_mutants  # noqa: E402

SPIN = "while True: pass"


def variants(
    course: Course, chapter_ids: list[str] | None, workspace: Path
) -> list[tuple[str, Chapter, Path]]:
    """Return (label, chapter, target) for each solution and timing mutant."""
    timing: dict[str, list[Mutant]] = defaultdict(list)
    for mutant in load_mutants():
        if mutant.timing:
            timing[mutant.chapter].append(mutant)
    wanted = chapter_ids or sorted(timing)
    found = []
    for chapter in course.select(wanted):
        found.append((f"{chapter.id} solution", chapter, ROOT / "solutions"))
        for mutant in timing.get(chapter.id, []):
            target = build_mutant(mutant, chapter.folder, workspace / mutant.name)
            found.append((f"{chapter.id} {mutant.name}", chapter, target))
    return found


def verdict(result: ChapterResult) -> tuple[tuple[str, str], ...]:
    return tuple((check.id, check.status) for check in result.checks)


def describe(result: ChapterResult) -> str:
    """Return a result's status, score, reason and failed checks, on one line."""
    failed = [check.id for check in result.checks if check.status != "passed"]
    reason = f", reason: {result.reason}" if result.reason else ""
    return (
        f"{result.status} {result.score}/{result.max_score}{reason}, "
        f"failed: {', '.join(failed) or 'none'}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="gradings per variant")
    parser.add_argument("--load", type=int, default=2, help="CPU-bound processes")
    parser.add_argument("--chapter", nargs="+", help="chapter ids (default: all)")
    args = parser.parse_args()
    if args.runs < 1 or args.load < 0:
        parser.error("--runs must be 1 or more and --load 0 or more")

    course = load_course(ROOT)
    workspace = Path(tempfile.mkdtemp(prefix="timing-determinism-"))
    spinners = [
        subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(args.load)
    ]
    verdicts: dict[str, set[tuple[tuple[str, str], ...]]] = defaultdict(set)
    # For each variant, each distinct outcome and the runs that gave it.
    outcomes: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    scores: dict[str, set[int]] = defaultdict(set)
    figures: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    started = time.monotonic()
    finished = 0
    interrupted = False
    try:
        found = variants(course, args.chapter, workspace)
        print(
            f"{len(found)} variants x {args.runs} runs, {args.load} CPU spinners",
            flush=True,
        )
        for run in range(1, args.runs + 1):
            for label, chapter, target in found:
                result = grade_chapter(course, chapter, target)
                statuses = verdict(result)
                if verdicts[label] and statuses not in verdicts[label]:
                    print(
                        f"  run {run}: {label} CHANGED: {describe(result)}",
                        flush=True,
                    )
                verdicts[label].add(statuses)
                outcomes[label][describe(result)].append(run)
                scores[label].add(result.score)
                for check in result.checks:
                    for measurement in check.measurements:
                        for key, value in measurement.items():
                            if isinstance(value, float | int) and key != "pass_line":
                                name = str(measurement["label"])
                                figures[(label, name, key)].append(float(value))
            changed_so_far = sum(len(kinds) > 1 for kinds in verdicts.values())
            print(
                f"run {run}/{args.runs} done at {time.monotonic() - started:.0f} s, "
                f"{changed_so_far} variants changed so far",
                flush=True,
            )
            finished = run
    except KeyboardInterrupt:
        # Ctrl-C (SIGINT) ends the runs early. The summary covers the runs
        # finished, and the variants graded in the run cut short.
        interrupted = True
        print(f"\ninterrupted after {finished} full runs", flush=True)
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
        shutil.rmtree(workspace, ignore_errors=True)

    changed = 0
    print("\nvariant: verdicts seen, scores seen")
    for label in verdicts:
        stable = len(verdicts[label]) == 1
        changed += not stable
        state = "identical" if stable else "CHANGED"
        print(
            f"  {label}: {state} over {finished} runs, scores {sorted(scores[label])}"
        )
        if not stable:
            for outcome, runs in outcomes[label].items():
                print(f"    runs {runs}: {outcome}")
    print("\nfigures (min / median / max)")
    for (label, name, key), values in sorted(figures.items()):
        values.sort()
        middle = values[len(values) // 2]
        print(
            f"  {label} | {name} | {key}: "
            f"{values[0]:.3f} / {middle:.3f} / {values[-1]:.3f}"
        )
    return 1 if changed or interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
