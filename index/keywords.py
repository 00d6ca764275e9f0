"""Keyword analysis for the German full-text index: tokens, Snowball stems, stopwords."""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache

import Stemmer

_TOKEN_RE = re.compile(r"\w+", re.UNICODE)
_local = threading.local()

# Function words that carry no topic; dropped from keyword queries (the index keeps them,
# so phrase-like matches still count them).
GERMAN_STOPWORDS = frozenset(
    """aber alle allem allen aller alles als also am an ander andere anderem anderen anderer anderes
    auch auf aus bei bin bis bist da damit dann der den des dem die das dass daß du dies diese diesem
    diesen dieser dieses doch dort durch ein eine einem einen einer eines er es euer eure für hatte
    hatten hattest hattet hier hinter ich ihr ihre im in ist ja jede jedem jeden jeder jedes jener
    jenes jetzt kann kannst können könnt machen mein meine mit muß mußt musst müssen müßt nach nachdem
    nein nicht nun oder seid sein seine sich sie sind soll sollen sollst sollt sonst soweit sowie und
    unser unsere unter vom von vor wann warum was weiter weitere wenn wer werde werden werdet weshalb
    wie wieder wieso wir wird wirst wo woher wohin zu zum zur über wurde wurden hat haben habe hast
    einer einige welche welcher welches""".split()
)


def _stemmer() -> Stemmer.Stemmer:
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        stemmer = _local.stemmer = Stemmer.Stemmer("german")
    return stemmer


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens."""
    return _TOKEN_RE.findall(text.casefold())


def stems(text: str, drop_stopwords: bool = False) -> list[str]:
    """German Snowball stems of ``text`` (optionally without stopwords)."""
    words = tokens(text)
    if drop_stopwords:
        words = [w for w in words if w not in GERMAN_STOPWORDS]
    return _stemmer().stemWords(words)


@lru_cache(maxsize=100_000)
def fold(term: str) -> str:
    """A term as SQLite FTS5's default tokenizer (unicode61, remove_diacritics) indexes and matches
    it: ``sánchez`` and ``sanchez`` are one term. Counts of terms are kept under this form."""
    decomposed = unicodedata.normalize("NFKD", term)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
