"""``NewsQA``: the one facade every front end talks to.

    qa = NewsQA(settings)
    answer = qa.ask("Wer hat in Belarus verhandelt?")
    answer.text, answer.citations, answer.refused

``ask`` runs retrieval and answer building synchronously; ``aask`` runs the same in a
worker thread so Telegram and HTTP handlers never block their event loop.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal, TypedDict, Unpack
from zoneinfo import ZoneInfo

from bot.admin import NewsAdmin
from bot.answer import Answer, Citation, SearchHit, is_unsure
from bot.answering import default_model, lead_score, normalized_evidence
from bot.claims import lemma
from bot.conversation import Conversation, has_topic, rewrite, trim
from bot.errors import ArticleNotFoundError, InvalidInputError
from bot.evidence import Background
from bot.extract import QUOTE_ARTICLES, choose_quotes, cite, compose, rank_quotes
from bot.generate import NO_ANSWER, VerifiedDraft, Verifier, cite_claims, messages, rewrite_messages, sources_for
from bot.language import detect_language, has_function_words
from bot.llm import LLM, LLMError
from bot.reader import (
    ClaimChecker,
    Reader,
    load_claim_checker,
    load_reader,
    probability,
    read_quotes,
)
from bot.retrieve import Retrieval, Retriever
from bot.settings import Settings
from bot.texts import texts
from bot.trace import Candidate, Dropped, LLMTrace, Trace
from bot.when import DateFilter, combine, resolve
from index.dates import parse_datetime
from index.embed import NewsEmbedding
from index.models import Article, IndexStats
from index.reading import CatalogReader
from index.store import Index

logger = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 2000
# What a question may cost: the embedding's time grows with its tokens (a 2,000-character
# question in an unusual script is 600-1,000 tokens, 1-3 s of CPU), so the bound is in tokens.
MAX_QUESTION_TOKENS = 128
LEGACY_MIN_EVIDENCE = 0.85  # for the similarity-only evidence, when no answer model is installed
# With a reader, retrieval's evidence only screens out questions nothing in the archive is near
# (and saves the reader's time on them); the reader decides the rest (bench/reader/calibrate.py).
READER_MIN_EVIDENCE = 0.6

Turn = str | Answer  # a previous question, or the answer it got


class AskOptions(TypedDict, total=False):
    """``NewsQA.ask``'s keyword arguments, which ``NewsQA.aask`` passes on."""

    history: Sequence[Turn] | None
    conversation: Conversation | None
    since: datetime | date | str | None
    until: datetime | date | str | None
    sources: list[str] | None
    now: datetime | None
    on_draft: Callable[[str], None] | None


@dataclass
class Search:
    """What ``NewsQA.find`` found for a question, before an answer is built."""

    language: str
    query: str  # the question, rewritten when it was a follow-up
    search: str  # the query without its date phrases
    reading: str  # what the reader reads: a follow-up after the question it follows
    dates: DateFilter
    retrieval: Retrieval


