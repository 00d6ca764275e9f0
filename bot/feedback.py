"""The question log and feedback loop: what the newsroom asks, what the archive cannot answer,
and which answers readers marked wrong or helpful.

    log = QuestionLog(settings)
    log.record(answer, front_end="api", owner="api:3f2a...")   # sets answer.answer_id
    log.rate(answer.answer_id, "wrong", comment="falsches Datum", front_end="api", owner=...)
    log.report(since="2024-05-01")                             # what ``newsbot report`` shows

Every front end logs the questions it answers through ``record``, which never raises: a log
that cannot be written costs a warning, never the answer. ``NEWSBOT_LOG_QUESTIONS=false``
stores nothing at all. The rows live in ``index/feedback.py`` (``feedback.sqlite3`` in the
data dir), for ``NEWSBOT_LOG_RETENTION_DAYS``.
"""

from __future__ import annotations

import logging
import re
import secrets
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypedDict
from zoneinfo import ZoneInfo

from rapidfuzz import fuzz, process

from bot.answer import Answer, is_unsure
from bot.errors import ForeignAnswerError, InvalidInputError, LoggingOffError, UnknownAnswerError
from bot.language import ENGLISH, GERMAN, QUESTION_WORDS
from bot.settings import Settings
from index.dates import parse_datetime
from index.feedback import RATINGS, CitedQuotes, FeedbackStore, LoggedQuestion, Rating, check_schema
from index.keywords import GERMAN_STOPWORDS, stems

__all__ = ["RATINGS", "QuestionLog", "Rating", "Report"]

logger = logging.getLogger(__name__)

FILE_NAME = "feedback.sqlite3"
FRONT_ENDS = ("api", "telegram", "cli", "repl")
MAX_COMMENT = 500  # characters of a reader's comment that are kept
SIMILAR = 85  # rapidfuzz token_set_ratio (0-100) from which two wordings count as one question
# The most frequent wordings compared by similarity (at most MAX_SIMILAR**2 / 2 comparisons, ~1 s);
# rarer ones are grouped by equal wording only, so the report's cost does not grow with the log.
MAX_SIMILAR = 2_000
MAX_VARIANTS = 5
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_FUNCTION_WORDS = GERMAN | ENGLISH | GERMAN_STOPWORDS | QUESTION_WORDS | {"gibt", "gab"}


# ---- what the report says (typed, so the HTTP schema is derived from it) -----------------------


@dataclass(frozen=True)
class QuestionGroup:
    """Questions of similar wording, counted together."""

    question: str  # the most frequent wording
    count: int
    last_asked: str  # ISO 8601
    variants: list[str] = field(default_factory=list)  # other wordings in the group (a few)
    searched_as: str | None = None  # a follow-up: what it was last rewritten to (the words searched for)


@dataclass(frozen=True)
class CitedArticle:
    """What a logged answer cited from one article."""

    article_id: str
    title: str
    quotes: list[str]


@dataclass(frozen=True)
class MarkedWrong:
    """An answer a reader marked wrong, with what it cited and the comment."""

    answer_id: str
    question: str
    answer: str
    comment: str | None
    refused: bool
    mode: str
    front_end: str
    asked_at: str  # ISO 8601
    rated_at: str  # ISO 8601
    citations: list[CitedArticle]


@dataclass(frozen=True)
class Topic:
    """A word questions keep asking about, and in how many questions."""

    term: str
    count: int


@dataclass(frozen=True)
class DayCount:
    """Answered and refused questions of one day (in NEWSBOT_TIMEZONE) and front end."""

    day: str
    front_end: str
    answered: int
    refused: int


@dataclass(frozen=True)
class Totals:
    questions: int
    answered: int
    refused: int
    helpful: int
    wrong: int
    unsure: int = 0  # of the answered: those whose answer said it was unsure


@dataclass(frozen=True)
class Report:
    """The newsroom's view of its question log (``newsbot report``, ``GET /v1/report``)."""

    since: str | None  # ISO 8601; None = everything kept
    generated_at: str  # ISO 8601
    logging: bool  # whether questions are being logged now (NEWSBOT_LOG_QUESTIONS)
    totals: Totals
    refused: list[QuestionGroup]  # refused most often, grouped by similar wording
    wrong: list[MarkedWrong]  # newest first
    # answered, but unsure that the quote answers (the archive may not say this either), most often first
    unsure: list[QuestionGroup]
    asked: list[QuestionGroup]  # asked most often
    topics: list[Topic]  # words asked about most often
    daily: list[DayCount]  # oldest day first

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


