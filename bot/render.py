"""Plain-text rendering of answers for the terminal (CLI and REPL)."""

from __future__ import annotations

import json

from bot.answer import LOW_CONFIDENCE, Answer, Citation
from bot.texts import texts


def day(iso: str | None) -> str:
    """07.03.2022 from an ISO 8601 timestamp ('' when unknown)."""
    return f"{iso[8:10]}.{iso[5:7]}.{iso[0:4]}" if iso else ""


def source_line(c: Citation) -> str:
    """ "[1] Title (source, 07.03.2022)", the link below, then other articles with the same quote."""
    details = ", ".join(p for p in (c.source, day(c.updated or c.published)) if p)
    line = f"[{c.n}] {c.title}" + (f" ({details})" if details else "")
    if c.url:
        line += f"\n    {c.url}"
    for other in c.also:
        when = day(other.updated or other.published)
        line += f"\n    also: {other.title} ({other.source or '-'}, {when})"
    return line


def answer_text(answer: Answer, *, debug: bool = False) -> str:
    """The answer, its editorial note, its sources, and (with ``debug``) how it was found."""
    lines = [answer.text]
    if answer.note:
        lines += ["", answer.note]
    if answer.citations:
        lines += ["", texts(answer.language)["sources"] + ":"]
        lines += [source_line(c) for c in answer.citations]
    if debug:
        lines += ["", debug_text(answer)]
    return "\n".join(lines)


def debug_text(answer: Answer) -> str:
    t = answer.trace
    if t is None:
        return f"timings ms:  {json.dumps(answer.timings_ms)}"
    lines = [
        f"query:       {t.query}",
        f"language:    {answer.language}",
        f"date filter: {json.dumps(t.date_filter, ensure_ascii=False)}",
        f"best score:  {t.best_score} (threshold {t.threshold})",
        f"timings ms:  {json.dumps(answer.timings_ms)}",
    ]
    if t.reader is not None:
        lines.append(f"reader:      {t.reader.best} (threshold {t.reader.threshold}, read {t.reader.read})")
    if answer.confidence is not None:
        lines.append(f"confidence:  {answer.confidence} (unsure below {LOW_CONFIDENCE})")
    lines.append("candidates:")
    for c in t.candidates:
        lines.append(f"  {c.score:.4f}  {c.title[:60]}  |  {(c.sentence or '')[:80]}")
    marked = [(q, at) for c in answer.citations for q, at in zip(c.quotes, c.answer_spans, strict=False) if at]
    if marked:
        q, (start, end) = marked[0]
        lines.append(f"answer span: {q[start:end]} (characters {start}-{end} of the first marked quote)")
    if t.llm is not None:
        lines.append(f"llm:         {t.llm.fallback or 'verified'} ({len(t.llm.dropped)} sentences dropped)")
    return "\n".join(lines)
