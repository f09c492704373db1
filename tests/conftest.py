"""Shared fixtures: graded runs of the solutions, the starters and the mutants.

Grading is the slow part of the suite, so each set of submissions is graded
once per session, concurrently, and the tests assert on the results.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from apigrade.course import Course, load_course
from apigrade.runner import ChapterResult, grade_chapter, grade_chapters
from tests.mutants import Mutant, build_mutant, load_mutants

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def course() -> Course:
    return load_course(ROOT)


@pytest.fixture(scope="session")
def solution_results(course: Course) -> dict[str, ChapterResult]:
    results = grade_chapters(course, list(course.chapters), ROOT / "solutions")
    return {result.id: result for result in results}


@pytest.fixture(scope="session")
def starter_results(course: Course) -> dict[str, ChapterResult]:
    results = grade_chapters(course, list(course.chapters), ROOT / "exercises")
    return {result.id: result for result in results}


@pytest.fixture(scope="session")
def mutant_results(
    course: Course, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, ChapterResult]]:
    mutants = load_mutants()
    chapters = {chapter.id: chapter for chapter in course.chapters}
    # Made once here: threads that make it at the same time collide.
    tmp_path_factory.getbasetemp()

    def grade_mutant(mutant: Mutant) -> tuple[str, ChapterResult]:
        chapter = chapters[mutant.chapter]
        target = build_mutant(
            mutant, chapter.folder, tmp_path_factory.mktemp(mutant.name)
        )
        return mutant.name, grade_chapter(course, chapter, target)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        yield dict(pool.map(grade_mutant, mutants))
