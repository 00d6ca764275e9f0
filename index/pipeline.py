"""The ingest pipeline: load -> clean -> split -> embed -> store, idempotent and crash-safe.

Write protocol for each batch of changed articles:

1. record the new vector sets in the catalog's intent log (``pending``), commit;
2. write the vectors to Chroma (ids carry the article version, so they never
   overwrite the committed version's vectors);
3. in one catalog transaction: replace the articles' rows, sentences and keyword
   rows, log the old vector sets for deletion, clear the new ones' intents. This
   commit is the moment the new version becomes visible;
4. delete the old vectors from Chroma, clear their intents.

A process killed anywhere leaves the catalog at the last commit. The next writer
deletes every logged vector set that is not the committed version, so no orphan
and no duplicate survives, and re-running the ingest does the rest of the work.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock, Timeout
from tqdm import tqdm

from bot.errors import ArticleNotFoundError, EmbedderMismatchError, IndexLockedError
from bot.settings import Settings
from index.catalog import ArticleState, Catalog, article_key, vector_ids
from index.embed import NewsEmbedding, embedder_id, make_embedder
from index.loaders import LoadResult, Problem
from index.models import Article, Prepared
from index.split import prepare, version_of
from index.vectors import VectorStore

logger = logging.getLogger(__name__)

BATCH_SENTENCES = 256  # sentences embedded and committed together
BATCH_ARTICLES = 64
_ORIGIN_SUFFIX = re.compile(r"(:\d+|\[\d+\]|#.*)$")


@dataclass
class IngestReport:
    """What an ingest, remove or sync did; ``to_dict()`` is the ``--json`` contract."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    duplicates: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)
    embedded_sentences: int = 0
    reused_sentences: int = 0
    promoted: int = 0
    embed_seconds: float = 0.0
    seconds: float = 0.0

    def fail(self, path: str, reason: str) -> None:
        self.failed.append({"path": path, "reason": reason})

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["seconds"] = round(self.seconds, 3)
        data["embed_seconds"] = round(self.embed_seconds, 3)
        return data


@dataclass
class _Change:
    prepared: Prepared
    state: ArticleState | None
    duplicate_of: str | None


