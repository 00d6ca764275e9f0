"""What the facade returns: an answer with structured citations. Front ends only format these."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Literal

from bot.trace import Trace

if TYPE_CHECKING:
    from index.models import ArticleMeta

# Below this calibrated probability that its first quote answers, an answer says it is unsure: on
# the news development questions 3 in 10 of such answers quote an answer, of the others 85 in 100
# (bench/reader/calibrate.py, docs/reader.md "How sure an answer is").
LOW_CONFIDENCE = 0.5


def is_unsure(confidence: float | None) -> bool:
    """Whether an answer of this ``confidence`` says it is unsure (None: it says nothing of it)."""
    return confidence is not None and confidence < LOW_CONFIDENCE


@dataclass
class ArticleRef:
    """What names an article wherever newsbot shows one (a citation, a search hit): id, title,
    source, link and dates."""

    article_id: str
    title: str
    source: str | None
    url: str | None
    published: str | None  # ISO 8601
    updated: str | None  # ISO 8601


def reference_fields(meta: ArticleMeta) -> tuple[str, str, str | None, str | None, str | None, str | None]:
    """``ArticleRef``'s fields of an article, in order (the first arguments of every subclass)."""
    return (meta.id, meta.title, meta.source, meta.url, meta.published, meta.updated)


def reference(meta: ArticleMeta) -> ArticleRef:
    """The reference to an article (``Citation.also``)."""
    return ArticleRef(*reference_fields(meta))


@dataclass
class SearchHit(ArticleRef):
    """One article found by ``NewsQA.search``: its reference, editorial note, scores and best
    passage. ``/v1/search`` and llama-index's retriever read this one type."""

    note: str | None  # the editorial note, as citations carry it
    score: float
    similarity: float  # of the best passage's best sentence
    coverage: float  # keyword coverage of the best passage
    passage: str
    sentence: str | None  # the best passage's sentence most similar to the query

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class Citation(ArticleRef):
    """One cited article, with the verbatim sentence(s) quoted from it."""

    n: int
    quote: str
    score: float
    quotes: list[str] = field(default_factory=list)  # every quote from this article, in answer order
    # where the reader found the answer in each of ``quotes`` ([start, end) characters), None where it marked none
    answer_spans: list[tuple[int, int] | None] = field(default_factory=list)
    also: list[ArticleRef] = field(default_factory=list)  # other articles with the same quote
    note: str | None = None  # the article's editorial note, if any

    @classmethod
    def of(cls, meta: ArticleMeta, n: int, quote: str, score: float) -> Citation:
        """Citation ``n`` of an article, quoting ``quote``; the article's first editorial note."""
        return cls(
            *reference_fields(meta),
            n=n,
            quote=quote,
            score=round(score, 4),
            note=meta.notes[0] if meta.notes else None,
        )


@dataclass
class Answer:
    """An extractive answer, or a refusal (``refused``) when the evidence is too weak."""

    question: str
    text: str
    refused: bool
    language: str
    citations: list[Citation] = field(default_factory=list)
    note: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    mode: Literal["extractive", "generated"] = "extractive"  # generated: an LLM's sentences, each verified
    # how likely the first quote answers the question (the reader's calibrated probability; None:
    # refused, generated, or a reader without a calibration); below ``LOW_CONFIDENCE`` its note says so
    confidence: float | None = None
    trace: Trace | None = None  # how it was found (``--debug``)
    answer_id: str | None = None  # set when the question log kept it (feedback refers to it)

    def to_dict(self, *, debug: bool = False) -> dict[str, object]:
        """The JSON contract of ``newsbot ask --json`` (and of the HTTP API)."""
        data = asdict(self)
        data["answer"] = data.pop("text")
        trace = data.pop("trace")
        if debug:
            data["debug"] = trace
        return {"question": data.pop("question"), "answer": data.pop("answer"), **data}

    @property
    def query(self) -> str:
        """The query actually searched (after follow-up rewriting)."""
        return self.trace.query if self.trace is not None else self.question
