"""Load the course definition: chapters, their checks and points, from course.toml."""

from __future__ import annotations

import ast
import difflib
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apigrade.errors import CourseError, UnknownChapterError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

COURSE_FILE = "course.toml"
FORMAT_VERSION = 1
VISIBILITIES = ("visible", "hidden")
# How many levels below a learner's folder Course.nested_folder looks for
# chapter folders: exercises/ and <clone>/exercises/.
NESTED_LEVELS = 2


@dataclass(frozen=True)
class CheckSpec:
    """One check of a chapter: its points and whether learners see its details."""

    id: str
    points: int
    visibility: str


@dataclass(frozen=True)
class Chapter:
    """One chapter: the folder learners edit, its grader and its checks."""

    id: str
    folder: str
    title: str
    hints: tuple[str, ...]
    checks: tuple[CheckSpec, ...]
    timeout: float
    check_timeout: float = 10.0
    start_timeout: float = 20.0
    names: Mapping[str, str] = field(default_factory=dict)

    @property
    def max_score(self) -> int:
        return sum(check.points for check in self.checks)

    def check_name(self, check_id: str) -> str:
        """Return the sentence naming a check: its grader's docstring, or its id."""
        return self.names.get(check_id) or check_id.replace("_", " ").capitalize()

    def check(self, check_id: str) -> CheckSpec | None:
        for check in self.checks:
            if check.id == check_id:
                return check
        return None


@dataclass(frozen=True)
class Course:
    """The whole course as declared in course.toml, rooted at `root`."""

    root: Path
    title: str
    chapters: tuple[Chapter, ...]

    @property
    def graders_dir(self) -> Path:
        return self.root / "graders"

    def grader_file(self, chapter: Chapter) -> Path:
        return self.graders_dir / f"test_{chapter.folder}.py"

    def select(self, ids: list[str] | None) -> list[Chapter]:
        """Return the chapters with these ids, in course order, or all of them."""
        if not ids:
            return list(self.chapters)
        known = {chapter.id: chapter for chapter in self.chapters}
        by_folder = {chapter.folder: chapter for chapter in self.chapters}
        wanted: set[str] = set()
        for raw in ids:
            chapter = known.get(raw.zfill(2)) or by_folder.get(raw)
            if chapter is None:
                choices = ", ".join(known)
                raise UnknownChapterError(
                    f"unknown chapter {raw!r}: choose from {choices} "
                    "(or a folder name such as 01_first_app)"
                )
            wanted.add(chapter.id)
        return [chapter for chapter in self.chapters if chapter.id in wanted]

    def unknown_entries(self, target: Path) -> list[Path]:
        """List the files and folders in `target` that are not chapter folders.

        Hidden entries and `__pycache__` are left out. An unreadable `target`
        gives an empty list, since grading reports that problem itself.
        """
        folders = {chapter.folder for chapter in self.chapters}
        try:
            entries = sorted(target.iterdir(), key=lambda path: path.name.casefold())
        except OSError:
            return []
        return [
            entry
            for entry in entries
            if entry.name not in folders
            and not entry.name.startswith(".")
            and entry.name != "__pycache__"
        ]

    def misnamed_folder(self, chapter: Chapter, target: Path) -> str | None:
        """Name the folder in `target` that is likely `chapter`'s under another name.

        A folder whose name starts with the chapter's number wins, such as
        `04_query_params` for `04_query_parameters`, and of several such
        folders the closest name by difflib's ratio. Otherwise the closest name
        (a ratio of 0.6 or more) wins, unless it starts with another chapter's
        number.
        """
        folders = sorted(
            entry.name for entry in self.unknown_entries(target) if entry.is_dir()
        )
        same_number = [
            name for name in folders if re.match(rf"{chapter.id}(?!\d)", name)
        ]
        if same_number:
            return max(
                same_number,
                key=lambda name: difflib.SequenceMatcher(
                    None, name, chapter.folder
                ).ratio(),
            )
        numbered = re.compile(r"\d\d(?!\d)")
        unnumbered = [name for name in folders if not numbered.match(name)]
        close = difflib.get_close_matches(chapter.folder, unnumbered, n=1, cutoff=0.6)
        return close[0] if close else None

    def nested_folder(self, chapter: Chapter, target: Path) -> str | None:
        """Name the folder in `target` that contains `chapter`'s folder lower down.

        A learner who hands in a whole clone has their chapter folders in
        `exercises/`, or in `<clone>/exercises/`. Folders one and two levels
        down are searched, in name order, and hidden ones are skipped. The
        name is relative to `target`, with `/` between its parts.
        """
        level = [
            entry
            for entry in self.unknown_entries(target)
            if entry.is_dir() and not entry.is_symlink()
        ]
        for _depth in range(NESTED_LEVELS):
            for folder in level:
                if (folder / chapter.folder).is_dir():
                    return folder.relative_to(target).as_posix()
            level = [
                entry
                for folder in level
                for entry in self.unknown_entries(folder)
                if entry.is_dir() and not entry.is_symlink()
            ]
        return None


