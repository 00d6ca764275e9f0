"""Answers as Telegram HTML messages: escaped text, quotes set off, sources as links.

Telegram takes at most 4,096 characters per message. Messages are built from
``Span`` s (a piece of text with at most one tag) and split between sentences,
never inside a tag or a link; a tag cut by a split is closed at the end of one
message and opened again at the start of the next, so every message is valid HTML
on its own. Nothing here talks to Telegram.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace

from bot.answer import Answer
from bot.extract import attribution
from bot.render import day
from bot.texts import texts

LIMIT = 4096  # Telegram's maximum message length
MAX_TITLE = 200  # link texts are never split, so they are kept short
TAGS = frozenset({"b", "i", "u", "s", "code", "blockquote", "a"})

# A sentence ends after . ! ? … (and closing quotes or brackets) followed by white space, or at a line break.
_SENTENCE = re.compile(r".*?(?:[.!?…]+[\"'“”»)\]]*\s+|\n+|$)", re.DOTALL)
_WORD = re.compile(r"\S*\s*")


@dataclass(frozen=True)
class Span:
    """Text shown with at most one tag (``a`` needs ``href``), and in bold inside it when ``bold``
    (an answer marked inside a quote)."""

    text: str
    tag: str | None = None
    href: str | None = None
    bold: bool = False

    def __post_init__(self) -> None:
        if self.tag is not None and self.tag not in TAGS:
            raise ValueError(f"Telegram does not support <{self.tag}>")
        if self.bold and self.tag in ("b", "code", "a"):
            raise ValueError(f"no bold inside <{self.tag}>")

    @property
    def opening(self) -> str:
        if self.tag is None:
            return ""
        if self.tag == "a":
            return f'<a href="{html.escape(self.href or "", quote=True)}">'
        return f"<{self.tag}>"

    @property
    def closing(self) -> str:
        return f"</{self.tag}>" if self.tag else ""

    def html(self) -> str:
        return self.opening + self.inner() + self.closing

    def inner(self) -> str:
        text = html.escape(self.text, quote=False)
        return f"<b>{text}</b>" if self.bold else text


def size(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units: an emoji is two)."""
    return len(text.encode("utf-16-le")) // 2


def split(spans: list[Span], limit: int = LIMIT) -> list[str]:
    """Pack ``spans`` into as few HTML messages of at most ``limit`` characters as possible."""
    messages: list[str] = []
    runs: list[Span] = []
    used = 0
    for atom in _atoms(spans, limit):
        merge = bool(runs) and _same_markup(runs[-1], atom)
        cost = size(atom.inner()) + (0 if merge else size(atom.opening + atom.closing))
        if runs and used + cost > limit:
            messages.append(_html(runs))
            runs, used, merge = [], 0, False
            cost = size(atom.html())
        if merge:
            runs[-1] = replace(runs[-1], text=runs[-1].text + atom.text)
        else:
            runs.append(atom)
        used += cost
    if runs:
        messages.append(_html(runs))
    return messages


def _html(runs: list[Span]) -> str:
    """The runs of one message; neighbours with the same tag share it (a quote with a bold answer
    inside stays one block quote)."""
    out: list[str] = []
    for i, run in enumerate(runs):
        joined = i > 0 and _same_tag(runs[i - 1], run)
        last = i + 1 == len(runs) or not _same_tag(run, runs[i + 1])
        out.append(("" if joined else run.opening) + run.inner() + (run.closing if last else ""))
    return "".join(out)


def _same_tag(a: Span, b: Span) -> bool:
    return a.tag == b.tag and a.href == b.href and a.tag != "a"  # two links stay two links


def _same_markup(a: Span, b: Span) -> bool:
    return _same_tag(a, b) and a.bold == b.bold


def _atoms(spans: list[Span], limit: int) -> Iterator[Span]:
    """Pieces no message boundary may cut: sentences, or words, or characters when nothing else fits."""
    for span in spans:
        if not span.text:
            continue
        room = limit - size(span.opening + span.closing) - (7 if span.bold else 0)  # <b></b>
        if span.tag == "a" or _fits(span.text, room):
            yield span
            continue
        for sentence in _SENTENCE.findall(span.text):
            if _fits(sentence, room):
                yield replace(span, text=sentence)
                continue
            for word in _WORD.findall(sentence):
                for piece in _hard_split(word, room):
                    yield replace(span, text=piece)


