"""Which sentence answers the question: features of a candidate sentence, and the small
logistic model that weighs them (``bot/data/answer_model.json``, trained by
``bench/train_answer_model.py`` on the news development questions).

The bi-encoder ranks how much a sentence is *about* the question; in a 30-sentence news
article that is usually the lead, while the answer sits in the sentence that adds what the
question asks for (a name, a number, a date, a place). The features describe exactly that:
similarity (absolute and relative to the article's best), the question's terms weighted by
how specific they are *within the article*, whether the sentence has the asked-for type of
information that the question itself lacks, its position, and its neighbours.
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import TypedDict

import numpy as np

from bot.retrieve import RankedArticle, Retrieval, ScoredSentence, idf
from index.keywords import stems

logger = logging.getLogger(__name__)

FEATURES = (
    "similarity_over_background",
    "similarity_minus_article_best",
    "rank_in_article",
    "coverage",
    "coverage_in_article",
    "type_match",
    "type_missing",
    "title",
    "neighbour_minus_self",
    "article_rank",
    "article_gap",
    "log_length",
    "novelty",
    "centered_similarity",
    "centered_minus_article_best",
    "rare_new_terms",
    "max_new_idf",
    "compound_coverage",
)

QUESTION_TYPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "number",
        re.compile(
            r"\b(wie ?viele?|wieviel\w*|wie hoch|wie groß|wie lang\w*|wie alt|wie weit|wie teuer|wie stark|"
            r"how many|how much|how long|how old|how far|how high|what percentage|welche[rn]? anteil|"
            r"um wie viel\w*|by how much)\b",
            re.IGNORECASE,
        ),
    ),
    ("time", re.compile(r"\b(wann|when|in welchem jahr|what year|which year|seit wann|bis wann|what date)\b", re.I)),
    (
        "person",
        re.compile(r"\b(wer|wem|wen|wessen|who|whom|whose|welche[rnms]? (politiker|person|trainer|chef))\b", re.I),
    ),
    ("place", re.compile(r"\b(wo|wohin|woher|where|in welche[rnm]? (stadt|land|ort))\b", re.I)),
)
HAS_NUMBER = re.compile(  # digits, or number words, also inside words ("zweieinhalb", "dreimal")
    r"\d|\b(ein(e|en|em|er)? (halbe|viertel)|zwei|drei|vier|fünf|sechs|sieben|acht|neun|zehn|elf|zwölf|"
    r"zwanzig|dreißig|vierzig|fünfzig|hundert|tausend|million|milliard|prozent|hälfte|dutzend|doppelt)\w*",
    re.IGNORECASE,
)
HAS_TIME = re.compile(
    r"\b(1\d{3}|20\d{2})\b|\b\d{1,2}\.\s?(januar|februar|märz|april|mai|juni|juli|august|september|oktober|"
    r"november|dezember)|\b(januar|februar|märz|april|mai|juni|juli|august|september|oktober|november|"
    r"dezember|montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonntag|frühjahr|sommer|herbst|winter|"
    r"ende|anfang|mitte|jahrhundert\w*|uhr|woche|monat\w*)\b",
    re.IGNORECASE,
)
_NAME = re.compile(r"\b([A-ZÄÖÜ][\w\-]+(?:\s+(?:von|van|de|der)\s+)?\s+[A-ZÄÖÜ][\w\-]+)")
_CAPITALIZED = re.compile(r"(?<![.!?:]\s)\b([A-ZÄÖÜ][\w\-]{2,})")
NAME_DF = 8  # a capitalized word in at most this many sentences is likely a name
_PLACE = re.compile(r"\b(?:in|nach|aus|bei|im|am)\s+([A-ZÄÖÜ][\w\-]+)")
_WORD = re.compile(r"[^\W_]+")
QUOTE_ARTICLES = 3  # quotes come from the best few articles only
QUOTE_ARTICLE_MARGIN = 0.05  # ... that score within this of the best one
EVIDENCE_MARGIN_WEIGHT = 0.5
EVIDENCE_MARGIN_CAP = 0.04
RARE_DF = 3  # a term in at most this many sentences of the archive: a name, a number, a specific word


@dataclass(frozen=True)
class Question:
    """What answer selection needs to know about the question."""

    text: str
    kind: str | None  # number, time, person, place, or None (what/why/other languages)
    words: frozenset[str]  # casefolded surface words
    stems: frozenset[str]


def analyse(question: str) -> Question:
    kind = next((name for name, pattern in QUESTION_TYPES if pattern.search(question)), None)
    words = frozenset(w.casefold() for w in _WORD.findall(question))
    return Question(question, kind, words, frozenset(stems(question, drop_stopwords=True)))


def has_type(kind: str | None, text: str, question: Question, dfs: dict[str, int] | None = None) -> bool:
    """Whether ``text`` holds the kind of information the question asks for, beyond the question.

    A name is a capitalized word (or two) that the question lacks and that is rare in the
    archive (German capitalizes every noun; names are the rare ones); with no archive counts
    at hand, any two capitalized words in a row count.
    """
    if kind in ("number", "time"):
        pattern = HAS_NUMBER if kind == "number" else HAS_TIME
        return any(
            m.group(0).casefold() not in question.words and m.group(0) not in question.text
            for m in pattern.finditer(text)
        )
    if kind == "person":
        if dfs is None:
            return any(not _known(m, question) for m in _NAME.findall(text))
        return any(_rare_name(m.group(1), question, dfs) for m in _CAPITALIZED.finditer(text) if m.start() > 0)
    if kind == "place":
        return any(not _known(m, question) for m in _PLACE.findall(text))
    return False


def _rare_name(word: str, question: Question, dfs: dict[str, int]) -> bool:
    if word.casefold() in question.words:
        return False
    found = stems(word)
    return bool(found) and all(dfs.get(t, 0) <= NAME_DF for t in found)


def _known(name: str, question: Question) -> bool:
    return all(w.casefold() in question.words for w in _WORD.findall(name))


def quote_articles(retrieval: Retrieval) -> list[RankedArticle]:
    """The articles quotes may come from: the best few, as long as they score close to the best
    (a sentence that has the asked-for number does not make a weak article the answer)."""
    articles = retrieval.articles[:QUOTE_ARTICLES]
    return [a for a in articles if a.score >= articles[0].score - QUOTE_ARTICLE_MARGIN] if articles else []


def sentence_features(
    question: Question,
    article: RankedArticle,
    rank: int,
    best_article_score: float,
    retrieval: Retrieval | None = None,
) -> tuple[list[ScoredSentence], np.ndarray]:
    """The article's sentences and their feature rows (``FEATURES`` order)."""
    sentences = article.sentences
    if not sentences:
        return [], np.zeros((0, len(FEATURES)), dtype=np.float32)
    best_sim = max(s.similarity for s in sentences)
    order = sorted(range(len(sentences)), key=lambda i: -sentences[i].similarity)
    rank_of = {i: r for r, i in enumerate(order)}
    sentence_stems = [set(s.terms) or set(stems(s.text)) for s in sentences]
    local = _local_weights(question.stems, sentence_stems)
    local_total = sum(local.values()) or 1.0
    by_idx = {s.idx: s for s in sentences}
    centered = _centered(article, retrieval.query_vector if retrieval else None)
    dfs = retrieval.doc_freqs if retrieval else {}
    level = retrieval.level if retrieval else 0.0
    total = retrieval.total_sentences if retrieval else 0
    best_centered = float(centered.max()) if len(centered) else 0.0
    rows = []
    for i, s in enumerate(sentences):
        neighbours = [by_idx[j].similarity for j in (s.idx - 1, s.idx + 1) if j in by_idx]
        own = sentence_stems[i]
        typed = has_type(question.kind, s.text, question, dfs if retrieval else None)
        new = own - question.stems
        new_dfs = [dfs[t] for t in new if t in dfs]
        words = [w.casefold() for w in _WORD.findall(s.text)]
        rows.append(
            [
                s.similarity - level,
                s.similarity - best_sim,
                min(rank_of[i], 5) / 5,
                s.coverage,
                sum(w for t, w in local.items() if t in own) / local_total,
                float(typed),
                float(question.kind is not None and not typed),
                float(s.kind == "title"),
                (max(neighbours) - s.similarity) if neighbours else 0.0,
                float(rank),
                best_article_score - article.score,
                math.log(1 + len(s.text)) / 6,
                len(new) / (len(own) or 1),
                float(centered[i]) if len(centered) else 0.0,
                (float(centered[i]) - best_centered) if len(centered) else 0.0,
                min(sum(df <= RARE_DF for df in new_dfs), 5) / 5,
                max((idf(total, df) for df in new_dfs), default=0.0) / 10,
                _compound_coverage(question, words),
            ]
        )
    return list(sentences), np.asarray(rows, dtype=np.float32)