# ---- the log ------------------------------------------------------------------------------------


class _ReadOnlyStore(FeedbackStore):
    """The log opened read-only, for logging switched off: SQLite refuses every write, so opening
    creates no file and purges nothing (the queries themselves leave out what has expired)."""

    @property
    def db(self) -> sqlite3.Connection:
        with self._lock:
            if self._db is None:
                uri = f"{self.path.resolve().as_uri()}?mode=ro"
                db = sqlite3.connect(uri, uri=True, timeout=5.0, check_same_thread=False)
                try:
                    check_schema(db)  # an older log is read as it is (what it lacks reads as unknown)
                except BaseException:
                    db.close()
                    raise
                db.row_factory = sqlite3.Row
                self._db = db
            return self._db


class QuestionLog:
    """Logs answered questions and the feedback on them; builds the report and the regression set."""

    def __init__(self, settings: Settings, *, clock: Callable[[], datetime] | None = None) -> None:
        self.enabled = settings.log_questions
        self.retention_days = settings.log_retention_days
        self.timezone = settings.timezone
        self.zone = ZoneInfo(settings.timezone)
        self.clock = clock or (lambda: datetime.now(UTC))
        # Switched off, the log is only read (the report shows what was kept): no file, no purge.
        store = FeedbackStore if self.enabled else _ReadOnlyStore
        self.store = store(
            Path(settings.data_dir) / FILE_NAME, retention_days=settings.log_retention_days, clock=self.clock
        )

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> QuestionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def record(
        self,
        answer: Answer,
        *,
        front_end: str,
        owner: str | None = None,
        chat_type: str | None = None,
        user_ref: str | None = None,
    ) -> str | None:
        """Log ``answer`` and give it an unguessable ``answer_id`` (returned, and set on the answer).

        ``owner`` is who may rate it later (by default the front end itself); a failure to write
        is a warning and returns None: the answer goes out all the same. With logging off,
        nothing is stored and None is returned."""
        if not self.enabled:
            return None
        answer_id = secrets.token_urlsafe(16)
        entry = LoggedQuestion(
            answer_id=answer_id,
            asked_at=self.clock(),
            front_end=front_end,
            owner=owner or front_end,
            chat_type=chat_type,
            user_ref=user_ref,
            question=answer.question,
            query=answer.query if answer.query != answer.question else None,
            language=answer.language,
            refused=answer.refused,
            mode=answer.mode,
            answer=answer.text,
            confidence=answer.confidence,
            citations=tuple(
                CitedQuotes(c.n, c.article_id, c.title, c.url, c.updated or c.published, tuple(c.quotes or [c.quote]))
                for c in answer.citations
            ),
        )
        try:
            self.store.add(entry)
        except Exception as exc:  # the log is a by-product: it never costs the answer
            logger.warning(
                "question not logged (%s: %s); the answer goes out without an answer id", type(exc).__name__, exc
            )
            return None
        answer.answer_id = answer_id
        return answer_id

    def rate(
        self, answer_id: str, rating: str, *, front_end: str, owner: str | None = None, comment: str | None = None
    ) -> Rating:
        """Record a reader's verdict ('helpful' or 'wrong', an optional comment) on a logged answer.

        The latest verdict on an answer counts. Raises ``LoggingOffError``, ``UnknownAnswerError``
        (never given, or expired) or ``ForeignAnswerError`` (another owner asked)."""
        if not self.enabled:
            raise LoggingOffError()
        if rating not in RATINGS:
            raise InvalidInputError(f"A rating is one of {', '.join(RATINGS)}, not '{rating[:40]}'.")
        entry = self.store.get(answer_id)
        if entry is None:
            raise UnknownAnswerError(self.retention_days)
        if entry.owner != (owner or front_end):
            raise ForeignAnswerError()
        text = " ".join((comment or "").split())[:MAX_COMMENT] or None
        try:
            return self.store.rate(answer_id, rating, text, front_end)
        except KeyError:  # expired between the two statements
            raise UnknownAnswerError(self.retention_days) from None

    def get(self, answer_id: str) -> LoggedQuestion | None:
        """One logged answer with its rating (None when unknown, expired or logging is off)."""
        return self.store.get(answer_id) if self.enabled else None

    def entries(self, since: datetime | date | str | None = None) -> list[LoggedQuestion]:
        """Every kept question from ``since`` on, oldest first (with logging off: what was kept before)."""
        if not self.enabled and not self.store.path.exists():
            return []  # nothing was ever logged, and nothing is created now
        return self.store.entries(self._since(since))

    # ---- what the newsroom sees -----------------------------------------------------------------

    def report(self, *, since: datetime | date | str | None = None, limit: int = 20) -> Report:
        """Refused questions grouped by wording, answers marked wrong, questions answered but unsure
        (the archive may not answer them either), the most asked questions and topics, and answered
        vs refused per day and front end."""
        start = self._since(since)
        entries = self.entries(start)
        daily: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
        for e in entries:
            daily[(e.asked_at.astimezone(self.zone).date().isoformat(), e.front_end)][int(e.refused)] += 1
        wrong = [e for e in entries if e.rating is not None and e.rating.rating == "wrong"]
        wrong.sort(key=lambda e: e.rating.rated_at if e.rating else e.asked_at, reverse=True)
        unsure = [e for e in entries if _unsure(e)]
        return Report(
            since=start.isoformat() if start else None,
            generated_at=self.clock().astimezone(self.zone).isoformat(timespec="seconds"),
            logging=self.enabled,
            totals=Totals(
                questions=len(entries),
                answered=sum(not e.refused for e in entries),
                refused=sum(e.refused for e in entries),
                helpful=sum(e.rating is not None and e.rating.rating == "helpful" for e in entries),
                wrong=len(wrong),
                unsure=len(unsure),
            ),
            refused=group_questions(
                ((e.question, e.asked_at) for e in entries if e.refused),
                self.zone,
                rewrites={e.question: e.query for e in entries if e.refused and e.query},  # the latest wins
            )[:limit],
            wrong=[_marked_wrong(e, self.zone) for e in wrong[:limit]],
            unsure=group_questions(
                ((e.question, e.asked_at) for e in unsure),
                self.zone,
                rewrites={e.question: e.query for e in unsure if e.query},
            )[:limit],
            asked=group_questions(((e.question, e.asked_at) for e in entries), self.zone)[:limit],
            topics=topics(e.question for e in entries)[:limit],
            daily=[DayCount(day, fe, counts[0], counts[1]) for (day, fe), counts in sorted(daily.items())],
        )

    def helpful_squad(
        self, article_text: Callable[[str], str | None], *, since: datetime | date | str | None = None
    ) -> dict[str, Any]:
        """Answers marked helpful as a SQuAD-format regression set that ``newsbot eval`` reads.

        Question: what was searched (a follow-up's standalone form); answer: the first quoted
        sentence; context: the cited article's text (``article_text(article_id)``), or the
        quotes themselves when the article is gone or no longer contains the sentence."""
        paragraphs: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)  # article -> context -> paragraph
        titles: dict[str, str] = {}
        seen: set[tuple[str, str]] = set()
        for e in self.entries(since):
            if e.refused or e.rating is None or e.rating.rating != "helpful" or not e.citations:
                continue
            cited = min(e.citations, key=lambda c: c.n)
            if not cited.quotes:
                continue
            question, quote = e.query or e.question, cited.quotes[0]
            if (cited.article_id, normalize(question)) in seen:
                continue
            seen.add((cited.article_id, normalize(question)))
            text = article_text(cited.article_id)
            context = text if text and quote in text else " ".join(cited.quotes)
            paragraph = paragraphs[cited.article_id].setdefault(context, {"context": context, "qas": []})
            paragraph["qas"].append(
                {
                    "id": e.answer_id,
                    "question": question,
                    "answers": [{"text": quote, "answer_start": context.index(quote)}],
                    "is_impossible": False,
                    **({"lang": e.language} if e.language else {}),
                }
            )
            titles[cited.article_id] = cited.title or cited.article_id
        return {
            "version": "newsbot-feedback-1",
            "data": [
                {"title": titles[article_id], "paragraphs": list(contexts.values())}
                for article_id, contexts in paragraphs.items()
            ],
        }

    def _since(self, since: datetime | date | str | None) -> datetime | None:
        try:
            return parse_datetime(since, self.timezone)
        except ValueError as exc:
            raise InvalidInputError(f"'{since}' is not a date. Try e.g. 2024-05-01 or 01.05.2024.") from exc


