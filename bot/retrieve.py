"""Hybrid cross-lingual retrieval over the sentence index.

Evidence comes from two sides:

- **vectors**: the question against every candidate sentence (multilingual e5); a
  passage scores its best sentence. One vector per sentence beats one per passage
  (measured: 0.963 vs 0.944 MRR@10 on XQuAD).
- **keywords**: German stems of the question, looked up in the FTS5 index. The keyword
  side does not get a rank of its own to fuse (naive rank fusion with BM25 took English
  questions from 0.90 to 0.62 MRR@10, because an English question shares few words
  with German text and BM25 then ranks noise). Instead it adds the *share of the
  question's term weight* (IDF) that a passage actually contains: high when German
  terms match, near zero for an English question except for names and numbers, so the
  keyword side helps exactly where it has evidence.

Candidates are gathered from both sides, then every sentence of every candidate
passage is scored exactly with its stored vector.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from bot.answer import SearchHit, reference_fields
from bot.errors import VectorStoreError
from bot.when import DateFilter
from index.keywords import stems
from index.models import ArticleMeta
from index.reading import CatalogReader, SentenceRow
from index.store import Index

if TYPE_CHECKING:
    from chromadb.api.types import LiteralValue, LogicalOperator, Where, WhereOperator

logger = logging.getLogger(__name__)

VECTOR_CANDIDATES = 60  # sentences asked from Chroma
# A date window of at most this many sentences (and articles) is searched exactly (about 20 us a
# sentence whose vector is not cached: a month of a 1M-sentence archive in ~120 ms, where Chroma's
# filter took 1.4 s); a larger one by up to OVERFETCH_MAX unfiltered neighbours, kept when
# MIN_WINDOW_HITS of them are inside.
EXACT_WINDOW_SENTENCES = 12_000
EXACT_WINDOW_ARTICLES = 600
OVERFETCH_MAX = 3_000
MIN_WINDOW_HITS = 20
KEYWORD_CANDIDATES = 60  # sentences asked from the keyword index
# Postings the keyword search may score per question (the rarest terms first): a bound on its
# cost at any archive size (p50 15 ms at 1M sentences; 8 ms with 5,000, which cost XQuAD en->de
# one question; 25 ms with 20,000; bench/scale_bench.py).
# A term in more sentences is a function word in a small archive and too common to single out a
# sentence in a large one; the vector search still covers it.
KEYWORD_POSTINGS = 10_000
PASSAGE_KEYWORD_WEIGHT = 0.05  # weight of keyword coverage in a passage's score (tuned on XQuAD)
# A "sentence" of one or two words ("– 6. Gruber 296.", "(APA, 23.4.2016)") lies near every
# question in e5's space (a hub): for a question in another script, with no keyword to outweigh it,
# such lines outranked the answering article. They stay quotable; they only count this much less
# when they would decide an article's rank.
SHORT_SENTENCE_WORDS = 3
# (0.03: on the development questions the answering sentence is among the first stage's best 6 for
# 0.906 instead of 0.887, English 0.92 instead of 0.88, Chinese 0.57 instead of 0.43; German
# unchanged; 0.06 gives the same: bench/reader/calibrate.py)
SHORT_SENTENCE_PENALTY = 0.03
# An article is ranked by its best passage, less ARTICLE_BREADTH_WEIGHT times how far the mean of
# its best BREADTH_SENTENCES sentences falls below its best one: a question in another script has
# no keyword to confirm the one sentence near it, and a single sentence near a question by chance
# (e5's hubs) outranked an article with several. (Development questions, the answering article
# ranked first: Russian, Chinese, Arabic 0.64 -> 0.81; German, English unchanged.)
ARTICLE_BREADTH_WEIGHT = 0.5
BREADTH_SENTENCES = 3
_LETTER_WORD = re.compile(r"[^\W\d_]{2,}")
RECENCY_WEIGHT = 0.03  # bonus for the newest articles when a question asks for the latest news
RECENCY_HALF_LIFE_DAYS = 7.0


@dataclass
class ScoredSentence:
    vid: str
    article_id: str
    idx: int
    passage: int
    kind: str
    text: str
    heading: str | None
    teaser_title: str | None
    similarity: float
    coverage: float  # share of the question's keyword weight this sentence contains
    terms: frozenset[str] = frozenset()  # its stems (as in the keyword index)


@dataclass
class RankedArticle:
    article_id: str
    score: float
    best_passage: int
    similarity: float = 0.0  # of the best passage's best sentence
    coverage: float = 0.0  # keyword coverage of the best passage
    sentences: list[ScoredSentence] = field(default_factory=list)  # of its candidate passages, in order
    # Set by ``whole_articles``: then ``sentences`` holds every sentence of the article, and these
    # are their vectors, row by row.
    vectors: np.ndarray | None = None
    meta: ArticleMeta = field(default_factory=lambda: ArticleMeta("", ""))  # for citations
    breadth: float = 0.0  # the part of ``score`` that ranks a lone near sentence lower (ARTICLE_BREADTH_WEIGHT)

    def hit(self) -> SearchHit:
        """The article, its scores and its best passage (``NewsQA.search``)."""
        passage = [s for s in self.sentences if s.passage == self.best_passage]
        best = max(passage, key=lambda s: s.similarity) if passage else None
        return SearchHit(
            *reference_fields(self.meta),
            note=self.meta.notes[0] if self.meta.notes else None,
            score=round(self.score, 4),
            similarity=round(self.similarity, 4),
            coverage=round(self.coverage, 4),
            passage=" ".join(s.text for s in passage),
            sentence=best.text if best else None,
        )


@dataclass
class Retrieval:
    query: str
    articles: list[RankedArticle]
    query_stems: list[str]
    known_terms: int  # query stems that occur somewhere in the index
    timings_ms: dict[str, float]
    query_vector: np.ndarray | None = None
    term_weights: dict[str, float] = field(default_factory=dict)  # IDF of the query's stems
    total_sentences: int = 0
    doc_freqs: dict[str, int] = field(default_factory=dict)  # of every term of the complete articles
    level: float = 0.0  # the question's similarity to text that does not answer it (bot/evidence.py)
    spread: float = 1.0  # the scale of its similarities above that level


@dataclass
class Candidates:
    """What one catalog snapshot holds for a query: candidate passages' sentences and vectors."""

    sentences: Sequence[SentenceRow]  # catalog rows of every sentence of the candidate passages, with stems
    vectors: dict[str, np.ndarray]  # their stored vectors by vector id
    articles: dict[str, ArticleMeta]
    total_sentences: int  # for IDF weights
    doc_freqs: dict[str, int]
    newest_ts: float | None  # when the question asks for the latest news


