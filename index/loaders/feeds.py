"""RSS and Atom: one article per item, HTML content reduced to text."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from index.loaders.base import LoadResult, Problem, guard
from index.loaders.documents import html_to_text
from index.models import Article

if TYPE_CHECKING:
    from index.loaders.loader import Loader


def load_feed(loader: Loader, data: bytes, origin: str, meta: dict[str, Any] | None = None) -> Iterator[LoadResult]:
    """Every item of a feed; a feed that does not parse is one ``Problem`` (none of it is trusted)."""
    import feedparser

    feed = feedparser.parse(data)
    broken = feed.bozo and not isinstance(
        feed.bozo_exception, (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)
    )
    if broken:
        # A truncated or malformed feed: its last items may be cut off, so none is trusted.
        yield Problem(origin, f"feed does not parse: {feed.bozo_exception}")
        return
    if not feed.entries:
        yield Problem(origin, "feed has no items")
        return
    source = feed.feed.get("title")
    for n, entry in enumerate(feed.entries):
        where = f"{origin}#{entry.get('id') or entry.get('link') or n}"
        yield guard(where, lambda entry=entry, where=where: _entry(loader, entry, source, where))


def is_feed(raw: bytes, content_type: str) -> bool:
    if any(t in content_type for t in ("rss", "atom", "xml")) and "html" not in content_type:
        return True
    head = raw[:1024].lstrip().lower()
    return (
        head.startswith(b"<?xml")
        and (b"<rss" in raw[:4096].lower() or b"<feed" in raw[:4096].lower())
        or head.startswith((b"<rss", b"<feed"))
    )


def _entry(loader: Loader, entry: Any, source: str | None, origin: str) -> Article:
    content = entry.get("content") or []
    body = content[0].get("value") if content else entry.get("summary", "")
    record = {
        "id": entry.get("id") or entry.get("link"),
        "url": entry.get("link"),
        "title": html_to_text(entry.get("title", "")),
        "text": html_to_text(body or ""),
        # dict.get: feedparser's own get() silently maps a missing "updated" to "published".
        "published": dict.get(entry, "published_parsed") or dict.get(entry, "published"),
        "updated": dict.get(entry, "updated_parsed") or dict.get(entry, "updated"),
        "source": source,
        "section": (entry.get("tags") or [{}])[0].get("term"),
        "author": entry.get("author"),
    }
    return loader.article_from_record(record, origin)
