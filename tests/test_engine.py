"""The engine, black-box: write a small submission, grade it, read the report."""

from __future__ import annotations

import dataclasses
import errno
import gzip
import hashlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from apigrade import beneath, cli, runner, sandbox, server
from apigrade.checks import (
    CheckFailed,
    expect_status,
    json_body,
    read_learner_file,
    same_json,
)
from apigrade.cli import main, terminal_safe
from apigrade.course import Chapter, Course
from apigrade.errors import GradingError
from apigrade.report import (
    reason_summary,
    safe_name,
    submission_digest,
    validate_report,
    write_json_atomic,
)
from apigrade.runner import ChapterResult, grade_chapter
from apigrade.server import AppStartError, LearnerApp
from tests.conftest import ROOT, swap_at_listing

FIRST_APP = "01_first_app"


def make_target(tmp_path: Path, *folders: str) -> Path:
    """Copy the named solution folders into a fresh target folder."""
    target = tmp_path / "target"
    target.mkdir()
    for folder in folders:
        shutil.copytree(ROOT / "solutions" / folder, target / folder)
    return target


def write_app(target: Path, folder: str, source: str) -> None:
    chapter_dir = target / folder
    chapter_dir.mkdir(parents=True, exist_ok=True)
    (chapter_dir / "main.py").write_text(source, encoding="utf-8")


def snapshot(folder: Path) -> dict[str, str]:
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(
            path.read_bytes()
        ).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def chapter(
    course: Course,
    chapter_id: str,
    *,
    check_timeout: float = 10.0,
    start_timeout: float = 20.0,
) -> Chapter:
    """Return a course chapter with shorter timeouts, for tests that wait them out."""
    found = next(c for c in course.chapters if c.id == chapter_id)
    return dataclasses.replace(
        found, check_timeout=check_timeout, start_timeout=start_timeout
    )


def grade(tmp_path: Path, target: Path, *chapters: str) -> dict[str, object]:
    report_path = tmp_path / "report.json"
    args = ["grade", "--target", str(target), "--learner", "tester"]
    args += ["--report", str(report_path), "--chapter", *chapters]
    assert main(args) == 0
    report: dict[str, object] = json.loads(report_path.read_text(encoding="utf-8"))
    return report


def chapters_by_id(report: dict[str, object]) -> dict[str, dict[str, object]]:
    chapters = report["chapters"]
    assert isinstance(chapters, list)
    return {chapter["id"]: chapter for chapter in chapters}


def test_chapter_11_sees_copied_links(tmp_path: Path, course: Course) -> None:
    """COPY keeps main.py as a link, though the graded copy contains its file."""
    target = make_target(tmp_path, "11_deployment")
    folder = target / "11_deployment"
    (folder / "hidden").mkdir()
    (folder / "main.py").rename(folder / "hidden" / "impl.py")
    (folder / "main.py").symlink_to(Path("hidden", "impl.py"))

    result = grade_chapter(course, chapter(course, "11"), target)

    failed = [check for check in result.checks if check.status != "passed"]
    assert {check.id for check in failed} == {
        check.id for check in result.checks if check.id.startswith("dockerfile_")
    }
    for check in failed:
        assert "main.py is a symbolic link" in check.feedback


def test_syntax_error_affects_only_its_chapter(tmp_path: Path) -> None:
    target = make_target(tmp_path, FIRST_APP, "03_path_parameters")
    write_app(target, "02_http_methods", "from fastapi import FastAPI\napp = (\n")

    report = grade(tmp_path, target, "01", "02", "03")

    chapters = chapters_by_id(report)
    assert chapters["02"]["status"] == "error"
    assert "SyntaxError" in str(chapters["02"]["reason"])
    assert chapters["02"]["score"] == 0
    assert chapters["01"]["status"] == "passed"
    assert chapters["03"]["status"] == "passed"


def test_missing_app_is_reported(tmp_path: Path) -> None:
    target = make_target(tmp_path)
    write_app(
        target, FIRST_APP, "from fastapi import FastAPI\napplication = FastAPI()\n"
    )

    chapters = chapters_by_id(grade(tmp_path, target, "01"))

    assert chapters["01"]["status"] == "error"
    assert 'Attribute "app" not found' in str(chapters["01"]["reason"])


@pytest.mark.parametrize(
    ("shadow", "named"),
    [("main/__init__.py", "the folder main/ in"), ("main.abi3.so", "main.abi3.so in")],
)
def test_module_shadowing_main_py_is_an_error(
    tmp_path: Path, shadow: str, named: str
) -> None:
    # A tester's bypass: the untouched starter as main.py, and the solution
    # in a main/ package, which Python imports in its place.
    target = tmp_path / "target"
    shutil.copytree(ROOT / "exercises" / FIRST_APP, target / FIRST_APP)
    hidden = target / FIRST_APP / shadow
    hidden.parent.mkdir(exist_ok=True)
    shutil.copyfile(ROOT / "solutions" / FIRST_APP / "main.py", hidden)

    chapters = chapters_by_id(grade(tmp_path, target, "01"))

    assert chapters["01"]["status"] == "error"
    assert chapters["01"]["score"] == 0
    assert named in str(chapters["01"]["reason"])
    assert "in place of main.py" in str(chapters["01"]["reason"])


