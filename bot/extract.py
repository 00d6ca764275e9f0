"""Extractive answers: the best sentences, quoted verbatim, each cited with its article.

Every quote is a sentence (or two consecutive ones) exactly as stored in the index,
so nothing in an extractive answer can be invented. A sentence that only makes sense
with the one before it ("Er ...", "Allerdings ...") brings that one along, so quotes
stay attributable; a neighbour that scores almost as well joins too (measured on XQuAD:
the gold answer sits in the neighbour of the best sentence for 11% of the questions).
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from datetime import datetime

from bot.answer import Citation, reference
from bot.answering import QUOTE_ARTICLES, AnswerModel, analyse, quote_articles, sentence_features
from bot.retrieve import RankedArticle, Retrieval, ScoredSentence
from bot.texts import texts
from index.models import ArticleMeta

SENTENCE_KEYWORD_WEIGHT = 0.1  # keyword coverage when choosing the quoted sentence
TYPE_BONUS = 0.02  # a number for "how many", a date for "when"
TITLE_PENALTY = 0.05  # headlines help find an article but make poor quotes
SECOND_ARTICLE_PENALTY = 0.02
QUOTE_MARGIN = 0.06  # further quotes must score within this of the best one
MAX_QUOTES = 3
NEIGHBOUR_MARGIN = 0.04  # a neighbouring sentence this close to a quote's score joins the quote
# The same two margins on the answer model's scale (log-odds), chosen with bench/news_bench.py
MODEL_QUOTE_MARGIN = 2.0
MODEL_NEIGHBOUR_MARGIN = 1.0
# The answer model was trained on news articles of 20-40 sentences, where the answer hides
# behind the lead; in a short text (a paragraph, a brief) the similarity ranking finds it as
# well or better (XQuAD paragraphs: answer_top1 0.81 vs 0.77), so the model ranks long texts only.
MODEL_MIN_SENTENCES = 12
QUOTABLE = re.compile(r"[^\W\d_]{2,}")  # a quote has words, not just "." or a number

# Sentence openers that refer back to the previous sentence.
DEPENDENT_START = re.compile(
    r"^(Er|Sie|Es|Das|Dies\w*|Diese\w*|Dabei|Damit|Dazu|Daher|Deshalb|Darauf|Dadurch|Dort|Danach|"
    r"Allerdings|Zudem|Außerdem|Auch|Jedoch|Doch|Somit|Trotzdem|Stattdessen|Ihr\w*|Sein\w*|Beide\w*|"
    r"He|She|It|They|This|That|These|Those|However|Also|But)\b"
)
NUMBER_QUESTION = re.compile(
    r"\b(wie ?viele?|wie hoch|wie groß|wie lang\w*|wie alt|wie weit|how many|how much|how long|how old|"
    r"how far|what percentage|welche[rn]? anteil)\b",
    re.IGNORECASE,
)
TIME_QUESTION = re.compile(r"\b(wann|when|in welchem jahr|what year|which year|seit wann)\b", re.IGNORECASE)
HAS_NUMBER = re.compile(
    r"\d|\b(zwei|drei|vier|fünf|sechs|sieben|acht|neun|zehn|elf|zwölf|zwanzig|hundert|tausend|million\w*|"
    r"milliard\w*|prozent|hälfte|dutzend)\b",
    re.IGNORECASE,
)
HAS_TIME = re.compile(
    r"\b(1\d{3}|20\d{2})\b|\b(januar|februar|märz|april|mai|juni|juli|august|september|oktober|november|"
    r"dezember|montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonntag|jahrhundert\w*)\b",
    re.IGNORECASE,
)


@dataclass
class Quote:
    sentence: ScoredSentence
    text: str  # the quoted text (the sentence, or it and a neighbour)
    score: float
    article: RankedArticle
    idxs: tuple[int, ...] = ()  # positions of the quoted sentences in their article
    confidence: float | None = None  # probability that it answers (answer model or reader), shown as the score
    answer: tuple[int, int] | None = None  # where the answer lies in ``sentence.text`` (the reader's span head)
    # what its citation shows as ``score`` where it is not ``confidence``: the reader's calibrated
    # probability, on the scale of ``Answer.confidence`` (which is the first quote's)
    shown: float | None = None

    @property
    def answer_span(self) -> tuple[int, int] | None:
        """Where the answer lies in ``text`` (which may hold a neighbouring sentence too)."""
        if self.answer is None:
            return None
        second = len(self.idxs) > 1 and self.sentence.idx == self.idxs[-1]  # "previous sentence" + " " + it
        at = len(self.text) - len(self.sentence.text) if second else 0
        if self.text[at : at + len(self.sentence.text)] != self.sentence.text:
            return None
        return at + self.answer[0], at + self.answer[1]

    @property
    def shown_score(self) -> float:
        if self.shown is not None:
            return self.shown
        return self.confidence if self.confidence is not None else self.score


def rank_quotes(retrieval: Retrieval, question: str, model: AnswerModel | None) -> list[Quote]:
    """Every quotable sentence of the top articles, best first: by the answer model
    (``bot/answering.py``) when one is shipped, else by similarity, keyword coverage and the
    answer-type bonus."""
    long = bool(retrieval.articles) and len(retrieval.articles[0].sentences) >= MODEL_MIN_SENTENCES
    if model is not None and long:
        candidates = _model_candidates(retrieval, question, model)
    else:
        candidates = _legacy_candidates(retrieval, question)
    candidates = [q for q in candidates if QUOTABLE.search(q.sentence.text)]
    return sorted(candidates, key=lambda q: q.score, reverse=True)


def choose_quotes(ranked: list[Quote], other_confidence: float | None = None) -> list[Quote]:
    """The 1-3 best of the ranked sentences, with their context when needed; a quote beside the
    first only where its ``confidence`` reaches ``other_confidence`` (None: any)."""
    model = bool(ranked) and ranked[0].confidence is not None  # ranked by the answer model
    margin, neighbour = (MODEL_QUOTE_MARGIN, MODEL_NEIGHBOUR_MARGIN) if model else (QUOTE_MARGIN, NEIGHBOUR_MARGIN)
    scores = {(q.sentence.article_id, q.sentence.idx): q.score for q in ranked}
    chosen: list[Quote] = []
    for quote in ranked:
        if len(chosen) == MAX_QUOTES or (chosen and quote.score < chosen[0].score - margin):
            break
        if chosen and other_confidence is not None and (quote.confidence or 0.0) < other_confidence:
            continue
        quote = _with_context(quote, scores, neighbour)
        if any(_overlaps(quote, other) for other in chosen):
            continue
        chosen.append(quote)
    return chosen


def _model_candidates(retrieval: Retrieval, question: str, model: AnswerModel) -> list[Quote]:
    analysed = analyse(question)
    articles = quote_articles(retrieval)
    candidates: list[Quote] = []
    for rank, article in enumerate(articles):
        sentences, features = sentence_features(analysed, article, rank, articles[0].score, retrieval)
        for s, score in zip(sentences, model.score(features)):
            probability = 1 / (1 + math.exp(-float(score)))
            candidates.append(Quote(s, s.text, float(score), article, (s.idx,), probability))
    return candidates


def _legacy_candidates(retrieval: Retrieval, question: str) -> list[Quote]:
    bonus_pattern = (
        HAS_NUMBER if NUMBER_QUESTION.search(question) else HAS_TIME if TIME_QUESTION.search(question) else None
    )
    return [
        Quote(s, s.text, _legacy(s, rank, bonus_pattern), article, (s.idx,))
        for rank, article in enumerate(retrieval.articles[:QUOTE_ARTICLES])
        for s in article.sentences
    ]


def _legacy(s: ScoredSentence, rank: int, bonus_pattern: re.Pattern[str] | None) -> float:
    score = s.similarity + SENTENCE_KEYWORD_WEIGHT * s.coverage - rank * SECOND_ARTICLE_PENALTY
    if s.kind == "title":
        score -= TITLE_PENALTY
    if bonus_pattern is not None and bonus_pattern.search(s.text):
        score += TYPE_BONUS
    return score


def cite(quotes: list[Quote], same_text: dict[str, list[ArticleMeta]]) -> list[Citation]:
    """One citation per article, numbered in answer order; agency copies cite the earliest."""
    citations: dict[str, Citation] = {}
    for quote in quotes:
        meta = quote.article.meta
        copies = [r for r in same_text.get(quote.sentence.text, []) if r.id != meta.id]
        earliest = min([meta, *copies], key=lambda r: (r.date_ts is None, r.date_ts or 0))
        also = [reference(r) for r in [meta, *copies] if r.id != earliest.id]
        citation = citations.get(earliest.id)
        if citation is None:
            citation = citations[earliest.id] = Citation.of(earliest, len(citations) + 1, quote.text, quote.shown_score)
        citation.quotes.append(quote.text)
        citation.answer_spans.append(quote.answer_span)
        citation.also.extend(a for a in also if a not in citation.also)
    return list(citations.values())


def compose(citations: list[Citation], language: str) -> str:
    """Framing text in the question's language: Laut tagesschau.de (Stand 07.03.2022, 19:45): „...“ [1]"""
    p = texts(language)
    lines = []
    for c in citations:
        quoted = " … ".join(f"{p['open']}{q}{p['close']}" for q in c.quotes)
        lines.append(f"{attribution(c, language)}: {quoted} [{c.n}]")
    return "\n".join(lines)


