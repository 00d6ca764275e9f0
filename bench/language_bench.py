"""How often newsbot reads a question's language and its dates right, per language.

    .venv/bin/python bench/language_bench.py [--part train,dev]

Reads the reader's news questions (``bench/.cache/reader/news.{part}.jsonl``, written by
``bench/reader/build_data.py``: German, English and translations into other languages, each with
its language) and prints, per language, the share whose language ``bot.language.detect_language``
gets right (it frames the answer and names the language an LLM answers in), the commonest
mistakes, and how many questions get a date filter (``bot.when.resolve`` against a fixed clock)
with their date phrases. The test part also holds the translations into languages the reader never
trained on (``bench/reader/translations/news-eval.jsonl``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.language import detect_language
from bot.when import resolve

QUESTIONS = ROOT / "bench" / ".cache" / "reader"
NOW = datetime(2026, 12, 6, 12, 0)  # a fixed clock: the same filters on every run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", default="train,dev", help="parts of the reader's questions, comma-separated")
    parser.add_argument("--dates", action="store_true", help="print every question that gets a date filter")
    args = parser.parse_args()
    questions = []
    for part in args.part.split(","):
        path = QUESTIONS / f"news.{part}.jsonl"
        if not path.exists():
            sys.exit(f"{path} is missing: run .venv/bin/python bench/reader/build_data.py first")
        questions += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    right: dict[str, list[bool]] = defaultdict(list)
    mistaken: Counter[tuple[str, str]] = Counter()
    dated: Counter[str] = Counter()
    for q in questions:
        found = detect_language(q["question"])
        right[q["lang"]].append(found == q["lang"])
        if found != q["lang"]:
            mistaken[(q["lang"], found)] += 1
        dates = resolve(q["question"], NOW, language=found)
        if dates:
            dated[q["lang"]] += 1
            if args.dates:
                print(f"  date {q['lang']}: {dates.phrases} | {q['question']}")
    print(f"{len(questions)} questions ({args.part}): language right | with a date filter")
    for lang, values in sorted(right.items()):
        print(f"  {lang}: {sum(values) / len(values):.3f} of {len(values)} | {dated[lang]}")
    total = [v for values in right.values() for v in values]
    print(f"  all: {sum(total) / len(total):.4f} of {len(total)} | {sum(dated.values())}")
    print("mistaken (asked in -> read as):", ", ".join(f"{a}->{b} {n}" for (a, b), n in mistaken.most_common(10)))


if __name__ == "__main__":
    main()
