"""Answer-erased negatives: the answering sentence with its answer taken out.

The reader's worst mistakes on unanswerable questions are sentences about the asked thing that
lack the asked detail ("Am Dienstag wurde ihr in Wien der Oskar-Kokoschka-Preis verliehen." for
"At which Vienna venue was Andrea Fraser presented with the Oskar Kokoschka Prize?"). The
training data shows it such sentences only where a writer happened to ask for a missing detail.
Here every answerable question whose answering sentence holds its answer word for word gets that
sentence once more, with the answer (and the preposition, article or "rund" that lead into it)
taken out, as a negative of the same question: the same words, the same topic, only the asked
detail gone. With the listwise loss the answering sentence must outrank its own erased copy; with
the pair loss the erased copy must score as "does not answer".

    .venv/bin/python bench/reader/mine.py --mix 30000 --counterfactual 2000 --without-translations --erased
"""

from __future__ import annotations

import re
from typing import Any

from bench.reader.build_data import SOURCES, news_questions, squad_answers, squad_questions

# Words that only lead into the answer go with it: a preposition, then an article, then a
# rough quantity ("am 17. Mai", "in der Klage", "um rund 2.000", "by the ministry", "في").
_QUANTITY = re.compile(r"\b(?:rund|etwa|knapp|fast|über|mehr als|about|around|nearly|some|more than)\s+$", re.I)
_ARTICLE = re.compile(r"\b(?:der|die|das|dem|den|des|ein|eine|einen|einem|einer|the|a|an)\s+$", re.I)
_PREPOSITION = re.compile(
    r"\b(?:am|im|an|in|um|von|vom|bei|beim|mit|auf|zu|zum|zur|nach|seit|bis|für|durch|aus|at|on|by|of|from"
    r"|for|to|with|since|until|في|من|إلى|على)\s+$",
    re.I,
)
# Scripts written without spaces between words: an answer there is cut out as it stands.
_UNSPACED = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_EMPTY_BRACKETS = re.compile(r"\(\s*\)|（\s*）|『\s*』|「\s*」|\[\s*\]")
MIN_LEFT = 4  # words the erased sentence must keep, else it is no sentence any more
MAX_SHARE = 0.6  # an answer longer than this share of its sentence is the sentence


def _lead(head: str) -> str:
    """``head`` (the text before an answer) without the words that only lead into the answer. An
    article right after a comma is a relative pronoun ("die Klage, die ... einreichte") and stays."""
    head = _QUANTITY.sub("", head)
    preposition = _PREPOSITION.search(_ARTICLE.sub("", head))
    article = _ARTICLE.search(head)
    if article is not None and (preposition is not None or not head[: article.start()].rstrip().endswith(",")):
        head = head[: article.start()]
    return _PREPOSITION.sub("", head)


def erase(sentence: str, answer: str) -> str | None:
    """``sentence`` without ``answer`` (every occurrence, as a whole word where words are spaced)
    and the words that only lead into it; None where the answer is not in it, or leaves too little.
    What is left is tidied so that it shows no mark of the cut: no doubled or leading space, no
    empty brackets, a capital where the sentence began with one."""
    answer = answer.strip()
    if len(answer) < 2 or len(answer) > MAX_SHARE * len(sentence):
        return None
    spaced = not _UNSPACED.search(answer)
    pattern = re.compile((r"(?<!\w)" + re.escape(answer) + r"(?!\w)") if spaced else re.escape(answer))
    if not pattern.search(sentence):
        return None
    out = sentence
    while (found := pattern.search(out)) is not None:
        head, tail = out[: found.start()], out[found.end() :]
        gap = " " if head[-1:].isspace() or tail[:1].isspace() else ""
        head = _lead(head) if spaced else head
        out = (head.rstrip() + gap + tail.lstrip()) if gap else head + tail
    out = _EMPTY_BRACKETS.sub("", out)
    out = re.sub(r"\s+([,.;:!?)。，、])", r"\1", out)
    out = re.sub(r"([,;:])\s*([,.;:)])", r"\2", out)
    out = re.sub(r"\(\s+", "(", out)
    out = re.sub(r"\s{2,}", " ", out).strip(" ,;:")
    left = len(re.findall(r"\w+", out)) if spaced else len(re.findall(r"\w", out)) // 2  # ~2 characters a word
    if left < MIN_LEFT:
        return None
    if sentence[:1].isupper() and out[:1].islower():
        out = out[0].upper() + out[1:]
    return out


def training_answers() -> dict[str, str]:
    """The answer of every written news question (by its id, "part-7-190") and every ``qa-train``
    question (by its id), as ``build_data.py`` reads them."""
    out = {q["id"]: str(q["answer"]) for q in news_questions() if q.get("answer")}
    for name in SOURCES:
        for _, _, qa in squad_questions(name):
            answers = squad_answers(qa)
            if answers:
                out[str(qa["id"])] = str(answers[0]["text"])
    return out


def erased_pairs(pairs: list[dict[str, Any]], answers: dict[str, str]) -> list[dict[str, Any]]:
    """One negative per answerable group (a question mined by mine.py and the same question among
    build_data.py's pairs are two groups) whose answering sentence holds its answer word for word
    and does not repeat it in what the reader may read beside it (the sentences before and after,
    the title)."""
    out = []
    seen: set[str] = set()
    for p in pairs:
        if not p["y"] or p["group"] in seen:
            continue
        key = p["group"].removeprefix("mined-")
        answer = answers.get(key)
        if answer is None or any(answer in (p.get(key) or "") for key in ("p", "n", "t")):
            continue
        text = erase(p["s"], answer)
        if text is None:
            continue
        seen.add(p["group"])
        negative = {key: value for key, value in p.items() if key != "a"}  # "a": where the answer lies
        out.append({**negative, "s": text, "y": 0, "src": f"{p['src']}-erased"})
    return out