def _compound_coverage(question: Question, words: list[str]) -> float:
    """Share of the question's content stems found inside the sentence's words, parts of German
    compounds included ("Logistik" in "Logistikchefin")."""
    wanted = [t for t in question.stems if len(t) >= 4]
    if not wanted:
        return 0.0
    return sum(any(t in w for w in words) for t in wanted) / len(wanted)


def _centered(article: RankedArticle, query_vector: np.ndarray | None) -> np.ndarray:
    """Similarity with the article's common topic taken out of question and sentences: what is
    left of the question is what it asks beyond the topic, and of a sentence what it adds."""
    vectors = article.vectors
    if vectors is None or query_vector is None or len(vectors) < 3:
        return np.zeros(0, dtype=np.float32)
    centroid = vectors.mean(axis=0)
    s = vectors - centroid
    q = query_vector - centroid
    norms = np.linalg.norm(s, axis=1) * (np.linalg.norm(q) or 1.0)
    return (s @ q) / np.where(norms > 0, norms, 1.0)


def _local_weights(question_stems: frozenset[str], sentence_stems: list[set[str]]) -> dict[str, float]:
    """IDF of the question's stems among the article's own sentences: a term every sentence
    shares says nothing about which one answers."""
    n = len(sentence_stems)
    out = {}
    for term in question_stems:
        df = sum(term in own for own in sentence_stems)
        if df:
            out[term] = idf(n, df)
    return out


