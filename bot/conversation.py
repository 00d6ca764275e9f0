"""Conversations and follow-up questions: "Und wann?" after "Wo treffen sich Lawrow und Kuleba?".

A ``Conversation`` is what every front end keeps per chat, API conversation id or REPL
session: the earlier queries, the last answer, the date filters, who owns it and when it
was last used. Without a language model the rewrite is a heuristic: a question that looks
like a follow-up gets the topic words of the previous query appended (at most
``MAX_TOPIC_WORDS``, so a chain of follow-ups cannot grow the query). The question itself
stays first and unchanged, so the rewrite keeps its language.
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from cachetools import TTLCache

from bot.language import ENGLISH, GERMAN
from index.keywords import GERMAN_STOPWORDS

if TYPE_CHECKING:
    from bot.answer import Answer

T = TypeVar("T")
MAX_HISTORY = 6  # turns kept per conversation
MAX_TOPIC_WORDS = 8  # words a follow-up borrows from the previous query
FOLLOW_UP_START = re.compile(
    r"^\s*(und|aber|auch|what about|how about|and|but|also|was ist mit|wie steht es mit)\b", re.IGNORECASE
)
REFERRING = frozenset(
    "er sie ihn ihm ihnen ihr ihre dort damals dabei dazu darüber davon he she him her his they them "
    "their there it its this that those then".split()
)
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_QUESTION_WORDS = frozenset(
    "wer wie was wo wann warum wieso weshalb welche welcher welches wieviel viele who what where when "
    "why which how many much".split()
)


def is_follow_up(question: str) -> bool:
    words = [w.casefold() for w in _WORD.findall(question)]
    content = [w for w in words if w not in GERMAN and w not in ENGLISH and w not in _QUESTION_WORDS]
    return bool(FOLLOW_UP_START.match(question)) or len(content) <= 1 or any(w in REFERRING for w in words)


def rewrite(question: str, history: Sequence[str]) -> str:
    """The query to search for ``question`` given the previous queries of the conversation."""
    if not history or not is_follow_up(question):
        return question
    asked = {w.casefold() for w in _WORD.findall(question)}
    topic: list[str] = []
    for word in _WORD.findall(history[-1]):
        low = word.casefold()
        if (
            low in asked
            or low in GERMAN
            or low in ENGLISH
            or low in GERMAN_STOPWORDS
            or low in _QUESTION_WORDS
            or len(word) < 3
            or word in topic
        ):
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

    def filters(self) -> dict[str, Any]:
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
