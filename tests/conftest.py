"""Shared fixtures: graded runs of the solutions, the starters and the mutants.

Grading is the slow part of the suite, so each set of submissions is graded
once per session, concurrently, and the tests assert on the results.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

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


@pytest.fixture(params=["openat2", "nofollow-components"])
def chapter_opening(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> str:
    """Open chapter files with openat2, or by components as where it is missing."""
    if request.param == "nofollow-components":
        monkeypatch.setattr("apigrade.beneath._openat2_number", lambda: None)
    return str(request.param)


class _Listing:
    """A listing already read, usable as what os.scandir returns."""

    def __init__(self, entries: list[os.DirEntry[str]]) -> None:
        self.entries = entries

    def __iter__(self) -> Iterator[os.DirEntry[str]]:
        return iter(self.entries)

    def __enter__(self) -> _Listing:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass

    def close(self) -> None:
        pass


def swap_at_listing(
    monkeypatch: pytest.MonkeyPatch, number: int, swap: Callable[[], None]
) -> None:
    """Call `swap` once, as os.scandir starts its `number`th listing (1 is first).

    With number 1 the swap comes after the listing has been read, so the
    caller works on a listing older than the folder. Later listings see the
    swapped folder.
    """
    scandir = os.scandir
    calls = 0

    def listing_with_swap(path: Any) -> _Listing:
        nonlocal calls
        calls += 1
        if calls == number and number > 1:
            swap()
        with scandir(path) as entries:
            found = list(entries)
        if calls == number == 1:
            swap()
        return _Listing(found)

    monkeypatch.setattr(os, "scandir", listing_with_swap)