def attribution(c: Citation, language: str) -> str:
    """Who said it and when, in the question's language: Laut tagesschau.de (Stand 07.03.2022, 19:45)"""
    p = texts(language)
    who = c.source or f"{p['open']}{c.title}{p['close']}"
    when = _when(c, p)
    return p["according"].format(who=who) + (f" ({when})" if when else "")


def _when(c: Citation, p: dict[str, str]) -> str | None:
    if c.updated:
        return p["updated"].format(date=_local(c.updated))
    if c.published:
        return p["published"].format(date=_local(c.published))
    return None


def _local(iso: str) -> str:
    value = datetime.fromisoformat(iso)
    if value.hour == 0 and value.minute == 0:
        return value.strftime("%d.%m.%Y")
    return value.strftime("%d.%m.%Y, %H:%M")


def _overlaps(a: Quote, b: Quote) -> bool:
    """Two quotes share a sentence (in one article), or quote the same text (agency copy)."""
    if a.sentence.article_id != b.sentence.article_id:
        return a.sentence.text == b.sentence.text
    return bool(set(a.idxs) & set(b.idxs))


def _with_context(quote: Quote, scores: dict[tuple[str, int], float], margin: float) -> Quote:
    """Quote the previous sentence too when this one depends on it ("Er ...", "Allerdings ..."),
    else the better neighbour when it scores almost as well (the answer often sits next door)."""
    s = quote.sentence
    if s.kind == "title":
        return quote
    neighbours = {
        o.idx: o
        for o in quote.article.sentences
        if o.idx in (s.idx - 1, s.idx + 1) and o.passage == s.passage and o.kind == s.kind
    }
    previous = neighbours.get(s.idx - 1)
    if previous is not None and DEPENDENT_START.match(s.text):
        return dataclasses.replace(quote, text=f"{previous.text} {s.text}", idxs=(previous.idx, s.idx))
    close = [o for o in neighbours.values() if scores.get((o.article_id, o.idx), -math.inf) >= quote.score - margin]
    if not close:
        return quote
    best = max(close, key=lambda o: scores[(o.article_id, o.idx)])
    first, second = sorted([s, best], key=lambda o: o.idx)
    return dataclasses.replace(quote, text=f"{first.text} {second.text}", idxs=(first.idx, second.idx))