class LinearData(TypedDict):
    """A ``Linear`` as ``bot/data/answer_model.json`` holds it: a weight per feature name, the
    bias, and the features' means and scales (in ``FEATURES`` order)."""

    weights: dict[str, float]
    bias: float
    mean: list[float]
    scale: list[float]


class AnswerModelData(TypedDict):
    """``bot/data/answer_model.json`` (besides its ``about`` note)."""

    sentences: LinearData
    min_background: float


class Linear:
    """A standardized linear model: ``((x - mean) / scale) @ weights + bias``, the log-odds."""

    def __init__(self, names: tuple[str, ...], data: LinearData) -> None:
        self.names = names
        self.weights = np.asarray([data["weights"][f] for f in names], dtype=np.float32)
        self.bias = float(data["bias"])
        self.mean = np.asarray(data["mean"], dtype=np.float32)
        self.scale = np.asarray(data["scale"], dtype=np.float32)

    def score(self, features: np.ndarray) -> np.ndarray:
        if len(features) == 0:
            return np.zeros(0, dtype=np.float32)
        return ((features - self.mean) / self.scale) @ self.weights + self.bias


def lead_score(retrieval: Retrieval) -> float | None:
    """The best article's score plus half its lead over the runner-up (capped): a clear winner is
    better evidence than a tie. None when nothing was found. Scores without their breadth
    (``bot.retrieve.ARTICLE_BREADTH_WEIGHT``), which orders the articles but was never part of the
    evidence: the best here need not be the first article."""
    if not retrieval.articles:
        return None
    scores = sorted((a.score - a.breadth for a in retrieval.articles), reverse=True)
    best = scores[0]
    runner_up = scores[1] if len(scores) > 1 else -math.inf
    return best + EVIDENCE_MARGIN_WEIGHT * min(best - runner_up, EVIDENCE_MARGIN_CAP)


def background_evidence(retrieval: Retrieval) -> float | None:
    """How clearly the archive holds an answer, in the question's own units: the best article's
    score plus half its lead over the runner-up (capped: a clear winner is better evidence than
    a tie), minus what unrelated news text reaches for this question (its background level),
    divided by the question's spread (``bot/evidence.py``). No language's similarity level
    enters it."""
    score = lead_score(retrieval)
    return None if score is None else (score - retrieval.level) / retrieval.spread


def normalized_evidence(retrieval: Retrieval, model: AnswerModel) -> float | None:
    """``background_evidence`` on the model's scale, where 1.0 is the calibrated threshold."""
    value = background_evidence(retrieval)
    return None if value is None else value / model.min_background


@dataclass(frozen=True)
class AnswerModel:
    """The shipped model: sentence ranking (``FEATURES``) and the evidence below which a question
    is refused (``normalized_evidence``)."""

    sentences: Linear
    min_background: float  # the background_evidence below which a question is refused

    def score(self, features: np.ndarray) -> np.ndarray:
        """Log-odds that each row's sentence holds the answer."""
        return self.sentences.score(features)

    @classmethod
    def from_dict(cls, data: AnswerModelData) -> AnswerModel:
        return cls(Linear(FEATURES, data["sentences"]), float(data["min_background"]))


@lru_cache(maxsize=1)
def default_model() -> AnswerModel | None:
    """The shipped model, or None when it is missing (then quotes rank by similarity)."""
    try:
        text = resources.files("bot").joinpath("data", "answer_model.json").read_text(encoding="utf-8")
    except (FileNotFoundError, OSError):
        return None
    try:
        return AnswerModel.from_dict(json.loads(text))
    except (KeyError, ValueError, TypeError) as exc:  # a model for other features: retrain it
        logger.error("ignoring bot/data/answer_model.json (%s); run bench/train_answer_model.py --write", exc)
        return None
