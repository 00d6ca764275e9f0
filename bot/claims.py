"""Whether a claim says what its supporting sentence says: its words, not only its names.

``bot/generate.py`` finds, for each sentence of an LLM's draft, the source sentence most similar
to it; similarity alone let "Lawrow hat Kuleba in Antalya erschossen" pass on a sentence about
them meeting in Antalya (0.91). So a claim must also be *stated* by its support:

- **predicate and arguments** (a claim in the corpus language): every content word of the claim
  (verbs, adjectives, nouns; not function words) occurs in the supporting sentences, as the
  same stem, the same dictionary form ("starb" / "gestorben", "komme" / "kommt"), a part of a
  compound or a close spelling. An invented action or property ("erschossen", "zurückgetreten",
  "nicht") has nothing to align with.
- **roles**: two names that the support relates in one order are not swapped in the claim
  ("Kuleba lud Lawrow ein" against "Lawrow lud Kuleba ein"), unless the claim is passive or
  joins them as equals ("Lawrow und Kuleba").
- **negation**: a claim that negates what its support states positively, or the reverse.
- **numbers and what they count**: two numbers the claim and its closest sentence share are not
  tied to each other's words ("bei Bauern 54,3 Prozent und bei Gewerbetreibenden 86,1 Prozent"
  against a source that gives the farmers 86,1): every number is in the source, only the binding
  is wrong.

A claim in another language than its source cannot be aligned word by word without a
translation model; it is held to a stricter similarity instead (``bot/generate.py``) and its names,
numbers and negation are still checked. ``bench/claim_bench.py`` measures both.
"""

from __future__ import annotations

import re
import unicodedata

import simplemma
from rapidfuzz import fuzz

from index.keywords import GERMAN_STOPWORDS, stems

_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")
_TOKEN = re.compile(r"[^\W_]+")
QUOTED_MIN_WORDS = 4  # a copy of a shorter sentence ("Er sagte nein.") is judged like any claim
# Words that carry no claim of their own: function words, auxiliaries, and the reporting verbs
# an answer wraps a source's statement in ("laut", "according", "sagte").
FUNCTION_WORDS = GERMAN_STOPWORDS | frozenset(
    """ab außerdem bereits beim bisher bislang dabei dafür dagegen daher damals darauf darin davon dazu
    demnach denn deren dessen ebenfalls erst etwa etwas ganz gegen gibt gab gebe gestern heute hätten
    insgesamt ihm ihn ihnen ihrem ihren ihrer ihres inzwischen je jedoch kein keine keinen keiner laut
    man mehr mehrere mal manche nur ob ohne rund schon seit seinem seinen seiner seines selbst so
    solle sollte sollten sowohl statt teilte mit sagte sagten sei seien erklärte erklärten zufolge
    zudem zwar zwischen wegen während worden wäre wären wollte wollen will würde würden unterdessen
    derzeit dort demnächst ebenso eigenen eigene
    war waren gewesen wäre wärst ist sind bist hatte hatten gehabt hätte habe haben wurde wurden geworden
    kann konnte konnten könne könnte könnten muss musste mussten müsse müsste darf durfte durften dürfe
    dürfte mag mochte möchte möchten sollte soll sollen will wollte wollten lässt ließ ließen""".split()
)
NEGATION = re.compile(
    r"\b(nicht|nichts|kein\w*|nie|niemals|weder|not|no|never|none|nothing|pas|jamais|rien|ni|ningun[oa]?|ningún|"
    r"nunca|nada|не|нет|ничего|değil|hiç|[وف]?(?:لا|لم|لن|ليس|ليست|ليسوا))\b|n't\b",
    re.I,
)
# The languages whose negation NEGATION reads as a word. Chinese and Japanese negate inside words
# ("没有"; "无线电" is a radio), Turkish in a verb's suffix ("doğrulamadı"): there a negated
# source sentence says nothing about a claim's polarity that a word rule could check.
NEGATION_LANGUAGES = frozenset({"de", "en", "fr", "es", "ru", "ar"})
PASSIVE = re.compile(r"\b(wurde|wurden|worden|wird|werden|von|vom|durch|by|was|were|been|par|por)\b", re.I)
EQUALS = re.compile(r"\b(und|sowie|mit|and|with|et|avec|y|con|и|с|ve|ile)\b", re.I)
PREFIX = 5  # a shared beginning this long aligns two forms ("verhandelt"/"Verhandlungen")
SIMILAR_SPELLING = 85  # rapidfuzz ratio


def content_words(text: str) -> list[str]:
    """The words of ``text`` that make its claim: not function words, not one or two letters."""
    return [w for w in _WORD.findall(text) if len(w) > 2 and w.casefold() not in FUNCTION_WORDS]


def unstated_words(claim: str, support: str) -> list[str]:
    """Content words of ``claim`` that ``support`` does not state in any form."""
    support_words = _WORD.findall(support)
    words = [_plain(w) for w in support_words]
    stemmed = {s for w in words for s in stems(w)}
    # a source word's dictionary form only where the source inflects it: "könnte sterben" and "will
    # gewinnen" name the verb without stating that it happened ("starb", "gewann")
    lemmas = {form for w in support_words if (form := lemma(w)) is not None and form != _plain(w)}
    return [word for word in content_words(claim) if not _aligned(word, words, stemmed, lemmas)]


def lemma(word: str) -> str | None:
    """``word``'s dictionary form where it is a form of a verb or an adjective (simplemma's German
    lexicon), which a stem misses where a verb changes its vowel or ending: "kommt" and "komme" ->
    "kommen", "starb" and "gestorben" -> "sterben", "sank" -> "sinken". None for a noun (the
    lexicon writes its dictionary form capitalised: "des Treffens" is not "traf"); a word the
    lexicon does not know is its own dictionary form."""
    form = simplemma.lemmatize(word, lang="de")
    return _plain(form) if form.islower() else None  # casefolded as the words it meets ("ß" is "ss")


