"""Sentences and passages: German-aware sentence splitting, grouped into passages.

pysbd's German rules keep "07.03.2022", "3. März", "z.B.", "Nr. 5", "Dr." and
„...“ quotes inside their sentence. Passages follow the article's paragraphs,
with long paragraphs cut at sentence boundaries; a sub-heading belongs to the
passages after it, a teaser is a passage of its own.
"""

from __future__ import annotations

import hashlib
import re
import threading

import pysbd

from index.clean import clean
from index.models import Article, Prepared, Sentence, SentenceKind

# e5 reads at most 512 tokens; a run-on "sentence" (a list, a table row) is cut so it
# stays one meaningful vector rather than a truncated one.
MAX_SENTENCE_CHARS = 1000
# pysbd's cost grows faster than linearly with the paragraph (an 80 KB paragraph took 15 s),
# so a long paragraph is first cut into pieces of at most this size, at a sentence end
# (". " before a capital) where there is one, else at a space.
MAX_SEGMENT_CHARS = 3000
_SENTENCE_END = re.compile(r"[.!?][\"“”»«']?\s+(?=[A-ZÄÖÜ„\"])")
_ORDINAL_END = re.compile(r"\d\.\s*$")
_local = threading.local()


def _pieces(text: str) -> list[str]:
    """``text`` in pieces of at most ``MAX_SEGMENT_CHARS``, cut where a sentence probably ends."""
    pieces = []
    while len(text) > MAX_SEGMENT_CHARS:
        window = text[:MAX_SEGMENT_CHARS]
        ends = [m.end() for m in _SENTENCE_END.finditer(window, MAX_SEGMENT_CHARS // 2)]
        cut = ends[-1] if ends else window.rfind(" ", MAX_SEGMENT_CHARS // 2) + 1 or MAX_SEGMENT_CHARS
        pieces.append(text[:cut])
        text = text[cut:]
    return [*pieces, text]


def split_sentences(text: str) -> list[str]:
    """Split one paragraph into sentences (German rules, text kept verbatim)."""
    segmenter = getattr(_local, "segmenter", None)
    if segmenter is None:
        segmenter = _local.segmenter = pysbd.Segmenter(language="de", clean=False)
    out: list[str] = []
    segments: list[str] = []
    for segment in (s for piece in _pieces(text) for s in segmenter.segment(piece)):
        # pysbd ends a sentence after some numbers ("auf den 144. sıraya", "der 144. sieger"); a
        # sentence never begins with a lowercase word (but "iPhone", "eBay", "mRNA" may begin one)
        if (
            segments
            and (first := segment.split(maxsplit=1)[:1])
            and first[0].islower()
            and _ORDINAL_END.search(segments[-1])
        ):
            segments[-1] += segment
        else:
            segments.append(segment)
    for sentence in segments:
        sentence = sentence.strip()
        while len(sentence) > MAX_SENTENCE_CHARS:
            cut = sentence.rfind(" ", 0, MAX_SENTENCE_CHARS)
            cut = cut if cut > 0 else MAX_SENTENCE_CHARS
            out.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if sentence:
            out.append(sentence)
    return out


def prepare(article: Article, passage_max_chars: int = 700) -> Prepared:
    """Clean and split an article into numbered sentences with passage numbers."""
    cleaned = clean(article.text)
    sentences: list[Sentence] = []
    passage = -1

    def add(kind: SentenceKind, text: str, heading: str | None, teaser: str | None = None) -> None:
        sentences.append(Sentence(len(sentences), passage, kind, text, heading, teaser))

    body_start = next((b.text for b in cleaned.blocks if b.kind == "text"), "")
    if article.title and not body_start.startswith(article.title):
        passage += 1
        add("title", article.title, None)

    heading: str | None = None
    for block in cleaned.blocks:
        if block.kind == "heading":
            heading = block.text
            continue
        if block.kind == "teaser":
            passage += 1
            if block.teaser_title:
                add("teaser", block.teaser_title, None, block.teaser_title)
            for text in split_sentences(block.text):
                add("teaser", text, None, block.teaser_title)
            continue
        passage += 1
        size = 0
        for text in split_sentences(block.text):
            if size and size + len(text) > passage_max_chars:
                passage += 1
                size = 0
            add("text", text, heading)
            size += len(text) + 1

    return Prepared(
        article=article,
        version=version_of(article),
        norm_hash=normalized_hash(" ".join(s.text for s in sentences if s.kind != "title")),
        sentences=sentences,
        notes=cleaned.notes,
        broadcast=cleaned.broadcast,
        dropped=cleaned.dropped,
    )


def version_of(article: Article) -> str:
    """The version an article's content hash gives it; part of its vector ids."""
    return article.content_hash()[:16]


def normalized_hash(text: str) -> str:
    """Hash of text with case, punctuation and spacing removed: finds agency copy under new ids."""
    norm = " ".join(re.findall(r"\w+", text.casefold()))
    return hashlib.sha256(norm.encode("utf-8")).hexdigest()
