"""The `report` and `export` commands, on the example report in docs/."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from rich.console import Console

from apigrade.cli import main, print_class_summary
from tests.conftest import ROOT

EXAMPLE = ROOT / "docs" / "report-example.json"


def test_report_shows_every_check(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(EXAMPLE)]) == 0

    output = capsys.readouterr().out
    report = json.loads(EXAMPLE.read_text())
    for chapter in report["chapters"]:
        assert f"{chapter['id']} {chapter['title']}" in output
        for check in chapter["checks"]:
            assert check["name"][:40] in " ".join(output.split())


def test_report_indents_lines_of_a_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = json.loads(EXAMPLE.read_text())
    failed = report["chapters"][0]["checks"][0]
    failed["status"] = "failed"
    failed["score"] = 0
    failed["feedback"] = (
        "The body is wrong.\nRequest: GET /\nReceived: first line\nsecond line\n"
        "Hint: Look again."
    )
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(report))

    assert main(["report", str(edited)]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert "        The body is wrong." in lines
    assert "        Received: first line" in lines
    assert "            second line" in lines
    assert "        Hint: Look again." in lines


def test_report_writes_web_page(tmp_path: Path) -> None:
    page = tmp_path / "ada.html"

    assert main(["report", str(EXAMPLE), "--html", str(page)]) == 0

    assert page.read_text().startswith("<!DOCTYPE html>")


def test_export_writes_both_formats(tmp_path: Path) -> None:
    gradescope = tmp_path / "results.json"
    junit = tmp_path / "junit.xml"

    assert (
        main(
            [
                "export",
                str(EXAMPLE),
                "--format",
                "gradescope",
                "--output",
                str(gradescope),
            ]
        )
        == 0
    )
    assert (
        main(["export", str(EXAMPLE), "--format", "junit", "--output", str(junit)]) == 0
    )

    report = json.loads(EXAMPLE.read_text())
    assert json.loads(gradescope.read_text())["score"] == report["score"]
    assert ET.parse(junit).getroot().tag == "testsuites"


def test_report_that_is_not_a_report_names_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.json"
    other.write_text('{"score": 1}')

    assert main(["report", str(other)]) == 2
    assert main(["export", str(tmp_path / "missing.json"), "--format", "junit"]) == 2

    output = " ".join(capsys.readouterr().out.split())
    assert "is not a score report (the top level has no 'format_version'" in output
    assert "required property" not in output
    assert "missing.json' does not exist;" in output
    assert "has other.json: grade first with `nox -s grade`" in output


def test_export_of_class_summary_names_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = tmp_path / "class.json"
    summary.write_text(json.dumps({"learners": [], "checks": [], "chapters": []}))

    assert main(["export", str(summary), "--format", "junit"]) == 2

    output = " ".join(capsys.readouterr().out.split())
    assert f"'{summary}' is the class summary, not a learner's score report" in output
    assert f"{tmp_path / '<learner>.json'}" in output
    assert f"{tmp_path / 'grades.csv'} is already the export" in output
    assert "grade_class" not in output
    assert "required property" not in output


def test_report_of_gradebook_names_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gradebook = tmp_path / "grades.csv"
    gradebook.write_text("learner,total\nada,4\n")

    assert main(["report", str(gradebook)]) == 2

    output = " ".join(capsys.readouterr().out.split())
    assert f"report '{gradebook}' is a CSV file, not JSON" in output
    assert "open it in a spreadsheet, or pass a JSON score report" in output
    gradebook.rename(gradebook.with_suffix(".txt"))
    assert main(["report", str(gradebook.with_suffix(".txt"))]) == 2
    output = " ".join(capsys.readouterr().out.split())
    assert "is not JSON (Expecting value: line 1 column 1 (char 0)): pass" in output


def test_grade_class_without_folder_shows_usage(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["grade-class"]) == 2

    output = " ".join(capsys.readouterr().out.split())
    assert "the submissions folder is missing" in output
    assert "`nox -s grade_class -- DIR`" in output


def test_report_folder_suggests_reports_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    args = ["grade", "--chapter", "01", "--learner", "ada", "--report", str(tmp_path)]

    assert main(args) == 2

    output = "".join(capsys.readouterr().out.split())
    expected = f"is a folder: give a file path, such as {ROOT}/reports/ada.json"
    assert "".join(expected.split()) in output
    assert str(tmp_path / "ada.json") not in output


def test_grade_names_the_report_command_for_its_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report_path = tmp_path / "reference.json"
    args = ["grade", "--target", str(ROOT / "solutions"), "--chapter", "01"]

    assert main([*args, "--learner", "reference", "--report", str(report_path)]) == 0

    # Rich wraps long lines, so spaces and line breaks are left out of both.
    output = "".join(capsys.readouterr().out.split())
    assert "".join(f"`nox -s report -- {report_path}`".split()) in output


def test_grade_notes_other_entries(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "ada"
    shutil.copytree(ROOT / "solutions" / "01_first_app", target / "01_first_app")
    (target / "01_first_app_old").mkdir()
    (target / "notes.txt").write_text("to do\n")
    args = ["grade", "--target", str(target), "--chapter", "01", "--learner", "ada"]

    assert main([*args, "--report", str(tmp_path / "ada.json")]) == 0

    # Rich wraps long lines, so spaces and line breaks are left out of both.
    output = "".join(capsys.readouterr().out.split())
    expected = (
        f"Note: {target} also contains 01_first_app_old/, notes.txt, which are not "
        "chapter folders and are not graded."
    )
    assert "".join(expected.split()) in output


def test_grade_notes_one_other_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "ada"
    shutil.copytree(ROOT / "solutions" / "01_first_app", target / "01_first_app")
    (target / "01_first ap").mkdir()
    args = ["grade", "--target", str(target), "--chapter", "01", "--learner", "ada"]

    assert main([*args, "--report", str(tmp_path / "ada.json")]) == 0

    output = "".join(capsys.readouterr().out.split())
    expected = (
        f"Note: {target} also contains 01_first ap/, which is not a chapter folder "
        "and is not graded."
    )
    assert "".join(expected.split()) in output


def test_class_summary_counts_tied_checks() -> None:
    checks = [
        {"chapter": "05", "name": f"check {number}", "pass_rate": 1 / 3}
        for number in range(1, 9)
    ]
    checks.append({"chapter": "01", "name": "easy", "pass_rate": 1.0})
    summary = {"learners": [], "checks": checks}
    console = Console(record=True, width=120)

    print_class_summary(console, summary)

    output = console.export_text()
    assert output.count("33% passed  chapter 05") == 5
    assert "and 3 more at 33% passed" in output
    assert "easy" not in output


def test_output_path_folder_or_report_rejected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "ada.json"
    shutil.copy(EXAMPLE, report)
    other = tmp_path / "bob.json"
    shutil.copy(EXAMPLE, other)
    original = {path: path.read_bytes() for path in (report, other)}

    export = ["export", str(report), "--format", "junit", "--output"]
    assert main([*export, str(tmp_path)]) == 2
    assert main([*export, str(report)]) == 2
    assert main([*export, str(other)]) == 2
    assert main(["report", str(report), "--html", str(tmp_path)]) == 2
    assert main(["report", str(report), "--html", str(other)]) == 2

    output = " ".join(capsys.readouterr().out.split())
    assert f"--output '{tmp_path}' is a folder: give a file path, such as" in output
    assert f"{tmp_path / 'ada.xml'}" in output
    assert f"--output '{report}' is the file being read, which this would" in output
    assert f"--output '{other}' is a score report or class summary" in output
    assert f"--html '{tmp_path}' is a folder" in output
    assert f"{tmp_path / 'ada.html'}" in output
    assert f"--html '{other}' is a score report or class summary" in output
    assert "Traceback" not in output
    assert {path: path.read_bytes() for path in (report, other)} == original
    assert sorted(path.name for path in tmp_path.iterdir()) == ["ada.json", "bob.json"]


def test_report_markup_date_rejected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = json.loads(EXAMPLE.read_text())
    report["graded_at"] = "[link=https://example.invalid/]2026-01-01[/link] [/nope]"
    forged = tmp_path / "ada.json"
    forged.write_text(json.dumps(report))

    assert main(["report", str(forged)]) == 2

    output = " ".join(capsys.readouterr().out.split())
    assert f"'{forged}' is not a score report (field graded_at is invalid)" in output
    assert "Traceback" not in output