def _aligned(word: str, words: list[str], stemmed: set[str], lemmas: set[str]) -> bool:
    plain = _plain(word)
    if any(s in stemmed for s in stems(plain)) or (lemma(word) or "") in lemmas:
        return True
    for other in words:
        if len(plain) >= PREFIX and len(other) >= PREFIX and plain[:PREFIX] == other[:PREFIX]:
            return True
        if len(plain) >= PREFIX + 1 and (plain in other or (len(other) >= PREFIX + 1 and other in plain)):
            return True  # compounds: "Logistik" in "Logistikchefin"
        if fuzz.ratio(plain, other) >= SIMILAR_SPELLING:
            return True
    return False


def _plain(word: str) -> str:
    return unicodedata.normalize("NFKC", word).casefold()


def quoted(claim: str, sentences: list[str]) -> bool:
    """The claim is one of ``sentences`` word for word (casefolded, punctuation and quote marks
    aside, at least ``QUOTED_MIN_WORDS`` words): stated by it, whatever a trained judgement says.
    Only a whole sentence counts: leaving out a few words ("Angeblich sprengte Russland die
    Brücke" -> "Russland sprengte die Brücke") can leave out what made it true, so such a claim
    is judged."""
    words = _TOKEN.findall(claim.casefold())
    return len(words) >= QUOTED_MIN_WORDS and any(_TOKEN.findall(s.casefold()) == words for s in sentences)


def negation_flipped(claim: str, best: str, support: str, *, positive: bool = True) -> bool:
    """The claim negates what its support states (no supporting sentence negates anything), or,
    with ``positive``, states positively what its closest sentence ``best`` negates (the
    verifier leaves that to the claim checker for a claim in a language whose negation NEGATION
    cannot read, ``NEGATION_LANGUAGES``)."""
    if NEGATION.search(claim):
        return not NEGATION.search(support)
    return positive and bool(NEGATION.search(best))


def roles_swapped(claim: str, support: str, names: list[str]) -> bool:
    """Two names the support and the claim both hold appear in opposite orders, in an active claim
    that does not join them as equals."""
    if PASSIVE.search(claim) or PASSIVE.search(support):
        return False
    found: list[tuple[int, int]] = []  # (position in the claim, in the support) of each shared name
    for name in dict.fromkeys(names):
        in_claim, in_support = _position(name, claim), _position(name, support)
        if in_claim is not None and in_support is not None:
            found.append((in_claim, in_support))
    for i, (ca, sa) in enumerate(found):
        for cb, sb in found[i + 1 :]:
            if (ca < cb) != (sa < sb):
                between = claim[min(ca, cb) : max(ca, cb)]
                between_support = support[min(sa, sb) : max(sa, sb)]
                if not EQUALS.search(between) and not EQUALS.search(between_support):
                    return True
    return False


# a number as written ("4.044", "54,3", "2\u202f100"); a comma, point or narrow space between digits is part of it,
# digits in a word are not a number of their own ("Ö3", "G7")
_NUMERAL = re.compile(r"(?<![^\W\d_])\d+(?:[.,\u202f\u00a0]\d+)*(?![^\W\d_])")
# where a clause ends: a comma that does not sit between digits, and other punctuation; not an
# opening parenthesis, whose number belongs to the word before it ("Bauern (86,1 Prozent)")
_CLAUSE_END = re.compile(r"[;:)\u2013\u2014]|,(?!\d)|(?<!\d),")


def numbers_swapped(claim: str, support: str) -> bool:
    """Two numbers that ``claim`` and ``support`` share have swapped the words they follow in their
    clauses: in the claim "Bauern" leads to 54,3 and "Gewerbetreibenden" to 86,1, in the support
    the other way round. Numbers written twice, and numbers no word of their clause leads to, are
    left out; one word leading to both numbers, or to one of them in only one of the texts, is
    rewording, not a swap. A claim in another language has other words, so this checks only claims
    in the support's language."""
    in_claim, in_support = _anchored(claim), _anchored(support)
    shared = [n for n in in_claim if in_claim[n] and in_support.get(n)]
    return any(
        in_claim[n] != in_claim[m] and in_claim[n] == in_support[m] and in_claim[m] == in_support[n]
        for i, n in enumerate(shared)
        for m in shared[i + 1 :]
    )


def number_value(written: str) -> str:
    """A number as its digits, whatever its format: "50.000", "50,000" and "50 000" are "50000",
    "07" is "7"."""
    return re.sub(r"\D", "", written).lstrip("0") or "0"


def _anchored(text: str) -> dict[str, str | None]:
    """Each number of ``text`` (its value) and the word it follows in its clause (the first
    ``PREFIX`` letters of the last content word before it; None where there is none or the number
    is written twice). ``text`` is a sentence (at most ``index.split.MAX_SENTENCE_CHARS``), so
    reading each number's clause from its start stays cheap."""
    out: dict[str, str | None] = {}
    for match in _NUMERAL.finditer(text):
        digits = number_value(match.group(0))
        clause = _CLAUSE_END.split(text[: match.start()])[-1]
        words = content_words(clause)
        out[digits] = None if digits in out or not words else _plain(words[-1])[:PREFIX]
    return out


def _position(name: str, text: str) -> int | None:
    plain = _plain(name)
    for match in _WORD.finditer(text):
        other = _plain(match.group(0))
        if (
            other == plain
            or (len(plain) >= PREFIX and other[:PREFIX] == plain[:PREFIX])
            or fuzz.ratio(plain, other) >= 80
        ):
            return match.start()
    return None
