"""Build, validate and write the JSON score report."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import hashlib
import importlib.metadata
import json
import os
import platform
import re
import stat
import tempfile
import unicodedata
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from apigrade import __version__
from apigrade.beneath import (
    ChapterFolder,
    ChapterTooLarge,
    Entry,
    Kind,
    read_chunks,
    walk,
)
from apigrade.course import NESTED_LEVELS, Chapter, Course
from apigrade.runner import (
    IGNORED_NAMES,
    MAX_CHAPTER_ENTRIES,
    MAX_COPIED_FILE,
    ChapterResult,
    CheckResult,
)

FORMAT_VERSION = 1
# Characters that change how the text around them shows: C0 and C1 controls
# (terminal escape sequences) and the marks that reorder text, such as U+202E,
# which shows the rest of its line right to left. Tab and new line stay.
HIDDEN_CHARACTERS = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
SCHEMA_PATH = Path(__file__).parent / "schema" / "report.schema.json"
CLASS_SCHEMA_PATH = Path(__file__).parent / "schema" / "class.schema.json"
# The submission_digest of a report whose files changed while they were being
# graded. No known files hash to it, so no later run reuses such a report.
CHANGED_DIGEST = "sha256:" + "0" * 64
# The folders a digest names when a chapter folder is missing, at most, so a
# huge hand-in does not cost minutes. A change past them goes unnoticed.
MAX_TREE_FOLDERS = 10_000


# Learner statuses in the class files, from best to worst;
# docs/report-format.md describes them.
LEARNER_STATUSES = (
    "ok",
    "incomplete",
    "error",
    "timeout",
    "crashed",
    "not_regraded",
    "not_graded",
)


def safe_name(raw: str) -> str:
    """Make `raw` usable as a file name: letters, digits, dot, dash, underscore.

    Accents are dropped first (José becomes Jose); any other run of characters
    becomes one underscore, and the name is cut to 64 characters.
    """
    plain = unicodedata.normalize("NFKD", raw.strip())
    plain = "".join(char for char in plain if not unicodedata.combining(char))
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", plain)
    # Stripped after the cut too, so no name ends in a cut-off separator.
    return name.strip("._-")[:64].strip("._-")


def reason_summary(reason: str | None, limit: int = 300) -> str:
    """Shorten a chapter's reason to one line: its first, and after a colon its last.

    "The app could not be started: ... Last lines of its output:" followed by a
    traceback becomes that first line, " ... " and the exception at the end.
    """
    # Only \n ends a line: splitlines() would also end one at U+0085 and
    # other characters learner output may hold.
    text = visible_text(reason or "")
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    if not lines:
        return "error"
    exception = next(
        (line for line in reversed(lines) if not line.startswith("Hint:")), lines[-1]
    )
    if len(lines) > 1 and lines[0].endswith(":"):
        summary = f"{lines[0]} ... {exception}"
    else:
        summary = lines[0]
    if len(summary) > limit:
        summary = summary[: limit - 3].rstrip() + "..."
    return summary


def submission_digest(target: Path, chapters: list[Chapter]) -> str:
    """Hash what the copy for grading takes: names, contents, modes, links, folders.

    The copy sets file modes and times of its own (see runner's copy), so
    the originals' never reach the app. Their permission bits count all the
    same, because chapter 11 judges whether the container's user could read
    what a COPY brings in, and Docker keeps each file's mode. Times are left
    out. The names of what the copy leaves out count too, since chapter 11
    judges a Dockerfile by whether a COPY would bring one in.
    """
    digest = hashlib.sha256()
    tree: list[bytes] | None = None
    for chapter in chapters:
        folder = target / chapter.folder
        if folder.is_symlink():
            # Graded as an error that names the link, unlike the folder it
            # points at.
            digest.update(b"folder-link:" + os.fsencode(os.readlink(folder)) + b"\0")
            continue
        if not folder.exists():
            # The reason names a folder beside it that looks misnamed, or the
            # folder lower down with the chapter folders in it, so the names
            # of the folders down to the chapter folders' depth count.
            if tree is None:
                tree = _folder_tree(target, NESTED_LEVELS + 1)
            digest.update(b"missing:" + b"".join(tree) + b"\0")
            continue
        hashed: list[tuple[tuple[str, ...], bytes]] = []
        skipped: list[tuple[str, ...]] = []
        try:
            with ChapterFolder(folder) as opened:
                root_mode = stat.S_IMODE(os.fstat(opened.fd).st_mode)
                digest.update(f"mode:{root_mode:o}".encode() + b"\0")
                for entry in walk(opened, IGNORED_NAMES, MAX_CHAPTER_ENTRIES):
                    if entry.kind in (Kind.SKIPPED, Kind.CHANGED):
                        skipped.append(entry.parts)
                    else:
                        hashed.append((entry.parts, _entry_digest(entry)))
        except ChapterTooLarge:
            # Graded as an error that names this folder, so never shared.
            digest.update(b"too-large:" + os.fsencode(str(folder.absolute())) + b"\0")
            continue
        except OSError:
            # The copy fails on the same error, so this is never shared either.
            digest.update(b"unreadable:" + os.fsencode(str(folder.absolute())) + b"\0")
            continue
        for parts, part_digest in sorted(hashed):
            name = os.fsencode("/".join((chapter.folder, *parts)))
            digest.update(name + b"\0" + part_digest)
        for parts in sorted(skipped):
            name = os.fsencode("/".join((chapter.folder, *parts)))
            digest.update(b"left-out:" + name + b"\0")
    return f"sha256:{digest.hexdigest()}"


def _folder_tree(target: Path, depth: int) -> list[bytes]:
    """Return the sorted paths of the folders in `target`, `depth` levels down.

    Each path is relative to `target`, with `/` between its parts, and ends in
    a NUL. Links to folders are not followed, and the walk stops after
    MAX_TREE_FOLDERS folders.
    """
    found: list[bytes] = []
    level = [(target, b"")]
    for _ in range(depth):
        below = []
        for folder, prefix in level:
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    path = prefix + os.fsencode(entry.name)
                    found.append(path + b"\0")
                    below.append((Path(entry.path), path + b"/"))
            if len(found) > MAX_TREE_FOLDERS:
                return sorted(found)
        level = below
    return sorted(found)


def _entry_digest(entry: Entry) -> bytes:
    """Return the hash input for one path the walk found, its name aside."""
    mode = f"mode:{entry.mode:o}".encode() + b"\0"
    if entry.kind is Kind.FOLDER:
        # Empty folders too: they are in the app's copy.
        return b"folder\0" + mode
    if entry.kind is Kind.FILE:
        return _file_digest(entry) + mode
    link = b"link:" + os.fsencode(entry.link_text) + b"\0"
    # The copy contains the file a kept link leads to, which may sit in a
    # folder the copy leaves out, such as __pycache__.
    if entry.link_problem is None and entry.fd is not None:
        return link + _file_digest(entry) + mode
    return link


def _file_digest(entry: Entry) -> bytes:
    """Return the hash of an opened regular file, or of its size if too large."""
    assert entry.fd is not None
    if entry.size > MAX_COPIED_FILE:
        # Never graded, so its size alone is enough to tell submissions apart.
        return f"size:{entry.size}".encode() + b"\0"
    content = hashlib.sha256()
    # Read as the copy reads, so the digest covers the bytes the copy takes.
    for chunk in read_chunks(entry.fd, entry.size):
        content.update(chunk)
    return content.digest()


def grader_version(course: Course) -> str:
    """Return the package version plus a hash of course.toml and the graders.

    Changing a grader changes the version, so a stored report shows which
    graders produced it. The hash also covers the Python version and the
    installed packages, since the checks run the apps on them, and chapter
    11 judges requirements.txt by the versions installed.
    """
    digest = hashlib.sha256()
    digest.update(f"python {platform.python_version()}\0".encode())
    installed = sorted(
        f"{distribution.metadata['Name']}=={distribution.version}"
        for distribution in importlib.metadata.distributions()
    )
    digest.update("\0".join(installed).encode() + b"\0")
    # Every file under graders/, such as a chapter's reference app and its
    # faulty versions, and not only the grader modules. Caches aside: their
    # files change from run to run.
    graders = [
        (path.relative_to(course.graders_dir).as_posix(), path)
        for path in sorted(course.graders_dir.rglob("*"))
    ]
    engine = Path(__file__).parent
    files = [("course.toml", course.root / "course.toml")]
    files += [
        (f"graders/{relative}", path)
        for relative, path in graders
        if not any(
            part.startswith((".", "__pycache__")) for part in relative.split("/")
        )
        and path.suffix != ".pyc"
    ]
    files += [(f"apigrade/{path.name}", path) for path in sorted(engine.glob("*.py"))]
    # The report schema too: a report is checked against it when it is written.
    files += [
        (f"apigrade/schema/{path.name}", path)
        for path in sorted((engine / "schema").glob("*.json"))
    ]
    for name, path in files:
        if path.is_file():
            digest.update(name.encode() + b"\0" + path.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:12]}"


def build_report(
    *,
    learner: str,
    target: Path,
    course: Course,
    results: list[ChapterResult],
    digest: str | None,
    duration: float | None = None,
    isolation: str | None = None,
    version: str | None = None,
) -> dict[str, Any]:
    """Assemble the score report from the chapters' results.

    `digest` is the submission_digest of the graded files, taken before their
    grading began, or None when they changed during grading. Such a report
    gets CHANGED_DIGEST and `changed_during_grading`, so it is never reused.
    `version` is the grader_version, when the caller already computed it:
    it reads every installed package's metadata.
    """
    report: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "learner": learner,
        "target": str(target),
        "score": sum(result.score for result in results),
        "max_score": sum(result.max_score for result in results),
        "graded_at": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
        "grader_version": version or grader_version(course),
        "submission_digest": CHANGED_DIGEST if digest is None else digest,
        "chapters": [
            {
                "id": result.id,
                "title": result.title,
                "status": result.status,
                "reason": result.reason,
                "score": result.score,
                "max_score": result.max_score,
                "duration": round(result.duration, 3),
                "timed_out": result.timed_out,
                "checks": [_check_entry(check) for check in result.checks],
            }
            for result in results
        ],
    }
    if digest is None:
        report["changed_during_grading"] = True
    if duration is not None:
        report["duration"] = round(duration, 3)
    if isolation is not None:
        report["isolation"] = isolation
    return report


def _check_entry(check: CheckResult) -> dict[str, Any]:
    entry = dataclasses.asdict(check)
    if not entry["measurements"]:
        del entry["measurements"]
    return entry


@cache
def _schema(path: Path = SCHEMA_PATH) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


def validate_report(report: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError unless `report` matches the schema."""
    jsonschema.validate(report, _schema(), format_checker=jsonschema.FormatChecker())


def validate_class_summary(summary: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError unless `summary` matches class.json's schema."""
    jsonschema.validate(
        summary,
        _schema(CLASS_SCHEMA_PATH),
        format_checker=jsonschema.FormatChecker(),
    )


def write_json_atomic(path: Path, data: Any) -> None:
    """Write `data` as indented JSON to `path` with `write_text_atomic`."""
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    write_text_atomic(path, text)


def write_text_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` so readers see the old file or the new one.

    The text goes to a temporary file in the same folder, is flushed to disk,
    and then replaces `path` in one rename.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        # Text from learner output may hold lone surrogates from undecodable
        # file names: they are written escaped rather than failing the write.
        with os.fdopen(
            fd, "w", encoding="utf-8", errors="backslashreplace", newline=""
        ) as tmp:
            tmp.write(text)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def visible_text(text: str) -> str:
    """Drop the characters that hide or reorder text, keeping lines and tabs."""
    return HIDDEN_CHARACTERS.sub("", text)