def _fits(text: str, room: int) -> bool:
    return size(html.escape(text, quote=False)) <= room


def _hard_split(word: str, room: int) -> Iterator[str]:
    """Cut a word longer than a message, counting each character as it will be sent (escaped)."""
    start, used = 0, 0
    for i, char in enumerate(word):
        cost = size(html.escape(char, quote=False))
        if used + cost > room:
            yield word[start:i]
            start, used = i, 0
        used += cost
    if word[start:]:
        yield word[start:]


# ---- answers --------------------------------------------------------------------------------


def answer_messages(answer: Answer, *, since: str | None = None, until: str | None = None) -> list[str]:
    """The answer as Telegram messages: quotes as blockquotes (or an LLM's verified sentences,
    whose supporting quotes ``/sources`` shows), then the sources as links.

    A refusal is set apart (a magnifier and italics, no sources). ``since``/``until`` are
    the chat's date filter, shown so that nobody wonders why older articles are missing.
    """
    labels = texts(answer.language)
    if answer.refused:
        spans = [Span("🔎 "), Span(answer.text, "i")]
    else:
        spans = [Span(answer.text + "\n")] if answer.mode == "generated" else _quoted(answer)
        if answer.note:
            spans += [Span("⚠️ "), Span(answer.note, "i"), Span("\n")]
        spans += [Span("\n"), Span(f"{labels['sources']}:", "b")]
        for c in answer.citations:
            spans += [Span(f"\n[{c.n}] "), _link(c.title, c.url, c.updated or c.published)]
    if since or until:
        parts = [f"{labels[k]} {v}" for k, v in (("since", since), ("until", until)) if v]
        spans += [Span("\n\n"), Span(f"{labels['filter']}: {', '.join(parts)}", "i")]
    return split(spans)


def _quoted(answer: Answer) -> list[Span]:
    """Extractive answers: who said it and when, then the verbatim quotes as a block quote."""
    p = texts(answer.language)
    spans = []
    for c in answer.citations:
        spans.append(Span(f"{attribution(c, answer.language)} [{c.n}]:\n"))
        for i, q in enumerate(c.quotes or [c.quote]):
            at = c.answer_spans[i] if i < len(c.answer_spans) else None
            spans.append(Span((" … " if i else "") + p["open"], "blockquote"))
            if at is not None and 0 <= at[0] < at[1] <= len(q):  # the answer in bold
                spans += [Span(q[: at[0]], "blockquote"), Span(q[at[0] : at[1]], "blockquote", bold=True)]
                q = q[at[1] :]
            spans += [Span(q, "blockquote"), Span(p["close"], "blockquote")]
        spans.append(Span("\n"))
    return spans


def sources_messages(answer: Answer) -> list[str]:
    """Every source of ``answer`` in full: title as link, source and date, quote, agency copies."""
    labels = texts(answer.language)
    spans: list[Span] = [Span(f"{labels['sources']}:", "b")]
    for c in answer.citations:
        spans += [Span(f"\n\n[{c.n}] "), _link(c.title, c.url, None, bold=True)]
        details = " · ".join(x for x in (c.source, day(c.updated or c.published)) if x)
        if details:
            spans.append(Span(f"\n{details}"))
        if c.url:
            spans.append(Span(f"\n{c.url}"))
        spans += [Span("\n"), Span(" … ".join(c.quotes or [c.quote]), "i")]
        for other in c.also:
            spans += [
                Span(f"\n{labels['also']}: "),
                _link(other.title, other.url, other.updated or other.published),
            ]
            if other.source:
                spans.append(Span(f" ({other.source})"))
    return split(spans)


def _link(title: str, url: str | None, iso: str | None, *, bold: bool = False) -> Span:
    """ "Title (07.03.2022)" as a link when the article has a URL."""
    title = title if len(title) <= MAX_TITLE else title[: MAX_TITLE - 1].rstrip() + "…"
    text = f"{title} ({day(iso)})" if iso else title
    if url and re.match(r"https?://", url):
        return Span(text, "a", href=url)
    return Span(text, "b" if bold else None)
