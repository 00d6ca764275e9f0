"""Parsing article dates from the many shapes newsrooms write them in, always timezone-aware."""

from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

# "Stand: 07.03.2022 19:45 Uhr", as printed under every tagesschau/NDR headline.
STAND_RE = re.compile(r"Stand:\s*(\d{1,2})\.(\d{1,2})\.(\d{4})(?:,?\s+(\d{1,2})[:.](\d{2})(?:\s*Uhr)?)?")
_GERMAN_NUMERIC = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})(?:,?\s+(\d{1,2})[:.](\d{2})(?::(\d{2}))?(?:\s*Uhr)?)?$")


# Article dates outside these years are input errors: a newsroom's archive holds none, and dates
# near datetime's limits overflow when converted between zones (9999-12-31T23:59:59-14:00 is
# year 10000 in UTC), which once made every reader of the catalog fail.
MIN_YEAR, MAX_YEAR = 1800, 2200


def parse_datetime(value: object, tz: str = "Europe/Berlin") -> datetime | None:
    """Turn ``value`` into an aware datetime, or ``None`` for an empty value.

    Accepts datetimes, dates, epoch seconds, ``time.struct_time`` (feedparser, UTC),
    ISO 8601, RFC 2822 (feeds, mail), German "07.03.2022 19:45 Uhr" and whatever
    absolute date ``dateparser`` understands. Naive values are read in ``tz``.
    Relative phrases ("gestern") are refused: an article date must not depend on
    the day it was ingested. Raises ``ValueError`` for anything else.
    """
    try:
        return _parse(value, tz)
    except (OverflowError, OSError) as exc:  # dateparser and the calendar's limits
        raise ValueError(f"unparseable date {_short(value)}") from exc


def article_date(value: object, tz: str = "Europe/Berlin") -> datetime | None:
    """``parse_datetime`` for an article's own date, which must lie in the years
    ``MIN_YEAR``-``MAX_YEAR`` (a filter may reach further: "until 9999-12-31" is a fine filter)."""
    parsed = parse_datetime(value, tz)
    if parsed is None:
        return None
    try:
        in_utc = parsed.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise ValueError(f"date {_short(value)} is out of range (years {MIN_YEAR}-{MAX_YEAR})") from exc
    if not MIN_YEAR <= in_utc.year <= MAX_YEAR:
        raise ValueError(f"date {_short(value)} is out of range (years {MIN_YEAR}-{MAX_YEAR})")
    return parsed


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _parse(value: object, tz: str) -> datetime | None:
    zone = _zone(tz)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=zone)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=zone)
    if isinstance(value, time.struct_time):
        return datetime(*value[:6], tzinfo=UTC)
    if isinstance(value, bool):
        raise ValueError(f"unparseable date {value!r}")
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value, tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise ValueError(f"unparseable date {value!r}") from exc
    if not isinstance(value, str):
        raise ValueError(f"unparseable date {value!r}")

    text = value.strip()
    if match := _GERMAN_NUMERIC.match(text):
        return _from_parts(match.groups(), zone, text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)
    except ValueError:
        pass
    try:
        parsed = parsedate_to_datetime(text)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)
    except (TypeError, ValueError, IndexError):
        pass
    return _dateparser(text, tz)


def parse_stand(text: str, tz: str = "Europe/Berlin") -> tuple[datetime, re.Match[str]] | None:
    """Find a "Stand: DD.MM.YYYY HH:MM Uhr" in ``text``; ``ValueError`` if it is not a real date."""
    match = STAND_RE.search(text)
    if not match:
        return None
    return _from_parts(match.groups(), _zone(tz), match.group(0)), match


def _from_parts(parts: tuple[str | None, ...], zone: ZoneInfo, original: str) -> datetime:
    day, month, year, hour, minute, *rest = parts
    second = rest[0] if rest else None
    try:
        return datetime(
            int(year or ""),
            int(month or ""),
            int(day or ""),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            tzinfo=zone,
        )
    except ValueError as exc:
        raise ValueError(f"unparseable date {original!r} ({exc})") from exc


def _dateparser(text: str, tz: str) -> datetime:
    import dateparser  # slow to import; only reached for unusual date strings

    parsed = dateparser.parse(
        text,
        languages=["de", "en"],
        settings={
            "TIMEZONE": tz,
            "RETURN_AS_TIMEZONE_AWARE": True,
            "DATE_ORDER": "DMY",
            "PARSERS": ["timestamp", "custom-formats", "absolute-time"],
            "STRICT_PARSING": True,
        },
    )
    if parsed is None:
        raise ValueError(f"unparseable date {text!r}")
    return parsed


@lru_cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)
