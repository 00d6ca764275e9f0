"""The catalog's read side for retrieval: the keyword search within a postings budget, document
frequencies (kept in ``term_df``), the sentence count, and date windows. ``Catalog`` inherits it;
``CatalogReader`` (``index/reading.py``) is what answering may use of both."""

from __future__ import annotations

import functools
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Concatenate, ParamSpec, Protocol, TypeVar

from index.keywords import fold
from index.schema import article_filter

TERM_DF_VERSION = "2"  # 2: terms folded as FTS5 folds them (``keywords.fold``)
P = ParamSpec("P")
R = TypeVar("R")


class _Locked(Protocol):
    lock: threading.RLock


S = TypeVar("S", bound=_Locked)


def serialized(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
    """One statement (or transaction) at a time on the shared connection: a reader's snapshot
    and a writer's transaction in two threads of one process must not interleave."""

    @functools.wraps(method)
    def wrapper(self: S, *args: P.args, **kwargs: P.kwargs) -> R:
        with self.lock:
            return method(self, *args, **kwargs)

    return wrapper


class KeywordSearch:
    """Needs ``db`` (the connection), ``lock`` and the two counters ``Catalog.__init__`` sets."""

    db: sqlite3.Connection
    lock: threading.RLock
    _commits: int
    _sentence_count: tuple[tuple[int, int], int] | None

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:  # Catalog's
        raise NotImplementedError

    def _count_terms(self) -> None:
        """Fill ``term_df`` once for a catalog written before it existed (one pass over the stems)."""
        with self.transaction() as db:
            done = db.execute("SELECT value FROM meta WHERE key = 'term_df'").fetchone()
            if done and done[0] == TERM_DF_VERSION:
                return  # another process did it first
            counts: Counter[str] = Counter()
            for (text,) in db.execute("SELECT stems FROM sentence_fts"):
                counts.update(distinct_terms(text.split()))
            db.execute("DELETE FROM term_df")
            db.executemany("INSERT INTO term_df VALUES (?, ?)", counts.items())
            db.execute("INSERT OR REPLACE INTO meta VALUES ('term_df', ?)", (TERM_DF_VERSION,))

    @serialized
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
        if not params and where == "1":
            # No filter: rank in FTS5 alone and look up only the best rows (joining every
            # matching row first cost 2-3x as much: 14 vs 6 ms at 1M sentences).
            rows = self.db.execute(
                "SELECT s.vid, -f.score FROM (SELECT rowid, bm25(sentence_fts) AS score FROM sentence_fts "
                "WHERE sentence_fts MATCH ? ORDER BY score LIMIT ?) f JOIN sentences s ON s.rowid = f.rowid "
                "ORDER BY f.score",
                (match, limit),
            )
        else:
            rows = self.db.execute(
                "SELECT s.vid, -bm25(sentence_fts) FROM sentence_fts JOIN sentences s ON s.rowid = sentence_fts.rowid "
                f"JOIN articles a ON a.id = s.article_id WHERE sentence_fts MATCH ? AND {where} "
                "ORDER BY bm25(sentence_fts) LIMIT ?",
                (match, *params, limit),
            )
        return [(r[0], float(r[1])) for r in rows]

    @serialized
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

    @serialized
    def sentence_count(self) -> int:
        """Indexed sentences; counted (a scan) only after a commit, this process's or another's."""
        version = (int(self.db.execute("PRAGMA data_version").fetchone()[0]), self._commits)
        if self._sentence_count is None or self._sentence_count[0] != version:
            self._sentence_count = (version, int(self.db.execute("SELECT count(*) FROM sentences").fetchone()[0]))
        return self._sentence_count[1]

    @serialized
    def date_span(self) -> tuple[float, float] | None:
        """The oldest and newest article date (epoch seconds), or None when no article has one."""
        row = self.db.execute("SELECT min(date_ts), max(date_ts) FROM articles").fetchone()
        return None if row[0] is None else (float(row[0]), float(row[1]))

    @serialized
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

    @serialized
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


def distinct_terms(sentence_stems: list[str]) -> set[str]:
    """The distinct terms of one sentence, as ``term_df`` counts them (``keywords.fold``)."""
    return {fold(t) for t in sentence_stems}