# A tester's bypass: python -m uvicorn imports uvicorn.py from the app's
# folder, and this one serves realapp:app in place of main:app.
UVICORN_STAND_IN = """\
import os
import sys

if __name__ == "__main__":
    folder = os.getcwd()
    sys.path[:] = [entry for entry in sys.path if entry not in ("", folder)]
    sys.modules.pop("uvicorn", None)
    import uvicorn

    sys.path.append(folder)
    arguments = ["realapp:app" if a == "main:app" else a for a in sys.argv[1:]]
    sys.argv = ["uvicorn", *arguments]
    uvicorn.main()
"""


@pytest.mark.parametrize(
    ("shadow", "named"),
    [
        ("uvicorn.py", "uvicorn.py in"),
        ("json/__init__.py", "the folder json/ in"),
        ("h11.abi3.so", "h11.abi3.so in"),
    ],
)
def test_module_shadowing_import_is_an_error(
    tmp_path: Path, shadow: str, named: str
) -> None:
    target = tmp_path / "target"
    shutil.copytree(ROOT / "exercises" / FIRST_APP, target / FIRST_APP)
    shutil.copyfile(
        ROOT / "solutions" / FIRST_APP / "main.py", target / FIRST_APP / "realapp.py"
    )
    hidden = target / FIRST_APP / shadow
    hidden.parent.mkdir(exist_ok=True)
    hidden.write_text(UVICORN_STAND_IN)

    chapters = chapters_by_id(grade(tmp_path, target, "01"))

    assert chapters["01"]["status"] == "error"
    assert chapters["01"]["score"] == 0
    assert named in str(chapters["01"]["reason"])
    assert "in place of that module" in str(chapters["01"]["reason"])


def test_shadow_error_names_the_module(tmp_path: Path) -> None:
    target = make_target(tmp_path, FIRST_APP)
    (target / FIRST_APP / "secrets.py").write_text("TOKEN = 'x'\n")
    (target / FIRST_APP / "uvicorn.py").write_text("")

    reason = str(chapters_by_id(grade(tmp_path, target, "01"))["01"]["reason"])

    assert "secrets.py in" in reason
    assert "Python's standard module secrets" in reason
    assert "Rename secrets.py" in reason


def test_namespace_folder_named_like_a_module_is_graded(tmp_path: Path) -> None:
    target = make_target(tmp_path, FIRST_APP)
    (target / FIRST_APP / "logging").mkdir()
    (target / FIRST_APP / "logging" / "app.log").write_text("a line\n")

    chapters = chapters_by_id(grade(tmp_path, target, "01"))

    assert chapters["01"]["status"] == "passed"


def test_namespace_folder_named_main_is_graded(tmp_path: Path) -> None:
    target = make_target(tmp_path, FIRST_APP)
    (target / FIRST_APP / "main").mkdir()
    (target / FIRST_APP / "main" / "notes.txt").write_text("not a package\n")

    chapters = chapters_by_id(grade(tmp_path, target, "01"))

    assert chapters["01"]["status"] == "passed"


def test_missing_chapter_folder_is_reported(tmp_path: Path) -> None:
    target = make_target(tmp_path, FIRST_APP)

    chapters = chapters_by_id(grade(tmp_path, target, "01", "02"))

    assert chapters["01"]["status"] == "passed"
    assert chapters["02"]["status"] == "error"
    assert chapters["02"]["reason"] == (
        f"the chapter folder 02_http_methods/ is missing from {target}: add it, "
        "shaped like exercises/02_http_methods/"
    )


def test_misnamed_chapter_folder_names_rename(tmp_path: Path, course: Course) -> None:
    target = make_target(tmp_path)
    (target / "04_query_params").mkdir()
    (target / "first-app").mkdir()
    (target / "05_request_bodies").write_text("not a folder\n")
    (target / "06_async_endpoints").mkdir()
    (target / "07_dependencies" / "main.py").mkdir(parents=True)
    by_id = {chapter.id: chapter for chapter in course.chapters}

    def reason(chapter_id: str) -> str:
        return str(grade_chapter(course, by_id[chapter_id], target).reason)

    assert reason("04") == (
        "the chapter folder 04_query_parameters/ is missing, and 04_query_params/ "
        f"is there instead: rename 04_query_params to 04_query_parameters in {target}"
    )
    assert "and first-app/ is there instead: rename first-app to" in reason("01")
    assert "is a file, not a folder" in reason("05")
    assert reason("06").startswith(f"no main.py in {target / '06_async_endpoints'}")
    assert reason("07") == (
        f"{target / '07_dependencies' / 'main.py'} is not a file: make main.py the "
        "Python file that defines the app, and move anything else out of its place"
    )
    assert "instead" not in reason("08")


