"""Check hand-written reader questions (``bench/reader/questions/part-*.jsonl``) against 10kGNAD.

    python3 bench/reader/check_questions.py bench/reader/questions/part-0.jsonl [--article ROW]

One JSON object per line::

    {"row": 512, "lang": "de", "question": "...", "answer": "50 Jahre",
     "evidence": "<the answering sentence, copied verbatim from the article>", "kind": "answerable"}

``kind`` is ``answerable`` (answer and evidence verbatim in the article, the answer inside the
evidence), ``hard`` (the article's topic, the asked detail missing: answer and evidence null) or
``absent`` (the topic is nowhere in rows 300-1027: ``absent_keys`` lists names that must not
occur there). ``--article ROW`` prints one article's text. Rows 0-299 are never read.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GNAD = ROOT.parent / "shared" / "corpora" / "10kgnad-test.csv"
NEWS = ROOT / "bench" / "news"
FIRST_ROW = 300
LANGS = {"de", "en", "es", "fr", "ru", "tr", "zh", "ar", "it", "pl", "uk"}
KINDS = {"answerable", "hard", "absent"}


def gnad_rows() -> dict[int, str]:
    out: dict[int, str] = {}
    with GNAD.open(encoding="utf-8") as fh:
        for row, fields in enumerate(csv.reader(fh, delimiter=";", quotechar="'")):
            if row >= FIRST_ROW and len(fields) == 2:
                out[row] = fields[1]
    return out


def evaluation_rows() -> set[int]:
    rows = set()
    for part in ("dev", "test"):
        for article in json.loads((NEWS / f"news.{part}.json").read_text(encoding="utf-8"))["data"]:
            rows.add(int(article["title"].removeprefix("gnad-")))
    return rows


def check(path: Path, rows: dict[int, str], held: set[int]) -> list[str]:
    errors = []
    corpus = "\n".join(rows.values()).casefold()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path.name}:{n}"
        try:
            q = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(f"{where}: not JSON ({exc})")
            continue
        row, kind, lang = q.get("row"), q.get("kind"), q.get("lang")
        if not isinstance(row, int) or row not in rows:
            errors.append(f"{where}: row {row!r} is not a row 300-1027")
            continue
        if row in held:
            errors.append(f"{where}: row {row} belongs to bench/news (evaluation only)")
        if kind not in KINDS:
            errors.append(f"{where}: kind {kind!r} not in {sorted(KINDS)}")
        if lang not in LANGS:
            errors.append(f"{where}: lang {lang!r} not in {sorted(LANGS)}")
        if not isinstance(q.get("question"), str) or len(q["question"]) < 8:
            errors.append(f"{where}: question missing or too short")
        text = rows[row]
        if kind == "answerable":
            answer, evidence = q.get("answer"), q.get("evidence")
            if not isinstance(answer, str) or answer not in text:
                errors.append(f"{where}: answer {answer!r} is not verbatim in row {row}")
            if not isinstance(evidence, str) or evidence not in text:
                errors.append(f"{where}: evidence is not verbatim in row {row}: {str(evidence)[:80]!r}")
            elif isinstance(answer, str) and answer not in evidence:
                errors.append(f"{where}: the answer is not inside the evidence")
        else:
            if q.get("answer") is not None or q.get("evidence") is not None:
                errors.append(f"{where}: a {kind} question has answer/evidence null")
        if kind == "absent":
            keys = q.get("absent_keys")
            if not keys or not isinstance(keys, list):
                errors.append(f"{where}: absent question without absent_keys")
            else:
                for key in keys:
                    if re.search(rf"\b{re.escape(key.casefold())}\b", corpus):
                        errors.append(f"{where}: absent key {key!r} occurs in rows 300-1027")
    return errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--article", type=int, help="print the text of this row")
    args = parser.parse_args()
    rows = gnad_rows()
    if args.article is not None:
        if args.article not in rows:
            sys.exit(f"row {args.article} is not a row 300-1027")
        print(rows[args.article])
        return
    held = evaluation_rows()
    errors = [e for path in args.files for e in check(path, rows, held)]
    for e in errors:
        print(e)
    total = sum(1 for p in args.files for line in p.read_text(encoding="utf-8").splitlines() if line.strip())
    print(f"{total} questions, {len(errors)} problems")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
