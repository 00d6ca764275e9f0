"""What answering reads from the catalog and keyword index, as an interface.

``index.catalog.Catalog`` (SQLite + FTS5) implements it; the answering code in ``bot/`` is typed
against this protocol only (mypy checks that the catalog conforms), so a server database with
its own full-text search could take SQLite's place without touching retrieval or quoting.
What it has to provide, and what it costs today, is in docs/scaling.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Literal, Protocol, overload

import numpy as np

from index.models import Article, ArticleMeta, IndexStats


class SentenceRow(Protocol):
    """One indexed sentence: ``vid``, ``article_id``, ``idx``, ``passage``, ``kind``, ``heading``,
    ``teaser_title``, ``text`` and ``stems`` (space-separated Snowball stems)."""

    @overload
    def __getitem__(self, key: Literal["vid", "article_id", "kind", "text", "stems"]) -> str: ...
    @overload
    def __getitem__(self, key: Literal["idx", "passage"]) -> int: ...
    @overload
    def __getitem__(self, key: Literal["heading", "teaser_title"]) -> str | None: ...


class CatalogReader(Protocol):
    def snapshot(self) -> AbstractContextManager[object]:
        """Every read inside sees one committed state."""
        ...

    def meta(self, key: str) -> str | None: ...

    def stats(self) -> IndexStats: ...

    def article(self, article_id: str) -> Article | None: ...

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
        """(vector id, score) of the best keyword matches, within a postings budget."""
        ...

    def doc_freqs(self, terms: list[str]) -> tuple[int, dict[str, int]]:
        """(sentences in all, sentences with each term)."""
        ...

    def sentences_by_vid(self, vids: list[str]) -> Mapping[str, SentenceRow]: ...

    def sentence_vectors(self, vids: list[str]) -> dict[str, np.ndarray]:
        """The catalog's copy of sentences' vectors (what the vector store reads first)."""
        ...

    def passage_sentences(self, passages: list[tuple[str, int]]) -> Sequence[SentenceRow]: ...

    def article_sentences(self, article_ids: list[str]) -> Sequence[SentenceRow]: ...

    def articles_by_id(self, ids: list[str]) -> dict[str, ArticleMeta]: ...

    def articles_with_sentences(self, texts: list[str]) -> dict[str, list[ArticleMeta]]: ...

    def newest_ts(self) -> float | None: ...

    def date_span(self) -> tuple[float, float] | None: ...

    def window_sentences(
        self, since: float | None, until: float | None, undated: bool, *, max_articles: int
    ) -> int | None: ...

    def vid_dates(self, vids: list[str]) -> dict[str, float | None]: ...

    def window_vectors(
        self, since: float | None, until: float | None, undated: bool
    ) -> tuple[list[str], np.ndarray, list[str]]:
        """Every sentence of a date window: (ids with the catalog's vector, their vectors, ids without)."""
        ...
