"""Ingest: load -> clean -> split -> embed -> store, idempotent and crash-safe.

Write protocol for each batch of changed articles:

1. record the new vector sets in the catalog's intent log (``pending``), commit;
2. write the vectors to Chroma (ids carry the article version, so they never
   overwrite the committed version's vectors);
3. in one catalog transaction: replace the articles' rows, sentences (with a copy of
   their vectors) and keyword rows, log the old vector sets for deletion, clear the new
   ones' intents. This commit is the moment the new version becomes visible;
4. delete the old vectors from Chroma, clear their intents.

A process killed anywhere leaves the catalog at the last commit. The next writer
(``Ingestor.recover``) deletes every logged vector set that is not the committed version,
so no orphan and no duplicate survives, and re-running the ingest does the rest of the work.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from tqdm import tqdm

from index.embed import NewsEmbedding
from index.errors import ArticleNotFoundError
from index.loaders import LoadResult, Problem
from index.models import Article, Prepared
from index.schema import ArticleState, article_key, vector_ids
from index.split import prepare, version_of
from index.store import Index
from index.vectors import VectorStore

logger = logging.getLogger(__name__)

BATCH_SENTENCES = 256  # sentences embedded and committed together
BATCH_ARTICLES = 64
COPY_BATCH = 5_000  # vectors copied into the catalog per transaction after an upgrade
VECTOR_COPY_VERSION = "1"
_ORIGIN_SUFFIX = re.compile(r"(:\d+|\[\d+\]|#.*)$")
_WORDS = re.compile(r"\w+")


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
    kept_down: int = 0  # taken down earlier: not re-added (``restore`` brings them back)
    kept_full_text: int = 0  # a teaser would have replaced the full text: kept
    restored: int = 0
    interrupted: bool = False  # stopped between batches (``stop``): what was committed holds ...
    unwritten: list[str] = field(default_factory=list)  # ... and these articles were not reached
    embed_seconds: float = 0.0
    seconds: float = 0.0

    def fail(self, path: str, reason: str) -> None:
        self.failed.append({"path": path, "reason": reason})

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["seconds"] = round(self.seconds, 3)
        data["embed_seconds"] = round(self.embed_seconds, 3)
        return data


@dataclass
class _Change:
    prepared: Prepared
    state: ArticleState | None
    duplicate_of: str | None


class Ingestor:
    """Writes articles into an index whose write lock the caller holds (``Index.writing()``)."""

    def __init__(self, index: Index) -> None:
        self.index = index
        self.catalog = index.catalog
        self.config = index.config
        self._size = 0  # sentences in the index, as this ingest goes

    @property
    def vectors(self) -> VectorStore:
        return self.index.vectors

    @property
    def embedder(self) -> NewsEmbedding:
        return self.index.embedder

    def recover(self) -> None:
        """Delete vector sets a killed writer left behind (logged, but not the committed version);
        give sentences committed before the catalog kept vectors their copy, and the collection
        its HNSW settings (``VectorStore.tune``)."""
        pending = self.catalog.pending()
        if pending:
            logger.info("repairing %d vector sets left by an interrupted write", len(pending))
        for key, version, n in pending:
            if self.catalog.committed_version(key) != version:
                self.vectors.delete(vector_ids(key, version, n))
            with self.catalog.transaction() as db:
                self.catalog.clear_pending(db, key, version)
        if self.catalog.meta("vector_copy") != VECTOR_COPY_VERSION:
            self._copy_vectors()
        if self.catalog.meta("dim"):  # a collection exists: give it this release's HNSW settings
            self.vectors.tune(self.catalog.sentence_count())

    def _copy_vectors(self) -> None:
        """Copy Chroma's vectors of every sentence the catalog has none for (once, after an
        upgrade; resumable: each batch commits). A sentence Chroma lacks stays without, as
        ``newsbot check`` reports it."""
        copied, after = 0, -1
        chroma = self.index.chroma
        store = VectorStore(chroma.client, chroma.name(self.index.generation()), cache_size=0)  # no copy, no cache
        while batch := self.catalog.uncopied_vids(after, COPY_BATCH):
            if not copied:
                logger.info("copying the sentence vectors into the catalog (once, after an upgrade)")
            after = batch[-1][0]
            found = store.get([vid for _, vid in batch])
            with self.catalog.transaction() as db:
                self.catalog.put_vectors(db, found)
            copied += len(found)
        with self.catalog.transaction() as db:
            self.catalog.set_meta(db, vector_copy=VECTOR_COPY_VERSION)
        if copied:
            logger.info("copied %d sentence vectors into the catalog", copied)

    def ingest(
        self,
        results: Iterable[LoadResult],
        *,
        sync_dirs: Iterable[str | Path] = (),
        progress: bool = False,
        restore: bool = False,
        stop: threading.Event | None = None,
    ) -> IngestReport:
        """Add new, replace changed and skip unchanged articles; report every failed item.

        With ``sync_dirs``, articles that were loaded from below one of those directories
        earlier but did not come up this time are removed (unless their file failed to load).
        An article that was taken down (``remove``) stays down, whatever path writes it again,
        unless ``restore``; a teaser never replaces the full text of the same article.

        When ``stop`` is set (a shutdown), the ingest ends after the batch being written commits:
        the report says ``interrupted`` and lists the articles not reached (``unwritten``), what
        it committed holds, and nothing is removed for ``sync_dirs`` (the articles not reached
        were not seen). Writing the same again finishes it.
        """
        started = time.perf_counter()
        report = IngestReport()
        self._size = self.catalog.sentence_count()  # grows with each batch: Chroma's sync threshold follows it
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
        bar = tqdm(
            total=len(articles), unit="article", desc="Ingesting", disable=not progress, dynamic_ncols=True, leave=False
        )
        with bar:
            for n, article in enumerate(articles):
                seen.add(article.id)
                if article.id in batch_ids:  # same id twice in a batch: commit the first one first
                    self._flush(batch, report)
                    batch, batch_ids = [], set()
                change = self._plan(article, report, batch, restore=restore)
                bar.update(1)
                if change is None:
                    continue
                batch.append(change)
                batch_ids.add(article.id)
                if len(batch) >= BATCH_ARTICLES or sum(len(c.prepared.sentences) for c in batch) >= BATCH_SENTENCES:
                    self._flush(batch, report)
                    batch, batch_ids = [], set()
                    if stop is not None and stop.is_set() and n + 1 < len(articles):
                        report.interrupted = True
                        report.unwritten = list(dict.fromkeys(a.id for a in articles[n + 1 :]))
                        break
                bar.set_postfix(embedded=report.embedded_sentences, refresh=False)
            else:
                self._flush(batch, report)

        for directory in [] if report.interrupted else sync_dirs:
            prefix = str(Path(directory).resolve()) + os.sep
            for article_id, origin in self.catalog.ids_with_origin_under(prefix):
                if article_id not in seen and _ORIGIN_SUFFIX.sub("", origin) not in failed_files:
                    self._remove_one(article_id)
                    report.removed += 1
        self._promote_orphaned_duplicates(report)
        report.seconds = time.perf_counter() - started
        return report

    def remove(self, article_ids: Iterable[str], *, bury: bool = True) -> IngestReport:
        """Take articles down: delete them from every store and leave a tombstone, so that no later
        ingest of the same id or URL brings them back (``restore`` does); unknown ids are failed.
        ``bury=False``: delete without a tombstone (the next ingest adds them again)."""
        started = time.perf_counter()
        report = IngestReport()
        self._size = self.catalog.sentence_count()
        for article_id in article_ids:
            try:
                self._remove_one(article_id, bury=bury)
                report.removed += 1
            except ArticleNotFoundError as exc:
                report.fail(article_id, str(exc))
        self._promote_orphaned_duplicates(report)
        report.seconds = time.perf_counter() - started
        return report

    # ---- internals -----------------------------------------------------------------------

    def restore(self, article_ids: Iterable[str]) -> IngestReport:
        """Lift take-downs: the next ingest of these ids (or their URLs) adds them again."""
        report = IngestReport()
        for article_id in article_ids:
            with self.catalog.transaction() as db:
                lifted = self.catalog.restore(db, article_id, article_id)
            if lifted:
                report.restored += 1
            else:
                report.fail(article_id, "was not taken down")
        return report

    def _plan(self, article: Article, report: IngestReport, batch: list[_Change], *, restore: bool) -> _Change | None:
        down = self.catalog.taken_down(article.id, article.url)
        if down is not None:
            if not restore:
                report.kept_down += 1
                when = datetime.fromtimestamp(down, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
                report.warnings.append(
                    {
                        "path": article.origin or article.id,
                        "reason": f"{article.id} was taken down on {when}; not added again "
                        f"(newsbot restore {article.id}, or ingest --restore, brings it back)",
                    }
                )
                return None
            with self.catalog.transaction() as db:
                report.restored += bool(self.catalog.restore(db, article.id, article.url))
        state = self.catalog.state(article.id)
        if state is not None and state.version == version_of(article):
            # Unchanged: decided from the content hash alone, before any cleaning or splitting.
            report.unchanged += 1
            if state.origin != article.origin:
                with self.catalog.transaction() as db:
                    self.catalog.set_origin(db, article.id, article.origin)
            return None
        prepared = prepare(article, self.config.passage_max_chars)
        if all(s.kind == "title" for s in prepared.sentences):
            report.fail(article.origin or article.id, "no article text left after removing page furniture")
            return None
        if state is not None and self._is_teaser_of(article):
            report.kept_full_text += 1
            report.warnings.append(
                {
                    "path": article.origin or article.id,
                    "reason": f"{article.id}: kept the full text ({state.n_sentences} sentences); "
                    "the new version is a teaser of it (fetch the article page to update it)",
                }
            )
            return None
        duplicate_of = self._original_of(prepared, batch)
        if state is None:
            report.added += 1
        else:
            report.updated += 1
        if duplicate_of:
            report.duplicates += 1
        return _Change(prepared, state, duplicate_of)

    def _is_teaser_of(self, article: Article) -> bool:
        """Whether ``article`` is a shortened excerpt of the stored full text: under half its
        length, and its opening words are the stored text's (a feed's summary of the page)."""
        stored = self.catalog.article(article.id)
        if stored is None or len(article.text) * 2 > len(stored.text):
            return False
        opening = " ".join(_WORDS.findall(article.text)[:12]).casefold()
        return bool(opening) and opening in " ".join(_WORDS.findall(stored.text)).casefold()

    def _original_of(self, prepared: Prepared, batch: list[_Change]) -> str | None:
        """The indexed article with the same normalized text, in this batch or committed."""
        return next(
            (
                c.prepared.article.id
                for c in batch
                if c.duplicate_of is None and c.prepared.norm_hash == prepared.norm_hash
            ),
            None,
        ) or self.catalog.original_for(prepared.norm_hash, exclude_id=prepared.article.id)

    def _flush(self, batch: list[_Change], report: IngestReport) -> None:
        if not batch:
            return
        catalog = self.catalog
        indexed = [c for c in batch if c.duplicate_of is None]
        with catalog.transaction() as db:
            for c in indexed:
                catalog.add_pending(
                    db, article_key(c.prepared.article.id), c.prepared.version, len(c.prepared.sentences)
                )

        ids: list[str] = []
        metas: list[dict[str, str | float]] = []
        texts: list[str] = []
        reuse: dict[int, str] = {}  # position -> vector id of the same sentence in the old version
        for c in indexed:
            article = c.prepared.article
            key = article_key(article.id)
            old = catalog.sentence_vids(article.id) if c.state else {}
            for sentence, vid in zip(
                c.prepared.sentences, vector_ids(key, c.prepared.version, len(c.prepared.sentences))
            ):
                if sentence.text in old:
                    reuse[len(ids)] = old[sentence.text]
                ids.append(vid)
                metas.append(vector_meta(key, article.date.timestamp() if article.date else None))
                texts.append(sentence.text)

        if ids:
            vectors = self._vectors_for(texts, reuse, report)
            self._size += len(ids)
            self.vectors.tune(self._size)
            self.vectors.upsert(ids, vectors, metas)

        stale: list[tuple[str, str, int]] = []
        with catalog.transaction() as db:
            by_vid = dict(zip(ids, vectors)) if ids else {}
            for c in batch:
                if c.state is not None and c.state.duplicate_of is None and c.state.n_sentences:
                    stale.append((c.state.key, c.state.version, c.state.n_sentences))
                    catalog.add_pending(db, c.state.key, c.state.version, c.state.n_sentences)
                catalog.put_article(db, c.prepared, c.duplicate_of, by_vid)
                if c.duplicate_of is None:
                    catalog.clear_pending(db, article_key(c.prepared.article.id), c.prepared.version)
            if ids and catalog.meta("dim") is None:
                catalog.set_meta(db, dim=self.embedder.dim())
            catalog.vectors_changed(db)
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

    def _remove_one(self, article_id: str, *, bury: bool = False) -> None:
        state = self.catalog.state(article_id)
        if state is None:
            raise ArticleNotFoundError(article_id)
        stale = [] if state.duplicate_of or not state.n_sentences else [(state.key, state.version, state.n_sentences)]
        url = None
        if bury:
            stored = self.catalog.article(article_id)
            url = stored.url if stored else None
        with self.catalog.transaction() as db:
            if bury:
                self.catalog.bury(db, article_id, url)
            for key, version, n in stale:
                self.catalog.add_pending(db, key, version, n)
            self.catalog.delete_article(db, article_id)
            self.catalog.vectors_changed(db)
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
                prepared = prepare(article, self.config.passage_max_chars)
                duplicate_of = self._original_of(prepared, batch)
                batch.append(_Change(prepared, state, duplicate_of))
                report.promoted += 1
            self._flush(batch, report)


def vector_meta(key: str, date_ts: float | None) -> dict[str, str | float]:
    """What Chroma stores beside a sentence vector: its article key and date (for filters)."""
    return {"article": key, "ts": float(date_ts) if date_ts is not None else -1.0}
