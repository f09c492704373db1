"""Write a folder of generated submissions, one folder per learner.

    python scripts/make_class.py OUT --learners 30 [--seed 1] [--chapter 01 02]

Learners are a fixed mix, chosen by a seeded random generator so the same
arguments always give the same class: full solutions, untouched starters, and
solutions with some chapters replaced by a starter or by a mutant from
tests/mutants/. Learner 2's first chapter loops forever in a middleware, so its
checks time out, and learner 3's first chapter has a syntax error.
`expected.json` in OUT records what each learner is, for tests and benchmarks.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apigrade.course import load_course  # noqa: E402
from tests.mutants import build_mutant, load_mutants  # noqa: E402

HANG = """

@app.middleware("http")
async def never_answer(request, call_next):
    while True:  # a learner's busy loop: no request ever completes
        pass
"""


def make_class(
    out: Path, learners: int, seed: int, chapter_ids: list[str] | None
) -> dict[str, dict[str, str]]:
    """Write `learners` submissions into `out`; return what each chapter holds."""
    course = load_course()
    chapters = course.select(chapter_ids)
    mutants = [m for m in load_mutants() if any(m.chapter == c.id for c in chapters)]
    rng = random.Random(seed)
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"{out} is not empty: pass a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)
    expected: dict[str, dict[str, str]] = {}
    for number in range(1, learners + 1):
        name = f"learner{number:03d}"
        learner_dir = out / name
        learner_dir.mkdir()
        kinds: dict[str, str] = {}
        for chapter in chapters:
            if number == 1:
                kind = "solution"
            elif number == 4:
                kind = "starter"
            else:
                kind = rng.choice(["solution", "solution", "starter", "mutant"])
            chapter_mutants = [m for m in mutants if m.chapter == chapter.id]
            if kind == "mutant" and chapter_mutants:
                mutant = rng.choice(chapter_mutants)
                build_mutant(mutant, chapter.folder, learner_dir)
                kind = f"mutant:{mutant.name}"
            else:
                kind = "starter" if kind == "starter" else "solution"
                source = "exercises" if kind == "starter" else "solutions"
                shutil.copytree(
                    ROOT / source / chapter.folder, learner_dir / chapter.folder
                )
            kinds[chapter.id] = kind
        first = chapters[0]
        if number == 2:
            main = learner_dir / first.folder / "main.py"
            solution = ROOT / "solutions" / first.folder / "main.py"
            main.write_text(
                solution.read_text(encoding="utf-8") + HANG, encoding="utf-8"
            )
            kinds[first.id] = "hang"
        if number == 3:
            main = learner_dir / first.folder / "main.py"
            main.write_text(
                main.read_text(encoding="utf-8") + "\ndef unfinished(:\n",
                encoding="utf-8",
            )
            kinds[first.id] = "syntax_error"
        expected[name] = kinds
    (out / "expected.json").write_text(json.dumps(expected, indent=2) + "\n")
    return expected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="a new or empty folder")
    parser.add_argument("--learners", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--chapter", nargs="+", metavar="ID")
    args = parser.parse_args()
    make_class(args.out, args.learners, args.seed, args.chapter)
    print(f"Wrote {args.learners} learners to {args.out}")


if __name__ == "__main__":
    main()
