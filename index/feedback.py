"""The question log: every question a front end answered, what its answer cited, and the
feedback readers gave on it, in ``feedback.sqlite3`` beside the catalog (no extra server).

A file of its own rather than a table in ``catalog.sqlite3``: long-lived readers watch the
catalog's ``PRAGMA data_version`` to notice other processes' commits and then rebuild their
embedded Chroma client (``Index.refresh``). SQLite counts a commit by *any* other connection,
so a log write on every question would make the next question reopen the vector store. WAL
mode and a busy timeout, like the catalog: the API, the bot and the CLI may write at once.

Rows older than the retention period are deleted when the log is opened and on every write.
No person is named here: a front end passes an opaque owner (an API key's hash), a chat type,
and a user reference only where a setting allows it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

SCHEMA_VERSION = 2  # 2: questions.confidence
SCHEMA = """
CREATE TABLE IF NOT EXISTS questions (
    answer_id TEXT PRIMARY KEY,
    asked_ts REAL NOT NULL,
    front_end TEXT NOT NULL,
    owner TEXT,
    chat_type TEXT,
    user_ref TEXT,
    question TEXT NOT NULL,
    query TEXT,
    language TEXT,
    refused INTEGER NOT NULL,
    mode TEXT NOT NULL,
    answer TEXT NOT NULL,
    citations TEXT NOT NULL DEFAULT '[]',
    confidence REAL
);
CREATE INDEX IF NOT EXISTS questions_asked ON questions (asked_ts);
CREATE TABLE IF NOT EXISTS feedback (
    answer_id TEXT PRIMARY KEY REFERENCES questions (answer_id) ON DELETE CASCADE,
    rating TEXT NOT NULL CHECK (rating IN ('helpful', 'wrong')),
    comment TEXT,
    front_end TEXT NOT NULL,
    rated_ts REAL NOT NULL
);
"""
RATINGS = ("helpful", "wrong")


@dataclass(frozen=True)
class CitedQuotes:
    """What one logged answer cited from one article."""

    n: int
    article_id: str
    title: str
    url: str | None
    published: str | None  # ISO 8601
    quotes: tuple[str, ...]


@dataclass(frozen=True)
class Rating:
    """A reader's verdict on one answer (the latest one counts)."""

    rating: str  # 'helpful' or 'wrong'
    comment: str | None
    front_end: str
    rated_at: datetime


@dataclass(frozen=True)
class LoggedQuestion:
    """One asked question and its answer, as logged (``rating`` once someone gave feedback)."""

    answer_id: str
    asked_at: datetime  # UTC
    front_end: str  # 'api', 'telegram', 'cli', 'repl'
    owner: str | None  # who may rate it: an API key's short hash; None = whoever reaches it
    chat_type: str | None  # Telegram: 'private', 'group', 'supergroup'
    user_ref: str | None  # only where a setting allows it
    question: str
    query: str | None  # after follow-up rewriting
    language: str | None
    refused: bool
    mode: str
    answer: str
    citations: tuple[CitedQuotes, ...] = ()
    rating: Rating | None = None
    confidence: float | None = None  # how likely its first quote answers (None: refused, generated, unknown)