class Indexer:
    """An open index: the catalog, the vector collection and (lazily) the embedder.

    Open it with ``Indexer.open(settings, write=True)`` as a context manager; a
    writer holds the data dir's lock and repairs what a killed writer left.
    """

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        *,
        embedder: NewsEmbedding | None = None,
        write: bool = False,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.write = write
        self._embedder = embedder
        self._vectors: VectorStore | None = None
        self._client: Any = None
        self._lock: FileLock | None = None
        self._seen_version = catalog.data_version()

    # ---- lifecycle ---------------------------------------------------------------------

    @classmethod
    def connect(
        cls,
        settings: Settings,
        *,
        write: bool = False,
        embedder: NewsEmbedding | None = None,
        check_embedder: bool = True,
    ) -> Indexer:
        """Open the index in ``settings.data_dir``; call ``close()`` when done.

        Writers take the data dir's lock first and repair what a killed writer left.
        """
        data_dir = Path(settings.data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(data_dir / "write.lock"), timeout=settings.lock_timeout) if write else None
        if lock is not None:
            try:
                lock.acquire()
            except Timeout:
                raise _locked_error(data_dir, settings.lock_timeout) from None
            (data_dir / "writer.pid").write_text(str(os.getpid()))
        indexer: Indexer | None = None
        try:
            indexer = cls(settings, Catalog(data_dir / "catalog.sqlite3"), embedder=embedder, write=write)
            indexer._lock = lock
            if check_embedder:
                indexer.check_embedder()
            if write:
                indexer.recover()
            return indexer
        except BaseException:
            if indexer is not None:
                indexer.catalog.close()
            if lock is not None:
                lock.release()
            raise

    @classmethod
    @contextmanager
    def open(cls, settings: Settings, **kwargs: Any) -> Iterator[Indexer]:
        """``connect()`` as a context manager."""
        indexer = cls.connect(settings, **kwargs)
        try:
            yield indexer
        finally:
            indexer.close()

    def close(self) -> None:
        """Close the catalog and the vector store, release the write lock (if held)."""
        self._close_chroma()
        self.catalog.close()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    @property
    def embedder(self) -> NewsEmbedding:
        if self._embedder is None:
            self._embedder = make_embedder(self.settings.embedder, self.settings.embed_batch_size)
        return self._embedder

    @property
    def embedder_name(self) -> str:
        return self._embedder.model_name if self._embedder else embedder_id(self.settings.embedder)

    @property
    def vectors(self) -> VectorStore:
        if self._vectors is None:
            self._vectors = VectorStore(self._chroma(), self._collection_name(self._generation()))
        return self._vectors

    def refresh(self, *, force: bool = False) -> bool:
        """For long-lived readers: pick up what another process committed since the last call.

        Embedded Chroma is not multi-process safe: a process keeps its own in-memory view of a
        collection and does not see (or even fails on) vectors another process wrote later. So
        when the catalog shows a foreign commit, the Chroma client is rebuilt from disk, and
        the collection is looked up again (``reindex`` may have switched it). Cached vectors stay:
        a vector id never changes its vector. Returns whether anything was reopened.
        """
        version = self.catalog.data_version()
        if version == self._seen_version and not force:
            return False
        self._seen_version = version
        if self._vectors is None:
            return False
        old = self._vectors
        if not self.settings.chroma_url:
            self._close_chroma()  # the last client of a path stops its system; a new one reads the disk
        self._vectors = VectorStore(self._chroma(), self._collection_name(self._generation()), cache=old)
        logger.info("index changed by another process: vector store reopened")
        return True

    def check_embedder(self) -> None:
        """Fail early, naming both models, when the index was built with another embedder."""
        stored = self.catalog.meta("embedder")
        wanted = self.embedder_name
        if stored is None or stored == wanted:
            if stored is None and self.write:
                with self.catalog.transaction() as db:
                    self.catalog.set_meta(db, embedder=wanted)
            return
        if self.catalog.stats()["sentences"] == 0 and self.write:
            # Nothing embedded yet: switching models costs nothing.
            with self.catalog.transaction() as db:
                self.catalog.set_meta(db, embedder=wanted)
            return
        dim = self.catalog.meta("dim")
        raise EmbedderMismatchError(stored, int(dim) if dim else None, wanted)

    def recover(self) -> None:
        """Delete vector sets a killed writer left behind (logged, but not the committed version)."""
        pending = self.catalog.pending()
        if not pending:
            return
        logger.info("repairing %d vector sets left by an interrupted write", len(pending))
        for key, version, n in pending:
            if self.catalog.committed_version(key) != version:
                self.vectors.delete(vector_ids(key, version, n))
            with self.catalog.transaction() as db:
                self.catalog.clear_pending(db, key, version)

    # ---- ingest ------------------------------------------------------------------------

    def ingest(
        self,
        results: Iterable[LoadResult],
        *,
        sync_dirs: Iterable[str | Path] = (),
        progress: bool = False,
    ) -> IngestReport:
        """Add new, replace changed and skip unchanged articles; report every failed item.

        With ``sync_dirs``, articles that were loaded from below one of those directories
        earlier but did not come up this time are removed (unless their file failed to load).
        """
        started = time.perf_counter()
        report = IngestReport()
        articles: list[Article] = []
        failed_files: set[str] = set()
        for result in results:
            if isinstance(result, Problem):
                if result.fatal:
                    report.fail(result.path, result.reason)
                    failed_files.add(_ORIGIN_SUFFIX.sub("", result.path))
                else:
                    report.warnings.append({"path": result.path, "reason": result.reason})
            else:
                articles.append(result)

        seen: set[str] = set()
        batch: list[_Change] = []
        batch_ids: set[str] = set()
        bar = tqdm(total=len(articles), unit="article", desc="Ingesting", disable=not progress,
                   dynamic_ncols=True, leave=False)
        with bar:
            for article in articles:
                seen.add(article.id)
                if article.id in batch_ids:  # same id twice in a batch: commit the first one first
                    self._flush(batch, report)
                    batch, batch_ids = [], set()
                change = self._plan(article, report, batch)
                bar.update(1)
                if change is None:
                    continue
                batch.append(change)
                batch_ids.add(article.id)
                if len(batch) >= BATCH_ARTICLES or sum(len(c.prepared.sentences) for c in batch) >= BATCH_SENTENCES:
                    self._flush(batch, report)
                    batch, batch_ids = [], set()
                bar.set_postfix(embedded=report.embedded_sentences, refresh=False)
            self._flush(batch, report)

        for directory in sync_dirs:
            prefix = str(Path(directory).resolve()) + os.sep
            for article_id, origin in self.catalog.ids_with_origin_under(prefix):
                if article_id not in seen and _ORIGIN_SUFFIX.sub("", origin) not in failed_files:
                    self._remove_one(article_id)
                    report.removed += 1
        self._promote_orphaned_duplicates(report)
        report.seconds = time.perf_counter() - started
        return report

    def remove(self, article_ids: Iterable[str]) -> IngestReport:
        """Delete articles from every store; unknown ids are reported as failed."""
        started = time.perf_counter()
        report = IngestReport()
        for article_id in article_ids:
            try:
                self._remove_one(article_id)
                report.removed += 1
            except ArticleNotFoundError as exc:
                report.fail(article_id, str(exc))
        self._promote_orphaned_duplicates(report)
        report.seconds = time.perf_counter() - started
        return report

    def reindex(self, *, progress: bool = False) -> dict[str, Any]:
        """Re-embed every committed sentence into a fresh collection, then switch to it."""
        started = time.perf_counter()
        old_gen = self._generation()
        self._drop_stale_collections(keep=self._collection_name(old_gen))  # an interrupted reindex's
        new_store = VectorStore(self._chroma(), self._collection_name(old_gen + 1))
        total = self.catalog.stats()["sentences"]
        done = 0
        with tqdm(total=total, unit="sentence", desc="Re-embedding", disable=not progress, leave=False) as bar:
            for rows in self.catalog.iter_sentences(batch=BATCH_SENTENCES):
                vectors = self.embedder.embed_passages([r[1] for r in rows])
                new_store.upsert([r[0] for r in rows], vectors, [_vector_meta(r[2], r[3]) for r in rows])
                done += len(rows)
                bar.update(len(rows))
        with self.catalog.transaction() as db:
            self.catalog.set_meta(
                db, embedder=self.embedder.model_name, dim=self.embedder.dim(), collection_gen=old_gen + 1
            )
        self._drop_stale_collections(keep=new_store.name)
        self._vectors = new_store
        return {"sentences": done, "embedder": self.embedder.model_name,
                "seconds": round(time.perf_counter() - started, 3)}

    # ---- reading -----------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counts, sources, date range, embedder and size on disk (from the catalog only)."""
        stats = self.catalog.stats()
        dim = self.catalog.meta("dim")
        data_dir = Path(self.settings.data_dir)
        stats.update(
            embedder=self.catalog.meta("embedder") or self.embedder_name,
            dim=int(dim) if dim else None,
            vector_store=self.settings.chroma_url or "embedded",
            data_dir=str(data_dir),
            data_bytes=sum(p.stat().st_size for p in data_dir.rglob("*") if p.is_file()),
        )
        return stats

    def check(self) -> dict[str, Any]:
        """Compare catalog and vector store: every committed sentence has its vector, no extras."""
        wanted = {vid for rows in self.catalog.iter_sentences() for vid, *_ in rows}
        stored = set(self.vectors.all_ids())
        sentence_rows, keyword_rows = self.catalog.count_sentence_rows()
        return {
            "sentences": len(wanted),
            "missing_vectors": len(wanted - stored),
            "orphan_vectors": len(stored - wanted),
            "keyword_rows_match": sentence_rows == keyword_rows,
            "pending": len(self.catalog.pending()),
            "ok": wanted == stored and sentence_rows == keyword_rows,
        }

    # ---- internals -----------------------------------------------------------------------

    def _plan(self, article: Article, report: IngestReport, batch: list[_Change]) -> _Change | None:
        state = self.catalog.state(article.id)
        if state is not None and state.version == version_of(article):
            # Unchanged: decided from the content hash alone, before any cleaning or splitting.
            report.unchanged += 1
            if state.origin != article.origin:
                with self.catalog.transaction() as db:
                    self.catalog.set_origin(db, article.id, article.origin)
            return None
        prepared = prepare(article, self.settings.passage_max_chars)
        if all(s.kind == "title" for s in prepared.sentences):
            report.fail(article.origin or article.id, "no article text left after removing page furniture")
            return None
        duplicate_of = self._original_of(prepared, batch)
        if state is None:
            report.added += 1
        else:
            report.updated += 1
        if duplicate_of:
            report.duplicates += 1
        return _Change(prepared, state, duplicate_of)

    def _original_of(self, prepared: Prepared, batch: list[_Change]) -> str | None:
        """The indexed article with the same normalized text, in this batch or committed."""
        return next(
            (c.prepared.article.id for c in batch
             if c.duplicate_of is None and c.prepared.norm_hash == prepared.norm_hash),
            None,
        ) or self.catalog.original_for(prepared.norm_hash, exclude_id=prepared.article.id)

    def _flush(self, batch: list[_Change], report: IngestReport) -> None:
        if not batch:
            return
        catalog = self.catalog
        indexed = [c for c in batch if c.duplicate_of is None]
        with catalog.transaction() as db:
            for c in indexed:
                catalog.add_pending(db, article_key(c.prepared.article.id), c.prepared.version, len(c.prepared.sentences))

        ids: list[str] = []
        metas: list[dict[str, Any]] = []
        texts: list[str] = []
        reuse: dict[int, str] = {}  # position -> vector id of the same sentence in the old version
        for c in indexed:
            article = c.prepared.article
            key = article_key(article.id)
            old = catalog.sentence_vids(article.id) if c.state else {}
            for sentence, vid in zip(c.prepared.sentences, vector_ids(key, c.prepared.version, len(c.prepared.sentences))):
                if sentence.text in old:
                    reuse[len(ids)] = old[sentence.text]
                ids.append(vid)
                metas.append(_vector_meta(key, article.date.timestamp() if article.date else None))
                texts.append(sentence.text)

        if ids:
            vectors = self._vectors_for(texts, reuse, report)
            self.vectors.upsert(ids, vectors, metas)

        stale: list[tuple[str, str, int]] = []
        with catalog.transaction() as db:
            for c in batch:
                if c.state is not None and c.state.duplicate_of is None and c.state.n_sentences:
                    stale.append((c.state.key, c.state.version, c.state.n_sentences))
                    catalog.add_pending(db, c.state.key, c.state.version, c.state.n_sentences)
                catalog.put_article(db, c.prepared, c.duplicate_of)
                if c.duplicate_of is None:
                    catalog.clear_pending(db, article_key(c.prepared.article.id), c.prepared.version)
            if ids and catalog.meta("dim") is None:
                catalog.set_meta(db, dim=self.embedder.dim())
        self._drop_vector_sets(stale)

    def _vectors_for(self, texts: list[str], reuse: dict[int, str], report: IngestReport) -> np.ndarray:
        """Vectors for ``texts``: unchanged sentences of updated articles keep theirs."""
        found = self.vectors.get(list(set(reuse.values()))) if reuse else {}
        known = {pos: found[vid] for pos, vid in reuse.items() if vid in found}
        todo = [i for i in range(len(texts)) if i not in known]
        started = time.perf_counter()
        fresh = self.embedder.embed_passages([texts[i] for i in todo]) if todo else None
        report.embed_seconds += time.perf_counter() - started
        report.embedded_sentences += len(todo)
        report.reused_sentences += len(known)
        dim = fresh.shape[1] if fresh is not None else len(next(iter(known.values())))
        out = np.empty((len(texts), dim), dtype=np.float32)
        for pos, vec in known.items():
            out[pos] = vec
        if fresh is not None:
            out[todo] = fresh
        return out

    def _remove_one(self, article_id: str) -> None:
        state = self.catalog.state(article_id)
        if state is None:
            raise ArticleNotFoundError(article_id)
        stale = [] if state.duplicate_of or not state.n_sentences else [(state.key, state.version, state.n_sentences)]
        with self.catalog.transaction() as db:
            for key, version, n in stale:
                self.catalog.add_pending(db, key, version, n)
            self.catalog.delete_article(db, article_id)
        self._drop_vector_sets(stale)

    def _drop_vector_sets(self, sets: list[tuple[str, str, int]]) -> None:
        if not sets:
            return
        self.vectors.delete([vid for key, version, n in sets for vid in vector_ids(key, version, n)])
        with self.catalog.transaction() as db:
            for key, version, _ in sets:
                self.catalog.clear_pending(db, key, version)

    def _promote_orphaned_duplicates(self, report: IngestReport) -> None:
        """A duplicate whose original was removed or changed gets indexed in its own right."""
        while orphans := self.catalog.orphaned_duplicates():
            batch: list[_Change] = []
            for article_id in orphans:
                article = self.catalog.article(article_id)
                state = self.catalog.state(article_id)
                assert article is not None and state is not None
                prepared = prepare(article, self.settings.passage_max_chars)
                duplicate_of = self._original_of(prepared, batch)
                batch.append(_Change(prepared, state, duplicate_of))
                report.promoted += 1
            self._flush(batch, report)

    def _chroma(self) -> Any:
        if self._client is None:
            self._client = VectorStore.connect(Path(self.settings.data_dir), self.settings.chroma_url)
        return self._client

    def _close_chroma(self) -> None:
        if self._client is not None:
            close = getattr(self._client, "close", None)  # chromadb >= 1.4
            if close is not None:
                close()
            self._client = None
        self._vectors = None

    def _generation(self) -> int:
        return int(self.catalog.meta("collection_gen") or 1)

    def _collection_name(self, generation: int) -> str:
        return f"{self.settings.chroma_collection_prefix}-{self.catalog.meta('index_id')}-g{generation}"

    def _drop_stale_collections(self, keep: str) -> None:
        mine = f"{self.settings.chroma_collection_prefix}-{self.catalog.meta('index_id')}-g"
        for collection in self._chroma().list_collections():
            name = getattr(collection, "name", collection)
            if name.startswith(mine) and name != keep:
                self._chroma().delete_collection(name)


def _vector_meta(key: str, date_ts: float | None) -> dict[str, Any]:
    return {"article": key, "ts": float(date_ts) if date_ts is not None else -1.0}


def _locked_error(data_dir: Path, waited: float) -> IndexLockedError:
    try:
        pid: int | None = int((data_dir / "writer.pid").read_text().strip())
    except (OSError, ValueError):
        pid = None
    return IndexLockedError(str(data_dir), pid, waited)
