"""Conversations and follow-up questions: "Und wann?" after "Wo treffen sich Lawrow und Kuleba?".

A ``Conversation`` is what every front end keeps per chat, API conversation id or REPL
session: the earlier queries, the last answer, the date filters, who owns it and when it
was last used. Without a language model the rewrite is a heuristic: a follow-up keeps only
what it lacks from the previous query.

- "Und wann?", "Warum?", "Was sagte er dazu?": no topic of its own (or one it refers back to):
  it gets the previous query's topic words appended.
- "Und in der Eurozone?", "And in 2015?": a new place, time or party but no question of its
  own: it gets the previous query's topic words except those the new ones replace (the words
  after the same preposition, "in Österreich"; a year for a year).
- "Und was sagte Medinski?": its own question and a topic of its own (a word the previous
  query did not have): it stands alone (the topic words of the previous turn would only find
  the previous answer again). "Und wie viele Soldaten?" after a question on soldiers borrows.

At most ``MAX_TOPIC_WORDS`` are borrowed, so a chain of follow-ups cannot grow the query. The
question itself stays first and unchanged, so the rewrite keeps its language.
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from cachetools import TTLCache

from bot.language import ENGLISH, GERMAN, QUESTION_WORDS
from index.keywords import GERMAN_STOPWORDS

if TYPE_CHECKING:
    from bot.answer import Answer

T = TypeVar("T")
MAX_HISTORY = 6  # turns kept per conversation
MAX_TOPIC_WORDS = 8  # words a follow-up borrows from the previous query
FOLLOW_UP_START = re.compile(
    r"^[\s¿¡]*(und|aber|auch|what about|how about|and|but|also|was ist mit|wie steht es mit|y|et|e|и|а|ve)\b",
    re.IGNORECASE,
)
REFERRING = frozenset(
    "er sie ihn ihm ihnen ihr ihre sein seine seinen seinem seiner dort damals dabei dazu darüber davon "
    "dafür dagegen deshalb he she him her his they them their there it its this that those then".split()
)
# Prepositions that introduce a slot a follow-up may fill anew ("Und in der Eurozone?"); the
# forms of one preposition are one slot (in, im, ins).
_SLOTS = {
    form: slot
    for slot, forms in {
        "in": "in im ins en dans à au aux в во", "an": "an am", "bei": "bei beim", "zu": "zu zum zur",
        "von": "von vom", "für": "für", "aus": "aus", "nach": "nach", "gegen": "gegen", "mit": "mit",
        "über": "über", "unter": "unter", "seit": "seit", "während": "während", "at": "at", "for": "for",
        "from": "from", "to": "to", "with": "with", "on": "on", "against": "against", "about": "about",
        "by": "by", "since": "since", "during": "during", "para": "para pour для", "con": "con avec с со",
        "sobre": "sobre sur на", "из": "из",
    }.items()
    for form in forms.split()
}  # fmt: skip
_YEAR = re.compile(r"^(1[89]|2[01])\d\d$")
_TIME = frozenset(
    "januar jänner februar märz april mai juni juli august september oktober november dezember montag "
    "dienstag mittwoch donnerstag freitag samstag sonntag january february march may june july october "
    "december monday tuesday wednesday thursday friday saturday sunday".split()
)
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def is_follow_up(question: str) -> bool:
    words = [w.casefold() for w in _WORD.findall(question)]
    content = [w for w in words if w not in GERMAN and w not in ENGLISH and w not in QUESTION_WORDS and len(w) > 2]
    return bool(FOLLOW_UP_START.match(question)) or len(content) <= 1 or any(w in REFERRING for w in words)


def _topical(word: str) -> bool:
    low = word.casefold()
    return not (low in GERMAN or low in ENGLISH or low in GERMAN_STOPWORDS or low in QUESTION_WORDS or len(word) < 3)


def has_topic(text: str) -> bool:
    """Whether ``text`` names anything to look for: a word besides function and question words
    ("Und wann?" without an earlier question names nothing; it is not a question about the
    archive's every date)."""
    return any(_topical(w) for w in _WORD.findall(text))


def _replaced(question: list[str], previous: list[str]) -> set[str]:
    """The previous query's words that the follow-up's own words replace: those after the same
    preposition ("in Österreich" for "in der Eurozone"; a bare "Und Deutschland?" fills any),
    and its times for a time (a place does not replace "im Mai")."""
    times = [w for w in question if _YEAR.match(w) or w.casefold() in _TIME]
    if times and not [w for w in question if _topical(w) and w not in times and w.casefold() not in _SLOTS]:
        return {w for w in previous if _YEAR.match(w) or w.casefold() in _TIME}  # "Und im Juni?": only the time
    slots = {_SLOTS[w.casefold()] for w in question if w.casefold() in _SLOTS} or set(_SLOTS.values())
    timed = bool(times)
    out: set[str] = set()
    slot = None
    for word in previous:
        low = word.casefold()
        is_time = bool(_YEAR.match(word)) or low in _TIME
        if low in _SLOTS:
            slot = _SLOTS[low]
        elif (slot in slots and _topical(word) and not is_time) or (is_time and timed):
            out.add(word)
    return out


def rewrite(question: str, history: Sequence[str]) -> str:
    """The query to search for ``question`` given the previous queries of the conversation
    (see the module docstring)."""
    if not history or not is_follow_up(question):
        return question
    words = _WORD.findall(question)
    folded = {w.casefold() for w in words}
    previous = _WORD.findall(history[-1])
    before = {w.casefold() for w in previous}
    # its own words that the previous query did not have: a new party, place or time
    new = [w for w in words if _topical(w) and w.casefold() not in REFERRING and w.casefold() not in before]
    if new and folded & QUESTION_WORDS and not folded & REFERRING:
        return question  # its own question about its own topic ("Und was sagte Medinski?")
    replaced = _replaced(words, previous) if new else set()
    topic: list[str] = []
    for word in previous:
        if word.casefold() in folded or word in replaced or word in topic or not _topical(word):
            continue
        topic.append(word)
        if len(topic) == MAX_TOPIC_WORDS:
            break
    return f"{question} {' '.join(topic)}".strip() if topic else question


def trim(history: list[T]) -> list[T]:
    """Bounded history: the most recent ``MAX_HISTORY`` queries."""
    return history[-MAX_HISTORY:]


@dataclass
class Conversation:
    """One conversation's state, the same for the REPL, Telegram and the HTTP API.

    ``history`` holds earlier search queries (what a follow-up borrows its topic from),
    ``last`` the last answer without debug data (for "sources"), ``since``/``until`` the date
    filters the user set. After ``ttl_seconds`` without a question the history and the last
    answer are forgotten (the filters stay: the user set them on purpose).
    """

    owner: str | None = None
    ttl_seconds: float = math.inf
    history: list[str] = field(default_factory=list)
    last: Answer | None = None
    since: str | None = None
    until: str | None = None
    active: float = field(default_factory=time.time)  # wall clock: survives a restart with --persist

    def touch(self, now: float | None = None) -> Conversation:
        """Mark the conversation as used now, forgetting its turns if it had expired."""
        now = time.time() if now is None else now
        if now - self.active > self.ttl_seconds:
            self.history, self.last = [], None
        self.active = now
        return self

    def record(self, answer: Answer) -> None:
        """Remember an answer: its query for follow-ups, the answer itself for "sources"."""
        self.history = trim([*self.history, answer.query])
        self.last = dataclasses.replace(answer, trace=None)

    def reset(self) -> None:
        """Forget the turns and the filters."""
        self.history, self.last, self.since, self.until = [], None, None, None

    def filters(self) -> dict[str, str | None]:
        return {"since": self.since, "until": self.until}


class Conversations:
    """Many conversations in memory (the HTTP API's ``conversation_id``), each owned by one
    caller: the same id under another key is another conversation. Bounded in number and
    forgotten after ``ttl_seconds`` without use."""

    def __init__(self, maxsize: int, ttl_seconds: float) -> None:
        self.ttl_seconds = ttl_seconds
        self._store: TTLCache[tuple[str, str], Conversation] = TTLCache(maxsize=maxsize, ttl=ttl_seconds)

    def get(self, owner: str, conversation_id: str) -> Conversation:
        key = (owner, conversation_id)
        conversation = self._store.get(key)
        if conversation is None:
            conversation = Conversation(owner=owner, ttl_seconds=self.ttl_seconds)
        self._store[key] = conversation  # (re)sets its expiry
        return conversation.touch()
