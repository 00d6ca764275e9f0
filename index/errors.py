"""The storage layer's errors. ``NewsbotError`` is the root of every error newsbot reports to a
person; the answering core adds its own in ``bot/errors.py`` and each front end translates them.
Messages say what went wrong and what to do next."""

from __future__ import annotations


class NewsbotError(Exception):
    """Base class for every error newsbot reports to a user."""

    exit_code = 1


class ConfigError(NewsbotError):
    """A setting is missing or has a value newsbot cannot use."""

    exit_code = 2


class IndexLockedError(NewsbotError):
    """Another process holds the index's write lock."""

    def __init__(self, data_dir: str, pid: int | None, waited: float) -> None:
        holder = f"process {pid}" if pid else "another process"
        super().__init__(
            f"The index in {data_dir} is being written by {holder}; gave up after {waited:g} s. "
            "Wait for it to finish (or stop it) and run the command again."
        )
        self.pid = pid
        self.waited = waited


class EmbedderMismatchError(NewsbotError):
    """The index was built with a different embedding model than the configured one."""

    def __init__(self, stored: str, stored_dim: int | None, configured: str) -> None:
        dim = f", {stored_dim} dimensions" if stored_dim else ""
        super().__init__(
            f"The index was built with the embedder '{stored}'{dim}, but NEWSBOT_EMBEDDER is "
            f"'{configured}'. Vectors of different models cannot be mixed. Either set "
            f"NEWSBOT_EMBEDDER={stored} again, or rebuild the vectors with: newsbot reindex"
            + (
                f". If the server at NEWSBOT_EMBED_URL serves the model '{stored}', declare it with "
                f"NEWSBOT_EMBED_SAME_AS={stored}"
                if configured.startswith("openai:") and not stored.startswith("openai:")
                else ""
            )
        )
        self.stored = stored
        self.configured = configured


class EmbedderError(NewsbotError):
    """A remote embedding endpoint that does not answer, or refuses the request."""


class ArticleNotFoundError(NewsbotError):
    """An article id that the catalog does not hold."""

    def __init__(self, article_id: str) -> None:
        super().__init__(f"No article with id '{article_id}' in the index.")
        self.article_id = article_id


class LoadError(NewsbotError):
    """One input item (file, line, record, feed) could not be turned into an article."""


class VectorStoreError(NewsbotError):
    """Chroma failed to answer (a server that is down, or a store another process changed)."""


class StorageError(NewsbotError):
    """The disk or the catalog file failed: full, read-only, or not a readable database."""


def storage_error(exc: BaseException) -> StorageError | None:
    """A clear error for what the disk or SQLite raised, naming the way out; None for anything else."""
    import errno
    import sqlite3

    text = str(exc)
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC or "disk is full" in text:
        return StorageError(
            "The disk holding the index is full. Free some space (or move NEWSBOT_DATA_DIR to a larger disk) "
            "and run the command again; the index stays at its last committed state."
        )
    if (
        isinstance(exc, sqlite3.OperationalError) and "disk I/O error" in text
    ):  # how SQLite meets a full disk mid-write, too
        return StorageError(
            "The index could not be read or written (disk I/O error): the disk holding NEWSBOT_DATA_DIR is full or failing. "
            "Free some space or check the disk, then run the command again; the index stays at its last committed state."
        )
    if isinstance(exc, OSError) and exc.errno in (errno.EROFS, errno.EACCES):
        return StorageError(f"The index cannot be written ({exc.strerror}). Check the permissions of NEWSBOT_DATA_DIR.")
    if (
        isinstance(exc, sqlite3.DatabaseError)
        and not isinstance(exc, sqlite3.OperationalError)
        or ("malformed" in text or "not a database" in text)
    ):
        return StorageError(
            f"The index catalog (catalog.sqlite3 in NEWSBOT_DATA_DIR) is damaged: {text}. Restore the data dir "
            "from a backup, or move it away and ingest the articles again."
        )
    return None


class IndexDamagedError(NewsbotError):
    """The catalog lists sentences whose vectors the vector store does not have."""

    def __init__(self, missing: int, sentences: int) -> None:
        super().__init__(
            f"The index is damaged: {missing} of {sentences} indexed sentences have no vector (was the vector "
            "store deleted or replaced?). Run `newsbot check` to see the damage and `newsbot reindex` to "
            "rebuild the vectors from the catalog."
        )
        self.missing = missing
