"""What ``newsbot watch`` remembers per source across restarts: validators (ETag, Last-Modified),
the items seen with their fingerprints, and the poll history (last poll, failures, next poll).

One small SQLite file in the data dir (``sources.sqlite3``), one row per source, replaced in one
transaction: a killed watcher leaves the last saved state whole. A poll saves its state only
after its ingest has committed, so after ``kill -9`` the next poll fetches and ingests again
what the lost one had (unchanged articles then cost a hash).
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypedDict

STATE_FILE = "sources.sqlite3"
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"<>]+", re.IGNORECASE)
_HELP_LINE = re.compile(r"\s*For more information check: \S+", re.IGNORECASE)  # httpx's status errors


class SourceSummary(TypedDict):
    """``SourceState.summary``: times as ISO 8601 (UTC), the live items, the failures."""

    last_poll: str | None
    last_success: str | None
    last_change: str | None
    next_poll: str | None
    items: int
    failures: int
    last_error: str | None


def _redact_url(match: re.Match[str]) -> str:
    scheme, rest = match.group(0).split("://", 1)
    rest, query, _ = rest.partition("?")
    authority, slash, path = rest.partition("/")
    return f"{scheme}://{authority.rpartition('@')[2]}{slash}{path}" + ("?…" if query else "")


def error_text(message: str) -> str:
    """A poll's error as ``newsbot sources`` and the metrics show it: our message only (not
    httpx's pointer to MDN), with credentials taken out of URLs (user:password@, query strings:
    tokens live there) and one line, at most 300 characters."""
    text = _URL.sub(_redact_url, _HELP_LINE.sub("", message))
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:299] + "…"


@dataclass
class Item:
    """One feed item, sitemap URL or file, as last seen."""

    fingerprint: str | None = None  # feed item: content hash; sitemap: lastmod; file: mtime and size
    article_ids: list[str] = field(default_factory=list)  # what it put into the index
    url: str | None = None  # the page fetched for it (re-checked for corrections and take-downs)
    etag: str | None = None  # the page's validators, for conditional re-checks
    last_modified: str | None = None
    first_seen: float = 0.0
    listed: bool = True  # still in the feed / sitemap the last time it was read
    doc: str | None = None  # the child sitemap that lists it
    pending: bool = False  # its page could not be fetched (or not yet: a 404 before it is live): tried again
    gone: bool = False  # taken down (404/410, or dropped from a sitemap with on_missing: remove)
    teaser: bool = False  # its article is the feed item's own text: the page had no article to extract
    credit: str | None = None  # the source its page is credited to when the page names none (feed title, name)
    version: str | None = None  # the version of its article the index held after this source's write:
    # another one indexed means another path wrote over it (a teaser posted after a restore), and
    # the page is fetched again
    settling: str | None = None  # file: its signature while it may still be written (not read yet) ...
    settling_since: float = 0.0  # ... and since when the scans have found it unchanged
    missing: int = 0  # its live page has answered 404 this many polls in a row ...
    missing_since: float = 0.0  # ... since then (a 404 must persist before it takes the article down)
    gone_status: int | None = None  # what took it down: 410 is final, after a 404 the page is checked again


@dataclass
class Doc:
    """A fetched document of a source (a feed, a sitemap, a child of a sitemap index)."""

    etag: str | None = None
    last_modified: str | None = None
    lastmod: str | None = None  # what the sitemap index says of a child


@dataclass
class SourceState:
    """A source's state; the watcher replaces it as a whole after each poll."""

    name: str
    last_poll: float | None = None
    last_success: float | None = None
    last_change: float | None = None
    next_poll: float = 0.0
    failures: int = 0  # consecutive
    last_error: str | None = None
    synced: bool = False  # a folder's first full scan (with ``--sync``'s removals) is done
    docs: dict[str, Doc] = field(default_factory=dict)
    items: dict[str, Item] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> SourceState:
        data = json.loads(text)
        data["docs"] = {k: Doc(**v) for k, v in data.get("docs", {}).items()}
        data["items"] = {k: Item(**v) for k, v in data.get("items", {}).items()}
        return cls(**data)

    def copy(self) -> SourceState:
        return SourceState.from_json(self.to_json())

    def summary(self) -> SourceSummary:
        """What ``newsbot sources`` shows: times as ISO 8601 (UTC), the live items, the failures."""
        return {
            "last_poll": _iso(self.last_poll),
            "last_success": _iso(self.last_success),
            "last_change": _iso(self.last_change),
            "next_poll": _iso(self.next_poll) if self.next_poll else None,
            "items": sum(1 for item in self.items.values() if not item.gone and (item.article_ids or item.pending)),
            "failures": self.failures,
            "last_error": self.last_error,
        }


class StateStore:
    """The ``sources.sqlite3`` of one data dir."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / STATE_FILE
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS source_state (name TEXT PRIMARY KEY, state TEXT NOT NULL)")

    def load(self, name: str) -> SourceState:
        with self._lock:
            row = self._db.execute("SELECT state FROM source_state WHERE name = ?", (name,)).fetchone()
        return SourceState.from_json(row[0]) if row else SourceState(name)

    def save(self, state: SourceState) -> None:
        """Replace the source's row (one transaction)."""
        with self._lock:
            self._db.execute(
                "INSERT INTO source_state (name, state) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET state = excluded.state",
                (state.name, state.to_json()),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds") if ts is not None else None