def test_hanging_start_times_out(tmp_path: Path, course: Course) -> None:
    target = make_target(tmp_path)
    write_app(target, FIRST_APP, "import time\ntime.sleep(600)\n")

    result = grade_chapter(course, chapter(course, "01", start_timeout=2), target)

    assert result.status == "error"
    assert "did not start within 2 s" in str(result.reason)


def test_hanging_handler_times_out_check(tmp_path: Path, course: Course) -> None:
    target = make_target(tmp_path, FIRST_APP)
    main_py = target / FIRST_APP / "main.py"
    source = main_py.read_text(encoding="utf-8")
    source = source.replace(
        '    return {"Hello": "World"}',
        "    import asyncio\n"
        "    await asyncio.sleep(600)\n"
        '    return {"Hello": "World"}',
    )
    main_py.write_text(source, encoding="utf-8")

    result = grade_chapter(course, chapter(course, "01", check_timeout=2), target)

    checks = {check.id: check for check in result.checks}
    assert checks["root_returns_hello_world"].status == "failed"
    assert "timed out after 2 s" in checks["root_returns_hello_world"].feedback
    assert checks["app_has_own_title_and_version"].status == "passed"
    assert result.timed_out
    assert "1 check(s) timed out after 2 s: root_returns_hello_world" in str(
        result.reason
    )


def test_grading_leaves_target_unchanged(tmp_path: Path) -> None:
    target = make_target(tmp_path, FIRST_APP, "02_http_methods")
    before = snapshot(target)

    grade(tmp_path, target, "01", "02")

    assert snapshot(target) == before


def test_copy_holds_no_links(tmp_path: Path, chapter_opening: str) -> None:
    source = tmp_path / "work" / FIRST_APP
    (source / "pkg").mkdir(parents=True)
    (source / "real.py").write_text("VALUE = 'from the submission'\n")
    # Inside the chapter folder as the learner's machine resolves it, but in
    # a copy at <tmp>/work/app the same text leads to <tmp>/work/01_first_app,
    # which the app may write.
    (source / "linked.py").symlink_to(f"../../work/{FIRST_APP}/real.py")
    (source / "absolute.py").symlink_to(ROOT / "course.toml")
    (source / "dangling.py").symlink_to("missing.py")
    (source / "folder_link").symlink_to("pkg")
    copy = tmp_path / "grading" / "work" / "app"
    copy.parent.mkdir(parents=True)
    left_out: list[str] = []

    runner.copy_chapter(source, copy, left_out)

    assert not any(path.is_symlink() for path in copy.rglob("*"))
    assert (copy / "linked.py").read_text() == "VALUE = 'from the submission'\n"
    assert sorted(path.name for path in copy.iterdir()) == [
        "linked.py",
        "pkg",
        "real.py",
    ]
    assert sorted(left_out) == [
        f"absolute.py -> {ROOT / 'course.toml'} (out of the chapter folder)",
        "dangling.py -> missing.py (which does not exist)",
        "folder_link -> pkg (a link to a folder: put the folder itself there)",
    ]


def make_secret(tmp_path: Path) -> Path:
    """Make a folder outside the chapter folder, holding a main.py."""
    outside = tmp_path / "graders"
    outside.mkdir()
    (outside / "main.py").write_text("SECRET = 'outside the chapter'\n")
    return outside


def copied_text(copy: Path) -> str:
    return "".join(path.read_text() for path in copy.rglob("*") if path.is_file())


def test_chapter_folder_opens_with_openat2(tmp_path: Path) -> None:
    if not sys.platform.startswith("linux") or platform.machine() not in (
        "x86_64",
        "aarch64",
    ):
        pytest.skip("openat2 is used on Linux x86_64 and aarch64 only")
    with beneath.ChapterFolder(tmp_path) as folder:
        assert folder.uses_openat2


def test_chapter_folder_falls_back_without_openat2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing(*args: object) -> int:
        raise OSError(errno.ENOSYS, "Function not implemented")

    monkeypatch.setattr(beneath, "_openat2", missing)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "main.py").write_text("x = 1\n")
    (tmp_path / "link").symlink_to("sub")

    with beneath.ChapterFolder(tmp_path) as folder:
        assert not folder.uses_openat2
        fd = folder.open(("sub", "main.py"))
        assert os.read(fd, 100) == b"x = 1\n"
        os.close(fd)
        with pytest.raises(OSError) as error:
            folder.open(("link", "main.py"))
        # O_DIRECTORY | O_NOFOLLOW on a link fails with ENOTDIR on Linux.
        assert error.value.errno in (errno.ELOOP, errno.ENOTDIR)
        with pytest.raises(OSError) as error:
            folder.open(("link",))
        assert error.value.errno == errno.ELOOP


