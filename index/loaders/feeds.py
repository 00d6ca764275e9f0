"""RSS and Atom: one article per item, HTML content reduced to text."""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
import time
import xml.sax
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict
from urllib.parse import urlsplit

from defusedxml.expatreader import DefusedExpatParser

from index.loaders.base import LoadResult, Problem, Reading, guard
from index.loaders.documents import html_to_text
from index.models import Article

if TYPE_CHECKING:
    from feedparser import FeedParserDict

logger = logging.getLogger(__name__)

# An item with less text than this is a teaser: its page holds the article (``newsbot watch``
# sources: ``teaser_chars``). ``ingest URL`` fetches at most ``MAX_ITEM_PAGES`` pages per feed.
TEASER_CHARS = 1000
MAX_ITEM_PAGES = 200


class FeedFields(TypedDict):
    """A feed item's JSON fields, as ``article_from_record`` reads them."""

    id: str | None
    url: str | None
    title: str
    text: str
    published: time.struct_time | str | None
    updated: time.struct_time | str | None
    source: str | None
    section: str | None
    author: str | None


@dataclass(frozen=True)
class FeedRecord:
    """One feed item before it becomes an article."""

    origin: str  # FEED#item-id: the article's origin, or the problem's path
    fields: FeedFields  # the JSON fields ``article_from_record`` reads; ``text`` may be empty


def load_feed(
    reader: Reading, data: bytes, origin: str, meta: Mapping[str, object] | None = None
) -> Iterator[LoadResult]:
    """Every item of a feed; a feed that does not parse is one ``Problem`` (none of it is trusted)."""
    for record in feed_records(data, origin):
        if isinstance(record, Problem):
            yield record
        else:
            yield guard(record.origin, lambda r=record: reader.article_from_record(r.fields, r.origin))


def feed_records(data: bytes, origin: str) -> Iterator[FeedRecord | Problem]:
    """Every item of a feed as a record, before it becomes an article: ``newsbot watch`` fetches the
    page of an item that has only a title and a link (an empty ``text``), which ``load_feed`` reports
    as a problem. A feed that does not parse, or has no items, is one ``Problem``."""
    import feedparser
    from defusedxml import DefusedXmlException

    if (entity := _declared_entity(data)) is not None:
        yield _entity_refused(origin, entity)
        return
    _use_our_parser()
    try:
        feed = feedparser.parse(data)
    except DefusedXmlException as exc:  # an entity the check above could not read (another encoding)
        yield _entity_refused(origin, getattr(exc, "name", None) or "?")
        return
    except NotXMLError as exc:
        yield Problem(origin, f"feed does not parse: {exc}")
        return
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
        try:
            record = _record(entry, source)
        except (RecursionError, MemoryError, ValueError, TypeError) as exc:  # one odd item, not the feed
            logger.warning("could not load %s", where, exc_info=True)
            yield Problem(where, f"could not be read ({type(exc).__name__})")
            continue
        yield FeedRecord(where, record)


# Where a feed's DOCTYPE may declare entities (before its first element, as feedparser reads it),
# the declarations, and the values an entity may have: one character reference or at most two
# characters (``<!ENTITY nbsp "&#160;">``, as some feeds declare the HTML ones).
_HEAD = re.compile(rb"<\w")
_ENTITY_DECL = re.compile(rb"<!ENTITY\s+(%\s*)?([\w.:-]+)\s*(\"[^\"]*\"|'[^']*')?")
_SMALL_VALUE = re.compile(rb"&#(?:\d{1,7}|x[0-9a-fA-F]{1,6});|[^&%]{0,2}")


def _declared_entity(data: bytes) -> str | None:
    """The name of the first entity a feed declares beyond a character or two, or None. Expat
    expands declared entities up to its own amplification limit and feedparser's fallback parser
    without any: 200 KB of ``&a;`` became megabytes of text to clean and embed, and no real feed
    needs more than ``&nbsp;``. Read in the bytes before the first element; the NULs of UTF-16 and
    UTF-32 are dropped so that their ASCII reads the same (other encodings: ``FeedXMLParser``)."""
    text = data.replace(b"\x00", b"")
    head = text[: m.start()] if (m := _HEAD.search(text)) else text
    for match in _ENTITY_DECL.finditer(head):
        parameter, name, value = match.groups()
        if parameter or value is None or not _SMALL_VALUE.fullmatch(value[1:-1]):
            return name.decode("ascii", "replace")
    return None


