"""The formats newsbot reads, in one registry: a format claims file extensions (and, for a file
without a known extension, content it recognizes) and turns one file into articles and problems.
A new format is one entry here and one function with ``Format.load``'s signature."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from index.loaders.base import LoadResult, Reading
from index.loaders.documents import load_html, load_markdown, load_text
from index.loaders.feeds import is_feed, load_feed
from index.loaders.records import load_csv, load_json, load_jsonl

SIDECAR_SUFFIX = ".meta.yaml"  # "article.txt" + "article.meta.yaml": metadata for formats without any


@dataclass(frozen=True)
class Format:
    name: str
    extensions: frozenset[str]
    # (the reading loader, the file's text - or its bytes when ``binary`` -, origin, sidecar metadata)
    load: Callable[[Reading, Any, str, Mapping[str, object] | None], Iterator[LoadResult]]
    many: bool = False  # a file of many records: the byte limit is per record, the file has its own
    binary: bool = False  # decodes itself (XML declares its encoding)
    streamed: bool = False  # read from disk a record at a time, never whole


FORMATS = (
    Format("text", frozenset({".txt", ".text"}), load_text),
    Format("markdown", frozenset({".md", ".markdown"}), load_markdown),
    Format("html", frozenset({".html", ".htm", ".xhtml"}), load_html),
    Format("json", frozenset({".json"}), load_json, many=True, streamed=True),
    Format("jsonl", frozenset({".jsonl", ".ndjson"}), load_jsonl, many=True, streamed=True),
    Format("csv", frozenset({".csv", ".tsv"}), load_csv, many=True),
    Format("feed", frozenset({".xml", ".rss", ".atom"}), load_feed, many=True, binary=True),
)
BY_NAME = {f.name: f for f in FORMATS}
BY_EXTENSION = {ext: f for f in FORMATS for ext in f.extensions}
KNOWN_EXT = frozenset(BY_EXTENSION)


def by_extension(path: Path) -> Format | None:
    return BY_EXTENSION.get(path.suffix.lower())


def recognize(path: Path, raw: bytes) -> Format:
    """The file's format: by extension, else by content (a feed, JSON, HTML, else plain text)."""
    if known := by_extension(path):
        return known
    if is_feed(raw, ""):
        return BY_NAME["feed"]
    head = raw.lstrip()[:1]
    if head in (b"{", b"["):
        return BY_NAME["json"]
    return BY_NAME["html" if head == b"<" else "text"]
