"""Which language a question is in: German and English by word lists, others by py3langid among
the languages a newsroom's readers ask in (the framing of an answer is German for German, English
for every other language: ``bot/texts.py``). Also the question words of the languages the
follow-up and report heuristics know."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from py3langid.langid import LanguageIdentifier

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

QUESTION_WORDS = frozenset(
    "wer wie was wo wann warum wieso weshalb welche welcher welches wieviel wieviele viele who what where "
    "when why which how many much qué que cuál cuáles cuándo dónde quién quiénes cómo cuánto cuántos "
    "cuántas quoi quel quelle quels quelles quand où qui comment combien pourquoi что кто где когда как "
    "сколько почему какой какая какие".split()
)

# Function and question words of the other Latin-script languages a newsroom's readers ask in
# (Spanish, French, Italian, Portuguese, Dutch, Polish, Turkish): ``has_function_words``.
OTHER_FUNCTION_WORDS = frozenset(
    "el la los las del en un una es son por para con qué quién quiénes dónde cuándo cómo cuánto "
    "cuántos cuántas cuál cuáles que se su sus al "
    "le les de des du une et est sont au aux pour par avec qui quoi où quand comment combien pourquoi "
    "quel quelle quels quelles ont été il elle ils "
    "il lo gli di della dei un chi che cosa dove perché come quanti quante quale quali ha hanno "
    "os as do da dos das um uma são em no na quem onde porque quantos quantas qual foi "
    "het een en is zijn van op met wie wat waar wanneer waarom hoe hoeveel welke heeft werd "
    "kto co gdzie kiedy dlaczego jak ile który która które jest się nie na "
    "ve bir bu da ile için kim ne nerede neden nasıl kaç hangi mi mı mu mü ne zaman oldu".split()
)


def has_function_words(words: set[str]) -> bool:
    """Whether casefolded ``words`` hold a German or English function word, or of another
    language's one of three letters or more, or two different shorter ones ("ha ha ha" and
    "la la la" are not Italian or Spanish). A Latin-script question without one and without a
    word any article knows is gibberish (``bot/qa.py``); before the other languages' words were
    known, so was every Spanish or Turkish question about German articles."""
    if words & (GERMAN | ENGLISH):
        return True
    other = words & OTHER_FUNCTION_WORDS
    return any(len(w) >= 3 for w in other) or len(other) >= 2


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
def _identifier() -> LanguageIdentifier:
    from py3langid.langid import LanguageIdentifier

    # from_model_file resolves a relative path against the package, as py3langid does itself
    identifier = LanguageIdentifier.from_model_file("data/model.npz.xz")
    # (other scripts are told apart by their letters: no German or English question is taken for them)
    identifier.set_languages(["de", "en", "fr", "es", "it", "nl", "pl", "uk", "ru", "tr", "zh", "ja", "ar", "ko"])
    return identifier