def _entity_refused(origin: str, name: str) -> Problem:
    return Problem(origin, f"feed declares its own XML entity <!ENTITY {name} ...>: refused (they can blow it up)")


class NotXMLError(ValueError):
    """A feed expat cannot parse: refused as it is (feedparser would read it again with its loose
    parser, only for ``feed_records`` to refuse what that finds)."""


class FeedXMLParser(DefusedExpatParser):
    """The SAX parser feedparser reads feeds with: expat that refuses a DOCTYPE's entities beyond a
    character or two (``_declared_entity`` checks first, this holds for every encoding) and any
    feed it cannot parse (``NotXMLError``). An external DTD (RSS 0.91's) is allowed and, as
    before, never fetched."""

    def __init__(self) -> None:
        super().__init__(forbid_dtd=False, forbid_entities=True, forbid_external=False)

    def defused_entity_decl(  # expat's EntityDeclHandler
        self, name: str, is_parameter_entity: bool, value: str | None, *rest: object
    ) -> None:
        if not is_parameter_entity and value is not None and len(value) <= 2 and "&" not in value:
            return  # expat gives the value with character references resolved: &#160; is one character
        super().defused_entity_decl(name, is_parameter_entity, value, *rest)

    def parse(self, source: object) -> None:
        try:
            super().parse(source)
        except xml.sax.SAXException as exc:
            raise NotXMLError(str(exc)) from exc


def create_parser() -> FeedXMLParser:
    """``xml.sax.make_parser`` imports this module by name and calls this (``_use_our_parser``)."""
    return FeedXMLParser()


def _use_our_parser() -> None:
    """feedparser's documented hook: the SAX parser modules it tries first."""
    import feedparser

    with _REGISTER:
        if __name__ not in feedparser.api.PREFERRED_XML_PARSERS:
            feedparser.api.PREFERRED_XML_PARSERS.insert(0, __name__)


_REGISTER = threading.Lock()


def is_feed(raw: bytes, content_type: str) -> bool:
    if any(t in content_type for t in ("rss", "atom", "xml")) and "html" not in content_type:
        return True
    head = raw[:1024].lstrip().lower()
    return (
        head.startswith(b"<?xml")
        and (b"<rss" in raw[:4096].lower() or b"<feed" in raw[:4096].lower())
        or head.startswith((b"<rss", b"<feed"))
    )


def _record(entry: FeedParserDict, source: str | None) -> FeedFields:
    content = entry.get("content") or []
    body = content[0].get("value") if content else entry.get("summary", "")
    return {
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


def is_teaser(fields: Mapping[str, object], teaser_chars: int = TEASER_CHARS) -> bool:
    """A feed item whose page is the article: it links one and has less text than ``teaser_chars``."""
    return bool(fields.get("url")) and len(str(fields.get("text") or "").strip()) < teaser_chars


def with_feed_item(page: LoadResult, item: Article | None, credit: str | None) -> LoadResult:
    """A page's article completed from its feed item: the item's dates where the page has none;
    ``credit`` (the feed's title, a source's name) where the page names no publisher (its source
    is only its host). Every path that fetches an item's page (``ingest URL``, ``newsbot watch``)
    uses this, so they store the same article."""
    if not isinstance(page, Article):
        return page
    if credit and (not page.source or _is_host(page.source, page.url)):
        page = dataclasses.replace(page, source=credit)
    if item is None:
        return page
    return dataclasses.replace(page, published=page.published or item.published, updated=page.updated or item.updated)


def _is_host(source: str, url: str | None) -> bool:
    """Whether ``source`` is only the host of ``url`` (what a page without a site name gets)."""
    parts = urlsplit(url or "")
    host = (parts.hostname or "").removeprefix("www.")
    return bool(host) and source.casefold().removeprefix("www.") in {host, parts.netloc.casefold().removeprefix("www.")}
