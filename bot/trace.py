"""How an answer was found: the typed trace behind ``--debug``, the REPL's ``:debug`` and the
benchmarks (the query searched, the date filter, the evidence against its threshold, the ranked
articles, and what became of an LLM's draft)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Candidate:
    """One ranked article and its best sentence."""

    article_id: str
    title: str
    score: float
    similarity: float
    coverage: float
    sentence: str | None


@dataclass
class Dropped:
    """A draft sentence the verifier did not let through, and why."""

    sentence: str
    reason: str


@dataclass
class LLMTrace:
    """What the LLM was given and what became of its draft."""

    sources: list[str]  # article ids, in the order the model saw them
    draft: str | None = None
    ms: float | None = None
    error: str | None = None  # the model did not answer (in time)
    fallback: str | None = None  # why quotes were shown instead: a key of ``bot.texts.TEXTS``
    dropped: list[Dropped] = field(default_factory=list)


@dataclass
class ReaderTrace:
    """What the reader made of the candidate sentences (``bot/reader/``)."""

    name: str
    best: float | None  # the best candidate's log-odds of answering; refused below ``threshold``
    threshold: float
    scored: list[tuple[str, float]] = field(default_factory=list)  # (sentence, log-odds), best first
    read: int = 0  # candidates read: 6, or 10 where the first 6 left it unsure
    ms: float = 0.0
    # the calibrated probability that the first quote answers (None: refused, or no calibration)
    confidence: float | None = None


@dataclass
class Trace:
    query: str  # after the follow-up rewrite
    search: str  # the query without its date phrases
    date_filter: dict[str, object]
    best_score: float | None  # the evidence; refused below ``threshold``
    threshold: float
    ranking: list[str]  # article ids, best first
    candidates: list[Candidate]  # the first ten of them
    llm: LLMTrace | None = None
    reader: ReaderTrace | None = None
