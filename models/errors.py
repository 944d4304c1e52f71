"""Errors raised by the performance models.

``ModelError`` is an *expected outcome*: the cost source cannot answer for the inputs it was given (no
profile rows for a model, a batch outside the data, a chip count it cannot serve). Its message follows the
house form ``<what failed, with values and units>. To fix: <action>.`` and the CLI prints it as one line.
Anything else raised from this package is a bug.
"""

__all__ = ["ModelError", "ProfileError"]


class ModelError(Exception):
    """A performance model cannot serve a request; the message says why and how to fix it."""


class ProfileError(ModelError):
    """A profile table is missing, malformed or lacks the rows a stage needs."""
