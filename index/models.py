"""The data that flows through ingestion."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Literal

# Bump when cleaning or splitting rules change: every article then counts as changed on its
# next ingest and is re-split, so no sentence cut by old rules stays in the index.
PIPELINE_VERSION = "1"

BlockKind = Literal["text", "heading", "teaser"]
SentenceKind = Literal["title", "text", "teaser"]


@dataclass(frozen=True)
class ArticleMeta:
    """What a citation needs of an indexed article, without its text (read from the catalog)."""

    id: str
    title: str
    source: str | None = None
    url: str | None = None
    published: str | None = None  # ISO 8601
    updated: str | None = None
    date_ts: float | None = None  # updated, else published, as epoch seconds
    notes: tuple[str, ...] = ()  # editorial notes ("Hinweis zur Berichterstattung ...")


@dataclass(frozen=True)
class Article:
    """One article as loaded from any format; ``text`` is the raw body before cleaning."""

    id: str
    title: str
    text: str
    source: str | None = None
    url: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    section: str | None = None
    author: str | None = None
    metadata: dict[str, object] = field(default_factory=dict)
    origin: str | None = None  # file, URL or "<stdin>" it came from; not part of the content

    @property
    def date(self) -> datetime | None:
        """The date an article is filed under: when it was last updated, else published."""
        return self.updated or self.published

    def to_dict(self) -> dict[str, object]:
        """Metadata and text as JSON (dates in ISO 8601), without where it was read from."""
        data = asdict(self)
        data.pop("origin")
        for key in ("published", "updated"):
            data[key] = data[key].isoformat() if data[key] else None
        return data

    def content_hash(self) -> str:
        """Hash over everything that is content, so any edit (text, "Stand", title) shows."""
        payload = asdict(self)
        payload.pop("origin")
        payload["pipeline"] = PIPELINE_VERSION
        blob = json.dumps(payload, sort_keys=True, default=_json_default, ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Block:
    """A cleaned piece of an article body."""

    kind: BlockKind
    text: str
    teaser_title: str | None = None  # for teasers: the headline of the linked article


@dataclass(frozen=True)
class Sentence:
    """One indexed sentence; ``passage`` numbers the passage it belongs to within its article."""

    idx: int
    passage: int
    kind: SentenceKind
    text: str
    heading: str | None = None
    teaser_title: str | None = None


@dataclass
class Prepared:
    """An article after cleaning and splitting, ready to embed and store."""

    article: Article
    version: str
    norm_hash: str
    sentences: list[Sentence]
    notes: list[str]
    broadcast: list[str]
    dropped: list[str]


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


@dataclass(frozen=True)
class SourceCount:
    source: str | None
    articles: int


@dataclass(frozen=True)
class IndexStats:
    """What an index holds (``Catalog.stats``): indexed articles (duplicates apart), their
    sentences and passages, articles per source, the oldest and newest date (ISO 8601), take-downs."""

    articles: int
    sentences: int
    passages: int
    duplicates: int
    sources: list[SourceCount]
    oldest: str | None
    newest: str | None
    taken_down: int

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class AdminStats(IndexStats):
    """``IndexStats`` and how the index is kept: embedder, vector store, data folder and size
    (``newsbot stats``)."""

    embedder: str | None = None
    dim: int | None = None
    vector_store: str = "embedded"
    data_dir: str = ""
    data_bytes: int = 0


@dataclass(frozen=True)
class ReindexReport:
    """What ``newsbot reindex`` did: sentences re-embedded, with which embedder, how long it took."""

    sentences: int
    embedder: str
    seconds: float

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class IndexCheck:
    """Whether catalog, keyword index and vectors agree (``newsbot check``): every committed
    sentence has its vector, in Chroma and in the catalog's copy, and nothing else is there."""

    sentences: int
    missing_vectors: int
    orphan_vectors: int
    keyword_rows_match: bool
    vectors_not_in_catalog: int
    pending: int
    taken_down: int
    taken_down_but_indexed: int

    @property
    def ok(self) -> bool:
        return (
            not self.missing_vectors
            and not self.orphan_vectors
            and self.keyword_rows_match
            and not self.vectors_not_in_catalog
            and not self.taken_down_but_indexed
        )

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "ok": self.ok}
