"""The index handle: the catalog, the vector collection and (lazily) the embedder of one data dir.

Readers open it as is; a writer takes the data dir's file lock, either for the handle's whole
life (``Index.open(config, write=True)``: the CLI's ingest, reindex, check) or for one write at
a time (``with index.writing():``: a server that answers and accepts pushed articles through
one handle, one Chroma client and one catalog connection).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypedDict, Unpack

from filelock import FileLock, Timeout

from index.catalog import Catalog
from index.config import IndexConfig
from index.embed import NewsEmbedding
from index.embedders import embedder_id, make_embedder
from index.errors import EmbedderMismatchError, IndexDamagedError, IndexLockedError
from index.vectors import Chroma, VectorStore

logger = logging.getLogger(__name__)


class ConnectOptions(TypedDict, total=False):
    """``Index.connect``'s keyword arguments, which ``Index.open`` passes on."""

    write: bool
    embedder: NewsEmbedding | None
    check_embedder: bool


class Health(TypedDict):
    """``Index.health``: sentences in the catalog, vectors in the store, and whether they agree."""

    sentences: int
    vectors: int
    ok: bool


class Index:
    """An open index. Use ``Index.open(config)`` as a context manager, or ``connect``/``close``."""

    def __init__(self, config: IndexConfig, catalog: Catalog, *, embedder: NewsEmbedding | None = None) -> None:
        self.config = config
        self.catalog = catalog
        self._embedder = embedder
        self.chroma = Chroma(
            Path(config.data_dir),
            config.chroma_url,
            config.chroma_collection_prefix,
            str(catalog.meta("index_id")),
            cache_size=config.vector_cache,
        )
        self._vectors: VectorStore | None = None
        self._file_lock = FileLock(
            str(Path(config.data_dir) / "write.lock"), timeout=config.lock_timeout, thread_local=False
        )
        self._writer = threading.RLock()  # one writing thread per handle; the file lock: per data dir
        self._reopen = threading.RLock()  # swapping the Chroma client vs using it for a refresh
        self._seen_version = catalog.data_version()
        self._seen_vectors = catalog.meta("vectors_version")

    # ---- lifecycle -----------------------------------------------------------------------

    @classmethod
    def connect(
        cls,
        config: IndexConfig,
        *,
        write: bool = False,
        embedder: NewsEmbedding | None = None,
        check_embedder: bool = True,
    ) -> Index:
        """Open the index in ``config.data_dir``; with ``write`` hold its write lock until ``close()``."""
        data_dir = Path(config.data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        index = cls(config, Catalog(data_dir / "catalog.sqlite3"), embedder=embedder)
        try:
            if write:
                index._acquire()
            if check_embedder:
                index.check_embedder(adopt=write)
            return index
        except BaseException:
            index.close()
            raise

    @classmethod
    @contextmanager
    def open(cls, config: IndexConfig, **kwargs: Unpack[ConnectOptions]) -> Iterator[Index]:
        """``connect()`` as a context manager."""
        index = cls.connect(config, **kwargs)
        try:
            yield index
        finally:
            index.close()

    def close(self) -> None:
        """Close the vector store and the catalog, release the write lock (if held)."""
        self._vectors = None
        self.chroma.close()
        self.catalog.close()
        while self._file_lock.is_locked:
            self._file_lock.release(force=True)

    @contextmanager
    def writing(self) -> Iterator[Index]:
        """Hold the write lock for one write (re-entrant; a no-op inside a writer's lifetime).

        Another process's commits are picked up first, so this handle's Chroma client never
        has to be swapped while the write is under way.
        """
        with self._writer:
            self._acquire()
            try:
                self.refresh()
                yield self
            finally:
                self._file_lock.release()

    # ---- parts -----------------------------------------------------------------------------

    @property
    def embedder(self) -> NewsEmbedding:
        if self._embedder is None:
            self._embedder = make_embedder(
                self.config.embedder, self.config.embed_batch_size, self.config.embed_endpoint
            )
        return self._embedder

    @property
    def embedder_name(self) -> str:
        if self._embedder is not None:
            return self._embedder.model_name
        return embedder_id(self.config.embedder, self.config.embed_endpoint)

    @property
    def vectors(self) -> VectorStore:
        with self._reopen:
            if self._vectors is None:
                self._vectors = self._store(self.generation())
            return self._vectors

    def generation(self) -> int:
        """The collection generation the catalog has committed (``reindex`` moves it on)."""
        return int(self.catalog.meta("collection_gen") or 1)

    def switch_to(self, generation: int) -> None:
        """Use ``generation``'s collection from now on (after ``reindex`` committed it)."""
        with self._reopen:
            self._vectors = self._store(generation)

    def _store(self, generation: int, cache: VectorStore | None = None) -> VectorStore:
        """``generation``'s collection, reading vectors from the catalog's copy first."""
        return self.chroma.store(generation, cache=cache, local=self.catalog.sentence_vectors)

    def refresh(self, *, force: bool = False) -> bool:
        """For long-lived readers: pick up what another process committed since the last call.

        Embedded Chroma is not multi-process safe: a process keeps its own in-memory view of a
        collection and does not see (or even fails on) vectors another process wrote later. So
        when the catalog shows a foreign commit that added or removed vectors
        (``vectors_version``), the Chroma client is rebuilt from disk (seconds for a large index)
        and the collection is looked up again (``reindex`` may have switched it). This handle's
        own commits do not count as foreign (SQLite's ``data_version`` ignores the connection's
        own). Returns whether anything was reopened.
        """
        with self._reopen:
            version = self.catalog.data_version()
            if version == self._seen_version and not force:
                return False
            self._seen_version = version
            vectors_version = self.catalog.meta("vectors_version")
            if vectors_version == self._seen_vectors and not force:
                return False  # commits that moved no vector: a reindex's staged copy, an upgrade's copy
            self._seen_vectors = vectors_version
            if self._vectors is None:
                return False
            old = self._vectors
            if not self.config.chroma_url:
                self.chroma.close()
            generation = self.generation()
            # Cached vectors stay unless another process's reindex switched the collection (a new
            # model gives the same ids new vectors).
            same = old.name == self.chroma.name(generation)
            self._vectors = self._store(generation, cache=old if same else None)
            logger.info("index changed by another process: vector store reopened")
            return True

    @contextmanager
    def reading(self) -> Iterator[Index]:
        """Hold off a refresh's client swap while a question reads the vector store."""
        with self._reopen:
            yield self

    def health(self) -> Health:
        """Cheap consistency check for readiness probes: a healthy store never holds fewer vectors
        than the catalog lists sentences (a write adds vectors before it commits, and deletes the
        old ones after). ``newsbot check`` compares them id by id."""
        sentences = self.catalog.stats().sentences
        vectors = self.vectors.count() if sentences else 0
        return {"sentences": sentences, "vectors": vectors, "ok": vectors >= sentences}

    def damage(self, missing: int = 1) -> IndexDamagedError:
        """The error that says how damaged the index is (at least ``missing`` vectors lacking), logged."""
        health = self.health()
        logger.error(
            "the index is damaged: %d catalog sentences, %d vectors; run `newsbot check`, then `newsbot reindex`",
            health["sentences"],
            health["vectors"],
        )
        return IndexDamagedError(max(health["sentences"] - health["vectors"], missing), health["sentences"])

    def check_embedder(self, *, adopt: bool = False) -> None:
        """Fail early, naming both models, when the index was built with another embedder.

        With ``adopt`` (a writer), an index without vectors takes the configured model.
        """
        stored = self.catalog.meta("embedder")
        wanted = self.embedder_name
        if stored == wanted:
            return
        if adopt and (stored is None or self.catalog.stats().sentences == 0):
            with self.catalog.transaction() as db:
                self.catalog.set_meta(db, embedder=wanted)
            return
        if stored is None:
            return
        dim = self.catalog.meta("dim")
        raise EmbedderMismatchError(stored, int(dim) if dim else None, wanted)

    def _acquire(self) -> None:
        data_dir = Path(self.config.data_dir)
        try:
            self._file_lock.acquire()
        except Timeout:
            raise _locked_error(data_dir, self.config.lock_timeout) from None
        if self._file_lock.lock_counter == 1:
            (data_dir / "writer.pid").write_text(str(os.getpid()))


def _locked_error(data_dir: Path, waited: float) -> IndexLockedError:
    try:
        pid: int | None = int((data_dir / "writer.pid").read_text().strip())
    except (OSError, ValueError):
        pid = None
    return IndexLockedError(str(data_dir), pid, waited)