# ---- grouping ------------------------------------------------------------------------------------


def normalize(question: str) -> str:
    """Casefolded words only: punctuation and spacing do not make another question."""
    return " ".join(re.findall(r"\w+", question.casefold()))


def _content(normalized: str) -> str:
    """The words that carry the topic (what two wordings of one question share)."""
    words = [w for w in normalized.split() if w not in _FUNCTION_WORDS]
    return " ".join(words) or normalized


class _Group(TypedDict):
    """A group of questions as ``group_questions`` builds it: its first wording, how often and
    when last it was asked, and other wordings."""

    question: str
    count: int
    last: datetime
    variants: list[str]


def group_questions(
    asked: Iterable[tuple[str, datetime]], zone: ZoneInfo | None = None, rewrites: dict[str, str] | None = None
) -> list[QuestionGroup]:
    """Group questions by similar wording, most asked first.

    Equal after ``normalize`` is one wording; wordings whose topic words have a rapidfuzz
    ``token_set_ratio`` of at least ``SIMILAR`` join the group of the more frequent one (greedy,
    most frequent wordings first, so a group is named by its commonest wording). Only the
    ``MAX_SIMILAR`` most frequent wordings are compared; each rarer one is a group of its own."""
    counts: Counter[str] = Counter()
    surface: dict[str, Counter[str]] = defaultdict(Counter)
    last: dict[str, datetime] = {}
    for question, when in asked:
        key = normalize(question)
        if not key:
            continue
        counts[key] += 1
        surface[key][question.strip()] += 1
        last[key] = max(last.get(key, when), when)
    groups: list[_Group] = []
    keys: list[str] = []  # the topic words of each group's first wording
    for rank, key in enumerate(sorted(counts, key=lambda k: (-counts[k], -last[k].timestamp(), k))):
        content = _content(key)
        match: tuple[str, float, int] | None = None
        if keys and rank < MAX_SIMILAR:  # past the most frequent: equal wordings only (bounded work)
            match = process.extractOne(content, keys, scorer=fuzz.token_set_ratio, score_cutoff=SIMILAR)
        wording = surface[key].most_common(1)[0][0]
        if match is None:
            keys.append(content)
            groups.append({"question": wording, "count": 0, "last": last[key], "variants": []})
            group = groups[-1]
        else:
            group = groups[match[2]]
            if len(group["variants"]) < MAX_VARIANTS:
                group["variants"].append(wording)
        group["count"] += counts[key]
        group["last"] = max(group["last"], last[key])
    groups.sort(key=lambda g: (-g["count"], -g["last"].timestamp()))
    return [
        QuestionGroup(
            question=g["question"],
            count=g["count"],
            last_asked=(g["last"].astimezone(zone) if zone else g["last"]).isoformat(timespec="seconds"),
            variants=g["variants"],
            searched_as=(rewrites or {}).get(g["question"]),
        )
        for g in groups
    ]


