"""What every format shares: problems, the record -> ``Article`` step, and the guard that
turns one odd item into a ``Problem`` instead of an aborted run."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from index.dates import article_date, parse_stand
from index.models import Article
from index.split import normalized_hash, split_sentences

logger = logging.getLogger(__name__)

RECORD_FIELDS = ("id", "url", "title", "text", "published", "updated", "source", "section", "author")
TITLE_MAX_CHARS = 200  # a title made from the text's first sentence
# What a record's short fields may hold: every sentence's search text and the reader's input
# carry the title, so a 500,000-character title would cost minutes of embedding per record.
FIELD_MAX_CHARS = {"title": 500, "source": 200, "section": 200, "author": 300}
URL_MAX_CHARS = 2048


@dataclass(frozen=True)
class Problem:
    """One input item that could not be loaded (``fatal``) or loaded with a caveat."""

    path: str
    reason: str
    fatal: bool = True


LoadResult = Article | Problem


class Reading(Protocol):
    """What a format reads from the loader that calls it (``Loader`` is one): the newsroom's time
    zone, the byte limit per article, and the record -> ``Article`` step. Formats depend on this,
    not on the loader, so the loader can depend on them."""

    tz: str
    max_bytes: int

    def article_from_record(self, record: object, origin: str) -> Article: ...


class ItemError(Exception):
    """Raised inside a format for one bad item; turned into a ``Problem`` by ``guard``."""


def guard(origin: str, build: Callable[..., Article]) -> LoadResult:
    """``build()``, or the ``Problem`` that says why this one item could not be built."""
    try:
        return build()
    except ItemError as exc:
        return Problem(origin, str(exc))
    except (RecursionError, MemoryError, ValueError, TypeError, OverflowError) as exc:  # one odd item, not the run
        logger.warning("could not load %s", origin, exc_info=True)
        return Problem(origin, f"could not be read ({type(exc).__name__})")


def too_big(text: str, max_bytes: int) -> bool:
    # (a UTF-8 character is at most 4 bytes: most texts pass without being encoded)
    return len(text) * 4 > max_bytes and len(text.encode("utf-8")) > max_bytes


def article_from_record(record: object, origin: str, *, max_bytes: int, tz: str) -> Article:
    """Build an ``Article`` from a dict with the JSON fields; unknown keys become metadata."""
    if not isinstance(record, dict):
        raise ItemError(f"expected a JSON object, got {type(record).__name__}")
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ItemError("missing or empty 'text'")
    if too_big(text, max_bytes):
        raise ItemError(f"larger than NEWSBOT_MAX_ARTICLE_BYTES ({max_bytes} bytes)")
    fields: dict[str, str | None] = {}
    for key in ("title", "source", "url", "section", "author"):
        value = record.get(key)
        if value is not None and not isinstance(value, str):
            value = str(value)
        fields[key] = value.strip() if value and value.strip() else None
        if (shown := fields[key]) and key in FIELD_MAX_CHARS:
            fields[key] = shorten(shown, FIELD_MAX_CHARS[key])
    url = fields["url"]
    if url and len(url) > URL_MAX_CHARS:  # a URL is an identity: never cut
        raise ItemError(f"'url' longer than {URL_MAX_CHARS} characters")
    dates: dict[str, datetime | None] = {}
    for key in ("published", "updated"):
        try:
            dates[key] = article_date(record.get(key), tz)
        except ValueError as exc:
            raise ItemError(f"{exc} in '{key}'") from exc
    text = text.strip()
    title = fields["title"] or title_from_text(text)
    given = str(record.get("id") or "").strip()
    # Stable ids: the given one, else the canonical URL, else a hash of the content.
    article_id = given or url or "sha256:" + normalized_hash(title + "\n" + text)[:24]
    metadata = {k: _jsonable(v) for k, v in record.items() if k not in RECORD_FIELDS}
    return Article(
        id=article_id,
        title=title,
        text=text,
        source=fields["source"],
        url=url,
        published=dates["published"],
        updated=dates["updated"],
        section=fields["section"],
        author=fields["author"],
        metadata=metadata,
        origin=origin,
    )


def stand(text: str, tz: str) -> tuple[datetime, re.Match[str]] | None:
    """A tagesschau "Stand: ..." line: (datetime, match) or None; a bad date is an ``ItemError``."""
    try:
        return parse_stand(text, tz)
    except ValueError as exc:
        raise ItemError(str(exc)) from exc


def title_from_text(text: str) -> str:
    first = split_sentences(text.split("\n", 1)[0][:400])
    return shorten(first[0] if first else text, TITLE_MAX_CHARS)


def shorten(text: str, limit: int) -> str:
    """``text`` up to ``limit`` characters, cut at a word and marked with an ellipsis."""
    if len(text) <= limit:
        return text
    text = " ".join(text[: limit * 2].split())  # a title is one line
    return text if len(text) <= limit else (text[: limit - 1].rsplit(" ", 1)[0] or text[: limit - 1]) + "…"


def _jsonable(value: object) -> object:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return str(value)