class NewsQA:
    """Question answering over an index, opened read-only; ``close()`` when done."""

    def __init__(self, settings: Settings, *, embedder: NewsEmbedding | None = None, llm: LLM | None = None) -> None:
        self.settings = settings
        self.llm = llm if llm is not None else LLM.from_settings(settings)
        # what checks an LLM's claims; loaded (and a broken one refused) at start, only with an LLM
        self.claim_checker: ClaimChecker | None = (
            load_claim_checker(settings.claim_checker, settings.reader_precision) if self.llm is not None else None
        )
        self.index = Index.connect(settings.index_config(), embedder=embedder)
        self.retriever = Retriever(self.index)
        self.zone = ZoneInfo(settings.timezone)
        # Writes share this handle (one Chroma client per process and path), one at a time; other
        # processes wait for the data dir's file lock up to ``lock_timeout``, then fail.
        self.admin = NewsAdmin(settings, self.index)
        self.model = default_model()
        self.reader: Reader | None = load_reader(settings.reader, settings.reader_threshold, settings.reader_precision)
        self._background: Background | None = None

    def close(self) -> None:
        self.index.close()

    def __enter__(self) -> NewsQA:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def warm_up(self) -> None:
        """Load the model and open the vector store now, not on the first question; then take
        everything loaded out of the garbage collector's full passes (``gc.freeze``): they
        walk every tracked object, and with a loaded model and Chroma client each took ~120 ms
        in the middle of a question (bench/scale_bench.py, date windows at 100k sentences)."""
        if not self.index.health()["ok"]:
            self.index.damage()  # logs what is wrong and what to run; questions will say so too
        else:
            self.retriever.retrieve("warm-up")
        if self.llm is not None:  # the claim word rule's German lexicon (~100 MB, a second to load)
            lemma("Warm-up")
        # dateparser, which reads dates in other languages' questions (~0.2 s to import and set up)
        resolve("¿Qué pasó ayer?", datetime.now(self.zone), self.settings.timezone, "es")
        gc.collect()
        gc.freeze()

    def overview(self) -> IndexStats:
        """What the index holds, for help texts: articles, sentences, sources, oldest/newest date."""
        return self.catalog.stats()

    def check_date(self, value: str) -> datetime:
        """Parse a date filter as ``ask`` will (07.03.2022, 2022-03-07, ...) or raise ``InvalidInputError``."""
        try:
            parsed = parse_datetime(value, self.settings.timezone)
        except ValueError as exc:
            raise InvalidInputError(f"{exc}. Try e.g. 07.03.2022 or 2022-03-07.") from exc
        if parsed is None:
            raise InvalidInputError(f"'{value}' is not a date. Try e.g. 07.03.2022 or 2022-03-07.")
        return parsed

    async def aask(self, question: str, **kwargs: Unpack[AskOptions]) -> Answer:
        """``ask`` in a worker thread (CPU-bound work never blocks the event loop)."""
        return await asyncio.to_thread(self.ask, question, **kwargs)

    def ask(
        self,
        question: str,
        *,
        history: Sequence[Turn] | None = None,
        conversation: Conversation | None = None,
        since: datetime | date | str | None = None,
        until: datetime | date | str | None = None,
        sources: list[str] | None = None,
        now: datetime | None = None,
        on_draft: Callable[[str], None] | None = None,
    ) -> Answer:
        """Answer ``question`` from the index (quotes, or an LLM's verified sentences), or refuse.

        ``conversation`` supplies the history and date filters and records the answer;
        ``history`` holds a conversation's earlier turns (for follow-ups); ``since`` and
        ``until`` limit article dates (half-open range; a plain date means that whole day
        for ``until``); ``now`` is the clock for "gestern" and friends. With an LLM configured,
        ``on_draft`` receives the unverified draft as it streams in (the returned answer replaces it).
        """
        if conversation is not None:
            conversation.touch()
            history = conversation.history
            since = since if since is not None else conversation.since
            until = until if until is not None else conversation.until
        started = time.perf_counter()
        question = _clean(question)
        found = self.find(question, history=history, since=since, until=until, sources=sources, now=now)
        language, retrieval = found.language, found.retrieval
        best, threshold = self._evidence(retrieval)
        trace = _trace(found, best, threshold)
        refused = best is None or best < threshold or _gibberish(question, retrieval) or not has_topic(found.query)
        quotes = []
        if not refused:
            ranked = rank_quotes(retrieval, question, self.model)
            other: float | None = None  # the confidence a quote beside the first needs
            if self.reader is not None:
                ranked, trace.reader = read_quotes(self.reader, found.reading, ranked)
                refused = trace.reader.best is None or trace.reader.best < trace.reader.threshold
                if self.reader.quote_margin is not None:  # near the threshold, only the best is quoted
                    other = probability(self.reader.threshold + self.reader.quote_margin)
            quotes = choose_quotes(ranked, other)
        mode: Literal["extractive", "generated"] = "extractive"
        notes, citations = [], []
        if not refused and self.llm is not None:  # the evidence gate comes first: no LLM call for a refusal
            trace.llm = LLMTrace(sources=[])
            generated = self._generate(question, language, retrieval, on_draft, trace.llm)
            if generated is not None and generated[0]:
                mode, citations, text = "generated", generated[0], generated[1]
            else:
                notes.append(texts(language)[trace.llm.fallback or "llm_unverified"])
        if not citations and not refused and quotes:
            same = self.catalog.articles_with_sentences([q.sentence.text for q in quotes])
            citations = cite(quotes, same)
            text = compose(citations, language)
        if not citations:
            refused, notes = True, []
            text = texts(language)["refusal"]
        confidence = (
            trace.reader.confidence if trace.reader is not None and mode == "extractive" and not refused else None
        )
        if is_unsure(confidence):
            notes.append(texts(language)["unsure"])
        notes += [texts(language)["note"].format(note=n) for n in dict.fromkeys(c.note for c in citations if c.note)]

        timings = {"total": round((time.perf_counter() - started) * 1000, 2), **retrieval.timings_ms}
        if trace.reader is not None:
            timings["reader"] = trace.reader.ms
        answer = Answer(
            question=question,
            text=text,
            refused=refused,
            language=language,
            citations=citations,
            note="\n".join(notes) or None,
            timings_ms=timings,
            mode=mode,
            confidence=confidence,
            trace=trace,
        )
        if conversation is not None:
            conversation.record(answer)
        return answer

    def find(
        self,
        question: str,
        *,
        history: Sequence[Turn] | None = None,
        since: datetime | date | str | None = None,
        until: datetime | date | str | None = None,
        sources: list[str] | None = None,
        now: datetime | None = None,
    ) -> Search:
        """The first half of ``ask`` (``question`` already cleaned): language, follow-up rewrite, date filter, ranked articles
        (the best ones with all their sentences scored)."""
        self._check_cost(question)
        language = detect_language(question)
        previous = trim([t.query if isinstance(t, Answer) else t for t in history or []])
        heuristic = rewrite(question, previous)
        query = self._rewrite(question, previous, language, heuristic)
        if query != question and self.index.embedder.count_tokens(query) > MAX_QUESTION_TOKENS:
            query = question  # a follow-up never costs more than a question may
        # The reader reads a follow-up the heuristic completed as a conversation reads: after the
        # question it follows ("Wo wollen sich Lawrow und Kuleba treffen? Und wann?"), not as the
        # words borrowed for the search ("Und wann? wollen Lawrow Kuleba treffen").
        reading = f"{previous[-1]} {question}" if query != question and query == heuristic else query
        when = resolve(query, now or datetime.now(self.zone), self.settings.timezone, language)
        dates = combine(when, since, until, self.settings.timezone)
        # The filter carries the date; left in, "am 7. März" only blurs the query's meaning (and
        # the reader would look for "gestern" in a sentence that need not say it).
        search, reading = _without(query, dates.phrases), _without(reading, dates.phrases)
        retrieval = self.retriever.retrieve(search, dates=dates, sources=sources)
        self.retriever.whole_articles(retrieval, QUOTE_ARTICLES)
        if retrieval.query_vector is not None:
            retrieval.level, retrieval.spread = self.background.level(retrieval.query_vector)
        return Search(language, query, search, reading, dates, retrieval)

    def _check_cost(self, question: str) -> None:
        tokens = self.index.embedder.count_tokens(question)
        if tokens > MAX_QUESTION_TOKENS:
            raise InvalidInputError(
                f"The question is too long ({tokens} tokens, at most {MAX_QUESTION_TOKENS}); "
                "ask about one thing at a time."
            )

    def _evidence(self, retrieval: Retrieval) -> tuple[float | None, float]:
        """How strongly the archive supports an answer, and the level below which it refuses.

        With the shipped answer model: ``normalized_evidence``, the same in every language
        (``bot/evidence.py``), where 1.0 is the calibrated threshold; with a reader, which decides
        whether the articles answer, only a floor below it. Without the model: the raw score.
        """
        override = self.settings.min_evidence
        if self.model is None:
            return lead_score(retrieval), override if override is not None else LEGACY_MIN_EVIDENCE
        default = READER_MIN_EVIDENCE if self.reader is not None else 1.0
        return normalized_evidence(retrieval, self.model), override if override is not None else default

    @property
    def catalog(self) -> CatalogReader:
        """The catalog as answering may use it (``index/reading.py``)."""
        return self.index.catalog

    @property
    def background(self) -> Background:
        if self._background is None:
            self._background = Background(self.index.embedder)
        return self._background

    def _rewrite(self, question: str, previous: list[str], language: str, heuristic: str) -> str:
        """The standalone query for a follow-up: by the LLM when there is one, else the heuristic's
        (``conversation.rewrite``)."""
        if self.llm is None or heuristic == question:
            return heuristic
        try:
            reply = self.llm.chat(rewrite_messages(question, previous, language))
        except LLMError as exc:
            logger.warning("LLM follow-up rewrite failed (%s); using the heuristic", exc)
            return heuristic
        reply = " ".join(reply.split()).strip('"“”„ ')
        if not reply or len(reply) > MAX_QUESTION_CHARS or "\n" in reply or detect_language(reply) != language:
            return heuristic
        return reply

    def _generate(
        self,
        question: str,
        language: str,
        retrieval: Retrieval,
        on_draft: Callable[[str], None] | None,
        info: LLMTrace,
    ) -> tuple[list[Citation], str] | None:
        """An LLM answer whose every sentence passed verification, or None (``info`` says why)."""
        if self.llm is None:
            return None
        sources = sources_for(retrieval)
        info.sources = [s.article_id for s in sources]
        verifier = Verifier(
            self.index.embedder.embed_passages,
            self.index.vectors.get,
            same_language=language == self.settings.corpus_language,
            judge=self.claim_checker,
            language=language,
        )
        streamer = VerifiedDraft(verifier, sources, on_draft) if on_draft is not None else None
        started = time.perf_counter()
        try:
            draft = self.llm.chat(messages(question, language, sources), on_delta=streamer.update if streamer else None)
        except LLMError as exc:
            logger.warning("LLM failed (%s); answering with quotes", exc)
            info.error, info.fallback = str(exc), "llm_failed"
            return None
        info.draft, info.ms = draft, round((time.perf_counter() - started) * 1000, 2)
        if draft.strip().startswith(NO_ANSWER):
            info.fallback, info.dropped = "llm_unverified", [Dropped(draft, "the model found no answer")]
            return None
        result = verifier.verify(draft, sources)
        info.dropped = result.dropped
        if not result.passed:
            info.fallback = "llm_unverified"
            return None
        citations, text = cite_claims(result.claims, sources)
        return citations, text

    def search(
        self,
        query: str,
        *,
        since: datetime | date | str | None = None,
        until: datetime | date | str | None = None,
        sources: list[str] | None = None,
        limit: int = 10,
        now: datetime | None = None,
    ) -> list[SearchHit]:
        """Ranked articles with their best passage, without building an answer (for tools)."""
        query = _clean(query)
        self._check_cost(query)
        when = resolve(query, now or datetime.now(self.zone), self.settings.timezone, detect_language(query))
        dates = combine(when, since, until, self.settings.timezone)
        retrieval = self.retriever.retrieve(_without(query, dates.phrases), dates=dates, sources=sources, limit=limit)
        return [article.hit() for article in retrieval.articles]

    def article(self, article_id: str) -> Article:
        """One indexed article with its metadata and text; ``ArticleNotFoundError`` if unknown."""
        article = self.catalog.article(article_id)
        if article is None:
            raise ArticleNotFoundError(article_id)
        return article