def topics(questions: Iterable[str]) -> list[Topic]:
    """Words questions ask about (no function or question words), counted once per question;
    inflected forms count as one word (German stems), shown in their commonest form."""
    counts: Counter[str] = Counter()
    forms: dict[str, Counter[str]] = defaultdict(Counter)
    for question in questions:
        found: set[str] = set()
        for word in _WORD.findall(question):
            low = word.casefold()
            if len(low) < 3 or low in _FUNCTION_WORDS:
                continue
            stem = stems(low)[0]
            forms[stem][word] += 1
            found.add(stem)
        counts.update(found)
    ranked = sorted(counts, key=lambda s: (-counts[s], s))
    return [Topic(forms[s].most_common(1)[0][0], counts[s]) for s in ranked]


def _unsure(e: LoggedQuestion) -> bool:
    """An answer that said it was unsure whether its quote answers (``bot.answer.is_unsure``)."""
    return not e.refused and is_unsure(e.confidence)


def _marked_wrong(e: LoggedQuestion, zone: ZoneInfo) -> MarkedWrong:
    assert e.rating is not None
    return MarkedWrong(
        answer_id=e.answer_id,
        question=e.question,
        answer=e.answer,
        comment=e.rating.comment,
        refused=e.refused,
        mode=e.mode,
        front_end=e.front_end,
        asked_at=e.asked_at.astimezone(zone).isoformat(timespec="seconds"),
        rated_at=e.rating.rated_at.astimezone(zone).isoformat(timespec="seconds"),
        citations=[CitedArticle(c.article_id, c.title, list(c.quotes)) for c in e.citations],
    )
