"""The catalog's tables, and the mapping between their rows and the index's models.

``SCHEMA`` is the whole database: articles, sentences, the FTS5 keyword index over
Snowball stems, a copy of the sentence vectors, meta and the intent log of pending
vector sets. Row converters and the
date/source filter live here too, so the ``Catalog`` class holds only the operations.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from index.models import Article, ArticleMeta

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    version TEXT NOT NULL,
    norm_hash TEXT NOT NULL,
    duplicate_of TEXT,
    title TEXT NOT NULL,
    source TEXT, url TEXT, published TEXT, updated TEXT, date_ts REAL,
    section TEXT, author TEXT,
    text TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    notes TEXT NOT NULL DEFAULT '[]',
    broadcast TEXT NOT NULL DEFAULT '[]',
    origin TEXT,
    n_sentences INTEGER NOT NULL DEFAULT 0,
    n_passages INTEGER NOT NULL DEFAULT 0,
    ingested_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS articles_norm ON articles (norm_hash);
CREATE INDEX IF NOT EXISTS articles_dup ON articles (duplicate_of);
CREATE INDEX IF NOT EXISTS articles_date ON articles (date_ts);
CREATE TABLE IF NOT EXISTS sentences (
    rowid INTEGER PRIMARY KEY,
    vid TEXT NOT NULL UNIQUE,
    article_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    passage INTEGER NOT NULL,
    kind TEXT NOT NULL,
    heading TEXT,
    teaser_title TEXT,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sentences_article ON sentences (article_id, idx);
CREATE INDEX IF NOT EXISTS sentences_text ON sentences (text);
CREATE VIRTUAL TABLE IF NOT EXISTS sentence_fts USING fts5 (stems);
CREATE VIRTUAL TABLE IF NOT EXISTS sentence_vocab USING fts5vocab (sentence_fts, 'row');
-- Sentences per stem, kept in the same transactions as sentence_fts: FTS5's own vocabulary
-- counts a term's documents by walking its postings, a cost that grows with the archive.
CREATE TABLE IF NOT EXISTS term_df (term TEXT PRIMARY KEY, df INTEGER NOT NULL) WITHOUT ROWID;
-- A copy of each sentence's vector (keyed by the sentence's rowid), written in the same
-- transaction as the sentence: scoring reads vectors here (Chroma's get costs ~40 us a vector).
CREATE TABLE IF NOT EXISTS sentence_vectors (rowid INTEGER PRIMARY KEY, vec BLOB NOT NULL);
-- A deleted sentence takes its copy along, whoever deletes it (an older newsbot too), so a reused
-- rowid never finds another sentence's vector.
CREATE TRIGGER IF NOT EXISTS sentence_vectors_follow AFTER DELETE ON sentences
BEGIN DELETE FROM sentence_vectors WHERE rowid = old.rowid; END;
-- Take-downs (newsbot remove, DELETE /v1/articles, a page answering 404/410): no later ingest of
-- the same id or URL brings the article back unless it is restored explicitly.
CREATE TABLE IF NOT EXISTS tombstones (id TEXT PRIMARY KEY, url TEXT, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS tombstones_url ON tombstones (url);
CREATE TABLE IF NOT EXISTS pending (
    key TEXT NOT NULL, version TEXT NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (key, version)
);
"""


@dataclass(frozen=True)
class ArticleState:
    """What the catalog has committed for one article id."""

    id: str
    key: str
    version: str
    norm_hash: str
    duplicate_of: str | None
    n_sentences: int
    origin: str | None


def article_key(article_id: str) -> str:
    """Short, fixed-length key of an article id (ids may be long URLs)."""
    return hashlib.sha1(article_id.encode("utf-8")).hexdigest()[:16]


def vector_ids(key: str, version: str, n: int) -> list[str]:
    """Chroma ids of one article version's sentences: versioned, so versions never collide."""
    return [f"{key}-{version}-{i}" for i in range(n)]


def article_filter(
    since: float | None, until: float | None, sources: list[str] | None, undated: bool = False
) -> tuple[str, list[float | str]]:
    """SQL condition on ``articles a`` for a date range (undated articles pass it with ``undated``)
    and a source list."""
    dates: list[str] = []
    params: list[float | str] = []
    if since is not None:
        dates.append("a.date_ts >= ?")
        params.append(since)
    if until is not None:
        dates.append("a.date_ts < ?")
        params.append(until)
    where = ["1"]
    if dates:
        clause = " AND ".join(dates)
        where.append(f"(({clause}) OR a.date_ts IS NULL)" if undated else f"({clause})")
    if sources:
        where.append(f"a.source IN ({','.join('?' * len(sources))})")
        params.extend(sources)
    return " AND ".join(where), params


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def ts_iso(ts: float | None) -> str | None:
    """An epoch timestamp as ISO 8601; None for none, or for one a catalog written before dates
    were range-checked holds beyond the calendar (it must not fail every reader)."""
    if ts is None:
        return None
    try:
        return datetime.fromtimestamp(ts, tz=UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        return None


def _stored_date(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def row_to_article(row: sqlite3.Row) -> Article:
    return Article(
        id=row["id"],
        title=row["title"],
        text=row["text"],
        source=row["source"],
        url=row["url"],
        published=_stored_date(row["published"]),
        updated=_stored_date(row["updated"]),
        section=row["section"],
        author=row["author"],
        metadata=json.loads(row["metadata"]),
        origin=row["origin"],
    )


def row_to_meta(row: sqlite3.Row) -> ArticleMeta:
    return ArticleMeta(
        id=row["id"],
        title=row["title"],
        source=row["source"],
        url=row["url"],
        published=row["published"],
        updated=row["updated"],
        date_ts=row["date_ts"],
        notes=tuple(json.loads(row["notes"] or "[]")),
    )


VECTOR_DTYPE = "<f2"  # float16: half of Chroma's float32 on disk and in the page cache; similarities
# change by ~1e-4, and a 10,000-sentence date window reads in ~14 ms + 6 ms to convert (float32: ~20 ms)


def vector_blob(vector: npt.ArrayLike) -> bytes:
    """A sentence vector as the catalog stores it."""
    return np.asarray(vector, dtype=VECTOR_DTYPE).tobytes()


def blob_vectors(blobs: list[bytes]) -> np.ndarray:
    """Stored vectors back as one float32 matrix (one row per blob, all of one dimension)."""
    joined = bytearray().join(blobs)  # writable, one copy
    return np.frombuffer(joined, dtype=VECTOR_DTYPE).reshape(len(blobs), -1).astype(np.float32, copy=False)