def _clean(question: str) -> str:
    question = " ".join(question.split())
    if not question:
        raise InvalidInputError("The question is empty.")
    if len(question) > MAX_QUESTION_CHARS:
        raise InvalidInputError(f"The question is too long ({len(question)} characters, at most {MAX_QUESTION_CHARS}).")
    return question


def _without(query: str, phrases: list[str]) -> str:
    """``query`` without its date phrases, as whole words ("ayer" leaves "Bayern" alone), except
    in a script written without spaces between words ("梅丁斯基昨天说了什么")."""
    for phrase in phrases:
        unspaced = any(unicodedata.east_asian_width(ch) in "WF" for ch in phrase)
        pattern = re.escape(phrase) if unspaced else rf"(?<!\w){re.escape(phrase)}(?!\w)"
        query = re.sub(pattern, " ", query, flags=re.IGNORECASE)
    stripped = " ".join(query.split())
    return stripped if re.search(r"\w{3,}", stripped) else query


def _gibberish(question: str, retrieval: Retrieval) -> bool:
    """No word of a question in Latin script is known: not a function word, not in any article.
    (A question in another script shares no words with German articles by nature: a Russian or
    Chinese question with no known term is a question, not gibberish; the reader judges it.)"""
    words = {w.casefold() for w in re.findall(r"[^\W\d_]+", question)}
    latin = all(unicodedata.name(ch, "").startswith("LATIN") for w in words for ch in w)
    return latin and retrieval.known_terms == 0 and not has_function_words(words)


def _trace(found: Search, best: float | None, threshold: float) -> Trace:
    retrieval = found.retrieval
    return Trace(
        query=found.query,
        search=found.search,
        date_filter=found.dates.as_dict(),
        best_score=round(best, 4) if best is not None else None,
        threshold=round(threshold, 4),
        ranking=[a.article_id for a in retrieval.articles],
        candidates=[
            Candidate(
                article_id=a.article_id,
                title=a.meta.title,
                score=round(a.score, 4),
                similarity=round(a.similarity, 4),
                coverage=round(a.coverage, 4),
                sentence=max(a.sentences, key=lambda s: s.similarity).text if a.sentences else None,
            )
            for a in retrieval.articles[:10]
        ],
    )
