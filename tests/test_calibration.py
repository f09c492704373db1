"""Calibration: every solution scores full marks, every starter scores zero,
and every known mistake fails exactly the checks named for it."""

from __future__ import annotations

import pytest

from apigrade.course import Course, load_course
from apigrade.runner import ChapterResult
from apigrade.sandbox import LIMITS, choose_isolation
from tests.conftest import ROOT
from tests.mutants import Mutant, load_mutants

CHAPTER_IDS = [chapter.id for chapter in load_course(ROOT).chapters]
MUTANTS = load_mutants()
# "06-time_sleep_in_async_def": the chapter comes first, so `-k 06` selects a
# chapter's mutants along with its solution and starter.
MUTANT_IDS = [f"{mutant.chapter}-{mutant.name}" for mutant in MUTANTS]


def _failures(result: ChapterResult) -> str:
    return "\n".join(
        f"{check.id}: {check.status}\n{check.feedback}"
        for check in result.checks
        if check.status != "passed"
    )


@pytest.mark.parametrize("chapter_id", CHAPTER_IDS)
def test_solution_scores_full_marks(
    chapter_id: str, solution_results: dict[str, ChapterResult]
) -> None:
    result = solution_results[chapter_id]
    assert result.status == "passed", result.reason or _failures(result)
    assert result.score == result.max_score


@pytest.mark.parametrize("chapter_id", CHAPTER_IDS)
def test_starter_scores_zero(
    chapter_id: str, starter_results: dict[str, ChapterResult]
) -> None:
    result = starter_results[chapter_id]
    assert result.score == 0
    passed = [check.id for check in result.checks if check.status == "passed"]
    assert passed == []


@pytest.mark.parametrize("chapter_id", CHAPTER_IDS)
def test_starter_app_starts(
    chapter_id: str, starter_results: dict[str, ChapterResult]
) -> None:
    """A starter runs as it is, so its checks fail with feedback, not an error."""
    result = starter_results[chapter_id]
    assert result.status == "failed", result.reason


@pytest.mark.parametrize("mutant", MUTANTS, ids=MUTANT_IDS)
def test_mutant_fails_named_checks(
    mutant: Mutant, mutant_results: dict[str, ChapterResult], course: Course
) -> None:
    skip_unless_sandboxed(mutant)
    result = mutant_results[mutant.name]
    # A mutant with no failing checks is a variant that must still pass.
    expected_status = "failed" if mutant.fails else "passed"
    assert result.status == expected_status, result.reason or _failures(result)
    failed = {check.id for check in result.checks if check.status != "passed"}
    assert failed == set(mutant.fails), _failures(result)


@pytest.mark.parametrize("mutant", MUTANTS, ids=MUTANT_IDS)
def test_mutant_feedback_explains(
    mutant: Mutant, mutant_results: dict[str, ChapterResult]
) -> None:
    skip_unless_sandboxed(mutant)
    result = mutant_results[mutant.name]
    feedback = "\n".join(
        check.feedback for check in result.checks if check.id in mutant.fails
    )
    for phrase in mutant.feedback:
        assert phrase in feedback


def skip_unless_sandboxed(mutant: Mutant) -> None:
    """Skip a mutant that only a sandbox catches when this machine has none."""
    if mutant.sandboxed and choose_isolation() == LIMITS:
        pytest.skip("only bubblewrap or Landlock make the app's folder read-only")
