#!/usr/bin/env python3
"""Validate the hand-written newsbot QA questions and write the SQuAD 2.0 dev/test files.

Input:  questions.jsonl (next to this script), one JSON object per line:
        {"row": int, "lang": "de"|"en", "question": str,
         "answer": str | null, "kind": "answerable"|"hard"|"absent",
         "absent_keys": [str, ...]   # only for kind == "absent"}
Source: 10kGNAD test split (/work/shared/corpora/10kgnad-test.csv), format `label;'text'`.
Output: news.dev.json, news.test.json (SQuAD v2.0 layout, one data entry per article).

Rows 0-299 of the CSV are reserved for independent checks: this script never keeps,
prints or searches their text, and refuses questions that point at them.

Usage: python3 bench/news/build.py [--csv PATH] [--check]   (--check: validate only)
"""

import argparse
import collections
import csv
import json
import random
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_CSV = "/work/shared/corpora/10kgnad-test.csv"
FIRST_ROW = 300  # rows 0-299 are reserved, never used
SEED = 20160601
DEV_SHARE = 0.55
KINDS = ("answerable", "hard", "absent")
LANGS = ("de", "en")
MAX_ANSWERABLE_PER_ARTICLE = 2


def load_articles(path):
    """Return {row: (label, text)} for rows >= FIRST_ROW only."""
    out = {}
    with open(path, encoding="utf-8", newline="") as f:
        for i, rec in enumerate(csv.reader(f, delimiter=";", quotechar="'")):
            if i < FIRST_ROW:
                continue  # reserved rows: not kept, not inspected
            if len(rec) != 2:
                sys.exit(f"row {i}: expected 2 fields, got {len(rec)}")
            out[i] = (rec[0], rec[1])
    return out


def load_questions(path):
    qs = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                q = json.loads(line)
                q["_line"] = n
                qs.append(q)
    return qs


def validate(qs, arts):
    errors, warnings = [], []
    per_article = collections.Counter()
    seen = set()
    for q in qs:
        where = f"questions.jsonl:{q['_line']}"
        row, lang, kind = q.get("row"), q.get("lang"), q.get("kind")
        text, ans = q.get("question", ""), q.get("answer")
        if not isinstance(row, int) or row < FIRST_ROW:
            errors.append(f"{where}: row {row!r} is not allowed (rows 0-{FIRST_ROW - 1} are reserved)")
            continue
        if row not in arts:
            errors.append(f"{where}: row {row} does not exist")
            continue
        if lang not in LANGS:
            errors.append(f"{where}: bad lang {lang!r}")
        if kind not in KINDS:
            errors.append(f"{where}: bad kind {kind!r}")
        if not text.strip():
            errors.append(f"{where}: empty question")
        key = (row, text.strip().lower())
        if key in seen:
            errors.append(f"{where}: duplicate question for row {row}")
        seen.add(key)
        ctx = arts[row][1]
        if kind == "answerable":
            per_article[row] += 1
            if not isinstance(ans, str) or not ans.strip():
                errors.append(f"{where}: answerable question without answer")
            elif ans != ans.strip():
                errors.append(f"{where}: answer has surrounding whitespace")
            elif ans not in ctx:
                errors.append(f"{where}: answer {ans!r} not found verbatim in row {row}")
            # crude check that the question does not copy the article's wording
            qtok = re.findall(r"\w+", text.lower())
            ctok = " " + " ".join(re.findall(r"\w+", ctx.lower())) + " "
            for i in range(len(qtok) - 4):
                gram = " ".join(qtok[i : i + 5])
                if f" {gram} " in ctok:
                    warnings.append(f"{where}: question shares 5-gram with article: {gram!r}")
                    break
        else:
            if ans is not None:
                errors.append(f"{where}: {kind} question must have answer null")
        if kind == "absent":
            keys = q.get("absent_keys") or []
            if not keys:
                errors.append(f"{where}: absent question needs absent_keys")
            for k in keys:
                pat = re.compile(r"(?<!\w)" + re.escape(k) + r"(?!\w)", re.I)
                hits = [r for r, (_, t) in arts.items() if pat.search(t)]
                if hits:
                    errors.append(f"{where}: absent key {k!r} occurs in rows {hits[:5]}")
    for row, n in per_article.items():
        if n > MAX_ANSWERABLE_PER_ARTICLE:
            errors.append(f"row {row}: {n} answerable questions (max {MAX_ANSWERABLE_PER_ARTICLE})")
    return errors, warnings