class Retriever:
    """Ranks articles and their sentences for a query; the index is opened by the caller."""

    def __init__(self, index: Index) -> None:
        self.index = index

    @property
    def catalog(self) -> CatalogReader:
        """The catalog as retrieval may use it (``index/reading.py``)."""
        return self.index.catalog

    def retrieve(
        self,
        query: str,
        *,
        dates: DateFilter | None = None,
        sources: list[str] | None = None,
        limit: int = 10,
    ) -> Retrieval:
        timings: dict[str, float] = {}
        started = time.perf_counter()
        qv = self.index.embedder.embed_query(query)
        timings["embed"] = _ms(started)
        q_stems = sorted(set(stems(query, drop_stopwords=True)))

        with self.index.reading():
            self.index.refresh()  # another process (newsbot ingest) may have changed the index
            try:
                found = self._candidates(qv, q_stems, dates, sources, timings)
            except (VectorStoreError, _MissingVectors):
                # Another process may have changed the store under this one's view: reopen, retry once.
                logger.warning("vector store failed or lacks vectors; reopening it and trying once more", exc_info=True)
                self.index.refresh(force=True)
                try:
                    found = self._candidates(qv, q_stems, dates, sources, timings)
                except _MissingVectors as exc:
                    raise self.index.damage(exc.missing) from None
        started = time.perf_counter()
        sims = _similarities(found.sentences, found.vectors, qv)
        weights = {t: idf(found.total_sentences, found.doc_freqs.get(t, 0)) for t in q_stems}
        ranked = rank_articles(found.sentences, sims, weights, found.articles, found.newest_ts)
        timings["score"] = _ms(started)
        known = sum(1 for t in q_stems if found.doc_freqs.get(t))
        return Retrieval(
            query, ranked[:limit], q_stems, known, timings, qv, weights, found.total_sentences, dict(found.doc_freqs)
        )

    def whole_articles(self, retrieval: Retrieval, n: int) -> None:
        """Score every sentence of the best ``n`` articles, not only those of their candidate
        passages: in a 30-sentence news article the answer is often far from the passage that
        matched best. Article scores stay as ranked; only ``sentences`` grows."""
        top = [a for a in retrieval.articles[:n] if a.vectors is None]
        if not top or retrieval.query_vector is None:
            return
        started = time.perf_counter()
        with self.index.reading():
            rows = self.catalog.article_sentences([a.article_id for a in top])
            vectors = self.index.vectors.get([r["vid"] for r in rows])
            if len(vectors) < len(rows):
                raise self.index.damage(len(rows) - len(vectors))
            terms = sorted({t for r in rows for t in r["stems"].split()} - retrieval.doc_freqs.keys())
            retrieval.doc_freqs.update(self.catalog.doc_freqs(terms)[1])
        sims = _similarities(rows, vectors, retrieval.query_vector)
        weights = retrieval.term_weights
        total_weight = sum(weights.values()) or 1.0
        by_id = {a.article_id: a for a in top}
        fresh: dict[str, list[ScoredSentence]] = {a.article_id: [] for a in top}
        for row, sim in zip(rows, sims):
            matched = set(row["stems"].split()) & weights.keys()
            fresh[row["article_id"]].append(_scored(row, float(sim), sum(weights[t] for t in matched) / total_weight))
        for article_id, sentences in fresh.items():
            if sentences:
                article = by_id[article_id]
                article.sentences = sentences
                article.vectors = np.stack([vectors[s.vid] for s in sentences])
        retrieval.timings_ms["whole_articles"] = _ms(started)

    def _candidates(
        self,
        qv: np.ndarray,
        q_stems: list[str],
        dates: DateFilter | None,
        sources: list[str] | None,
        timings: dict[str, float],
    ) -> Candidates:
        """Candidate passages with their sentences and vectors, all read from one catalog snapshot."""
        started = time.perf_counter()
        since = dates.since.timestamp() if dates and dates.since else None
        until = dates.until.timestamp() if dates and dates.until else None
        catalog = self.catalog
        with catalog.snapshot():
            undated = bool(dates and dates.include_undated)
            searched = bool(catalog.meta("dim"))
            vector_hits = self._vector_candidates(qv, since, until, undated) if searched else []
            total, dfs = catalog.doc_freqs(q_stems)
            if searched and total and since is None and until is None and not vector_hits:
                # Chroma lost its vectors (the catalog's copy and the keyword hits would otherwise
                # hide that behind worse answers). Fewer than k hits is no sign of damage: HNSW
                # returned 52 of 60 on the 3M-sentence benchmark, whose articles repeat sentences.
                raise _MissingVectors(total)
            keyword_hits = catalog.keyword_search(
                q_stems,
                KEYWORD_CANDIDATES,
                since=since,
                until=until,
                sources=sources,
                undated=undated,
                doc_freqs=dfs,
                max_postings=KEYWORD_POSTINGS,
            )
            rows = catalog.sentences_by_vid([v for v, _ in vector_hits] + [v for v, _ in keyword_hits])
            articles = catalog.articles_by_id(sorted({r["article_id"] for r in rows.values()}))
            if sources:
                articles = {k: v for k, v in articles.items() if v.source in sources}
            passages = sorted({(r["article_id"], r["passage"]) for r in rows.values() if r["article_id"] in articles})
            sentence_rows = catalog.passage_sentences(passages)
            newest = catalog.newest_ts() if dates and dates.recency else None
            vectors = self.index.vectors.get([r["vid"] for r in sentence_rows])
        if len(vectors) < len(sentence_rows):
            raise _MissingVectors(len(sentence_rows) - len(vectors))
        timings["candidates"] = _ms(started)
        return Candidates(sentence_rows, vectors, articles, total, dfs, newest)

    def _vector_candidates(
        self, qv: np.ndarray, since: float | None, until: float | None, undated: bool = False
    ) -> list[tuple[str, float]]:
        """The nearest sentences, within the date window when there is one.

        Chroma's own filter gets slower the narrower the window (measured in
        bench/scale_bench.py), so a window is searched by its size: a small one exactly (every
        vector in it), a large one by asking Chroma for more neighbours unfiltered and keeping
        those inside; only a window in between falls back to Chroma's filter.
        """
        vectors = self.index.vectors
        if since is None and until is None:
            return vectors.query(qv, VECTOR_CANDIDATES)
        in_window = self.catalog.window_sentences(since, until, undated, max_articles=EXACT_WINDOW_ARTICLES)
        if in_window is not None and in_window <= EXACT_WINDOW_SENTENCES:
            kept, matrix, uncopied = self.catalog.window_vectors(since, until, undated)
            if uncopied:  # sentences from before the catalog kept vectors: Chroma has them
                found = vectors.get(uncopied)
                more = [v for v in uncopied if v in found]
                if more:
                    fetched = np.stack([found[v] for v in more])
                    matrix = np.vstack([matrix, fetched]) if kept else fetched
                    kept = kept + more
            if not kept:
                return []
            sims = matrix @ qv
            best = np.argsort(-sims)[:VECTOR_CANDIDATES]
            return [(kept[i], float(sims[i])) for i in best]
        share = self._window_share(since, until, in_window)
        k = min(OVERFETCH_MAX, math.ceil(2 * VECTOR_CANDIDATES / max(share, 1e-9)))
        if k * share >= MIN_WINDOW_HITS:
            hits = vectors.query(qv, k)
            dates = self.catalog.vid_dates([vid for vid, _ in hits])  # cheaper than Chroma's metadata
            inside = [
                (vid, sim)
                for vid, sim in hits
                if vid in dates
                and (
                    (ts := dates[vid]) is None
                    and undated
                    or ts is not None
                    and (since is None or ts >= since)
                    and (until is None or ts < until)
                )
            ]
            if len(inside) >= MIN_WINDOW_HITS:
                return inside[:VECTOR_CANDIDATES]
        conditions: list[Where] = []
        if since is not None:
            conditions.append(_ts("$gte", since))
        if until is not None:
            conditions.append(_ts("$lt", until))
        where: Where = conditions[0] if len(conditions) == 1 else {"$and": conditions}
        if undated:  # undated articles are stored with ts = -1
            where = {"$or": [where, _ts("$eq", -1.0)]}
        return vectors.query(qv, VECTOR_CANDIDATES, where)

    def _window_share(self, since: float | None, until: float | None, in_window: int | None) -> float:
        """The archive's share in a date window: counted when the window is small enough to count,
        else estimated from how much of the archive's time span it covers."""
        total = self.catalog.doc_freqs([])[0]
        if in_window is not None:
            return in_window / max(1, total)
        span = self.catalog.date_span()
        if span is None or span[1] <= span[0]:
            return 1.0
        start, end = max(span[0], since or span[0]), min(span[1], until or span[1])
        return max(0.0, min(1.0, (end - start) / (span[1] - span[0])))


