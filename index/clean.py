"""Separating article text from page furniture.

News pages mix the story with promo lines ("Auf NDR Info hören Sie ..."), player
widgets ("AUDIO: ... (4 Min)"), navigation, broadcast metadata and editorial notes.
None of that may become searchable text. Teasers for linked articles are the
exception: they report facts, so their sentences stay searchable, marked as teasers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from index.models import Block

# Lines that are never article text. Each pattern is matched against a whole line
# (stripped); the name says why it was dropped, for debugging a cleaning decision.
PROMO_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (name, re.compile(pattern, re.IGNORECASE))
    for name, pattern in [
        ("media widget", r"^(AUDIO|VIDEO|PODCAST|BILDERGALERIE|GALERIE|GRAFIK|LIVESTREAM)\s*:"),
        (
            "programme promo",
            r"^Auf (NDR|WDR|SWR|BR|MDR|HR|RBB|SR|Radio Bremen|Deutschlandfunk|"
            r"Phoenix|tagesschau|ARD|ZDF)[\w.\- ]{0,30} (hören|sehen|finden|lesen) Sie\b",
        ),
        ("programme promo", r"^Auf [\w\-]+\.(de|at|ch|com|net|org)\b.*:$"),
        ("programme promo", r"^Auch [\w.\-]+ hält Sie auf dem Laufenden"),
        ("programme promo", r"^Livestream (von|aus|bei)\b"),
        (
            "programme promo",
            r"^Aktuelle (Videos|Audios|Bilder|Sendungen)\b.{0,80}\b(Programms?|Fernsehens|Mediathek):?$",
        ),
        ("navigation", r"^Meldungen (zum Thema )?aus [\w\- ]+:?$"),
        ("navigation", r"^Mehr (bei|auf|von) [\w.\-]+\.?( extern)?$"),
        ("navigation", r"^(Zum Seitenanfang|Seitenanfang|Artikel teilen|Teilen|Drucken|Zur Startseite)$"),
        ("navigation", r"^(Mehr zum Thema|Lesen Sie auch|Siehe auch|Weitere Informationen):?$"),
        ("navigation", r"^Darstellung:"),
    ]
]
BROADCAST_RE = re.compile(r"^Dieses Thema im Programm:\s*(.*)$", re.IGNORECASE)
NOTE_RE = re.compile(
    r"^(Hinweis zur Berichterstattung|Redaktioneller Hinweis|Anmerkung der Redaktion)\s*:?\s*(.*)$", re.IGNORECASE
)
TEASER_RE = re.compile(r"^(Weitere Informationen|Mehr zum Thema|Lesen Sie auch|Siehe auch)\s*:?\s+(.+)$", re.IGNORECASE)
# Link chrome at the end of a teaser or paragraph: "Mehr bei tagesschau.de. extern"
TRAILING_LINK_RE = re.compile(r"\s*\bMehr (bei|auf|von) [\w.\-]+?\.?\s*(extern)?\s*$", re.IGNORECASE)
MARKDOWN_HEADING_RE = re.compile(r"^#{1,6}\s+(.*?)\s*#*$")
# A short standalone line that ends in a colon introduces a widget, a player or a link
# list that the text export lost ("Auch tagesschau24 hält Sie auf dem Laufenden:").
LEAD_IN_MAX_CHARS = 120
HEADING_MAX_CHARS = 140
SENTENCE_END = (".", "!", "?", '"', "“", "”", "«", "»", ":", ";", ")", "'", "…")
# Words that open a German sentence: used to find where a teaser's headline ends and
# its first sentence begins, since the page export runs the two together.
SENTENCE_STARTERS = frozenset(
    "Das Die Der Dies Diese Dieser Es Er Sie Wir Ich Ihr Man Nach Laut Im In Am Auf Bei Seit Mit "
    "Auch Zudem Damit Dabei Doch Aber Allerdings Trotzdem Zuvor Demnach Bislang Bisher Nun Jetzt "
    "Heute Gestern Zugleich Unterdessen Inzwischen Insgesamt Wie Was Wer Wo Als Wenn Ein Eine Einer".split()
)


@dataclass
class Cleaned:
    """The outcome of cleaning: text blocks, notes for answers, and what was dropped (with why)."""

    blocks: list[Block] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    broadcast: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)


def clean(text: str) -> Cleaned:
    """Split a raw body into lines and classify each as text, heading, teaser, note or furniture."""
    out = Cleaned()
    lines = [re.sub(r"\s+", " ", line).strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    for i, line in enumerate(lines):
        if match := MARKDOWN_HEADING_RE.match(line):
            if match.group(1):
                out.blocks.append(Block("heading", match.group(1)))
            continue
        if match := BROADCAST_RE.match(line):
            out.broadcast.append(match.group(1))
            continue
        if match := NOTE_RE.match(line):
            if match.group(2):
                out.notes.append(match.group(2))
            continue
        if reason := _promo_reason(line):
            out.dropped.append(f"{reason}: {line}")
            continue
        if match := TEASER_RE.match(line):
            body = TRAILING_LINK_RE.sub("", match.group(2)).strip()
            if body:
                title, rest = split_teaser(body)
                out.blocks.append(Block("teaser", rest or body, teaser_title=title))
            continue
        line = TRAILING_LINK_RE.sub("", line).strip()
        if not line:
            continue
        next_is_text = i + 1 < len(lines) and not _promo_reason(lines[i + 1])
        if _looks_like_heading(line) and next_is_text:
            out.blocks.append(Block("heading", line))
        elif _looks_like_heading(line):
            out.dropped.append(f"orphan line: {line}")
        else:
            out.blocks.append(Block("text", line))
    return out


def split_teaser(body: str) -> tuple[str | None, str]:
    """Split "Headline Das teilte ... mit." into the linked article's headline and its text."""
    tokens = body.split(" ")
    for k in range(2, len(tokens)):
        prev, word = tokens[k - 1], tokens[k]
        if word in SENTENCE_STARTERS and prev[-1:].isalnum() and not prev.endswith(":"):
            return " ".join(tokens[:k]), " ".join(tokens[k:])
    return None, body


def _promo_reason(line: str) -> str | None:
    for name, pattern in PROMO_PATTERNS:
        if pattern.search(line):
            return name
    if line.endswith(":") and len(line) <= LEAD_IN_MAX_CHARS:
        return "widget lead-in"
    return None


def _looks_like_heading(line: str) -> bool:
    return len(line) <= HEADING_MAX_CHARS and not line.endswith(SENTENCE_END) and len(line.split()) >= 2
