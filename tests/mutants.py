"""Mutant submissions: a chapter's solution with one known learner mistake.

Each mutant in tests/mutants/<chapter folder>.toml names its chapter, the edits
that turn the solution into the mistake, the checks it must fail, and words its
feedback must contain. `[mutant.modes]` gives paths in the chapter folder ("."
for the folder itself) an octal mode, such as "600", set after the edits. A
mutant marked `timing = true` is judged by a timing check, so
scripts/timing_determinism.py grades it repeatedly under load. One marked
`sandboxed = true` is caught only under bubblewrap or Landlock, so it is
skipped at the limits level.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
MUTANTS_DIR = Path(__file__).resolve().parent / "mutants"


@dataclass(frozen=True)
class Edit:
    file: str
    old: str
    new: str


@dataclass(frozen=True)
class Mutant:
    name: str
    chapter: str
    fails: tuple[str, ...]
    feedback: tuple[str, ...]
    edits: tuple[Edit, ...]
    files: dict[str, str]
    timing: bool
    modes: dict[str, str]
    # Caught only where the app's folder is read-only: under bubblewrap or
    # Landlock, not at the limits level.
    sandboxed: bool = False


def load_mutants() -> list[Mutant]:
    """Read every mutant from tests/mutants/*.toml, in file order."""
    return [
        mutant
        for path in sorted(MUTANTS_DIR.glob("*.toml"))
        for mutant in _load_file(path)
    ]


def _load_file(path: Path) -> list[Mutant]:
    data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    return [
        Mutant(
            name=raw["name"],
            chapter=raw["chapter"],
            fails=tuple(raw["fails"]),
            feedback=tuple(raw.get("feedback", [])),
            edits=tuple(
                Edit(file=edit.get("file", "main.py"), old=edit["old"], new=edit["new"])
                for edit in raw.get("edit", [])
            ),
            files=dict(raw.get("files", {})),
            timing=bool(raw.get("timing", False)),
            modes=dict(raw.get("modes", {})),
            sandboxed=bool(raw.get("sandboxed", False)),
        )
        for raw in data["mutant"]
    ]


def build_mutant(mutant: Mutant, folder: str, target: Path) -> Path:
    """Copy the chapter's solution into `target/folder` and apply the mutant."""
    chapter_dir = target / folder
    shutil.copytree(ROOT / "solutions" / folder, chapter_dir)
    for edit in mutant.edits:
        path = chapter_dir / edit.file
        text = path.read_text(encoding="utf-8")
        if text.count(edit.old) != 1:
            raise ValueError(
                f"mutant {mutant.name}: {edit.old!r} occurs {text.count(edit.old)} "
                f"times in solutions/{folder}/{edit.file}; it must occur once"
            )
        path.write_text(text.replace(edit.old, edit.new), encoding="utf-8")
    for name, content in mutant.files.items():
        (chapter_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (chapter_dir / name).write_text(content, encoding="utf-8")
    for name, mode in mutant.modes.items():
        (chapter_dir / name).chmod(int(mode, 8))
    return target
