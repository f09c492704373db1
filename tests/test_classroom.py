"""Grading a class: a folder of learners, their reports, class.json and grades.csv."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import importlib.metadata
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from apigrade import classroom, runner
from apigrade.classroom import (
    ClassRun,
    check_reports_dir,
    entries_not_graded,
    find_learners,
    grade_class,
    gradebook_csv,
    learner_status,
    reports_losing_chapters,
)
from apigrade.cli import main
from apigrade.course import Chapter, Course, load_course
from apigrade.errors import GradingError, TargetError
from apigrade.report import (
    grader_version,
    submission_digest,
    validate_class_summary,
    validate_report,
)
from apigrade.runner import ChapterResult
from tests.conftest import ROOT, swap_at_listing

FIRST_APP = "01_first_app"
# A busy loop in a middleware: no request ever gets a response.
HANG = """

@app.middleware("http")
async def never_answer(request, call_next):
    while True:
        pass
"""


def first_chapter(course: Course, check_timeout: float) -> Chapter:
    return dataclasses.replace(course.chapters[0], check_timeout=check_timeout)


def add_learner(submissions: Path, name: str, source: str = "solutions") -> Path:
    folder = submissions / name / FIRST_APP
    shutil.copytree(ROOT / source / FIRST_APP, folder)
    return folder / "main.py"


@pytest.fixture(scope="module")
def graded_class(
    course: Course, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path, ClassRun]:
    """A class of five learners, chapter 01 only, with 3 s per check."""
    submissions = tmp_path_factory.mktemp("class")
    add_learner(submissions, "ada")
    add_learner(submissions, "bob", source="exercises")
    broken = add_learner(submissions, "cy")
    broken.write_text(broken.read_text() + "\ndef unfinished(:\n")
    hangs = add_learner(submissions, "dee")
    hangs.write_text(hangs.read_text() + HANG)
    no_version = add_learner(submissions, "Eve Smith")
    no_version.write_text(no_version.read_text().replace('version="', 'summary="'))
    reports = tmp_path_factory.mktemp("reports")
    chapters = [first_chapter(course, check_timeout=3)]
    learners = find_learners(course, submissions)
    run = grade_class(course, chapters, learners, reports, submissions=submissions)
    return submissions, reports, run


def test_every_learner_gets_a_report_and_a_row(
    graded_class: tuple[Path, Path, ClassRun],
) -> None:
    _, reports, run = graded_class
    rows = list(csv.DictReader(io.StringIO((reports / "grades.csv").read_text())))

    by_name = {row["learner"]: row for row in rows}
    assert list(by_name) == ["ada", "bob", "cy", "dee", "Eve_Smith"]
    assert {name: row["status"] for name, row in by_name.items()} == {
        "ada": "ok",
        "bob": "ok",
        "cy": "error",
        "dee": "timeout",
        "Eve_Smith": "ok",
    }
    assert by_name["ada"][FIRST_APP] == by_name["ada"]["total"] == "4"
    assert by_name["ada"]["percent"] == "100.0"
    assert by_name["bob"]["total"] == "0"
    assert "SyntaxError" in by_name["cy"]["reason"]
    assert "3 check(s) timed out after 3 s" in by_name["dee"]["reason"]
    for learner in run.learners:
        report = json.loads((reports / f"{learner.name}.json").read_text())
        validate_report(report)
        assert report["learner"] == learner.name


def test_class_summary_counts_checks(graded_class: tuple[Path, Path, ClassRun]) -> None:
    _, reports, _ = graded_class
    summary = json.loads((reports / "class.json").read_text())
    validate_class_summary(summary)

    checks = {check["id"]: check for check in summary["checks"]}
    # Ada and Eve pass the root check; Bob's starter and Dee's hang fail it.
    # Cy's checks could not run (a syntax error), so they are not counted.
    assert checks["root_returns_hello_world"]["graded"] == 4
    assert checks["root_returns_hello_world"]["passed"] == 2
    assert checks["root_returns_hello_world"]["pass_rate"] == 0.5
    assert checks["app_has_own_title_and_version"]["passed"] == 1
    assert summary["chapters"][0]["graded"] == 5
    assert summary["chapters"][0]["average"] == pytest.approx((4 + 3) / 5)
    assert summary["chapters"][0]["percent"] == round(100 * (4 + 3) / (5 * 4), 1)


def test_class_report_rejects_forged_summary(
    graded_class: tuple[Path, Path, ClassRun],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, reports, _ = graded_class
    summary = json.loads((reports / "class.json").read_text())

    assert main(["report", str(reports / "class.json")]) == 0
    output = " ".join(capsys.readouterr().out.split())
    assert "SyntaxError" in output

    forged = tmp_path / "class.json"
    changes: list[tuple[str, Any]] = [
        ("learners", "everyone"),
        ("generated_at", "x [/nope]"),
        ("chapters", None),
    ]
    for key, value in changes:
        edited = dict(summary)
        if value is None:
            del edited[key]
        else:
            edited[key] = value
        forged.write_text(json.dumps(edited))
        assert main(["report", str(forged)]) == 2
    rows: list[tuple[int, str, Any]] = [
        (0, "percent", "100"),
        (1, "status", "[link=https://example.invalid/]ok[/link]"),
    ]
    for index, key, value in rows:
        edited = json.loads(json.dumps(summary))
        edited["learners"][index][key] = value
        forged.write_text(json.dumps(edited))
        assert main(["report", str(forged)]) == 2

    output = " ".join(capsys.readouterr().out.split())
    assert f"'{forged}' is not a class summary (field learners is invalid)" in output
    assert "(field generated_at is invalid)" in output
    assert "(the top level has no 'chapters' field)" in output
    assert "(field learners[0].percent is invalid)" in output
    assert "(field learners[1].status is invalid)" in output
    assert "Traceback" not in output


def test_rerun_grades_only_changed_learners(
    course: Course, graded_class: tuple[Path, Path, ClassRun]
) -> None:
    submissions, reports, _ = graded_class
    before = (reports / "ada.json").read_text()
    main_py = submissions / "bob" / FIRST_APP / "main.py"
    main_py.write_text(main_py.read_text() + "\n# edited\n")
    chapters = [first_chapter(course, check_timeout=3)]

    run = grade_class(course, chapters, find_learners(course, submissions), reports)

    reused = {learner.name: learner.reused for learner in run.learners}
    assert reused == {
        "ada": True,
        "bob": False,
        "cy": True,
        "dee": True,
        "Eve_Smith": True,
    }
    assert (reports / "ada.json").read_text() == before
    statuses = [row["status"] for row in run.summary["learners"]]
    assert statuses == ["ok", "ok", "error", "timeout", "ok"]


def test_named_learner_is_regraded_alone(
    course: Course, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    submissions = tmp_path / "class"
    add_learner(submissions, "ada")
    add_learner(submissions, "bob")
    chapters = [course.chapters[0]]
    grade_class(course, chapters, find_learners(course, submissions), tmp_path)

    def regrade_bob() -> dict[str, bool]:
        run = grade_class(
            course,
            chapters,
            find_learners(course, submissions),
            tmp_path,
            regrade_learners={"bob"},
        )
        return {learner.name: learner.reused for learner in run.learners}

    with caplog.at_level("WARNING", logger="apigrade"):
        assert regrade_bob() == {"ada": True, "bob": False}
    assert "besides those of --regrade-learner" not in caplog.text

    # Learners without a current report are graded too, and a warning names them.
    add_learner(submissions, "cy")
    ada = submissions / "ada" / FIRST_APP / "main.py"
    ada.write_text(ada.read_text() + "\n# edited\n")
    with caplog.at_level("WARNING", logger="apigrade"):
        assert regrade_bob() == {"ada": False, "bob": False, "cy": False}
    assert (
        "2 learner(s) besides those of --regrade-learner are graded, since their "
        "reports cannot be reused: ada (files changed), cy (no report of these "
        "chapters)"
    ) in caplog.text


def test_report_of_another_class_is_not_reused(course: Course, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    chapters = [course.chapters[0]]
    for name in ("first", "second"):
        add_learner(tmp_path / name, "cara")
    grade_class(course, chapters, find_learners(course, tmp_path / "first"), reports)

    run = grade_class(
        course, chapters, find_learners(course, tmp_path / "second"), reports
    )

    assert [learner.reused for learner in run.learners] == [False]
    report = json.loads((reports / "cara.json").read_text())
    assert report["target"] == str((tmp_path / "second" / "cara").resolve())


def test_unknown_learner_to_regrade_names_the_choices(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    submissions = tmp_path / "class"
    add_learner(submissions, "ada")
    args = ["grade-class", str(submissions), "--reports", str(tmp_path / "reports")]

    assert main([*args, "--regrade-learner", "bobby"]) == 2

    output = " ".join(capsys.readouterr().out.split())
    assert "--regrade-learner 'bobby': no learner folder of that name" in output
    assert "Give a folder name from: ada" in output


def test_changed_graders_regrade_everyone(
    course: Course, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    submissions = tmp_path / "class"
    add_learner(submissions, "ada")
    chapters = [course.chapters[0]]
    grade_class(course, chapters, find_learners(course, submissions), tmp_path)
    monkeypatch.setattr(
        "apigrade.classroom.grader_version", lambda course: "0.0.0+changed"
    )

    run = grade_class(course, chapters, find_learners(course, submissions), tmp_path)

    assert [learner.reused for learner in run.learners] == [False]


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


# A shell that starts a command in the background makes it ignore SIGINT,
# as CI's runner did: the engine must stop on it all the same. A terminal's
# Ctrl-C goes to the whole process group, and an impatient user presses it
# twice: neither the zygote nor the second one may cut the clean-up short.
@pytest.mark.parametrize(
    ("started_ignoring_sigint", "ctrl_c_twice_to_group"),
    [(False, False), (True, False), (False, True)],
)
def test_interrupt_keeps_finished_reports(
    tmp_path: Path, started_ignoring_sigint: bool, ctrl_c_twice_to_group: bool
) -> None:
    submissions = tmp_path / "class"
    add_learner(submissions, "a_first")
    for name in ("b_hangs", "c_waits"):
        hangs = add_learner(submissions, name)
        hangs.write_text(hangs.read_text() + HANG)
    reports = tmp_path / "reports"
    # Short, so the engine uses it: socket paths must stay under 108 bytes.
    private_tmp = Path(tempfile.mkdtemp(prefix="ag-", dir="/tmp"))
    command = [sys.executable, "-m", "apigrade", "grade-class", str(submissions)]
    command += ["--chapter", "01", "--jobs", "1", "--reports", str(reports)]
    env = {**os.environ, "TMPDIR": str(private_tmp)}
    process = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=_ignore_sigint if started_ignoring_sigint else None,
        start_new_session=ctrl_c_twice_to_group,
    )
    try:
        deadline = time.monotonic() + 60
        while not (reports / "a_first.json").exists():
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, "a_first was not graded in 60 s"
            time.sleep(0.1)
        time.sleep(1)  # b_hangs is being graded now
        if ctrl_c_twice_to_group:
            os.killpg(process.pid, signal.SIGINT)
            time.sleep(0.2)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGINT)
        else:
            process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=30)[0].decode()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 130, output
    assert "Interrupted after 1 of 3 learner(s)" in output
    assert "Traceback" not in output
    rows = list(csv.DictReader(io.StringIO((reports / "grades.csv").read_text())))
    assert [row["status"] for row in rows] == ["ok", "not_graded", "not_graded"]
    # No grade is not a zero: the totals stay empty for a gradebook import.
    assert [(row["total"], row["percent"]) for row in rows[1:]] == [("", "")] * 2
    validate_report(json.loads((reports / "a_first.json").read_text()))
    assert not (reports / "b_hangs.json").exists()
    # The graders and servers were stopped, and their temporary folders removed.
    assert list(private_tmp.iterdir()) == []
    private_tmp.rmdir()


def test_submissions_folder_errors_name_the_fix(course: Course, tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="does not exist"):
        find_learners(course, tmp_path / "missing")
    with pytest.raises(TargetError, match="contains no learner folders"):
        find_learners(course, tmp_path)
    add_learner(tmp_path / "one", "ignored")
    shutil.copytree(ROOT / "solutions" / FIRST_APP, tmp_path / "single" / FIRST_APP)
    with pytest.raises(TargetError, match="one learner's work"):
        find_learners(course, tmp_path / "single")
    (tmp_path / "two" / "a b").mkdir(parents=True)
    (tmp_path / "two" / "a_b").mkdir()
    with pytest.raises(TargetError, match="'a b' and 'a_b' give the report names"):
        find_learners(course, tmp_path / "two")
    (tmp_path / "three" / "class").mkdir(parents=True)
    with pytest.raises(TargetError, match="named like the class files"):
        find_learners(course, tmp_path / "three")
    # On a file system that ignores case, these would share a report file.
    (tmp_path / "four" / "Class").mkdir(parents=True)
    with pytest.raises(TargetError, match="named like the class files"):
        find_learners(course, tmp_path / "four")
    (tmp_path / "five" / "Ada").mkdir(parents=True)
    (tmp_path / "five" / "ada").mkdir()
    with pytest.raises(TargetError, match="differ only in case"):
        find_learners(course, tmp_path / "five")


def test_learners_sort_without_case(course: Course, tmp_path: Path) -> None:
    for name in ("bob", "José María", "ada", "Zoe"):
        (tmp_path / name).mkdir()

    names = [learner.name for learner in find_learners(course, tmp_path)]

    assert names == ["ada", "bob", "Jose_Maria", "Zoe"]


def test_learner_without_grade_has_null_score(course: Course, tmp_path: Path) -> None:
    chapters = [course.chapters[0]]
    learners = [
        classroom.Learner(name="tim", folder=tmp_path / "tim"),
        classroom.Learner(
            name="ann", folder=tmp_path / "ann", status="crashed", reason="a bug"
        ),
    ]

    summary = classroom.build_class_summary(
        course, chapters, learners, version="0", submissions=None
    )
    rows = list(csv.DictReader(io.StringIO(gradebook_csv(summary, chapters))))

    for row in summary["learners"]:
        assert row["score"] is None
        assert row["percent"] is None
    for csv_row in rows:
        assert csv_row["total"] == ""
        assert csv_row["percent"] == ""


def test_summary_lists_other_entries(course: Course, tmp_path: Path) -> None:
    folder = tmp_path / "ada"
    (folder / "04_query_params").mkdir(parents=True)
    (folder / FIRST_APP).mkdir()
    (folder / ".git").mkdir()
    (folder / "notes.txt").write_text("to do\n")
    learners = [classroom.Learner(name="ada", folder=folder)]

    summary = classroom.build_class_summary(
        course, [course.chapters[0]], learners, version="0", submissions=None
    )

    assert summary["learners"][0]["other_entries"] == ["04_query_params/", "notes.txt"]


def test_padded_other_entry_is_quoted(course: Course, tmp_path: Path) -> None:
    """A name ending in a space is quoted, so it does not read as the bare name."""
    folder = tmp_path / "ada"
    (folder / f"{FIRST_APP} ").mkdir(parents=True)
    (folder / " notes.txt").write_text("to do\n")

    assert classroom.other_entries(course, folder) == [
        '" notes.txt"',
        f'"{FIRST_APP} "/',
    ]
    assert classroom.entries_not_graded(tmp_path) == []
    (tmp_path / "grades.csv ").write_text("")
    assert classroom.entries_not_graded(tmp_path) == ['"grades.csv "']


def test_reports_folder_errors_name_the_fix(tmp_path: Path) -> None:
    submissions = tmp_path / "class"
    (submissions / "ada").mkdir(parents=True)
    a_file = tmp_path / "grades.txt"
    a_file.write_text("")

    with pytest.raises(GradingError, match=r"'.*grades.txt' is a file, not a folder"):
        check_reports_dir(a_file)
    with pytest.raises(GradingError, match=r"grades.txt is a file, not a folder"):
        check_reports_dir(a_file / "reports")
    with pytest.raises(GradingError, match="is inside the submissions folder"):
        check_reports_dir(submissions / "reports", submissions)
    assert not (submissions / "reports").exists()
    assert check_reports_dir(tmp_path / "reports", submissions) == tmp_path / "reports"


def test_reports_folder_is_not_a_learner(course: Course, tmp_path: Path) -> None:
    (tmp_path / "ada").mkdir()
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "class.json").write_text("{}")
    (tmp_path / "reports" / "grades.csv").write_text("")

    with pytest.raises(TargetError, match=r"'reports' .* is a reports folder"):
        find_learners(course, tmp_path)
    # A learner's hand-in with copies of the class files is graded all the same.
    shutil.move(tmp_path / "reports", tmp_path / "bob")
    add_learner(tmp_path, "bob")
    assert [learner.name for learner in find_learners(course, tmp_path)] == [
        "ada",
        "bob",
    ]


def test_learner_folder_link_is_rejected(course: Course, tmp_path: Path) -> None:
    submissions = tmp_path / "class"
    submissions.mkdir()
    (submissions / "eve").symlink_to(ROOT / "solutions")

    with pytest.raises(TargetError, match=r"'eve' is a link to .*solutions"):
        find_learners(course, submissions)


def test_underscore_learner_folders_are_graded(course: Course, tmp_path: Path) -> None:
    for name in ("ada", "_bob", ".carol", "__MACOSX", "__pycache__"):
        (tmp_path / name).mkdir()
    (tmp_path / "notes.txt").write_text("late: bob")

    learners = find_learners(course, tmp_path)

    # The report name keeps the letters and digits, without the leading _.
    assert [learner.name for learner in learners] == ["bob", "ada"]
    assert learners[0].folder == (tmp_path / "_bob").resolve()
    assert entries_not_graded(tmp_path) == [
        ".carol/",
        "__MACOSX/",
        "__pycache__/",
        "notes.txt",
    ]


def test_archive_gets_unpack_row(course: Course, tmp_path: Path) -> None:
    submissions = tmp_path / "class"
    add_learner(submissions, "ada")
    add_learner(submissions, "bob")
    (submissions / "carol.zip").write_bytes(b"PK\x05\x06" + bytes(18))
    # bob's archive, beside the folder unpacked from it, is not a learner.
    (submissions / "bob.tar.gz").write_bytes(b"\x1f\x8b")
    (submissions / "notes.txt").write_text("late: carol")
    reports = tmp_path / "reports"
    learners = find_learners(course, submissions)

    run = grade_class(course, [course.chapters[0]], learners, reports)

    assert [learner.name for learner in run.learners] == ["ada", "bob", "carol"]
    assert entries_not_graded(submissions, learners) == ["bob.tar.gz", "notes.txt"]
    rows = list(csv.DictReader(io.StringIO((reports / "grades.csv").read_text())))
    carol = rows[2]
    assert carol["learner"] == "carol"
    assert carol["status"] == "error"
    assert carol["total"] == carol[FIRST_APP] == ""
    assert carol["reason"] == (
        "carol.zip is an archive, not a folder: unpack it into carol/ in the "
        "submissions folder, then grade again"
    )
    assert not (reports / "carol.json").exists()
    summary = json.loads((reports / "class.json").read_text())
    validate_class_summary(summary)
    assert summary["chapters"][0]["graded"] == 2
    assert (submissions / "carol.zip").read_bytes().startswith(b"PK")


def test_grade_class_names_entries_not_graded(tmp_path: Path) -> None:
    submissions = tmp_path / "class"
    add_learner(submissions, "_bob")
    (submissions / ".carol").mkdir()
    (submissions / "notes.txt").write_text("late: bob")
    command = [sys.executable, "-m", "apigrade", "grade-class", str(submissions)]
    command += ["--chapter", "01", "--reports", str(tmp_path / "reports")]

    # Wide enough that rich does not wrap the note.
    env = {**os.environ, "COLUMNS": "500"}
    output = subprocess.run(
        command, capture_output=True, text=True, timeout=120, check=False, env=env
    ).stdout

    assert "Grading 1 learner(s)" in output
    assert ".carol/, notes.txt" in output
    assert "not learners and are not graded" in output
    assert (tmp_path / "reports" / "bob.json").is_file()


def test_gradebook_keeps_text_out_of_formulas(course: Course) -> None:
    summary = {
        "learners": [
            {
                "learner": "ada",
                "status": "error",
                "reason": '=HYPERLINK("x")\nsecond\u202e line',
                "score": 0,
                "max_score": 4,
                "percent": 0.0,
                "chapters": {"01": None},
            }
        ]
    }

    rows = list(csv.reader(io.StringIO(gradebook_csv(summary, [course.chapters[0]]))))

    assert rows[1] == [
        "ada",
        "",
        "0",
        "4",
        "0.0",
        "error",
        '\'=HYPERLINK("x") second line',
    ]


def test_status_prefers_timeout_over_error() -> None:
    report = {
        "chapters": [
            {
                "id": "01",
                "status": "error",
                "reason": "app failed:\nTraceback\nNameError: x",
            },
            {"id": "02", "status": "failed", "timed_out": True, "reason": "2 check(s)"},
        ]
    }

    assert learner_status(report) == ("timeout", "chapter 02: 2 check(s)")
    del report["chapters"][1]
    assert learner_status(report) == (
        "error",
        "chapter 01: app failed: ... NameError: x",
    )


def test_interrupted_regrade_goes_on_next_run(course: Course, tmp_path: Path) -> None:
    submissions = tmp_path / "class"
    add_learner(submissions, "ada")
    chapters = [course.chapters[0]]
    grade_class(course, chapters, find_learners(course, submissions), tmp_path)
    summary = json.loads((tmp_path / "class.json").read_text())
    # As an interrupted --regrade leaves it, before it reached ada.
    summary["complete"] = False
    summary["regrade_before"] = "9999-01-01T00:00:00+00:00"
    summary["learners"][0]["status"] = "not_regraded"
    (tmp_path / "class.json").write_text(json.dumps(summary))

    run = grade_class(course, chapters, find_learners(course, submissions), tmp_path)

    assert [learner.reused for learner in run.learners] == [False]
    assert run.summary["complete"] is True


def test_interrupted_regrade_keeps_older_figures(
    course: Course, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    submissions = tmp_path / "class"
    add_learner(submissions, "ada")
    bob = add_learner(submissions, "bob")
    bob.write_text(bob.read_text() + "\n# bob's copy\n")
    reports = tmp_path / "reports"
    chapters = [course.chapters[0]]
    grade_class(course, chapters, find_learners(course, submissions), reports)
    older = json.loads((reports / "bob.json").read_text())
    real_grade_chapter = runner.grade_chapter

    def interrupt_at_bob(*args: Any, **kwargs: Any) -> ChapterResult:
        if Path(args[2]).name == "bob":
            raise KeyboardInterrupt
        return real_grade_chapter(*args, **kwargs)

    monkeypatch.setattr(classroom, "grade_chapter", interrupt_at_bob)
    learners = find_learners(course, submissions)
    with pytest.raises(classroom.ClassInterrupted):
        grade_class(course, chapters, learners, reports, jobs=1, regrade=True)

    summary = json.loads((reports / "class.json").read_text())
    by_name = {row["learner"]: row for row in summary["learners"]}
    assert summary["complete"] is False
    assert by_name["bob"]["status"] == "not_regraded"
    assert by_name["ada"]["status"] == "ok"
    assert by_name["ada"]["graded_at"] >= summary["regrade_before"]
    assert by_name["bob"]["score"] == 4
    assert by_name["bob"]["percent"] == 100.0
    assert by_name["bob"]["chapters"] == {"01": 4}
    assert by_name["bob"]["graded_at"] == older["graded_at"]
    assert older["graded_at"] in by_name["bob"]["reason"]
    assert summary["chapters"][0]["graded"] == 2
    rows = list(csv.DictReader(io.StringIO((reports / "grades.csv").read_text())))
    assert [row["status"] for row in rows] == ["ok", "not_regraded"]
    assert rows[1]["total"] == "4"
    assert rows[1]["percent"] == "100.0"
    assert "older report" in rows[1]["reason"]
    assert "not regraded" in (reports / "class.html").read_text()
    assert json.loads((reports / "bob.json").read_text()) == older

    # The next run, without --regrade, grades only bob, whose report is older.
    monkeypatch.setattr(classroom, "grade_chapter", real_grade_chapter)
    run = grade_class(course, chapters, find_learners(course, submissions), reports)

    assert [learner.reused for learner in run.learners] == [True, False]
    assert [learner.status for learner in run.learners] == ["ok", "ok"]
    assert run.summary["complete"] is True


def test_partial_run_would_replace_reports(course: Course, tmp_path: Path) -> None:
    submissions = tmp_path / "class"
    add_learner(submissions, "ada")
    learners = find_learners(course, submissions)
    stored = {"chapters": [{"id": "01"}, {"id": "02"}]}
    (tmp_path / "ada.json").write_text(json.dumps(stored))

    assert reports_losing_chapters(learners, [course.chapters[0]], tmp_path) == [
        "ada.json"
    ]
    assert reports_losing_chapters(learners, list(course.chapters), tmp_path) == []


def test_empty_folder_is_nothing_handed_in() -> None:
    missing = {"status": "error", "reason": "no main.py in /x/01_first_app: ..."}
    report = {"chapters": [{"id": "01", **missing}, {"id": "02", **missing}]}

    assert learner_status(report) == (
        "error",
        "nothing handed in: no chapter folder has a main.py",
    )


def test_status_groups_missing_chapters() -> None:
    report = {
        "chapters": [
            {"id": "01", "status": "error", "reason": "no main.py in /x/01: ..."},
            {
                "id": "02",
                "status": "error",
                "reason": "the chapter folder 02_http_methods/ is missing from /x: "
                "add it, shaped like exercises/02_http_methods/",
            },
            {
                "id": "04",
                "status": "error",
                "reason": "the chapter folder 04_query_parameters/ is missing, and "
                "04_query_params/ is there instead: rename 04_query_params to "
                "04_query_parameters in /x",
            },
        ]
    }

    status, reason = learner_status(report)

    assert status == "error"
    assert reason == (
        "chapter 04: the chapter folder 04_query_parameters/ is missing, and "
        "04_query_params/ is there instead: rename 04_query_params to "
        "04_query_parameters in /x; chapters 02: no chapter folder; chapters 01: "
        "no main.py"
    )
    del report["chapters"][2]
    assert learner_status(report) == (
        "error",
        "nothing handed in: no chapter folder has a main.py",
    )


def test_some_chapters_handed_in_is_incomplete() -> None:
    passed = {"status": "passed", "reason": None}
    missing = {
        "status": "error",
        "reason": "the chapter folder 02_http_methods/ is missing from /x: add it, "
        "shaped like exercises/02_http_methods/",
    }
    report = {"chapters": [{"id": "01", **passed}, {"id": "02", **missing}]}

    assert learner_status(report) == ("incomplete", "chapters 02: no chapter folder")

    crashed = {"status": "error", "reason": "SyntaxError in main.py"}
    report["chapters"].append({"id": "03", **crashed})
    status, reason = learner_status(report)
    assert status == "error"
    assert reason == (
        "chapter 03: SyntaxError in main.py; chapters 02: no chapter folder"
    )


def test_whole_clone_handed_in_says_move_up() -> None:
    moved = (
        "the chapter folder {folder}/ is missing, and exercises/{folder}/ is there "
        "instead: move the chapter folders in exercises/ up into /x/carl"
    )
    report = {
        "chapters": [
            {
                "id": "01",
                "status": "error",
                "reason": moved.format(folder="01_first_app"),
            },
            {
                "id": "02",
                "status": "error",
                "reason": moved.format(folder="02_http_methods"),
            },
        ]
    }

    assert learner_status(report) == (
        "error",
        "nothing handed in at the top: chapter folders are in exercises/, so move "
        "them up into carl/",
    )
    report["chapters"].append(
        {"id": "03", "status": "error", "reason": "no main.py in /x/carl/03: ..."}
    )
    assert learner_status(report) == (
        "error",
        "chapters 01, 02: in exercises/, so move them up into carl/; chapters 03: "
        "no main.py",
    )


def test_same_files_are_graded_once(
    course: Course, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    submissions = tmp_path / "class"
    for name in ("ann", "ben"):
        broken = add_learner(submissions, name)
        broken.write_text(broken.read_text() + "\ndef unfinished(:\n")
    add_learner(submissions, "cat")
    calls: list[str] = []
    real_grade_chapter = runner.grade_chapter

    def counting_grade_chapter(*args: Any, **kwargs: Any) -> ChapterResult:
        calls.append(str(args[2]))
        return real_grade_chapter(*args, **kwargs)

    monkeypatch.setattr(classroom, "grade_chapter", counting_grade_chapter)
    chapters = [course.chapters[0]]

    run = grade_class(course, chapters, find_learners(course, submissions), tmp_path)

    assert len(calls) == 2
    by_name = {learner.name: learner for learner in run.learners}
    for name in ("ann", "ben"):
        reason = by_name[name].results[chapters[0].id].reason or ""
        assert "SyntaxError" in reason
        assert str(submissions.resolve() / name) in reason
    assert by_name["cat"].results[chapters[0].id].status == "passed"


def test_files_changed_during_grading_are_regraded(
    course: Course, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A solution swapped for the starter after its copy was graded must not
    # keep the solution's score on later runs.
    submissions = tmp_path / "class"
    main_py = add_learner(submissions, "alice")
    starter = (ROOT / "exercises" / FIRST_APP / "main.py").read_text()
    reports = tmp_path / "reports"
    chapters = [course.chapters[0]]
    real_grade_chapter = runner.grade_chapter

    def swap_after_copy(*args: Any, **kwargs: Any) -> ChapterResult:
        result = real_grade_chapter(*args, **kwargs)
        # The copy was graded, and the report is not written yet.
        main_py.write_text(starter)
        return result

    monkeypatch.setattr(classroom, "grade_chapter", swap_after_copy)
    first = grade_class(course, chapters, find_learners(course, submissions), reports)
    first_report = json.loads((reports / "alice.json").read_text())
    monkeypatch.setattr(classroom, "grade_chapter", real_grade_chapter)
    run = grade_class(course, chapters, find_learners(course, submissions), reports)

    assert first_report["score"] == 4
    assert [learner.reused for learner in run.learners] == [False]
    report = run.learners[0].report
    assert report is not None
    assert report["score"] == 0
    assert "changed_during_grading" not in report
    assert first_report["changed_during_grading"] is True
    assert first_report["submission_digest"] != report["submission_digest"]
    assert first.learners[0].status == "ok"
    assert "changed while they were being graded" in str(first.learners[0].reason)


def test_shared_grading_skips_changed_files(
    course: Course, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ann and ben hand in the same files, so one grading of ann's is meant
    # for both. ann's files change after that was decided, before the copy.
    submissions = tmp_path / "class"
    ann = add_learner(submissions, "ann")
    add_learner(submissions, "ben")
    starter = (ROOT / "exercises" / FIRST_APP / "main.py").read_text()
    calls: list[str] = []
    real_grade_chapter = runner.grade_chapter

    def swap_before_copy(*args: Any, **kwargs: Any) -> ChapterResult:
        calls.append(Path(args[2]).name)
        if Path(args[2]).name == "ann":
            ann.write_text(starter)
        return real_grade_chapter(*args, **kwargs)

    monkeypatch.setattr(classroom, "grade_chapter", swap_before_copy)
    chapters = [course.chapters[0]]

    run = grade_class(course, chapters, find_learners(course, submissions), tmp_path)

    assert calls == ["ann", "ben"]
    by_name = {learner.name: learner for learner in run.learners}
    assert by_name["ben"].results["01"].score == 4
    assert by_name["ann"].results["01"].score == 0
    ben_report = by_name["ben"].report
    ann_report = by_name["ann"].report
    assert ben_report is not None
    assert ann_report is not None
    assert "changed_during_grading" not in ben_report
    assert ben_report["submission_digest"] == submission_digest(
        submissions / "ben", chapters
    )
    assert ann_report["changed_during_grading"] is True


def test_folders_without_files_are_not_shared(course: Course, tmp_path: Path) -> None:
    submissions = tmp_path / "class"
    add_learner(submissions, "ada")
    (submissions / "bob").mkdir()
    (submissions / "bob" / FIRST_APP).symlink_to(submissions / "ada" / FIRST_APP)
    (submissions / "eve" / FIRST_APP).mkdir(parents=True)
    os.mkfifo(submissions / "eve" / FIRST_APP / "main.py")
    chapters = [course.chapters[0]]

    run = grade_class(course, chapters, find_learners(course, submissions), tmp_path)

    by_name = {learner.name: learner for learner in run.learners}
    bob = by_name["bob"].results[chapters[0].id].reason or ""
    eve = by_name["eve"].results[chapters[0].id].reason or ""
    assert "is a link" in bob
    assert "is a link" not in eve
    assert str(submissions / "eve") in eve


def test_missing_chapter_digest_covers_nested_folders(
    course: Course, tmp_path: Path
) -> None:
    chapter = course.chapters[0]
    for name in ("ada", "bob"):
        (tmp_path / name / "clone").mkdir(parents=True)
    (tmp_path / "ada" / "clone" / "exercises" / FIRST_APP).mkdir(parents=True)
    (tmp_path / "bob" / "clone" / "notes").mkdir()

    def digest(name: str) -> str:
        return submission_digest(tmp_path / name, [chapter])

    # The same top-level folders, but only ada's reason names clone/exercises/.
    assert digest("ada") != digest("bob")
    (tmp_path / "bob" / "clone" / "notes").rmdir()
    (tmp_path / "bob" / "clone" / "exercises" / FIRST_APP).mkdir(parents=True)
    assert digest("ada") == digest("bob")


def test_nested_hand_in_regraded_on_change(course: Course, tmp_path: Path) -> None:
    submissions = tmp_path / "class"
    solution = ROOT / "solutions" / FIRST_APP
    shutil.copytree(solution, submissions / "ada" / "clone" / "exercises" / FIRST_APP)
    (submissions / "bob" / "clone" / "notes").mkdir(parents=True)
    chapters = [course.chapters[0]]
    reports = tmp_path / "reports"

    def reasons() -> dict[str, str | None]:
        run = grade_class(course, chapters, find_learners(course, submissions), reports)
        return {learner.name: learner.reason for learner in run.learners}

    def average() -> tuple[int, float | None]:
        row = json.loads((reports / "class.json").read_text())["chapters"][0]
        return row["graded"], row["average"]

    first = reasons()
    assert "in clone/exercises/, so move them up into ada/" in (first["ada"] or "")
    assert first["bob"] == "nothing handed in: no chapter folder has a main.py"
    # A chapter not handed in is left out of the average, not counted as 0.
    assert average() == (0, None)
    # bob adds the clone's chapter folder: his stored report no longer fits.
    shutil.copytree(solution, submissions / "bob" / "clone" / "exercises" / FIRST_APP)
    assert "so move them up into bob/" in (reasons()["bob"] or "")
    # bob moves it up: his chapter counts, and ada's, still not handed in, does not.
    shutil.move(
        submissions / "bob" / "clone" / "exercises" / FIRST_APP,
        submissions / "bob" / FIRST_APP,
    )
    assert reasons()["bob"] is None
    assert average() == (1, 4.0)


def test_digest_tells_apart_what_the_copy_keeps(course: Course, tmp_path: Path) -> None:
    chapter = course.chapters[0]
    for name in ("a", "b"):
        shutil.copytree(ROOT / "solutions" / FIRST_APP, tmp_path / name / FIRST_APP)

    def digest(name: str) -> str:
        return submission_digest(tmp_path / name, [chapter])

    assert digest("a") == digest("b")
    # An empty folder is in the copy, so the app can see it.
    (tmp_path / "b" / FIRST_APP / "marker").mkdir()
    assert digest("a") != digest("b")
    shutil.rmtree(tmp_path / "b" / FIRST_APP / "marker")
    # A file past thousands of ignored ones still counts.
    cache = tmp_path / "b" / FIRST_APP / "cache"
    cache.mkdir()
    for number in range(runner.MAX_CHAPTER_ENTRIES + 1):
        (cache / f"j{number}.pyc").touch()
    (cache / "zz.py").write_text("x = 1\n")
    assert digest("a") != digest("b")


def test_digest_counts_permission_bits(course: Course, tmp_path: Path) -> None:
    # Chapter 11 fails a COPY of a file the container's user cannot read, so
    # a change of mode alone must not reuse a stored report.
    chapter = course.chapters[0]
    for name in ("a", "b"):
        shutil.copytree(ROOT / "solutions" / FIRST_APP, tmp_path / name / FIRST_APP)
        (tmp_path / name / FIRST_APP / "main.py").chmod(0o644)
        (tmp_path / name / FIRST_APP).chmod(0o755)

    def digest(name: str) -> str:
        return submission_digest(tmp_path / name, [chapter])

    assert digest("a") == digest("b")
    (tmp_path / "b" / FIRST_APP / "main.py").chmod(0o600)
    assert digest("a") != digest("b")
    (tmp_path / "b" / FIRST_APP / "main.py").chmod(0o644)
    (tmp_path / "b" / FIRST_APP).chmod(0o700)
    assert digest("a") != digest("b")
    (tmp_path / "b" / FIRST_APP).chmod(0o755)
    assert digest("a") == digest("b")


def test_digest_tells_apart_what_the_copy_leaves_out(
    course: Course, tmp_path: Path
) -> None:
    # A tester's finding: chapter 11 rejects a COPY of a __pycache__ that the
    # copy leaves out, so two folders that differ only by one cannot share
    # a result.
    chapter = course.chapters[0]
    for name in ("a", "b"):
        shutil.copytree(ROOT / "solutions" / FIRST_APP, tmp_path / name / FIRST_APP)

    def digest(name: str) -> str:
        return submission_digest(tmp_path / name, [chapter])

    (tmp_path / "b" / FIRST_APP / "__pycache__").mkdir()
    assert digest("a") != digest("b")
    (tmp_path / "a" / FIRST_APP / "__pycache__").mkdir()
    (tmp_path / "a" / FIRST_APP / "__pycache__" / "main.cpython-311.pyc").touch()
    # What a left-out folder contains is never graded, so it does not count.
    assert digest("a") == digest("b")
    os.mkfifo(tmp_path / "b" / FIRST_APP / "pipe")
    assert digest("a") != digest("b")


def test_digest_counts_what_a_kept_link_leads_to(
    course: Course, tmp_path: Path
) -> None:
    """A main.py linked to a file in a left-out folder is graded as that file."""
    chapter = course.chapters[0]
    for name, source in (("a", "solutions"), ("b", "exercises")):
        folder = tmp_path / name / FIRST_APP
        (folder / "__pycache__").mkdir(parents=True)
        shutil.copy(
            ROOT / source / FIRST_APP / "main.py", folder / "__pycache__" / "real.py"
        )
        (folder / "main.py").symlink_to(Path("__pycache__", "real.py"))

    def digest(name: str) -> str:
        return submission_digest(tmp_path / name, [chapter])

    assert digest("a") != digest("b")
    shutil.copy(
        ROOT / "exercises" / FIRST_APP / "main.py",
        tmp_path / "a" / FIRST_APP / "__pycache__" / "real.py",
    )
    assert digest("a") == digest("b")


def test_digest_never_reads_folder_swapped_mid_walk(
    course: Course,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    chapter_opening: str,
) -> None:
    """The digest reads what the copy takes, whatever a swap makes a path lead to."""
    chapter = course.chapters[0]

    def digest_with_swap(secret: str) -> str:
        target = tmp_path / secret / "target"
        folder = target / FIRST_APP
        shutil.copytree(ROOT / "solutions" / FIRST_APP, folder)
        (folder / "sub").mkdir()
        (folder / "sub" / "main.py").write_text("VALUE = 1\n")
        outside = tmp_path / secret / "graders"
        outside.mkdir()
        (outside / "main.py").write_text(f"SECRET = {secret!r}\n")

        def swap() -> None:
            (folder / "sub").rename(tmp_path / secret / "moved")
            (folder / "sub").symlink_to(outside)

        # The first listing is the chapter folder's, the second that of sub/.
        with monkeypatch.context() as patch:
            swap_at_listing(patch, 2, swap)
            return submission_digest(target, [chapter])

    assert digest_with_swap("a") == digest_with_swap("b")


def test_digest_counts_folders_beside_a_missing_one(
    course: Course, tmp_path: Path
) -> None:
    """A missing chapter's reason names a misnamed folder beside it, if any."""
    chapter = course.chapters[0]
    for name in ("a", "b"):
        (tmp_path / name).mkdir()

    def digest(name: str) -> str:
        return submission_digest(tmp_path / name, [chapter])

    assert digest("a") == digest("b")
    (tmp_path / "b" / "01_first").mkdir()
    assert digest("a") != digest("b")
    (tmp_path / "a" / "01_first").mkdir()
    assert digest("a") == digest("b")