def test_copy_rechecks_what_changed_after_listing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chapter_opening: str
) -> None:
    """A folder and a file swapped for links after the listing are left out."""
    source = tmp_path / "work" / FIRST_APP
    (source / "sub").mkdir(parents=True)
    (source / "sub" / "main.py").write_text("VALUE = 1\n")
    (source / "main.py").write_text("VALUE = 2\n")
    outside = make_secret(tmp_path)

    def swap() -> None:
        (source / "sub").rename(tmp_path / "moved")
        (source / "sub").symlink_to(outside)
        (source / "main.py").unlink()
        (source / "main.py").symlink_to(outside / "main.py")

    swap_at_listing(monkeypatch, 1, swap)
    copy = tmp_path / "copy"
    left_out: list[str] = []
    skipped: list[str] = []

    runner.copy_chapter(source, copy, left_out, skipped)

    assert "SECRET" not in copied_text(copy)
    assert list(copy.iterdir()) == []
    assert sorted(left_out) == [
        f"main.py -> {outside / 'main.py'} (out of the chapter folder)",
        f"sub -> {outside} (out of the chapter folder)",
    ]
    assert sorted(skipped) == ["main.py", "sub"]


def test_copy_records_original_modes(tmp_path: Path) -> None:
    source = tmp_path / "chapter"
    (source / "sub").mkdir(parents=True)
    (source / "main.py").write_text("")
    (source / "sub" / "helpers.py").write_text("")
    (source / "main.py").chmod(0o600)
    (source / "sub" / "helpers.py").chmod(0o640)
    (source / "sub").chmod(0o700)
    source.chmod(0o750)
    modes: dict[str, int] = {}

    runner.copy_chapter(source, tmp_path / "copy", [], [], modes)

    assert modes == {
        ".": 0o750,
        "main.py": 0o600,
        "sub": 0o700,
        "sub/helpers.py": 0o640,
    }


def test_copy_never_follows_folder_swapped_mid_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chapter_opening: str
) -> None:
    """A `sub/` swapped for a link out as the copy starts listing it is not followed."""
    source = tmp_path / "work" / FIRST_APP
    (source / "sub").mkdir(parents=True)
    (source / "sub" / "main.py").write_text("VALUE = 1\n")
    outside = make_secret(tmp_path)

    def swap() -> None:
        (source / "sub").rename(tmp_path / "moved")
        (source / "sub").symlink_to(outside)

    # The first listing is the chapter folder's, the second that of sub/.
    swap_at_listing(monkeypatch, 2, swap)
    copy = tmp_path / "copy"
    left_out: list[str] = []

    runner.copy_chapter(source, copy, left_out)

    assert "SECRET" not in copied_text(copy)
    assert left_out == ["sub/main.py (changed while being copied)"]


def test_copy_never_follows_link_target_swapped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chapter_opening: str
) -> None:
    """A kept link whose target turns into a link out after the check is left out."""
    source = tmp_path / "work" / FIRST_APP
    source.mkdir(parents=True)
    (source / "real.py").write_text("VALUE = 1\n")
    (source / "linked.py").symlink_to("real.py")
    outside = make_secret(tmp_path)
    resolve = Path.resolve
    swapped: list[Path] = []

    def resolve_then_swap(self: Path, strict: bool = False) -> Path:
        resolved = resolve(self, strict=strict)
        if self.name == "linked.py" and not swapped:
            (source / "real.py").rename(tmp_path / "moved.py")
            (source / "real.py").symlink_to(outside / "main.py")
            swapped.append(self)
        return resolved

    monkeypatch.setattr(Path, "resolve", resolve_then_swap)
    copy = tmp_path / "copy"
    left_out: list[str] = []

    runner.copy_chapter(source, copy, left_out)

    assert swapped
    assert "SECRET" not in copied_text(copy)
    assert not (copy / "linked.py").exists()
    assert "linked.py (changed while being copied)" in left_out


def test_copy_limits_folder_depth(tmp_path: Path, chapter_opening: str) -> None:
    source = tmp_path / "source"
    deepest = source.joinpath(*["d"] * runner.MAX_FOLDER_DEPTH)
    deepest.mkdir(parents=True)
    (deepest / "main.py").write_text("x = 1\n")

    runner.copy_chapter(source, tmp_path / "copy", [])

    copied = tmp_path.joinpath("copy", *["d"] * runner.MAX_FOLDER_DEPTH, "main.py")
    assert copied.read_text() == "x = 1\n"
    (deepest / "d").mkdir()
    with pytest.raises(RecursionError):
        runner.copy_chapter(source, tmp_path / "copy2", [])