def rank_articles(
    rows: Sequence[SentenceRow],
    sims: np.ndarray,
    weights: dict[str, float],
    articles: dict[str, ArticleMeta],
    newest: float | None,
) -> list[RankedArticle]:
    """The candidate sentences' articles, best first: each by its best passage (its best sentence's
    similarity and the passage's keyword coverage), the recency bonus where asked, and its breadth
    (``ARTICLE_BREADTH_WEIGHT``, over the sentences of its candidate passages: a title or a short
    paragraph alone has no others and escapes it; padding the rest with the least similar vector
    hit cost XQuAD's short paragraphs more than it gained, docs/performance.md)."""
    total_weight = sum(weights.values()) or 1.0
    by_article: dict[str, RankedArticle] = {}
    passage_terms: dict[tuple[str, int], set[str]] = {}
    for row, sim in zip(rows, sims):
        terms = set(row["stems"].split()) & weights.keys()
        coverage = sum(weights[t] for t in terms) / total_weight
        sentence = _scored(row, float(sim), coverage)
        article = by_article.setdefault(
            row["article_id"], RankedArticle(row["article_id"], -math.inf, -1, meta=articles[row["article_id"]])
        )
        article.sentences.append(sentence)
        passage_terms.setdefault((row["article_id"], row["passage"]), set()).update(terms)

    for article in by_article.values():
        recency = 0.0
        if newest is not None and article.meta.date_ts is not None:
            age_days = max(0.0, (newest - article.meta.date_ts) / 86400)
            recency = RECENCY_WEIGHT * 0.5 ** (age_days / RECENCY_HALF_LIFE_DAYS)
        best: dict[int, float] = {}
        near: list[float] = []
        for s in article.sentences:
            short = len(_LETTER_WORD.findall(s.text)) < SHORT_SENTENCE_WORDS
            near.append(s.similarity - SHORT_SENTENCE_PENALTY * short)
            best[s.passage] = max(best.get(s.passage, -math.inf), near[-1])
        top = sorted(near, reverse=True)[:BREADTH_SENTENCES]
        breadth = ARTICLE_BREADTH_WEIGHT * (sum(top) / len(top) - top[0])  # one lucky sentence, or several
        for passage, sim in best.items():
            terms = passage_terms[(article.article_id, passage)]
            coverage = sum(weights[t] for t in terms) / total_weight
            score = sim + PASSAGE_KEYWORD_WEIGHT * coverage + recency + breadth
            if score > article.score:
                article.score, article.best_passage = score, passage
                article.similarity, article.coverage, article.breadth = sim, coverage, breadth
    return sorted(by_article.values(), key=lambda a: a.score, reverse=True)


