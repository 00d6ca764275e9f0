"""Which language a question is in (German or English; others fall back to German framing)."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
GERMAN = frozenset(
    "der die das und ist sind war wer wie was wo wann warum welche welcher welches wieviel wieviele "
    "hat haben hatte ein eine einen nicht mit von zu im in den dem des auf für sich auch noch nach "
    "bei über vor seit gibt gab es er sie wir ihr man wurde wurden sagte sagt viele aktuell neueste "
    "gestern heute und oder aber doch schon".split()
)
ENGLISH = frozenset(
    "the a an and is are was were who what where when why which how many much did does do has have "
    "had of to in on at for with from by about since yet not it he she they we you said say latest "
    "yesterday today news there this that these those".split()
)


def detect_language(text: str) -> str:
    """'de' or 'en' (or another ISO code from py3langid when neither word list decides)."""
    words = [w.casefold() for w in _WORD.findall(text)]
    if not words:
        return "de"
    de = sum(w in GERMAN for w in words) + 2 * sum(ch in "äöüß" for ch in text.casefold())
    en = sum(w in ENGLISH for w in words)
    if de != en:
        return "de" if de > en else "en"
    lang, _ = _identifier().classify(text)
    return lang


@lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import LanguageIdentifier

    # from_model_file resolves a relative path against the package, as py3langid does itself
    identifier = LanguageIdentifier.from_model_file("data/model.npz.xz")
    identifier.set_languages(["de", "en", "fr", "es", "it", "nl", "pl", "uk", "ru", "tr"])
    return identifier
