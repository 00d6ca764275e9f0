"""Follow-up questions: "Und wann?" after "Wo treffen sich Lawrow und Kuleba?".

Without a language model the rewrite is a heuristic: a question that looks like a
follow-up gets the topic words of the previous query appended. The question itself
stays first and unchanged, so the rewrite keeps its language.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TypeVar

from bot.language import ENGLISH, GERMAN
from index.keywords import GERMAN_STOPWORDS

T = TypeVar("T")
MAX_HISTORY = 6  # turns kept per conversation
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
        if (low in asked or low in GERMAN or low in ENGLISH or low in GERMAN_STOPWORDS
                or low in _QUESTION_WORDS or len(word) < 3 or word in topic):
            continue
        topic.append(word)
    return f"{question} {' '.join(topic)}".strip() if topic else question


def trim(history: list[T]) -> list[T]:
    """Bounded history: the most recent ``MAX_HISTORY`` queries."""
    return history[-MAX_HISTORY:]
