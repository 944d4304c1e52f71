"""Errors of the planner. Two kinds, never mixed:

*Expected outcomes* a user acts on (bad input, nothing feasible). The CLI prints them as one line and exits
with code 2. Their messages read ``<what failed, with values and units>. To fix: <action>.``::

    RagplanError
    ├── InstanceError        the YAML, a plan or a command-line value is wrong (unknown field, min > max, ...)
    ├── EmptySpaceError      the search space holds no schedule at all
    ├── InfeasibleError      schedules exist but none meets the SLOs / bounds
    ├── SpaceTooLargeError   the exhaustive search would enumerate more schedules than its limit
    └── TimeLimitError       the time limit ended a run before it found any plan
    models.errors.ModelError a cost source cannot serve a stage (missing profile rows, ...)

A time limit that ends a run after it found plans is not an error: the result says which points are not proven
optimal (``proven_optimal: false`` with their ``gap``) and whether the frontier is complete.

*Bugs*: anything else, including ``VerificationError`` (a solver answer the independent evaluator disagrees
with). The CLI lets those raise with their traceback.
"""

from models.errors import ModelError

__all__ = [
    "EXPECTED_ERRORS",
    "MAX_QUOTE",
    "EmptySpaceError",
    "InfeasibleError",
    "InstanceError",
    "RagplanError",
    "SpaceTooLargeError",
    "TimeLimitError",
    "VerificationError",
    "clip",
    "distinct",
]

#: User values quoted in messages are cut to this many characters.
MAX_QUOTE = 80


def distinct(a: float, b: float, digits: int = 4) -> tuple[str, str]:
    """Two numbers for a message comparing them, with as many significant digits as they need to read apart."""
    while digits < 17 and f"{a:.{digits}g}" == f"{b:.{digits}g}" and a != b:
        digits += 1
    return f"{a:.{digits}g}", f"{b:.{digits}g}"


def clip(value: object, limit: int = MAX_QUOTE) -> str:
    """``repr(value)`` cut to ``limit`` characters (messages never echo unbounded input)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


class RagplanError(Exception):
    """An expected outcome; the message says what failed and how to fix it."""


class InstanceError(RagplanError):
    """The instance file or its values are invalid."""


class EmptySpaceError(RagplanError):
    """The search space contains no schedule (e.g. no chip split fits the total-chip range)."""


class InfeasibleError(RagplanError):
    """Schedules exist but none satisfies the SLOs or bounds."""


class SpaceTooLargeError(RagplanError):
    """The exhaustive search refuses a space larger than its limit (the message gives the count)."""


class TimeLimitError(RagplanError):
    """The run's time limit ended it before any plan was found."""


class VerificationError(AssertionError):
    """A bug: a solver's answer disagrees with the independent evaluator."""


EXPECTED_ERRORS: tuple[type[Exception], ...] = (RagplanError, ModelError)
