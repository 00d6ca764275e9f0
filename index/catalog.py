"""The catalog: one SQLite database that is the index's single commit point.

It holds every article (with content hash and normalized-text hash), every indexed
sentence with a copy of its vector, the German keyword index (FTS5 over Snowball
stems, updated in the same transaction) and a small intent log of vector sets that may exist in Chroma but
are not, or no longer, committed. Search trusts the catalog: a vector whose id the
catalog does not list is never returned, so a crash between writing vectors and
committing here leaves nothing half-visible, and the intent log lets the next
writer delete the orphans.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from index.keywords import stems
from index.models import Article, ArticleMeta, IndexStats, Prepared, SourceCount
from index.schema import (
    SCHEMA,
    ArticleState,
    article_key,
    iso,
    row_to_article,
    row_to_meta,
    ts_iso,
    vector_blob,
    vector_ids,
)
from index.search import TERM_DF_VERSION, KeywordSearch, distinct_terms, serialized
from index.vector_copy import VectorCopy


class Catalog(KeywordSearch, VectorCopy):
    """SQLite catalog of articles, sentences and the keyword index."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.lock = threading.RLock()
        self.db = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: a committed transaction survives a killed process; only a power cut
        # can lose the last one, and never leaves a half-written one.
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.executescript(SCHEMA)
        self._commits = 0  # this connection's own commits (``data_version`` counts only the others')
        self._sentence_count: tuple[tuple[int, int], int] | None = None
        if self.meta("index_id") is None:
            with self.transaction():
                self.db.execute("INSERT OR IGNORE INTO meta VALUES ('index_id', ?)", (uuid.uuid4().hex[:12],))
        if self.meta("term_df") != TERM_DF_VERSION:
            self._count_terms()

    @serialized
    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write: everything inside commits together or not at all."""
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")
            self._commits += 1

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query inside sees one committed state, even while another
        process commits (WAL readers keep their snapshot until the transaction ends)."""
        with self.lock:
            self.db.execute("BEGIN")
            try:
                yield self.db
            finally:
                self.db.execute("COMMIT")

    @serialized
    def data_version(self) -> int:
        """Changes whenever another connection (another process) has committed since the last call."""
        return int(self.db.execute("PRAGMA data_version").fetchone()[0])

    # ---- meta --------------------------------------------------------------------------

    @serialized
    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, db: sqlite3.Connection, **values: object) -> None:
        """Set meta keys inside an open transaction."""
        for key, value in values.items():
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, str(value)))

    # ---- reading -----------------------------------------------------------------------

    @serialized
    def state(self, article_id: str) -> ArticleState | None:
        row = self.db.execute(
            "SELECT id, key, version, norm_hash, duplicate_of, n_sentences, origin FROM articles WHERE id = ?",
            (article_id,),
        ).fetchone()
        return ArticleState(*row) if row else None

    @serialized
    def original_for(self, norm_hash: str, exclude_id: str) -> str | None:
        """The indexed article (not a duplicate) with this normalized text, other than ``exclude_id``."""
        row = self.db.execute(
            "SELECT id FROM articles WHERE norm_hash = ? AND duplicate_of IS NULL AND id != ? "
            "ORDER BY date_ts IS NULL, date_ts, ingested_at LIMIT 1",
            (norm_hash, exclude_id),
        ).fetchone()
        return row[0] if row else None

    @serialized
    def sentence_vids(self, article_id: str) -> dict[str, str]:
        """Text -> vector id of an article's committed sentences (to reuse their vectors)."""
        rows = self.db.execute("SELECT text, vid FROM sentences WHERE article_id = ? ORDER BY idx", (article_id,))
        return dict(rows)

    @serialized
    def article(self, article_id: str) -> Article | None:
        row = self.db.execute("SELECT * FROM articles WHERE id = ?", (article_id,)).fetchone()
        return row_to_article(row) if row else None

    def iter_articles(self, where: str = "1", params: tuple[float | str, ...] = ()) -> Iterator[Article]:
        with self.lock:
            rows = self.db.execute(f"SELECT * FROM articles WHERE {where} ORDER BY rowid", params).fetchall()
        for row in rows:
            yield row_to_article(row)

    @serialized
    def ids_with_origin_under(self, prefix: str) -> list[tuple[str, str]]:
        """(id, origin) of articles loaded from files below a directory."""
        rows = self.db.execute("SELECT id, origin FROM articles WHERE substr(origin, 1, ?) = ?", (len(prefix), prefix))
        return [(r[0], r[1]) for r in rows]

    @serialized
    def orphaned_duplicates(self) -> list[str]:
        """Duplicates whose original is gone or changed: they must be indexed on their own now."""
        rows = self.db.execute(
            "SELECT d.id FROM articles d LEFT JOIN articles o ON o.id = d.duplicate_of "
            "WHERE d.duplicate_of IS NOT NULL AND (o.id IS NULL OR o.norm_hash != d.norm_hash "
            "OR o.duplicate_of IS NOT NULL) ORDER BY d.rowid"
        )
        return [r[0] for r in rows]

    def iter_sentences(self, batch: int = 512) -> Iterator[list[tuple[str, str, str, float | None]]]:
        """All committed sentences as (vid, text, article key, date_ts), in batches."""
        after = -1
        while True:  # page by rowid, so a long consumer (reindex) never holds the connection
            with self.lock:
                rows = self.db.execute(
                    "SELECT s.rowid, s.vid, s.text, a.key, a.date_ts FROM sentences s "
                    "JOIN articles a ON a.id = s.article_id WHERE s.rowid > ? ORDER BY s.rowid LIMIT ?",
                    (after, batch),
                ).fetchall()
            if not rows:
                return
            after = rows[-1][0]
            yield [tuple(r)[1:] for r in rows]

    @serialized
    def sentences_by_vid(self, vids: list[str]) -> dict[str, sqlite3.Row]:
        """Committed sentences (with their article's title and date) for vector ids; others are absent."""
        if not vids:
            return {}
        marks = ",".join("?" * len(vids))
        rows = self.db.execute(
            f"SELECT s.*, a.title, a.date_ts FROM sentences s JOIN articles a ON a.id = s.article_id "
            f"WHERE s.vid IN ({marks})",
            vids,
        )
        return {row["vid"]: row for row in rows}

    @serialized
    def passage_sentences(self, passages: list[tuple[str, int]]) -> list[sqlite3.Row]:
        """All sentences of the given (article id, passage) pairs, with their stems, in order."""
        out: list[sqlite3.Row] = []
        for start in range(0, len(passages), 400):
            chunk = passages[start : start + 400]
            cond = " OR ".join("(s.article_id = ? AND s.passage = ?)" for _ in chunk)
            params = [v for pair in chunk for v in pair]
            out.extend(
                self.db.execute(
                    "SELECT s.vid, s.article_id, s.idx, s.passage, s.kind, s.heading, s.teaser_title, s.text, "
                    f"f.stems FROM sentences s JOIN sentence_fts f ON f.rowid = s.rowid WHERE {cond} "
                    "ORDER BY s.article_id, s.idx",
                    params,
                )
            )
        return out

    @serialized
    def article_sentences(self, article_ids: list[str]) -> list[sqlite3.Row]:
        """Every sentence of the given articles, with their stems, in order (for quote selection)."""
        if not article_ids:
            return []
        marks = ",".join("?" * len(article_ids))
        return self.db.execute(
            "SELECT s.vid, s.article_id, s.idx, s.passage, s.kind, s.heading, s.teaser_title, s.text, "
            f"f.stems FROM sentences s JOIN sentence_fts f ON f.rowid = s.rowid WHERE s.article_id IN ({marks}) "
            "ORDER BY s.article_id, s.idx",
            article_ids,
        ).fetchall()

    @serialized
    def articles_by_id(self, ids: list[str]) -> dict[str, ArticleMeta]:
        """Articles' metadata (without the raw text) for citations."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.db.execute(
            f"SELECT id, title, source, url, published, updated, date_ts, notes FROM articles WHERE id IN ({marks})",
            ids,
        )
        return {r["id"]: row_to_meta(r) for r in rows}

    @serialized
    def articles_with_sentences(self, texts: list[str]) -> dict[str, list[ArticleMeta]]:
        """Sentence text -> every indexed article containing exactly that sentence."""
        out: dict[str, list[ArticleMeta]] = {}
        if not texts:
            return out
        marks = ",".join("?" * len(texts))
        rows = self.db.execute(
            "SELECT DISTINCT s.text AS sentence, a.id, a.title, a.source, a.url, a.published, a.updated, "
            f"a.date_ts, a.notes FROM sentences s JOIN articles a ON a.id = s.article_id WHERE s.text IN ({marks})",
            texts,
        )
        for row in rows:
            out.setdefault(row["sentence"], []).append(row_to_meta(row))
        return out

    @serialized
    def newest_ts(self) -> float | None:
        return self.db.execute("SELECT max(date_ts) FROM articles WHERE duplicate_of IS NULL").fetchone()[0]

    @serialized
    def pending(self) -> list[tuple[str, str, int]]:
        return [tuple(r) for r in self.db.execute("SELECT key, version, n FROM pending")]

    @serialized
    def committed_version(self, key: str) -> str | None:
        row = self.db.execute("SELECT version FROM articles WHERE key = ? AND duplicate_of IS NULL", (key,)).fetchone()
        return row[0] if row else None

    @serialized
    def stats(self) -> IndexStats:
        one = self.db.execute(
            "SELECT count(*), sum(n_sentences), sum(n_passages), count(DISTINCT source), "
            "min(date_ts), max(date_ts) FROM articles WHERE duplicate_of IS NULL"
        ).fetchone()
        duplicates = self.db.execute("SELECT count(*) FROM articles WHERE duplicate_of IS NOT NULL").fetchone()[0]
        sources = [
            SourceCount(r[0], r[1])
            for r in self.db.execute(
                "SELECT source, count(*) FROM articles WHERE duplicate_of IS NULL "
                "GROUP BY source ORDER BY count(*) DESC"
            )
        ]
        return IndexStats(
            articles=one[0],
            sentences=one[1] or 0,
            passages=one[2] or 0,
            duplicates=duplicates,
            sources=sources,
            oldest=ts_iso(one[4]),
            newest=ts_iso(one[5]),
            taken_down=self.taken_down_count(),
        )

    @serialized
    def count_sentence_rows(self) -> tuple[int, int]:
        """(sentence rows, keyword rows): equal whenever the catalog is consistent."""
        s = self.db.execute("SELECT count(*) FROM sentences").fetchone()[0]
        f = self.db.execute("SELECT count(*) FROM sentence_fts").fetchone()[0]
        return s, f

    # ---- writing (inside ``transaction()``) ----------------------------------------------

    def add_pending(self, db: sqlite3.Connection, key: str, version: str, n: int) -> None:
        db.execute("INSERT OR REPLACE INTO pending VALUES (?, ?, ?)", (key, version, n))

    def clear_pending(self, db: sqlite3.Connection, key: str, version: str) -> None:
        db.execute("DELETE FROM pending WHERE key = ? AND version = ?", (key, version))

    @serialized
    def taken_down(self, article_id: str, url: str | None) -> float | None:
        """When the article with this id (or URL) was taken down, or None."""
        row = self.db.execute(
            "SELECT max(at) FROM tombstones WHERE id = ? OR (url IS NOT NULL AND url = ?)", (article_id, url)
        ).fetchone()
        return row[0] if row else None

    @serialized
    def taken_down_count(self) -> int:
        """How many take-downs the catalog keeps."""
        return self.db.execute("SELECT count(*) FROM tombstones").fetchone()[0]

    @serialized
    def taken_down_but_indexed(self) -> int:
        """Articles in the index although their id or URL was taken down (none, when consistent)."""
        return self.db.execute(
            "SELECT count(*) FROM articles a WHERE EXISTS (SELECT 1 FROM tombstones t "
            "WHERE t.id = a.id OR (t.url IS NOT NULL AND t.url = a.url))"
        ).fetchone()[0]

    def bury(self, db: sqlite3.Connection, article_id: str, url: str | None) -> None:
        """Record a take-down (in the transaction that deletes the article)."""
        db.execute("INSERT OR REPLACE INTO tombstones (id, url, at) VALUES (?, ?, ?)", (article_id, url, time.time()))

    def restore(self, db: sqlite3.Connection, article_id: str, url: str | None = None) -> int:
        """Forget the take-downs of this id (and URL); how many there were."""
        cursor = db.execute("DELETE FROM tombstones WHERE id = ? OR (url IS NOT NULL AND url = ?)", (article_id, url))
        return cursor.rowcount

    def delete_article(self, db: sqlite3.Connection, article_id: str) -> None:
        """Remove an article, its sentences and its keyword rows."""
        self._delete_sentences(db, article_id)
        db.execute("DELETE FROM articles WHERE id = ?", (article_id,))

    def put_article(
        self,
        db: sqlite3.Connection,
        prepared: Prepared,
        duplicate_of: str | None,
        vectors: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        """Insert or replace an article; its sentences are indexed unless it is a duplicate, with
        a copy of their ``vectors`` (by vector id) when given."""
        article = prepared.article
        key = article_key(article.id)
        self._delete_sentences(db, article.id)
        sentences = [] if duplicate_of else prepared.sentences
        db.execute(
            "INSERT OR REPLACE INTO articles (id, key, version, norm_hash, duplicate_of, title, source, url, "
            "published, updated, date_ts, section, author, text, metadata, notes, broadcast, origin, "
            "n_sentences, n_passages, ingested_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                article.id,
                key,
                prepared.version,
                prepared.norm_hash,
                duplicate_of,
                article.title,
                article.source,
                article.url,
                iso(article.published),
                iso(article.updated),
                article.date.timestamp() if article.date else None,
                article.section,
                article.author,
                article.text,
                json.dumps(article.metadata, ensure_ascii=False),
                json.dumps(prepared.notes, ensure_ascii=False),
                json.dumps(prepared.broadcast, ensure_ascii=False),
                article.origin,
                len(sentences),
                len({s.passage for s in sentences}),
                datetime.now(UTC).isoformat(timespec="seconds"),
            ),
        )
        vids = vector_ids(key, prepared.version, len(sentences))
        counts: Counter[str] = Counter()
        for s, vid in zip(sentences, vids):
            cur = db.execute(
                "INSERT INTO sentences (vid, article_id, idx, passage, kind, heading, teaser_title, text) "
                "VALUES (?,?,?,?,?,?,?,?)",
                (vid, article.id, s.idx, s.passage, s.kind, s.heading, s.teaser_title, s.text),
            )
            sentence_stems = stems(s.text)
            db.execute(
                "INSERT INTO sentence_fts (rowid, stems) VALUES (?, ?)", (cur.lastrowid, " ".join(sentence_stems))
            )
            if vectors is not None and vid in vectors:
                db.execute(
                    "INSERT INTO sentence_vectors (rowid, vec) VALUES (?, ?)",
                    (cur.lastrowid, vector_blob(vectors[vid])),
                )
            counts.update(distinct_terms(sentence_stems))
        db.executemany(
            "INSERT INTO term_df VALUES (?, ?) ON CONFLICT (term) DO UPDATE SET df = df + excluded.df", counts.items()
        )

    def set_origin(self, db: sqlite3.Connection, article_id: str, origin: str | None) -> None:
        db.execute("UPDATE articles SET origin = ? WHERE id = ?", (origin, article_id))

    def _delete_sentences(self, db: sqlite3.Connection, article_id: str) -> None:
        counts: Counter[str] = Counter()
        for (text,) in db.execute(
            "SELECT f.stems FROM sentences s JOIN sentence_fts f ON f.rowid = s.rowid WHERE s.article_id = ?",
            (article_id,),
        ):
            counts.update(distinct_terms(text.split()))
        db.executemany("UPDATE term_df SET df = df - ? WHERE term = ?", [(n, t) for t, n in counts.items()])
        db.executemany("DELETE FROM term_df WHERE term = ? AND df <= 0", [(t,) for t in counts])
        db.execute(  # their vectors' copies go with them (trigger sentence_vectors_follow)
            "DELETE FROM sentence_fts WHERE rowid IN (SELECT rowid FROM sentences WHERE article_id = ?)",
            (article_id,),
        )
        db.execute("DELETE FROM sentences WHERE article_id = ?", (article_id,))
