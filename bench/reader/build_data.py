"""Build the reader's training and development pairs: (question, sentence, title, label).

    .venv/bin/python bench/reader/build_data.py

Sources (training only, never shipped): the open extractive-QA sets in ``../shared/qa-train``
(SQuAD JSON: de, en, zh, ja, ar) and the news questions written for the reader over 10kGNAD rows
300-1027 (``bench/reader/questions/part-*.jsonl``; rows 0-299 are never read; the articles of
``bench/news`` are not among them). Contexts are split into sentences as the product splits
articles (``index.split.split_sentences``) for German and English, at 。！？ for Chinese and Japanese, at . ! ? ؟ for Arabic.
A question's positive is the sentence holding its answer (with the answer's place in it, ``a``);
its negatives are the hardest other sentences of the same context (the most words or characters shared with the question, plus the
lead, which is "about the topic" without answering) and one at random. An unanswerable
question (GermanDPR's hard negatives, the news set's ``hard`` and ``absent`` ones) has only negatives.

Translations (``bench/reader/translations/*.jsonl``: ``{"id", "src", "lang", "question"}``, written
by hand for the reader) ask a German question of the German ``qa-train`` sets or of the news
training questions again in English or another language, over the same German text: the
cross-lingual pairs that no open set has. A translated ``qa-train`` question gets its original's
pairs (group ``<id>><lang>``, source ``<set>><lang>``); a translated news question is a news
question of its own (id ``<id>><lang>``), so ``mine.py`` mines it. Both come after everything
else, so the other pairs stay as they were.

News questions are split by article: 70% train, 15% dev, 15% test (seeded). Writes
``bench/.cache/reader/pairs.{train,dev}.jsonl`` and ``news.{train,dev,test}.jsonl`` (the
questions of each part, for ``bench/reader/eval_reader.py``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.reader.check_questions import gnad_rows
from index.split import split_sentences

QA = ROOT.parent / "shared" / "qa-train"
QUESTIONS = ROOT / "bench" / "reader" / "questions"
TRANSLATIONS = ROOT / "bench" / "reader" / "translations"
OUT = ROOT / "bench" / ".cache" / "reader"
SEED = 20261205
HARD_NEGATIVES = 3
# questions per file (None: all); English is plentiful, so it is sampled
SOURCES: dict[str, tuple[str, int | None]] = {
    "mlqa-de/dev-context-de-question-de.json": ("de", None),
    "germanquad-subset/germanquad_train_subset.squad.json": ("de", None),
    "germanquad-subset/germandpr_train_subset.squad.json": ("de", None),
    "squadshifts/new_wiki_v1.0.json": ("en", 2500),
    "squadshifts/reddit_v1.0.json": ("en", 600),
    "squadshifts/amazon_reviews_v1.0.json": ("en", 400),
    "covid-qa/200423_covidQA.json": ("en", 300),
    "drcd/DRCD_dev.json": ("zh", 1200),
    "cmrc2018/cmrc2018_dev.json": ("zh", 1000),
    "jsquad/valid-v1.3.json": ("ja", 1500),
    "arcd/arcd-train.json": ("ar", 700),
    "arcd/arcd-test.json": ("ar", 700),
}
_CJK_END = re.compile(r"(?<=[。！？!?؟])\s*")
_ARABIC_END = re.compile(r"(?<=[.!?؟])\s+")
_WORD = re.compile(r"[^\W_]+")


def sentences(text: str, lang: str) -> list[tuple[int, int]]:
    """(start, end) character spans of the sentences of ``text``."""
    if lang in ("de", "en"):
        parts = split_sentences(text)
    else:
        parts = [p for p in (_ARABIC_END if lang == "ar" else _CJK_END).split(text) if p.strip()]
    spans, pos = [], 0
    for part in parts:
        part = part.strip()
        start = text.find(part, pos)
        if start < 0:  # the splitter normalized the text: locate by the first words
            start = text.find(part[:20], pos)
        if start < 0:
            continue
        spans.append((start, start + len(part)))
        pos = start + len(part)
    return spans


def units(text: str, lang: str) -> set[str]:
    """What overlap is counted in: words, or character bigrams for Chinese and Japanese."""
    if lang in ("zh", "ja"):
        chars = [c for c in text if c.isalnum()]
        return {a + b for a, b in zip(chars, chars[1:], strict=False)}
    return {w.casefold() for w in _WORD.findall(text) if len(w) > 2}


def pairs_for(
    qid: str,
    question: str,
    context: str,
    title: str,
    answer_at: list[tuple[int, int]],
    lang: str,
    source: str,
    rng: random.Random,
) -> list[dict[str, Any]]:
    """One positive per answering sentence (none when ``answer_at`` is empty) and the negatives."""
    spans = sentences(context, lang)
    if len(spans) < 2:
        return []
    gold = {i for i, (a, b) in enumerate(spans) for s, e in answer_at if a <= s and e <= b + 1}
    if answer_at and not gold:  # an answer across a sentence boundary: not a clean example
        return []
    asked = units(question, lang)
    others = [i for i in range(len(spans)) if i not in gold]
    overlap = {i: len(asked & units(context[spans[i][0] : spans[i][1]], lang)) for i in others}
    hard = sorted(others, key=lambda i: (-overlap[i], i))[: HARD_NEGATIVES + (0 if gold else 1)]
    extra = [0] if 0 in others and 0 not in hard else []
    rest = [i for i in others if i not in hard and i not in extra]
    chosen = hard + extra + ([rng.choice(rest)] if rest else [])
    out = []
    for i in sorted(gold) + chosen:
        a, b = spans[i]
        pair = {
            "group": qid,
            "q": question,
            "s": context[a:b],
            "t": title,
            "p": context[spans[i - 1][0] : spans[i - 1][1]] if i else None,  # the sentence before
            "n": context[spans[i + 1][0] : spans[i + 1][1]] if i + 1 < len(spans) else None,  # and after
            "y": int(i in gold),
            "lang": lang,
            "src": source,
        }
        if i in gold:  # where the answer lies in the sentence (the span head's target, bench/reader/train_span.py)
            s, e = next((s, e) for s, e in answer_at if a <= s and e <= b + 1)
            pair["a"] = [s - a, min(e, b) - a]
        out.append(pair)
    return out


def squad_questions(name: str) -> list[tuple[str, str, dict[str, Any]]]:
    """Every question of one ``qa-train`` file: (its article's title, its paragraph, the question)."""
    items = []
    for article in json.loads((QA / name).read_text(encoding="utf-8"))["data"]:
        title = str(article.get("title", "")).replace("_", " ")
        title = "" if re.fullmatch(r"[\w\-]*\d[\w\-]*", title) else title  # ids are no titles
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                items.append((title, paragraph["context"], qa))
    return items


def squad_answers(qa: dict[str, Any]) -> list[dict[str, Any]]:
    """A ``qa-train`` question's answers (none where it is marked impossible)."""
    return [] if qa.get("is_impossible") else qa.get("answers", [])


def squad_pairs(rng: random.Random) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name, (lang, cap) in SOURCES.items():
        items = squad_questions(name)
        rng.shuffle(items)
        items = items[:cap] if cap else items
        before = len(out)
        for title, context, qa in items:
            answers = squad_answers(qa)
            at = [(a["answer_start"], a["answer_start"] + len(a["text"])) for a in answers[:1]]
            if at and context[at[0][0] : at[0][1]] != answers[0]["text"]:
                found = context.find(answers[0]["text"])
                if found < 0:
                    continue
                at = [(found, found + len(answers[0]["text"]))]
            out += pairs_for(str(qa["id"]), qa["question"], context, title, at, lang, name.split("/")[0], rng)
        print(f"{name}: {len(items)} questions, {len(out) - before} pairs", file=sys.stderr)
    return out


def news_part(row: int) -> str:
    h = int(hashlib.sha256(f"{SEED}:{row}".encode()).hexdigest(), 16) % 100
    return "train" if h < 70 else "dev" if h < 85 else "test"


def written_parts(folder: Path, parts: int | None = None) -> list[dict[str, Any]]:
    """The records of ``folder``'s ``part-0.jsonl`` ... ``part-{parts - 1}.jsonl`` (all by
    default), each with its ``id`` (file and line: ``part-3-17``)."""
    out = []
    for path in sorted(folder.glob("part-*.jsonl")):
        if parts is not None and int(path.stem.removeprefix("part-")) >= parts:
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
            if line.strip():
                out.append({**json.loads(line), "id": f"{path.stem}-{n}"})
    return out


def news_questions(parts: int | None = None) -> list[dict[str, Any]]:
    """The written questions of ``part-0`` ... ``part-{parts - 1}`` (all by default)."""
    return [{**q, "part": news_part(q["row"])} for q in written_parts(QUESTIONS, parts)]


def translations() -> list[dict[str, str]]:
    """The hand-written translations of German training questions (``TRANSLATIONS``)."""
    out = []
    for path in sorted(TRANSLATIONS.glob("*.jsonl")):
        out += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return out


def translated_squad(pairs: list[dict[str, Any]], asked: list[dict[str, str]]) -> list[dict[str, Any]]:
    """A translated ``qa-train`` question with its original's sentences and labels."""
    by_group: dict[str, list[dict[str, Any]]] = {}
    for p in pairs:
        by_group.setdefault(p["group"], []).append(p)
    out = []
    for t in asked:
        for p in (p for p in by_group.get(t["id"], []) if p["src"] == t["src"].split("/")[0]):
            out.append({**p, "group": f"{t['id']}>{t['lang']}", "q": t["question"], "src": f"{p['src']}>{t['lang']}"})
    return out


def translated_news(news: list[dict[str, Any]], asked: list[dict[str, str]]) -> list[dict[str, Any]]:
    """A translated news question: its original with the question and language replaced."""
    by_id = {q["id"]: q for q in news}
    return [
        {**by_id[t["id"]], "id": f"{t['id']}>{t['lang']}", "lang": t["lang"], "question": t["question"]}
        for t in asked
        if t["id"] in by_id
    ]


def news_pairs(items: list[dict[str, Any]], rows: dict[int, str], rng: random.Random) -> list[dict[str, Any]]:
    out = []
    for q in items:
        text = rows[q["row"]]
        at = []
        if q["kind"] == "answerable":
            start = text.find(q["evidence"])
            offset = q["evidence"].find(q["answer"])
            if start < 0 or offset < 0:
                continue
            at = [(start + offset, start + offset + len(q["answer"]))]
        title = sentences(text, "de")[0]
        out += pairs_for(q["id"], q["question"], text, text[title[0] : title[1]], at, "de", f"news-{q['lang']}", rng)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--parts", type=int, help="only the questions of part-0 ... part-N-1 (run 1: 8)")
    args = parser.parse_args()
    rng = random.Random(SEED)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = gnad_rows()
    news = news_questions(args.parts)
    asked = translations()
    translated = translated_news(news, [t for t in asked if t["src"] == "news"])
    news += translated
    for part in ("train", "dev", "test"):
        chosen = [q for q in news if q["part"] == part]
        with (args.out / f"news.{part}.jsonl").open("w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(q, ensure_ascii=False) + "\n" for q in chosen)
        print(f"news {part}: {len(chosen)} questions, {Counter(q['lang'] for q in chosen)}", file=sys.stderr)
    squad = squad_pairs(rng)
    originals = [q for q in news if q["part"] == "train" and ">" not in q["id"]]
    train = squad + news_pairs(originals, rows, rng)
    # translations last: the pairs above (and their random negatives) stay as they were
    # (a translation of a development or test question, ``translations/news-eval.jsonl``, is
    # asked in its part only: never a training pair)
    translated_train = [q for q in translated if q["part"] == "train"]
    train += translated_squad(squad, [t for t in asked if t["src"] != "news"]) + news_pairs(translated_train, rows, rng)
    # the development pairs draw from a generator of their own: more training data leaves them as they are
    dev = news_pairs([q for q in news if q["part"] == "dev"], rows, random.Random(SEED + 1))
    for part, pairs in (("train", train), ("dev", dev)):
        with (args.out / f"pairs.{part}.jsonl").open("w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs)
        positives = sum(p["y"] for p in pairs)
        print(
            f"pairs {part}: {len(pairs)} ({positives} positive), by source {Counter(p['src'] for p in pairs)}",
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()