def find_course_root(start: Path | None = None) -> Path:
    """Find the folder holding course.toml: `start` or a parent, then this package's."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / COURSE_FILE).is_file():
            return folder
    package_root = Path(__file__).resolve().parent.parent
    if (package_root / COURSE_FILE).is_file():
        return package_root
    raise CourseError(
        f"no {COURSE_FILE} found in {here} or its parents: run the command "
        "from the course repository"
    )


def load_course(root: Path | None = None) -> Course:
    """Read and validate course.toml under `root` (found from the cwd by default)."""
    root = find_course_root() if root is None else root.resolve()
    path = root / COURSE_FILE
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CourseError(f"{path} is missing") from None
    except tomllib.TOMLDecodeError as error:
        raise CourseError(f"{path} is not valid TOML: {error}") from None

    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise CourseError(
            f"{path}: format_version is {version!r}, this grader reads "
            f"{FORMAT_VERSION}; update apigrade or the file"
        )
    parsed = [
        _parse_chapter(path, raw, root / "graders")
        for raw in _table_list(path, data, "chapter")
    ]
    chapters = tuple(sorted(parsed, key=lambda chapter: chapter.id))
    ids = [chapter.id for chapter in chapters]
    if len(set(ids)) != len(ids):
        raise CourseError(f"{path}: chapter ids repeat: {ids}")
    return Course(root=root, title=str(data.get("title", "")), chapters=chapters)


def _table_list(path: Path, data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    if not isinstance(value, list) or not value:
        raise CourseError(f"{path}: expected at least one [[{key}]] table")
    return value


def grader_check_names(grader: Path) -> dict[str, str]:
    """Read each check's name (its docstring's first line) from a grader file.

    The file is parsed, not imported, so this is safe and cheap.
    """
    try:
        tree = ast.parse(grader.read_text(encoding="utf-8"), filename=str(grader))
    except (OSError, SyntaxError):
        return {}
    names = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and (
            node.name.startswith("test_")
        ):
            doc = (ast.get_docstring(node) or "").strip()
            if doc:
                names[node.name.removeprefix("test_")] = doc.splitlines()[0]
    return names


def _parse_chapter(path: Path, raw: Any, graders_dir: Path) -> Chapter:
    if not isinstance(raw, dict):
        raise CourseError(f"{path}: each [[chapter]] must be a table")
    where = f"{path}: chapter {raw.get('id', '?')!r}"
    try:
        chapter_id = str(raw["id"])
        folder = str(raw["folder"])
        title = str(raw["title"])
    except KeyError as error:
        raise CourseError(f"{where} is missing the key {error}") from None
    if not folder.startswith(f"{chapter_id}_"):
        raise CourseError(f"{where}: folder {folder!r} must start with '{chapter_id}_'")

    checks = []
    for check_id, spec in dict(raw.get("checks", {})).items():
        points = spec.get("points") if isinstance(spec, dict) else None
        if not isinstance(points, int) or points < 0:
            raise CourseError(f"{where}: check {check_id!r} needs points = N (N >= 0)")
        visibility = spec.get("visibility", "visible")
        if visibility not in VISIBILITIES:
            raise CourseError(
                f"{where}: check {check_id!r} has visibility {visibility!r}; "
                f"use one of {', '.join(VISIBILITIES)}"
            )
        checks.append(CheckSpec(id=check_id, points=points, visibility=visibility))
    if not checks:
        raise CourseError(f"{where} declares no [chapter.checks]")

    timeouts = {}
    for key, default in (
        ("timeout", 120),
        ("check_timeout", 10),
        ("start_timeout", 20),
    ):
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise CourseError(f"{where}: {key} must be a positive number of seconds")
        timeouts[key] = float(value)
    hints = raw.get("hints", [])
    return Chapter(
        id=chapter_id,
        folder=folder,
        title=title,
        hints=tuple(str(hint) for hint in hints),
        checks=tuple(checks),
        timeout=timeouts["timeout"],
        check_timeout=timeouts["check_timeout"],
        start_timeout=timeouts["start_timeout"],
        names=grader_check_names(graders_dir / f"test_{folder}.py"),
    )
