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
    "EmbedderMismatchError",
    "IndexDamagedError",
    "IndexLockedError",
    "InvalidInputError",
    "LoadError",
    "NewsbotError",
    "StorageError",
    "VectorStoreError",
    "storage_error",
]


class InvalidInputError(NewsbotError):
    """A question or filter that newsbot cannot work with (empty, too long, bad date)."""

    exit_code = 2