def test_folder_too_large_to_copy_is_never_shared(
    course: Course, tmp_path: Path
) -> None:
    chapter = course.chapters[0]
    for name in ("a", "b"):
        folder = tmp_path / name / FIRST_APP
        folder.mkdir(parents=True)
        for number in range(runner.MAX_CHAPTER_ENTRIES + 1):
            (folder / f"f{number}.txt").touch()
    assert submission_digest(tmp_path / "a", [chapter]) != submission_digest(
        tmp_path / "b", [chapter]
    )


def test_copy_lists_every_path_it_leaves_out(tmp_path: Path) -> None:
    source = tmp_path / "source"
    (source / "pkg" / "__pycache__").mkdir(parents=True)
    (source / "venv" / "lib").mkdir(parents=True)
    (source / "main.py").write_text("print(1)\n")
    (source / "pkg" / "cached.pyc").write_bytes(b"")
    os.mkfifo(source / "pipe")
    skipped: list[str] = []

    runner.copy_chapter(source, tmp_path / "copy", [], skipped)

    assert sorted(skipped) == ["pipe", "pkg/__pycache__", "pkg/cached.pyc", "venv"]
    assert (tmp_path / "copy" / "main.py").is_file()


def test_copy_takes_contents_but_not_modes_or_times(tmp_path: Path) -> None:
    source = tmp_path / "source"
    (source / "private").mkdir(parents=True)
    script = source / "main.py"
    script.write_text("print(1)\n")
    script.chmod(0o755)
    (source / "private").chmod(0o700)
    os.utime(script, (946684800, 946684800))
    os.utime(source / "private", (946684800, 946684800))

    runner.copy_chapter(source, tmp_path / "copy", [])

    copied = tmp_path / "copy"
    assert (copied / "main.py").read_text() == "print(1)\n"
    assert (copied / "main.py").stat().st_mode & 0o111 == 0
    assert (copied / "private").stat().st_mode & 0o777 == 0o755
    assert (copied / "main.py").stat().st_mtime > 946684800 + 1
    assert (copied / "private").stat().st_mtime > 946684800 + 1


