"""Answer-erased negatives: the answering sentence with its answer taken out.

The reader's worst mistakes on unanswerable questions are sentences about the asked thing that
lack the asked detail ("Am Dienstag wurde ihr in Wien der Oskar-Kokoschka-Preis verliehen." for
"At which Vienna venue was Andrea Fraser presented with the Oskar Kokoschka Prize?"). The
training data shows it such sentences only where a writer happened to ask for a missing detail.
Here every answerable question whose answering sentence holds its answer word for word gets that
sentence once more, with the answer (and a preposition or article right before it) taken out, as
a negative of the same question: the same words, the same topic, only the asked detail gone. With
the listwise loss the answering sentence must outrank its own erased copy; with the pair loss the
erased copy must score as "does not answer".

    .venv/bin/python bench/reader/mine.py --mix 30000 --counterfactual 2000 --without-translations --erased
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

# A word that only introduces the answer ("am 17. Mai", "in Wien", "by the ministry") goes with it.
_LEAD = re.compile(
    r"(?:\b(?:am|im|an|in|um|von|vom|bei|beim|mit|auf|zu|zum|zur|nach|seit|bis|für|durch|aus|der|die|das|dem|den|des"
    r"|ein|eine|einen|einem|einer|rund|etwa|knapp|über|at|on|by|of|from|for|to|with|since|until|the|a|an|about"
    r"|around|de|du|des|le|la|les|en|el|los|las|del|por|para|con|в|на|с|по|от|до)\s+)+$",
    re.IGNORECASE,
)
MIN_LEFT = 4  # words the erased sentence must keep, else it is no sentence any more
MAX_SHARE = 0.6  # an answer longer than this share of its sentence is the sentence


def erase(sentence: str, answer: str) -> str | None:
    """``sentence`` without ``answer`` (every occurrence) and the words that only lead into it;
    None where the answer is not in it word for word or leaves too little behind."""
    answer = answer.strip()
    if len(answer) < 2 or answer not in sentence or len(answer) > MAX_SHARE * len(sentence):
        return None
    out = sentence
    while answer in out:
        at = out.index(answer)
        head = _LEAD.sub("", out[:at]) if re.search(r"\w", answer[:1]) else out[:at]
        out = head.rstrip() + " " + out[at + len(answer) :].lstrip()
    out = re.sub(r"\s+([,.;:!?)。，])", r"\1", out)
    out = re.sub(r"([,;:(])\s*([,.;:)])", r"\2", out)
    out = re.sub(r"\(\s*\)", "", out)
    out = re.sub(r"\s{2,}", " ", out).strip(" ,;:")
    if len(re.findall(r"\w+", out)) < MIN_LEFT or not re.search(r"\w", out):
        return None
    return out


def answers_of_news(questions_dir: Path) -> dict[str, str]:
    """A written news question's answer by its id ("part-7-190"), as build_data.py numbers them."""
    out = {}
    for path in sorted(questions_dir.glob("part-*.jsonl")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
            if line.strip():
                q = json.loads(line)
                if q.get("answer"):
                    out[f"{path.stem}-{n}"] = str(q["answer"])
    return out


def answers_of_squad(qa_dir: Path, names: list[str]) -> dict[str, str]:
    """A ``qa-train`` question's first answer by its id."""
    out = {}
    for name in names:
        path = qa_dir / name
        if not path.exists():
            continue
        for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
            for paragraph in article["paragraphs"]:
                for qa in paragraph["qas"]:
                    answers = [] if qa.get("is_impossible") else qa.get("answers", [])
                    if answers:
                        out[str(qa["id"])] = str(answers[0]["text"])
    return out


def erased_pairs(pairs: list[dict[str, Any]], answers: dict[str, str]) -> list[dict[str, Any]]:
    """One negative per answerable group whose answering sentence holds its answer word for word
    and does not repeat it in what the reader reads beside it (the sentence before, the title)."""
    out = []
    seen: set[str] = set()
    for p in pairs:
        if not p["y"] or p["group"] in seen:
            continue
        key = p["group"].removeprefix("mined-")
        answer = answers.get(key)
        if answer is None or answer in (p.get("p") or "") or answer in (p.get("t") or ""):
            continue
        text = erase(p["s"], answer)
        if text is None:
            continue
        seen.add(p["group"])
        out.append({**p, "s": text, "y": 0, "src": f"{p['src']}-erased"})
    return out