def assign_ids(qs):
    counters = collections.Counter()
    for q in qs:
        tag = {"answerable": "", "hard": "hard-", "absent": "absent-"}[q["kind"]]
        counters[(q["row"], q["lang"], q["kind"])] += 1
        q["id"] = f"{q['row']}-{q['lang']}-{tag}{counters[(q['row'], q['lang'], q['kind'])]}"


def split(rows_to_qs, arts):
    """Stratified split by article: articles are ordered by stratum (which kinds/languages
    of unanswerable questions they carry, then section label), shuffled within stratum
    with a fixed seed, and every article goes to dev when the running 55% quota says so."""
    rng = random.Random(SEED)
    strata = collections.defaultdict(list)
    for row, qs in rows_to_qs.items():
        extra = tuple(sorted({(q["kind"], q["lang"]) for q in qs if q["kind"] != "answerable"}))
        strata[(extra, arts[row][0])].append(row)
    ordered = []
    for key in sorted(strata):
        rows = sorted(strata[key])
        rng.shuffle(rows)
        ordered.extend(rows)
    dev, test = [], []
    for i, row in enumerate(ordered):
        if int((i + 1) * DEV_SHARE) > int(i * DEV_SHARE):
            dev.append(row)
        else:
            test.append(row)
    return sorted(dev), sorted(test)


def squad(rows, rows_to_qs, arts):
    data = []
    for row in rows:
        label, ctx = arts[row]
        qas = []
        for q in rows_to_qs[row]:
            item = {"id": q["id"], "question": q["question"], "lang": q["lang"]}
            if q["kind"] == "answerable":
                start = ctx.find(q["answer"])
                assert start >= 0 and ctx[start : start + len(q["answer"])] == q["answer"]
                item["answers"] = [{"text": q["answer"], "answer_start": start}]
                item["is_impossible"] = False
            else:
                item["answers"] = []
                item["is_impossible"] = True
            qas.append(item)
        data.append({"title": f"gnad-{row}", "label": label, "paragraphs": [{"context": ctx, "qas": qas}]})
    return {"version": "v2.0", "data": data}


def counts(rows, rows_to_qs):
    c = collections.Counter()
    for row in rows:
        for q in rows_to_qs[row]:
            c[(q["lang"], q["kind"])] += 1
    return c


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--csv", default=DEFAULT_CSV)
    ap.add_argument("--questions", default=str(HERE / "questions.jsonl"))
    ap.add_argument("--out", default=str(HERE))
    ap.add_argument("--check", action="store_true", help="validate only, write nothing")
    args = ap.parse_args()

    arts = load_articles(args.csv)
    qs = load_questions(args.questions)
    errors, warnings = validate(qs, arts)
    for w in warnings:
        print("warning:", w, file=sys.stderr)
    if errors:
        for e in errors:
            print("error:", e, file=sys.stderr)
        sys.exit(1)
    assign_ids(qs)

    rows_to_qs = collections.defaultdict(list)
    for q in qs:
        rows_to_qs[q["row"]].append(q)
    dev, test = split(rows_to_qs, arts)

    for name, rows in (("dev", dev), ("test", test)):
        c = counts(rows, rows_to_qs)
        labels = collections.Counter(arts[r][0] for r in rows)
        print(
            f"{name}: {len(rows)} articles, {sum(c.values())} questions; "
            + ", ".join(f"{lang}/{k}={c[(lang, k)]}" for lang in LANGS for k in KINDS)
        )
        print(f"  sections: {dict(sorted(labels.items()))}")
        missing = [(lang, k) for lang in LANGS for k in KINDS if c[(lang, k)] == 0]
        if missing:
            sys.exit(f"{name} split lacks {missing}; adjust SEED or questions")

    if args.check:
        return
    out = Path(args.out)
    for name, rows in (("dev", dev), ("test", test)):
        with open(out / f"news.{name}.json", "w", encoding="utf-8") as f:
            json.dump(squad(rows, rows_to_qs, arts), f, ensure_ascii=False, indent=1)
            f.write("\n")
    print("wrote", out / "news.dev.json", "and", out / "news.test.json")


if __name__ == "__main__":
    main()