def test_grader_version_covers_files_in_grader_folders(tmp_path: Path) -> None:
    # A tester's finding: a change to a chapter's faulty apps under
    # graders/10_testing/ left the version, and so stored reports, as they were.
    root = tmp_path / "course"
    root.mkdir()
    shutil.copyfile(ROOT / "course.toml", root / "course.toml")
    shutil.copytree(
        ROOT / "graders", root / "graders", ignore=shutil.ignore_patterns("__pycache__")
    )
    before = grader_version(load_course(root))
    (root / "graders" / ".pytest_cache").mkdir()
    (root / "graders" / ".pytest_cache" / "state").write_text("run 2\n")
    unchanged = grader_version(load_course(root))
    mutants = root / "graders" / "10_testing" / "app_mutants.toml"
    mutants.write_text(mutants.read_text() + "\n# edited\n")

    assert unchanged == before
    assert grader_version(load_course(root)) != before


def test_grader_version_covers_installed_packages(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A tester's finding: chapter 11 judges requirements.txt by the versions
    # installed, so a stored report must not outlive an upgrade of fastapi.
    course = load_course(ROOT)
    before = grader_version(course)
    installed = list(importlib.metadata.distributions())
    upgraded = FakeDistribution({"Name": "fastapi"}, "99.0")
    monkeypatch.setattr(
        importlib.metadata, "distributions", lambda: [*installed, upgraded]
    )

    assert grader_version(course) != before


@dataclasses.dataclass
class FakeDistribution:
    """Just what grader_version reads of an installed distribution."""

    metadata: dict[str, str] = dataclasses.field(default_factory=dict)
    version: str = "0"