def test_copy_limits_file_and_chapter_size(
    tmp_path: Path, chapter_opening: str
) -> None:
    source = tmp_path / "source"
    source.mkdir()
    with (source / "big.bin").open("wb") as big:
        big.truncate(runner.MAX_COPIED_FILE + 1)
    (source / "linked.bin").symlink_to("big.bin")
    left_out: list[str] = []
    skipped: list[str] = []

    runner.copy_chapter(source, tmp_path / "copy", left_out, skipped)

    assert sorted(left_out) == ["big.bin (over 16 MB)", "linked.bin (over 16 MB)"]
    assert sorted(skipped) == ["big.bin", "linked.bin"]
    for number in range(runner.MAX_CHAPTER_BYTES // runner.MAX_COPIED_FILE + 1):
        with (source / f"part{number}.bin").open("wb") as part:
            part.truncate(runner.MAX_COPIED_FILE)
    with pytest.raises(beneath.ChapterTooLarge):
        runner.copy_chapter(source, tmp_path / "copy2", [])


def test_app_cannot_rewrite_a_linked_file(tmp_path: Path) -> None:
    """A link leading, from the graded copy, to a file the app writes is not read."""
    target = tmp_path / "work"
    folder = target / FIRST_APP
    folder.mkdir(parents=True)
    solution = (ROOT / "solutions" / FIRST_APP / "main.py").read_text()
    (folder / "real.py").write_text(
        (ROOT / "exercises" / FIRST_APP / "main.py").read_text()
    )
    (folder / "linked.py").symlink_to(f"../../work/{FIRST_APP}/real.py")
    (folder / "main.py").write_text(
        "from pathlib import Path\n"
        f"planted = Path('../{FIRST_APP}')\n"
        "planted.mkdir(exist_ok=True)\n"
        f"(planted / 'real.py').write_text({solution!r})\n"
        "from linked import app\n"
    )

    chapters = chapters_by_id(grade(tmp_path, target, "01"))

    assert chapters["01"]["status"] == "failed"
    assert chapters["01"]["score"] == 0


def test_report_matches_schema(tmp_path: Path) -> None:
    target = make_target(tmp_path, FIRST_APP)
    write_app(target, "02_http_methods", "app = None\n")

    report = grade(tmp_path, target, "01", "02")

    validate_report(report)
    assert report["learner"] == "tester"
    assert report["score"] == 4
    assert str(report["submission_digest"]).startswith("sha256:")


def test_report_marks_files_changed_during_grading(
    tmp_path: Path,
    course: Course,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    target = make_target(tmp_path, FIRST_APP)
    starter = (ROOT / "exercises" / FIRST_APP / "main.py").read_text()
    real_grade_chapters = runner.grade_chapters

    def swap_after_copy(*args: Any, **kwargs: Any) -> list[ChapterResult]:
        results = real_grade_chapters(*args, **kwargs)
        # The copy was graded, and the report is not written yet.
        (target / FIRST_APP / "main.py").write_text(starter)
        return results

    monkeypatch.setattr(cli, "grade_chapters", swap_after_copy)

    report = grade(tmp_path, target, "01")

    validate_report(report)
    assert report["score"] == 4
    assert report["changed_during_grading"] is True
    first = [c for c in course.chapters if c.id == "01"]
    assert report["submission_digest"] != submission_digest(target, first)
    output = " ".join(capsys.readouterr().out.split())
    assert "changed while they were being graded" in output


def test_schema_rejects_unknown_status() -> None:
    report = json.loads((ROOT / "docs" / "report-example.json").read_text())
    validate_report(report)
    report["chapters"][0]["checks"][0]["status"] = "maybe"

    with pytest.raises(jsonschema.ValidationError):
        validate_report(report)


def test_hidden_check_hides_inputs(tmp_path: Path, course: Course) -> None:
    target = make_target(tmp_path, "02_http_methods")
    main_py = target / "02_http_methods" / "main.py"
    source = main_py.read_text(encoding="utf-8")
    main_py.write_text(
        source.replace(
            "    find_item(item_id)\n    del items[item_id]",
            "    items.pop(item_id, None)",
        ),
        encoding="utf-8",
    )

    result = grade_chapter(course, chapter(course, "02"), target)

    hidden = next(c for c in result.checks if c.id == "missing_item_updates_return_404")
    assert hidden.status == "failed"
    assert hidden.visibility == "hidden"
    assert "987654" not in hidden.feedback
    assert "hidden" in hidden.feedback


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "no/such/folder"], "target 'no/such/folder' does not exist"),
        (["--target", "course.toml"], "target 'course.toml' is not a folder"),
        (["--target", "exercises/01_first_app"], "is a chapter folder"),
        (["--target", "docs"], "contains no chapter folder"),
        (["--chapter", "99"], "unknown chapter '99'"),
        (["--learner", "!!!"], "--learner '!!!' has no letters or digits"),
        (["--jobs", "0"], "--jobs 0 must be 1 or more"),
        (["--learner", "class"], "is kept for the class files"),
        (["--learner", "Grades"], "is kept for the class files"),
    ],
)
def test_bad_input_exits_with_message(
    args: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(ROOT)

    assert main(["grade", *args]) == 2

    output = " ".join(capsys.readouterr().out.split())
    assert message in output


def test_only_misnamed_folders_get_rename(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "ada"
    (target / "01_First_App").mkdir(parents=True)
    args = ["grade", "--target", str(target), "--chapter", "01"]

    assert main(args) == 2

    output = " ".join(capsys.readouterr().out.split())
    assert "contains no chapter folder, but folders that look misnamed" in output
    assert "rename 01_First_App to 01_first_app" in output


def test_nested_chapter_folders_name_the_move(tmp_path: Path, course: Course) -> None:
    target = tmp_path / "carl"
    shutil.copytree(ROOT / "solutions" / FIRST_APP, target / "exercises" / FIRST_APP)
    (target / "clone" / "exercises" / "02_http_methods").mkdir(parents=True)
    by_id = {chapter.id: chapter for chapter in course.chapters}

    def reason(chapter_id: str) -> str:
        return runner._missing_folder_reason(course, by_id[chapter_id], target)

    assert reason("01") == (
        "the chapter folder 01_first_app/ is missing, and exercises/01_first_app/ "
        "is there instead: move the chapter folders in exercises/ up into "
        f"{target}"
    )
    assert "clone/exercises/02_http_methods/ is there instead" in reason("02")
    assert "add it, shaped like exercises/03_path_parameters/" in reason("03")


def test_one_nested_course_folder_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "carl"
    shutil.copytree(ROOT / "solutions" / FIRST_APP, target / "exercises" / FIRST_APP)

    assert main(["grade", "--target", str(target)]) == 2

    output = " ".join(capsys.readouterr().out.split())
    assert f"but '{target / 'exercises'}' does: pass --target" in output
    assert f"nox -s grade_class -- {target}" in output


def test_misnamed_folder_name_is_escaped(course: Course, tmp_path: Path) -> None:
    (tmp_path / "04_query\nparams\x1b[31m").mkdir()
    chapter = next(chapter for chapter in course.chapters if chapter.id == "04")

    reason = runner._missing_folder_reason(course, chapter, tmp_path)

    # One line, with the name as escapes, so a one-line summary keeps the rename.
    assert "\n" not in reason
    assert "\x1b" not in reason
    assert "04_query\\nparams\\x1b[31m/ is there instead: rename 04_query" in reason


def test_summary_names_the_other_error_chapters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "ada"
    (target / FIRST_APP).mkdir(parents=True)
    (target / FIRST_APP / "main.py").write_text("def broken(:\n")
    report = tmp_path / "ada.json"
    args = ["grade", "--target", str(target), "--report", str(report)]

    main([*args, "--chapter", "01", "02", "03"])

    output = " ".join(capsys.readouterr().out.split())
    assert "Chapter 01: " in output
    assert "Chapters 02, 03 have errors too: `nox -s report` gives" in output

    main([*args, "--chapter", "01", "02"])

    output = " ".join(capsys.readouterr().out.split())
    assert "Chapter 02 has an error too: `nox -s report` gives its reason." in output


def test_chapter_file_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "ada"
    target.mkdir()
    (target / "01_first_app").write_text("print('hello')\n")
    args = ["grade", "--target", str(target), "--chapter", "01"]

    assert main(args) == 2

    output = " ".join(capsys.readouterr().out.split())
    assert "contains 01_first_app, but it is not a folder" in output


def test_report_folder_is_rejected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["grade", "--chapter", "01", "--report", str(tmp_path)]) == 2
    assert "is a folder" in " ".join(capsys.readouterr().out.split())


def test_atomic_write_keeps_old_file_on_failure(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    write_json_atomic(path, {"score": 1})

    with pytest.raises(TypeError):
        write_json_atomic(path, {"score": object()})

    assert json.loads(path.read_text()) == {"score": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_learner_name_from_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEARNER", "Ada Lovelace/../x")
    monkeypatch.chdir(ROOT)
    target = make_target(tmp_path, FIRST_APP)

    assert main(["grade", "--target", str(target), "--chapter", "01"]) == 0

    report_path = ROOT / "reports" / "Ada_Lovelace_.._x.json"
    try:
        assert json.loads(report_path.read_text())["learner"] == "Ada_Lovelace_.._x"
    finally:
        report_path.unlink(missing_ok=True)


def test_unwritable_report_is_rejected_before_grading(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    args = ["grade", "--chapter", "01", "--report", "course.toml/report.json"]

    assert main(args) == 2

    output = " ".join(capsys.readouterr().out.split())
    assert "--report 'course.toml/report.json' cannot be written" in output
    assert "Grading" not in output


def test_fifo_in_submission_is_skipped(tmp_path: Path) -> None:
    target = make_target(tmp_path, FIRST_APP)
    os.mkfifo(target / FIRST_APP / "pipe")

    chapters = chapters_by_id(grade(tmp_path, target, "01"))

    assert chapters["01"]["status"] == "passed"


def test_non_utf8_file_name_is_graded(tmp_path: Path) -> None:
    target = make_target(tmp_path, FIRST_APP)
    (target / FIRST_APP / os.fsdecode(b"notes-\xff.txt")).write_text("x")

    report = grade(tmp_path, target, "01")

    assert report["score"] == 4


def test_names_lose_accents_and_odd_characters() -> None:
    assert safe_name("José María Núñez") == "Jose_Maria_Nunez"
    assert safe_name("  ../../etc/passwd ") == "etc_passwd"


def test_paths_with_brackets_and_escapes_print_as_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Lines wide enough that rich wraps no path.
    monkeypatch.setenv("COLUMNS", "500")
    target = tmp_path / "m[/] x [fall] y\x1b[8m"
    shutil.copytree(ROOT / "solutions" / FIRST_APP, target / FIRST_APP)
    report = tmp_path / "r[/]" / "ada.json"
    args = ["--target", str(target), "--chapter", "01", "--report", str(report)]

    assert main(["grade", *args]) == 0
    assert main(["report", str(report)]) == 0

    output = capsys.readouterr().out
    assert "\x1b" not in output
    # Once where grading starts, and once in the report's first line.
    assert " ".join(output.split()).count("m[/] x [fall] y[8m") == 2
    assert "r[/]/ada" in output


def test_long_name_cut_ends_in_a_letter() -> None:
    name = safe_name("a" * 63 + " b")

    assert name == "a" * 63
    assert safe_name(name) == name


def test_class_folder_as_target_points_at_grade_class(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    learner = tmp_path / "class" / "ada"
    shutil.copytree(ROOT / "solutions" / FIRST_APP, learner / FIRST_APP)

    assert main(["grade", "--target", str(tmp_path / "class")]) == 2
    assert main(["grade", "--target", str(learner / FIRST_APP)]) == 2

    output = " ".join(capsys.readouterr().out.split())
    assert "nox -s grade_class --" in output
    assert "is a chapter folder: pass the folder above it, and --chapter 01" in output


def test_learner_files_are_read_without_following_links(tmp_path: Path) -> None:
    written = tmp_path / "notifications.log"
    written.write_text("one\ntwo\n")
    link = tmp_path / "link.log"
    link.symlink_to(ROOT / "course.toml")
    pipe = tmp_path / "pipe.log"
    os.mkfifo(pipe)

    assert read_learner_file(written) == "one\ntwo\n"
    assert read_learner_file(written, limit=4) == "two\n"
    assert read_learner_file(tmp_path / "missing.log") is None
    with pytest.raises(CheckFailed, match="is a link"):
        read_learner_file(link)
    with pytest.raises(CheckFailed, match="not a regular file"):
        read_learner_file(pipe)


def test_terminal_output_replaces_lone_surrogates() -> None:
    assert terminal_safe("bad \ud800 text") == "bad ? text"


def test_sandbox_refuses_linked_folder(tmp_path: Path) -> None:
    real = tmp_path / "real"
    (real / "inner").mkdir(parents=True)
    link = tmp_path / "link"
    link.symlink_to(real)

    with pytest.raises(sandbox.UnsafeFolder, match="cannot be given to the app"):
        sandbox.require_real_folder(link)
    with pytest.raises(sandbox.UnsafeFolder, match="a link along its path"):
        sandbox.require_real_folder(link / "inner")
    sandbox.require_real_folder(real)


def test_app_in_linked_folder_does_not_start(tmp_path: Path) -> None:
    course_like = tmp_path / "course"
    course_like.mkdir()
    (course_like / "app.sock").write_text("kept")
    work_dir = tmp_path / "work"
    work_dir.symlink_to(course_like)
    app = LearnerApp(ROOT / "solutions" / "01_first_app", work_dir)

    with pytest.raises(AppStartError, match="cannot be given to the app"):
        app.start()
    assert (course_like / "app.sock").read_text() == "kept"


def test_terminal_output_drops_escape_sequences() -> None:
    assert terminal_safe("red \x1b[31mtext\x1b[2J\nnext\tline") == (
        "red [31mtext[2J\nnext\tline"
    )
    # U+202E shows the rest of its line right to left, U+2067 a run of it.
    assert terminal_safe("grade: \u202e01/01 \u2067x\u2069") == "grade: 01/01 x"
    # str.splitlines() would end a line at U+0085; a reason's summary does not.
    assert reason_summary("import failed\x85 in main.py\nValueError: x") == (
        "import failed in main.py"
    )


def test_report_with_undecodable_name_is_written(tmp_path: Path) -> None:
    name = os.fsdecode(b"\xff\xfe")

    write_json_atomic(tmp_path / "r.json", {"reason": f"left out: {name}"})

    assert json.loads((tmp_path / "r.json").read_text())["reason"].startswith("left")


def test_isolation_rejects_unknown_level() -> None:
    with pytest.raises(ValueError, match="'jail' is not one of auto, bubblewrap"):
        sandbox.choose_isolation("jail")


def test_isolation_without_landlock_names_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "bubblewrap_works", lambda: False)
    monkeypatch.setattr(sandbox, "landlock_works", lambda: False)

    assert sandbox.choose_isolation("auto") == sandbox.LIMITS
    with pytest.raises(ValueError, match="pass --isolation limits"):
        sandbox.choose_isolation("landlock")


def test_isolation_falls_back_to_landlock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "bubblewrap_works", lambda: False)
    monkeypatch.setattr(sandbox, "landlock_works", lambda: True)

    assert sandbox.choose_isolation("auto") == sandbox.LANDLOCK
    with pytest.raises(ValueError, match="apt-get install bubblewrap"):
        sandbox.choose_isolation("bubblewrap")


def test_compressed_body_is_not_unpacked() -> None:
    # 1 MB of gzip can unpack to gigabytes, past the grader's size limit.
    packed = gzip.compress(b"0" * 1_000_000)
    response = httpx.Response(
        200, headers={"Content-Encoding": "gzip"}, stream=httpx.ByteStream(packed)
    )

    server._keep_encoded(response)

    assert response.read() == packed
    assert response.headers["x-apigrade-content-encoding"] == "gzip"


DOUBLE_FORK_APP = """\
import os
import time

from fastapi import FastAPI

if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(60)
    os._exit(0)
app = FastAPI()
"""


@pytest.mark.parametrize("level", [sandbox.BUBBLEWRAP, sandbox.LANDLOCK])
def test_process_count_sees_double_forked_child(
    level: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if level == sandbox.BUBBLEWRAP and not sandbox.bubblewrap_works():
        pytest.skip("bubblewrap cannot run here")
    if level == sandbox.LANDLOCK and os.geteuid() != 0:
        pytest.skip("without root there is no cgroup to count a double fork in")
    monkeypatch.setenv(sandbox.ISOLATION_VARIABLE, level)
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    (app_dir / "main.py").write_text(DOUBLE_FORK_APP)
    work_dir = tmp_path / "work"
    work_dir.mkdir()
    app = LearnerApp(app_dir, work_dir)
    app.start()
    try:
        # The middle process exits at once, so the sleeper's parent is init.
        with app.watch_processes(interval=0.05) as watch:
            time.sleep(0.5)
    finally:
        app.stop()

    assert watch.max_count >= 2


CLIENT_ADDRESS_APP = """
from fastapi import FastAPI, Request

app = FastAPI()


@app.get("/")
async def client_host(request: Request) -> dict[str, str]:
    return {"host": request.client.host}
"""


def test_app_sees_a_client_address(tmp_path: Path) -> None:
    """request.client is set, as on TCP, though the grader uses a Unix socket."""
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    (app_dir / "main.py").write_text(CLIENT_ADDRESS_APP)
    work_dir = tmp_path / "work"
    work_dir.mkdir()
    app = LearnerApp(app_dir, work_dir)
    app.start()
    try:
        with app.client() as client:
            response = client.get("/")
    finally:
        app.stop()

    assert response.status_code == 200
    assert response.json() == {"host": "127.0.0.1"}


def test_grader_without_a_group_yet_is_killed() -> None:
    # Seen in CI under load: the zygote reports a grader's pid before the
    # grader starts its own session, and a Ctrl-C in that moment killed no
    # process group, so grade-class waited for the whole chapter.
    child = subprocess.Popen(["sleep", "60"])  # in this process's group
    try:
        runner._kill_grader(child)

        assert child.wait(timeout=5) == -signal.SIGKILL
    finally:
        child.kill()
        child.wait()


def test_padded_misnamed_folder_is_quoted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "ada"
    (target / "03_path_parameters_old").mkdir(parents=True)
    (target / "03_path_parameters ").mkdir()
    args = ["grade", "--target", str(target), "--chapter", "03"]

    assert main(args) == 2

    output = capsys.readouterr().out
    # The closest of the two names, quoted so that its space shows.
    assert 'rename "03_path_parameters " to 03_path_parameters' in output
    assert "03_path_parameters_old" not in output


def test_deeply_nested_body_fails_the_check() -> None:
    request = httpx.Request("GET", "http://app/")
    deep = "[" * 5000 + "]" * 5000
    response = httpx.Response(200, content=deep.encode(), request=request)

    with pytest.raises(CheckFailed) as failed:
        json_body(response)

    assert "nests arrays or objects too deeply" in failed.value.summary


def test_default_404_names_both_causes() -> None:
    request = httpx.Request("GET", "http://app/items/2")
    response = httpx.Response(404, json={"detail": "Not Found"}, request=request)

    with pytest.raises(CheckFailed) as failed:
        expect_status(response, 200)

    assert "no route matches /items/2" in failed.value.summary
    assert "raised HTTPException(404) without a detail" in failed.value.summary


def test_html_report_path_is_refused(tmp_path: Path, course: Course) -> None:
    with pytest.raises(GradingError, match=r"ends in \.html.*such as .*ada\.json"):
        cli.resolve_report_path(course, tmp_path / "ada.html", "ada")


@pytest.mark.parametrize(
    ("received", "expected", "same"),
    [
        ({"ok": True, "index": 1}, {"ok": True, "index": 1}, True),
        ({"ok": 1}, {"ok": True}, False),
        ({"ok": 0}, {"ok": False}, False),
        ({"index": False}, {"index": 0}, False),
        ([{"tick": True}], [{"tick": 1}], False),
        ({"price": 2.0}, {"price": 2}, True),
        ({"a": 1, "b": 2}, {"a": 1}, False),
        ([1, 2], [1, 2, 3], False),
        ({"a": [1]}, {"a": 1}, False),
        (None, None, True),
        ("1", 1, False),
    ],
)
def test_same_json_tells_bool_from_number(
    received: object, expected: object, same: bool
) -> None:
    assert same_json(received, expected) is same
