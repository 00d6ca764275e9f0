"""Counterfactual questions: an answerable question about someone else, whose candidates all fail.

The reader's confident mistakes on the development questions are sentences with the asked kind of
fact about another person, place, outlet or year: "Sie starb ... am 17. Mai 1944" (+4.4) for
"In welchem Jahr starb der DDR-Regisseur Heiner Carow?", derStandard.at's March visits (+4.6) for
"How many unique clients did oe24.at have in March?". No training pair ever showed it the same
question with the subject changed. So for an answerable mined question whose answering sentence
(or its article's title) names one of the question's names or numbers, this writes the question
again with that name replaced by a name of another question (or the number by another number of
the same kind) that none of its candidates mentions, and every candidate becomes a negative: the
sentence that answered the original question answers a question about someone else no more.

Names are what English questions capitalize inside the sentence (English capitalizes names, not
nouns) and the articles use too, so German nouns are not taken for names; numbers are years and
counts of 32 or more (never a day of the month).
Seeded; used by ``mine.py --counterfactual N``.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from typing import Any

WORD = re.compile(r"[^\W\d_][\w.\-']*[\w]|\d[\d.,]*\d", re.UNICODE)
_NOT_NAMES = frozenset(
    "I What Which Who Whom Whose How When Where Why Is Are Was Were Do Does Did Can Could Will Would "
    "According In On At For From To Of The A An And Or Mr Mrs Ms Dr Prof January February March April "
    "May June July August September October November December Monday Tuesday Wednesday Thursday "
    "Friday Saturday Sunday".split()
)


def is_name(word: str) -> bool:
    return word[0].isupper() and word not in _NOT_NAMES and len(word) >= 3


def english_names(text: str) -> list[str]:
    """The capitalized words inside an English sentence (not its first), without a possessive 's."""
    return [m.group().removesuffix("'s") for m in list(WORD.finditer(text))[1:] if is_name(m.group())]


def name_pool(pairs: list[dict[str, Any]]) -> list[str]:
    """Capitalized words inside English questions that the articles use too: names of people, places, outlets."""
    pool: set[str] = set()
    for p in pairs:
        if p["src"] == "mined-en-answerable":
            pool.update(english_names(p["q"]))
    german = set(WORD.findall(" ".join(p["s"] + " " + p["t"] for p in pairs)))
    return sorted(name for name in pool if name in german)  # said in the articles too: a name, not "Active"


def _number(text: str) -> int:
    return int(text.replace(".", "").replace(",", ""))


def _other_number(number: str, rng: random.Random) -> str:
    if len(number) == 4 and number.isdigit() and 1800 <= int(number) <= 2100:  # a year: a near one
        return str(int(number) + rng.choice([-5, -4, -3, -2, -1, 1, 2, 3, 4, 5]))
    value = _number(number)
    other = value
    while other == value:
        other = max(2, round(value * rng.choice([0.3, 0.5, 0.7, 1.5, 2, 3])))
    return str(other)


def counterfactuals(pairs: list[dict[str, Any]], limit: int, seed: int) -> list[dict[str, Any]]:
    """Up to ``limit`` questions with a name or number changed, each candidate of theirs negative."""
    rng = random.Random(seed)
    pool = name_pool(pairs)
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for p in pairs:
        groups[p["group"]].append(p)
    names = sorted(g for g, ps in groups.items() if any(p["y"] for p in ps))
    rng.shuffle(names)
    out: list[dict[str, Any]] = []
    for name in names:
        if len(out) >= limit:
            break
        group = groups[name]
        question = group[0]["q"]
        positive = next(p for p in group if p["y"])
        said = positive["s"] + " " + positive["t"]
        everything = " ".join(f"{p['s']} {p['t']} {p.get('p') or ''}" for p in group)
        words = [m for m in WORD.finditer(question) if m.group() in said]
        swappable = [m for m in words if m.group()[0].isdigit() and _number(m.group()) >= 32]  # not a day
        swappable += [
            m
            for m in words
            if m.group() in pool or (m.start() > 0 and is_name(m.group()) and "-en-" in positive["src"])
        ]
        if not swappable:
            continue
        m = rng.choice(swappable)
        if m.group()[0].isdigit():
            other = _other_number(m.group(), rng)
        else:
            other = rng.choice(pool)
            for _ in range(20):
                if other != m.group() and other not in everything:
                    break
                other = rng.choice(pool)
            else:
                continue
        if other in everything:
            continue
        changed = question[: m.start()] + other + question[m.end() :]
        lang = positive["src"].split("-")[1]
        out.append(
            {
                "group": f"counterfactual-{name}",
                "q": changed,
                "cands": [{"s": p["s"], "t": p["t"], "p": p.get("p"), "n": p.get("n")} for p in group],
                "lang": lang,
                "was": m.group(),
                "now": other,
            }
        )
    return [
        {"group": c["group"], "q": c["q"], **cand, "y": 0, "lang": "de", "src": f"counterfactual-{c['lang']}"}
        for c in out
        for cand in c["cands"]
    ]


_JOINED = re.compile(
    r"^\W*(?:und|and|et|y|e|ve|i|и|oder|or|ou|o|sowie|bzw\.?|as well as|bis|to|à|a|до|hasta)?\W*$", re.IGNORECASE
)  # "A und B", "A, B", "30 bis 40": the same either way round
_NEXT_TO_CAPITAL = re.compile(r"(?:\b\w*[A-ZÄÖÜ]\w*\s$)|(?:^\s[A-ZÄÖÜ])")
_NUMBER = re.compile(r"(?<![^\W\d_])\d+(?:[.,]\d+)*")  # not the 3 of "E3"


def swap_roles(claim: str, evidence: str, names: set[str], rng: random.Random) -> str | None:
    """``claim`` with two of its names, or two of its numbers, that ``evidence`` also gives
    trading places ("Merkel kritisierte Seehofer" -> "Seehofer kritisierte Merkel"; "54,3 Prozent
    der Bauern, 86,1 der Gewerbetreibenden" the other way round), or None where it has no such
    pair. Names are ``names`` (``name_pool``); two joined only by "und", "and", a comma ... are
    never swapped: "Lawrow und Kuleba sprechen" says the same either way."""
    found = [
        m
        for m in list(WORD.finditer(claim))[1:]
        if m.group() in names
        and m.group() in evidence
        and not _NEXT_TO_CAPITAL.search(claim[max(0, m.start() - 30) : m.start()])  # part of a longer name
        and not _NEXT_TO_CAPITAL.match(claim[m.end() : m.end() + 2])
    ]
    found += [m for m in _NUMBER.finditer(claim) if m.group() in evidence]
    pairs = [
        (a, b)
        for a in found
        for b in found
        if a.start() < b.start()
        and a.end() <= b.start()
        and a.group() != b.group()
        and a.group()[0].isdigit() == b.group()[0].isdigit()
        and _apart(claim[a.end() : b.start()], names)
    ]
    if not pairs:
        return None
    a, b = rng.choice(pairs)
    return claim[: a.start()] + b.group() + claim[a.end() : b.start()] + a.group() + claim[b.end() :]


def _apart(between: str, names: set[str]) -> bool:
    """Whether two names are in different roles: something other than names and "und", "and",
    "bis", commas ... stands between them ("Karl, Hannes, David" is one list)."""
    return any(w not in names and not _JOINED.match(w) for w in WORD.findall(between))
