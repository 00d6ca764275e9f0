"""The catalog: one SQLite database that is the index's single commit point.

It holds every article (with content hash and normalized-text hash), every indexed
sentence, the German keyword index (FTS5 over Snowball stems, updated in the same
transaction) and a small intent log of vector sets that may exist in Chroma but
are not, or no longer, committed. Search trusts the catalog: a vector whose id the
catalog does not list is never returned, so a crash between writing vectors and
committing here leaves nothing half-visible, and the intent log lets the next
writer delete the orphans.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from index.keywords import fold, stems
from index.models import Article, ArticleMeta, Prepared
from index.schema import (
    SCHEMA,
    ArticleState,
    article_filter,
    article_key,
    iso,
    row_to_article,
    row_to_meta,
    ts_iso,
    vector_ids,
)

TERM_DF_VERSION = "2"  # 2: terms folded as FTS5 folds them (``keywords.fold``)
F = TypeVar("F", bound=Callable[..., Any])


def _serialized(method: F) -> F:
    """One statement (or transaction) at a time on the shared connection: a reader's snapshot
    and a writer's transaction in two threads of one process must not interleave."""

    @functools.wraps(method)
    def wrapper(self: Catalog, *args: Any, **kwargs: Any) -> Any:
        with self.lock:
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


class Catalog:
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

    def _count_terms(self) -> None:
        """Fill ``term_df`` once for a catalog written before it existed (one pass over the stems)."""
        with self.transaction() as db:
            done = db.execute("SELECT value FROM meta WHERE key = 'term_df'").fetchone()
            if done and done[0] == TERM_DF_VERSION:
                return  # another process did it first
            counts: Counter[str] = Counter()
            for (text,) in db.execute("SELECT stems FROM sentence_fts"):
                counts.update(_terms(text.split()))
            db.execute("DELETE FROM term_df")
            db.executemany("INSERT INTO term_df VALUES (?, ?)", counts.items())
            db.execute("INSERT OR REPLACE INTO meta VALUES ('term_df', ?)", (TERM_DF_VERSION,))

    @_serialized
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

    @_serialized
    def data_version(self) -> int:
        """Changes whenever another connection (another process) has committed since the last call."""
        return int(self.db.execute("PRAGMA data_version").fetchone()[0])

    # ---- meta --------------------------------------------------------------------------

    @_serialized
    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, db: sqlite3.Connection, **values: Any) -> None:
        """Set meta keys inside an open transaction."""
        for key, value in values.items():
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, str(value)))

    # ---- reading -----------------------------------------------------------------------

    @_serialized
    def state(self, article_id: str) -> ArticleState | None:
        row = self.db.execute(
            "SELECT id, key, version, norm_hash, duplicate_of, n_sentences, origin FROM articles WHERE id = ?",
            (article_id,),
        ).fetchone()
        return ArticleState(*row) if row else None

    @_serialized
    def original_for(self, norm_hash: str, exclude_id: str) -> str | None:
        """The indexed article (not a duplicate) with this normalized text, other than ``exclude_id``."""
        row = self.db.execute(
            "SELECT id FROM articles WHERE norm_hash = ? AND duplicate_of IS NULL AND id != ? "
            "ORDER BY date_ts IS NULL, date_ts, ingested_at LIMIT 1",
            (norm_hash, exclude_id),
        ).fetchone()
        return row[0] if row else None

    @_serialized
    def sentence_vids(self, article_id: str) -> dict[str, str]:
        """Text -> vector id of an article's committed sentences (to reuse their vectors)."""
        rows = self.db.execute("SELECT text, vid FROM sentences WHERE article_id = ? ORDER BY idx", (article_id,))
        return dict(rows)

    @_serialized
    def article(self, article_id: str) -> Article | None:
        row = self.db.execute("SELECT * FROM articles WHERE id = ?", (article_id,)).fetchone()
        return row_to_article(row) if row else None

    def iter_articles(self, where: str = "1", params: tuple[Any, ...] = ()) -> Iterator[Article]:
        with self.lock:
            rows = self.db.execute(f"SELECT * FROM articles WHERE {where} ORDER BY rowid", params).fetchall()
        for row in rows:
            yield row_to_article(row)

    @_serialized
    def ids_with_origin_under(self, prefix: str) -> list[tuple[str, str]]:
        """(id, origin) of articles loaded from files below a directory."""
        rows = self.db.execute("SELECT id, origin FROM articles WHERE substr(origin, 1, ?) = ?", (len(prefix), prefix))
        return [(r[0], r[1]) for r in rows]

    @_serialized
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

    @_serialized
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

    @_serialized
    def keyword_search(
        self,
        query_stems: list[str],
        limit: int = 20,
        *,
        since: float | None = None,
        until: float | None = None,
        sources: list[str] | None = None,
        undated: bool = False,
        doc_freqs: dict[str, int] | None = None,
        max_postings: int | None = None,
    ) -> list[tuple[str, float]]:
        """(vector id, BM25 score; higher is better) of sentences matching any of the stems.

        ``since``/``until`` (epoch seconds, half-open) and ``sources`` filter on the article;
        with ``undated``, articles without a date pass a date filter. FTS5 scores every posting
        of every term, so with ``doc_freqs`` and ``max_postings`` only the rarest terms whose
        postings fit the budget are searched: the cost is bounded whatever the archive's size,
        and a term too common for the budget is one no keyword match would single out anyway.
        """
        terms = sorted({t for t in query_stems if t})
        if doc_freqs is not None and max_postings is not None:
            terms = _within_budget(terms, doc_freqs, max_postings)
        if not terms:
            return []
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
        where, params = article_filter(since, until, sources, undated)
        rows = self.db.execute(
            "SELECT s.vid, -bm25(sentence_fts) FROM sentence_fts JOIN sentences s ON s.rowid = sentence_fts.rowid "
            f"JOIN articles a ON a.id = s.article_id WHERE sentence_fts MATCH ? AND {where} "
            "ORDER BY bm25(sentence_fts) LIMIT ?",
            (match, *params, limit),
        )
        return [(r[0], float(r[1])) for r in rows]

    @_serialized
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

    @_serialized
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

    @_serialized
    def doc_freqs(self, terms: list[str]) -> tuple[int, dict[str, int]]:
        """(number of sentences, sentences containing each term) for IDF weights: read from the
        FTS5 vocabulary, and the count kept until the catalog changes, so the cost does not grow
        with the archive."""
        total = self.sentence_count()
        if not terms:
            return total, {}
        folded = {term: fold(term) for term in terms}
        keys = sorted(set(folded.values()))
        found: dict[str, int] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(self.db.execute(f"SELECT term, df FROM term_df WHERE term IN ({marks})", chunk).fetchall())
        return total, {term: found[key] for term, key in folded.items() if key in found}

    @_serialized
    def sentence_count(self) -> int:
        """Indexed sentences; counted (a scan) only after a commit, this process's or another's."""
        version = (int(self.db.execute("PRAGMA data_version").fetchone()[0]), self._commits)
        if self._sentence_count is None or self._sentence_count[0] != version:
            self._sentence_count = (version, int(self.db.execute("SELECT count(*) FROM sentences").fetchone()[0]))
        return self._sentence_count[1]

    @_serialized
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

    @_serialized
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

    @_serialized
    def newest_ts(self) -> float | None:
        return self.db.execute("SELECT max(date_ts) FROM articles WHERE duplicate_of IS NULL").fetchone()[0]

    @_serialized
    def date_span(self) -> tuple[float, float] | None:
        """The oldest and newest article date (epoch seconds), or None when no article has one."""
        row = self.db.execute("SELECT min(date_ts), max(date_ts) FROM articles").fetchone()
        return None if row[0] is None else (float(row[0]), float(row[1]))

    @_serialized
    def window_sentences(
        self, since: float | None, until: float | None, undated: bool, *, max_articles: int
    ) -> int | None:
        """Indexed sentences of the articles in a date window (half-open; ``undated`` ones too), or
        None when more than ``max_articles`` articles are in it: counting stops there, so the cost
        does not grow with the window."""
        where, params = article_filter(since, until, None, undated)
        rows = self.db.execute(
            f"SELECT n_sentences FROM articles a WHERE {where} LIMIT ?", (*params, max_articles + 1)
        ).fetchall()
        return None if len(rows) > max_articles else sum(r[0] for r in rows)

    @_serialized
    def vid_dates(self, vids: list[str]) -> dict[str, float | None]:
        """The article date (epoch seconds, None when undated) of each sentence's vector id."""
        out: dict[str, float | None] = {}
        for start in range(0, len(vids), 500):
            chunk = vids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            out.update(
                self.db.execute(
                    f"SELECT s.vid, a.date_ts FROM sentences s JOIN articles a ON a.id = s.article_id "
                    f"WHERE s.vid IN ({marks})",
                    chunk,
                ).fetchall()
            )
        return out

    @_serialized
    def window_vids(self, since: float | None, until: float | None, undated: bool) -> list[str]:
        """Vector ids of every indexed sentence in a date window (keep the window small)."""
        where, params = article_filter(since, until, None, undated)
        return [
            r[0]
            for r in self.db.execute(
                f"SELECT s.vid FROM articles a JOIN sentences s ON s.article_id = a.id WHERE {where}", params
            )
        ]

    @_serialized
    def pending(self) -> list[tuple[str, str, int]]:
        return [tuple(r) for r in self.db.execute("SELECT key, version, n FROM pending")]

    @_serialized
    def committed_version(self, key: str) -> str | None:
        row = self.db.execute("SELECT version FROM articles WHERE key = ? AND duplicate_of IS NULL", (key,)).fetchone()
        return row[0] if row else None

    @_serialized
    def stats(self) -> dict[str, Any]:
        one = self.db.execute(
            "SELECT count(*), sum(n_sentences), sum(n_passages), count(DISTINCT source), "
            "min(date_ts), max(date_ts) FROM articles WHERE duplicate_of IS NULL"
        ).fetchone()
        duplicates = self.db.execute("SELECT count(*) FROM articles WHERE duplicate_of IS NOT NULL").fetchone()[0]
        sources = [
            {"source": r[0], "articles": r[1]}
            for r in self.db.execute(
                "SELECT source, count(*) FROM articles WHERE duplicate_of IS NULL "
                "GROUP BY source ORDER BY count(*) DESC"
            )
        ]
        return {
            "articles": one[0],
            "sentences": one[1] or 0,
            "passages": one[2] or 0,
            "duplicates": duplicates,
            "sources": sources,
            "oldest": ts_iso(one[4]),
            "newest": ts_iso(one[5]),
        }

    @_serialized
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

    def delete_article(self, db: sqlite3.Connection, article_id: str) -> None:
        """Remove an article, its sentences and its keyword rows."""
        self._delete_sentences(db, article_id)
        db.execute("DELETE FROM articles WHERE id = ?", (article_id,))

    def put_article(self, db: sqlite3.Connection, prepared: Prepared, duplicate_of: str | None) -> None:
        """Insert or replace an article; its sentences are indexed unless it is a duplicate."""
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
            counts.update(_terms(sentence_stems))
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
            counts.update(_terms(text.split()))
        db.executemany("UPDATE term_df SET df = df - ? WHERE term = ?", [(n, t) for t, n in counts.items()])
        db.executemany("DELETE FROM term_df WHERE term = ? AND df <= 0", [(t,) for t in counts])
        db.execute(
            "DELETE FROM sentence_fts WHERE rowid IN (SELECT rowid FROM sentences WHERE article_id = ?)",
            (article_id,),
        )
        db.execute("DELETE FROM sentences WHERE article_id = ?", (article_id,))


def _within_budget(terms: list[str], doc_freqs: dict[str, int], budget: int) -> list[str]:
    """The rarest terms whose postings add up to at most ``budget`` (terms no sentence has cost nothing)."""
    kept, spent = [], 0
    for term in sorted(terms, key=lambda t: doc_freqs.get(t, 0)):
        df = doc_freqs.get(term, 0)
        if df == 0:
            continue
        if spent + df > budget:
            break
        kept.append(term)
        spent += df
    return sorted(kept)


def _terms(sentence_stems: list[str]) -> set[str]:
    """The distinct terms of one sentence, as ``term_df`` counts them (``keywords.fold``)."""
    return {fold(t) for t in sentence_stems}
