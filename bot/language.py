"""Which language a question is in: German and English by word lists, others by py3langid among
the languages a newsroom's readers ask in (the framing of an answer is German for German, English
for every other language: ``bot/texts.py``; an LLM answers in the question's language). Also the
question words of the languages the follow-up and report heuristics know."""

from __future__ import annotations

import re
import unicodedata
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


# What a newsroom's readers ask in: the languages of Europe and its neighbours, and the world's
# large ones (py3langid's codes)
LANGUAGES = (
    "de en fr es it nl pt pl cs sk sl hr sr bs bg ro hu el sv da no fi et lv lt uk ru tr ar fa he hi ur bn "
    "zh ja ko id vi th sq mk ca"
).split()
# Letters German does not write (a loan word's "é" aside): where a question has one, its "ü" or
# "ö" are another language's (Turkish "müzakerelerde kim başkanlık", Hungarian "Európába küldeni")
GERMAN_LETTERS = frozenset("äöüß")
NOT_GERMAN_LETTERS = frozenset("şğıçőűłąężźćńñãõâêîôûàèìòùáíóúýčřšžåøæœďťľĺŕė")
# py3langid's probability from which a Latin-script text that no word list decides is taken for
# another language than German or English; below it ("refugees Ukraine", "Wetter morgen": a
# few keywords), for the more likely of the two
SURE = 0.7
# A German or English vote this small ("Qual bactéria do solo causa a doença?": English "do" and
# "a") yields to py3langid where it is this sure of another language
LONE_VOTE = 2
OVERRULE = 0.9
# Where py3langid is unsure about a question in another script, the most asked-in of these that it
# gives at least CONTENDER ("Куда ездят жители Форарльберга за покупками?": Bulgarian 0.57, Russian 0.31)
FREQUENT = frozenset({"ru", "uk", "ar", "zh", "ja", "ko", "el", "he", "hi", "fa"})
CONTENDER = 0.2


def detect_language(text: str) -> str:
    """'de' or 'en', or another ISO code (py3langid, ``LANGUAGES``). A question in another script is
    told by its letters; a Latin-script one by its German and English words (and German letters,
    where it has no letter German does not write), unless it has as many function words of
    another language (``OTHER_FUNCTION_WORDS``: "Qui a négocié ...?" is French, though "a" is
    English); then py3langid decides, where it is sure or the question has such words or
    letters, else the likelier of German and English."""
    words = [w.casefold() for w in _WORD.findall(text)]
    if not words:
        return "de"
    letters = [c for c in text if c.isalpha()]
    if sum(c.isascii() or "LATIN" in unicodedata.name(c, "") for c in letters) * 2 < len(letters):
        ranked = _identifier().rank(text)
        if ranked[0][1] >= SURE:
            return str(ranked[0][0])
        # unsure between neighbours of one script (Bulgarian or Russian): the one more often asked in
        return str(next((code for code, p in ranked if code in FREQUENT and p >= CONTENDER), ranked[0][0]))
    folded = text.casefold()
    foreign = not NOT_GERMAN_LETTERS.isdisjoint(folded)
    umlauts = 0 if foreign else sum(not GERMAN_LETTERS.isdisjoint(w) for w in words)
    de = sum(w in GERMAN for w in words) + umlauts
    en = sum(w in ENGLISH for w in words)
    other = sum(w in OTHER_FUNCTION_WORDS and w not in GERMAN and w not in ENGLISH for w in words)
    if de != en and max(de, en) > other:
        if max(de, en) > LONE_VOTE:
            return "de" if de > en else "en"
        # a shared short word or two ("a", "do", "by") is little evidence: py3langid may overrule them
        ranked = _identifier().rank(text)
        sure = ranked[0][0] not in ("de", "en") and ranked[0][1] >= OVERRULE
        return str(ranked[0][0]) if sure else ("de" if de > en else "en")
    ranked = _identifier().rank(text)
    lang, probability = ranked[0]
    # (a letter German does not write decides where no German or English word is there to vote:
    # "Was forderte Vučić am Montag?" is German with a Serbian name)
    if probability >= SURE or other or (foreign and not (de or en)):
        return str(lang)
    return str(next(code for code, _ in ranked if code in ("de", "en")))


@lru_cache(maxsize=1)
def _identifier() -> LanguageIdentifier:
    from py3langid.langid import LanguageIdentifier

    # from_model_file resolves a relative path against the package, as py3langid does itself
    identifier = LanguageIdentifier.from_model_file("data/model.npz.xz", norm_probs=True)
    identifier.set_languages(LANGUAGES)
    return identifier
