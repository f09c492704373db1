"""Consistency of the course: every chapter has what a learner and a grader need."""

from __future__ import annotations

import ast
import re

import pytest

from apigrade.course import Chapter, Course, grader_check_names, load_course
from tests.conftest import ROOT
from tests.mutants import load_mutants

CHAPTERS = load_course(ROOT).chapters
TODO = re.compile(r"#\s*TODO (\d+)(?: \(done\))?:?")


def chapter_ids(chapters: tuple[Chapter, ...]) -> list[str]:
    return [chapter.id for chapter in chapters]


def python_sources(folder: str) -> str:
    """Return a chapter folder's Python files joined, main.py before test_*.py.

    In most chapters the learner edits main.py; in chapter 10 the gaps are in
    test_main.py, so TODOs are counted across every Python file.
    """
    return "\n".join(path.read_text() for path in sorted((ROOT / folder).glob("*.py")))


@pytest.mark.parametrize("chapter", CHAPTERS, ids=chapter_ids(CHAPTERS))
def test_chapter_has_all_files(chapter: Chapter, course: Course) -> None:
    assert (ROOT / "exercises" / chapter.folder / "main.py").is_file()
    assert (ROOT / "exercises" / chapter.folder / "README.md").is_file()
    assert (ROOT / "solutions" / chapter.folder / "main.py").is_file()
    assert course.grader_file(chapter).is_file()


@pytest.mark.parametrize("chapter", CHAPTERS, ids=chapter_ids(CHAPTERS))
def test_chapter_has_hints(chapter: Chapter) -> None:
    assert chapter.hints
    for hint in chapter.hints:
        assert hint.endswith("?"), f"hint {hint!r} should be phrased as a question"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=chapter_ids(CHAPTERS))
def test_starter_todos_are_numbered(chapter: Chapter) -> None:
    source = python_sources(f"exercises/{chapter.folder}")
    numbers = [int(match) for match in TODO.findall(source)]
    assert numbers, "a starter states each gap as a numbered TODO"
    assert numbers == list(range(1, len(numbers) + 1))


@pytest.mark.parametrize("chapter", CHAPTERS, ids=chapter_ids(CHAPTERS))
def test_solution_marks_every_todo_done(chapter: Chapter) -> None:
    starter = python_sources(f"exercises/{chapter.folder}")
    solution = python_sources(f"solutions/{chapter.folder}")
    for number in TODO.findall(starter):
        assert f"TODO {number} (done)" in solution


@pytest.mark.parametrize("chapter", CHAPTERS, ids=chapter_ids(CHAPTERS))
def test_checks_match_grader(chapter: Chapter, course: Course) -> None:
    names = grader_check_names(course.grader_file(chapter))
    declared = {check.id for check in chapter.checks}
    assert set(names) == declared, "course.toml and the grader list other checks"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=chapter_ids(CHAPTERS))
def test_every_check_has_a_sentence_name(chapter: Chapter, course: Course) -> None:
    tree = ast.parse(course.grader_file(chapter).read_text())
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            doc = ast.get_docstring(node) or ""
            assert doc.endswith("."), f"{node.name}: docstring should be a sentence"
            assert doc[0].isupper(), f"{node.name}: docstring should be a sentence"


def test_mutants_name_real_checks(course: Course) -> None:
    chapters = {chapter.id: chapter for chapter in course.chapters}
    for mutant in load_mutants():
        declared = {check.id for check in chapters[mutant.chapter].checks}
        assert set(mutant.fails) <= declared, mutant.name


def test_mutant_names_are_unique() -> None:
    # The calibration tests key each mutant's result by its name alone.
    names = [mutant.name for mutant in load_mutants()]
    repeated = sorted({name for name in names if names.count(name) > 1})
    assert repeated == []


def test_testing_chapter_apps_are_identical() -> None:
    """Chapter 10's learners test the same app the grader mutates."""
    copies = [
        ROOT / "exercises" / "10_testing" / "main.py",
        ROOT / "solutions" / "10_testing" / "main.py",
        ROOT / "graders" / "10_testing" / "main.py",
    ]
    texts = {path.read_text(encoding="utf-8") for path in copies}
    assert len(texts) == 1