class FeedbackStore:
    """The log in one SQLite file; opened on first use, safe to share between threads."""

    def __init__(
        self, path: Path, *, retention_days: int, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.path = path
        self.retention = timedelta(days=retention_days)
        self.clock = clock
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None

    @property
    def db(self) -> sqlite3.Connection:
        with self._lock:
            if self._db is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self.path, timeout=5.0, isolation_level=None, check_same_thread=False)
                try:
                    db.execute("PRAGMA journal_mode=WAL")
                    db.execute("PRAGMA synchronous=NORMAL")
                    db.execute("PRAGMA foreign_keys=ON")
                    db.row_factory = sqlite3.Row
                    _migrate(db)
                except BaseException:
                    db.close()
                    raise
                self._db = db
                self.purge()
            return self._db

    def close(self) -> None:
        """Close the connection (the next use opens it again)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock, _immediate(self.db) as db:
            yield db

    def purge(self) -> int:
        """Delete what is older than the retention period (feedback goes with its question)."""
        cutoff = (self.clock() - self.retention).timestamp()
        with self._write() as db:
            return db.execute("DELETE FROM questions WHERE asked_ts < ?", (cutoff,)).rowcount

    def add(self, entry: LoggedQuestion) -> None:
        """Log one question and its answer (and drop what has expired, in the same transaction)."""
        citations = json.dumps(
            [
                {
                    "n": c.n,
                    "article_id": c.article_id,
                    "title": c.title,
                    "url": c.url,
                    "published": c.published,
                    "quotes": list(c.quotes),
                }
                for c in entry.citations
            ],
            ensure_ascii=False,
        )
        cutoff = (self.clock() - self.retention).timestamp()
        with self._write() as db:
            db.execute("DELETE FROM questions WHERE asked_ts < ?", (cutoff,))
            db.execute(
                "INSERT INTO questions (answer_id, asked_ts, front_end, owner, chat_type, user_ref, question, query, "
                "language, refused, mode, answer, citations, confidence) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    entry.answer_id,
                    entry.asked_at.timestamp(),
                    entry.front_end,
                    entry.owner,
                    entry.chat_type,
                    entry.user_ref,
                    entry.question,
                    entry.query,
                    entry.language,
                    int(entry.refused),
                    entry.mode,
                    entry.answer,
                    citations,
                    entry.confidence,
                ),
            )

    def get(self, answer_id: str) -> LoggedQuestion | None:
        """One logged answer (with its rating), or None when unknown or expired."""
        cutoff = (self.clock() - self.retention).timestamp()
        with self._lock:
            row = self.db.execute(
                f"{_SELECT} WHERE q.answer_id = ? AND q.asked_ts >= ?", (answer_id, cutoff)
            ).fetchone()
        return _entry(row) if row else None

    def rate(self, answer_id: str, rating: str, comment: str | None, front_end: str) -> Rating:
        """Record (or replace) the verdict on one logged answer; ``KeyError`` when it is not logged."""
        if rating not in RATINGS:
            raise ValueError(f"rating must be one of {RATINGS}, not {rating!r}")
        now = self.clock()
        with self._write() as db:
            if db.execute("SELECT 1 FROM questions WHERE answer_id = ?", (answer_id,)).fetchone() is None:
                raise KeyError(answer_id)
            db.execute(
                "INSERT INTO feedback (answer_id, rating, comment, front_end, rated_ts) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (answer_id) DO UPDATE SET rating = excluded.rating, comment = excluded.comment, "
                "front_end = excluded.front_end, rated_ts = excluded.rated_ts",
                (answer_id, rating, comment, front_end, now.timestamp()),
            )
        return Rating(rating, comment, front_end, now.astimezone(UTC))

    def entries(self, since: datetime | None = None) -> list[LoggedQuestion]:
        """Every logged question from ``since`` on (all kept ones without), oldest first."""
        cutoff = (self.clock() - self.retention).timestamp()
        if since is not None:
            cutoff = max(cutoff, since.timestamp())
        with self._lock:
            rows = self.db.execute(f"{_SELECT} WHERE q.asked_ts >= ? ORDER BY q.asked_ts, q.rowid", (cutoff,))
            return [_entry(row) for row in rows.fetchall()]

    def count(self) -> int:
        with self._lock:
            return int(self.db.execute("SELECT count(*) FROM questions").fetchone()[0])


_SELECT = (
    "SELECT q.*, f.rating, f.comment, f.front_end AS rated_via, f.rated_ts "
    "FROM questions q LEFT JOIN feedback f ON f.answer_id = q.answer_id"
)


def _migrate(db: sqlite3.Connection) -> None:
    """Create the tables, upgrade a log of an older schema in place (schema 1 lacks
    ``questions.confidence``), or refuse a log written by a newer newsbot. One ``BEGIN IMMEDIATE``
    transaction, the version read (and a newer one refused) again inside it: the API, the bot and
    the CLI may open the same old log at once, and only one of them upgrades it, or a newer newsbot
    may have upgraded it in between."""
    if check_schema(db) == SCHEMA_VERSION:
        return
    with _immediate(db):
        if check_schema(db) < SCHEMA_VERSION:
            for statement in filter(str.strip, SCHEMA.split(";")):  # not executescript: it commits first
                db.execute(statement)
            if "confidence" not in {row[1] for row in db.execute("PRAGMA table_info(questions)")}:
                db.execute("ALTER TABLE questions ADD COLUMN confidence REAL")
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


@contextmanager
def _immediate(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction (``BEGIN IMMEDIATE``: the write lock from the first statement),
    committed, or rolled back on any error, unless SQLite has ended it itself (it does on a full
    disk or an I/O error): rolling back again would raise "no transaction is active" in place of
    the error that ended it."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def check_schema(db: sqlite3.Connection) -> int:
    """The log's schema version; a log written by a newer newsbot is refused (its rows may mean
    something this one cannot read)."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise sqlite3.DatabaseError(
            f"the question log was written by a newer newsbot (schema {version}, this one knows {SCHEMA_VERSION})"
        )
    return version


def _entry(row: sqlite3.Row) -> LoggedQuestion:
    citations = tuple(
        CitedQuotes(
            n=int(c.get("n", i + 1)),
            article_id=str(c["article_id"]),
            title=str(c.get("title") or ""),
            url=c.get("url"),
            published=c.get("published"),
            quotes=tuple(str(q) for q in c.get("quotes") or ()),
        )
        for i, c in enumerate(json.loads(row["citations"] or "[]"))
    )
    rating = None
    if row["rating"] is not None:
        rating = Rating(row["rating"], row["comment"], row["rated_via"], datetime.fromtimestamp(row["rated_ts"], UTC))
    return LoggedQuestion(
        answer_id=row["answer_id"],
        asked_at=datetime.fromtimestamp(row["asked_ts"], UTC),
        front_end=row["front_end"],
        owner=row["owner"],
        chat_type=row["chat_type"],
        user_ref=row["user_ref"],
        question=row["question"],
        query=row["query"],
        language=row["language"],
        refused=bool(row["refused"]),
        mode=row["mode"],
        answer=row["answer"],
        citations=citations,
        rating=rating,
        # a schema-1 log opened read-only has no such column (a Row's "in" looks at values, not keys)
        confidence=row["confidence"] if "confidence" in row.keys() else None,  # noqa: SIM118
    )
