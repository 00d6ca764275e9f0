"""Domain errors, raised by the core and translated at each front end.

The storage layer's errors (``index/errors.py``) are the base of the hierarchy and are
re-exported here, so front ends import every error from one place. The CLI prints
``str(error)`` and exits with ``exit_code``; HTTP, Telegram and the REPL map the same classes
to their own replies.
"""

from __future__ import annotations

from index.errors import (
    ArticleNotFoundError,
    ConfigError,
    EmbedderError,
    EmbedderMismatchError,
    IndexDamagedError,
    IndexLockedError,
    LoadError,
    NewsbotError,
    StorageError,
    VectorStoreError,
    storage_error,
)

__all__ = [
    "ArticleNotFoundError",
    "ConfigError",
    "EmbedderError",
    "EmbedderMismatchError",
    "FeedbackError",
    "ForeignAnswerError",
    "IndexDamagedError",
    "IndexLockedError",
    "InvalidInputError",
    "LoadError",
    "LoggingOffError",
    "NewsbotError",
    "StorageError",
    "UnknownAnswerError",
    "VectorStoreError",
    "storage_error",
]


class InvalidInputError(NewsbotError):
    """A question or filter that newsbot cannot work with (empty, too long, bad date)."""

    exit_code = 2


class FeedbackError(NewsbotError):
    """Feedback on an answer that cannot be recorded (each front end says why in its own way)."""


class LoggingOffError(FeedbackError):
    """Question logging is switched off, so no answer can be rated."""

    def __init__(self) -> None:
        super().__init__(
            "Question logging is off on this server (NEWSBOT_LOG_QUESTIONS=false): answers are not kept, "
            "so there is nothing to give feedback on."
        )


class UnknownAnswerError(FeedbackError):
    """No logged answer has this id (never given, or older than the retention period)."""

    def __init__(self, retention_days: int) -> None:
        super().__init__(
            "No answer with this id: it was never given, or it is older than the question log keeps answers "
            f"(NEWSBOT_LOG_RETENTION_DAYS, {retention_days} days)."
        )


class ForeignAnswerError(FeedbackError):
    """The answer was given to someone else (another API key, another front end)."""

    def __init__(self) -> None:
        super().__init__("This answer was given to another API key; only the key that asked may rate it.")
