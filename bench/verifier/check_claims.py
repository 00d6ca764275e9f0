"""Check hand-written verifier training claims (``bench/verifier/claims/part-*.jsonl``) against 10kGNAD.

    python3 bench/verifier/check_claims.py bench/verifier/claims/part-0.jsonl

One JSON object per line::

    {"row": 512, "lang": "en", "claim": "...", "evidence": "<a sentence copied verbatim from the
     article>", "kind": "paraphrase", "label": "support"}

``label`` is ``support`` (the evidence sentence states everything the claim says) or ``reject``
(it does not: the claim invents, swaps, negates or changes something). ``--article ROW`` prints
one article's text (``bench/reader/check_questions.py``). Rows 0-299 are never read. Needs only
the standard library.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.reader.check_questions import LANGS, gnad_rows

KINDS = {
    "paraphrase",
    "partial",
    "invented_predicate",
    "swapped_roles",
    "wrong_number",
    "negation",
    "changed_detail",
    "added_detail",
    "shortened",  # support: the sentence nearly verbatim, a detail left out (parts 8-11)
    "excerpt",  # reject: verbatim words of the sentence that it does not assert (a reported or denied
    # claim, a condition, a question), or a shortening that drops a negation, hedge or condition
}
SUPPORTED = {"paraphrase", "partial", "shortened"}
LABELS = {"support", "reject"}


def problems(item: dict, rows: dict[int, str]) -> list[str]:
    out = []
    if set(item) != {"row", "lang", "claim", "evidence", "kind", "label"}:
        out.append(f"keys must be row, lang, claim, evidence, kind, label (got {sorted(item)})")
        return out
    if item["row"] not in rows:
        out.append(f"row {item['row']} is not a usable article (rows 300-1027)")
        return out
    if item["lang"] not in LANGS:
        out.append(f"unknown lang {item['lang']!r}")
    if item["kind"] not in KINDS:
        out.append(f"unknown kind {item['kind']!r} (one of {sorted(KINDS)})")
    if item["label"] not in LABELS:
        out.append(f"label must be support or reject (got {item['label']!r})")
    elif (item["label"] == "support") != (item["kind"] in SUPPORTED):
        out.append("paraphrase/partial/shortened claims are support, every other kind is reject")
    if not item["claim"] or not isinstance(item["claim"], str):
        out.append("empty claim")
    if not item["evidence"] or item["evidence"] not in rows[item["row"]]:
        out.append("evidence is not verbatim in the article")
    elif item["claim"].strip() == item["evidence"].strip():
        out.append("the claim copies the evidence")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args()
    rows = gnad_rows()
    total = bad = 0
    for path in args.files:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            total += 1
            try:
                item = json.loads(line)
            except json.JSONDecodeError as error:
                print(f"{path}:{n}: not JSON ({error})")
                bad += 1
                continue
            for problem in problems(item, rows):
                print(f"{path}:{n}: {problem}")
                bad += 1
    print(f"{total} claims, {bad} problems")


if __name__ == "__main__":
    main()
