"""Errors that stop grading before any chapter runs.

Each message names the value that was wrong and what to do next, so the command
line can print it as it is.
"""


class GradingError(Exception):
    """Base class for errors the command line reports without a traceback."""


class CourseError(GradingError):
    """The course definition (course.toml, graders/) is missing or invalid."""


class TargetError(GradingError):
    """The folder to grade is missing or is not shaped like exercises/."""


class UnknownChapterError(GradingError):
    """A chapter id given on the command line is not in the course."""