class _MissingVectors(Exception):
    """Catalog sentences without vectors: never scored as zeros (a silent "nothing found")."""

    def __init__(self, missing: int) -> None:
        super().__init__(f"{missing} candidate sentences have no vector")
        self.missing = missing


def _ts(op: WhereOperator, value: float) -> Where:
    """Chroma's filter on the date (``ts``) beside a sentence vector: ``{"ts": {op: value}}``."""
    expression: dict[WhereOperator | LogicalOperator, LiteralValue] = {op: value}
    return {"ts": expression}


def _scored(row: SentenceRow, similarity: float, coverage: float) -> ScoredSentence:
    return ScoredSentence(
        row["vid"],
        row["article_id"],
        row["idx"],
        row["passage"],
        row["kind"],
        row["text"],
        row["heading"],
        row["teaser_title"],
        similarity,
        coverage,
        frozenset(row["stems"].split()),
    )


def _similarities(rows: Sequence[SentenceRow], vectors: dict[str, np.ndarray], qv: np.ndarray) -> np.ndarray:
    if not rows:
        return np.zeros(0, dtype=np.float32)
    matrix = np.stack([vectors.get(r["vid"], np.zeros_like(qv)) for r in rows])
    return matrix @ qv


def idf(total: int, df: int) -> float:
    """BM25's inverse document frequency of a term in ``df`` of ``total`` sentences. A term no
    sentence contains (often an English word) still counts: the passage lacks it."""
    return math.log(1 + (total - df + 0.5) / (df + 0.5))


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
