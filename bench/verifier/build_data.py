"""Build the claim verifier's training and development pairs: (claim, sentence, title, label).

    .venv/bin/python bench/verifier/build_data.py

Source (training only, never shipped): the claims written for the verifier over 10kGNAD rows
300-1027 (``bench/verifier/claims/part-*.jsonl``, checked by ``check_claims.py``; by default
``part-0`` to ``part-17``, the shipped checker's, ``--parts N`` the first N; rows 0-299 are never
read; none of ``bench/claims``' evaluation sources). Each claim is paired with its evidence
sentence (label 1 for ``support``, 0 for ``reject``); a supported claim is also paired with the
other sentences of its article that share the most words with it (label 0: they do not state
it), so that "about the same thing" is never taken for "says the same thing". Claims are split by
article, 85% train and 15% dev (seeded), into ``bench/.cache/verifier/pairs.{train,dev}.jsonl``,
the input of ``bench/train_reader.py --data bench/.cache/verifier``. With ``--swapped``, each
supported training claim with two names or numbers that can trade places also gives a rejected
one with them swapped ("Merkel kritisierte Seehofer" -> "Seehofer kritisierte Merkel").
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.reader.build_data import sentences, units, written_parts
from bench.reader.check_questions import gnad_rows
from bench.reader.counterfactual import english_names, swap_roles

CLAIMS = ROOT / "bench" / "verifier" / "claims"
OUT = ROOT / "bench" / ".cache" / "verifier"
SEED = 20261205
OTHER_SENTENCES = 2
SHIPPED_PARTS = 18  # the shipped checker was trained on part-0 ... part-17


def written_claims(parts: int | None = None) -> list[dict[str, Any]]:
    """Every written claim (of ``part-0`` ... ``part-{parts - 1}``; all by default), with its ``id``
    (file and line: ``part-3-17``)."""
    return written_parts(CLAIMS, parts)


def part_of(row: int) -> str:
    h = int(hashlib.sha256(f"verifier:{SEED}:{row}".encode()).hexdigest(), 16) % 100
    return "train" if h < 85 else "dev"


def claim_pairs(items: list[dict[str, Any]], rows: dict[int, str]) -> list[dict[str, Any]]:
    out = []
    for item in items:
        text = rows[item["row"]]
        spans = sentences(text, "de")
        title = text[spans[0][0] : spans[0][1]]
        base = {"group": item["id"], "q": item["claim"], "t": title, "lang": "de", "src": f"claim-{item['lang']}"}
        out.append({**base, "s": item["evidence"], "y": int(item["label"] == "support")})
        if item["label"] != "support":
            continue
        said = units(item["claim"], item["lang"])
        others = [
            text[a:b] for a, b in spans[1:] if text[a:b] != item["evidence"] and item["evidence"] not in text[a:b]
        ]
        others.sort(key=lambda s: -len(said & units(s, "de")))
        out += [{**base, "s": s, "y": 0} for s in others[:OTHER_SENTENCES]]
    return out


def swapped_pairs(items: list[dict[str, Any]], rows: dict[int, str], seed: int) -> list[dict[str, Any]]:
    """A supported claim with two of its names or numbers trading places, against its evidence:
    label 0 (``bench/reader/counterfactual.swap_roles``). The word rules find every name and
    number of such a claim in the source; only reading who does what to whom rejects it."""
    rng = random.Random(seed)
    names = {
        name
        for item in items
        if item["lang"] == "en"
        for name in english_names(item["claim"])
        if name in item["evidence"]
    }
    out = []
    for item in items:
        swapped = swap_roles(item["claim"], item["evidence"], names, rng) if item["label"] == "support" else None
        if swapped is not None:
            text = rows[item["row"]]
            a, b = sentences(text, "de")[0]
            out.append(
                {
                    "group": f"{item['id']}-swapped",
                    "q": swapped,
                    "s": item["evidence"],
                    "t": text[a:b],
                    "y": 0,
                    "lang": "de",
                    "src": f"swapped-{item['lang']}",
                }
            )
    return out


# Kinds whose claim and evidence also fail the other way round: a changed claim does not state
# its evidence either. (An added detail does state its evidence, and a shortening's evidence says
# more than it: left out.)
REVERSIBLE_REJECTS = ("swapped_roles", "invented_predicate", "changed_detail", "wrong_number", "negation")


def reversed_pairs(items: list[dict[str, Any]], rows: dict[int, str]) -> list[dict[str, Any]]:
    """Each paraphrase or translation read the other way round (the evidence as the claim, the
    claim as what states it: label 1, they say the same) and each changed claim too (label 0):
    equivalence from both sides, for the checker's paraphrases."""
    out = []
    for item in items:
        if item["kind"] != "paraphrase" and item["kind"] not in REVERSIBLE_REJECTS:
            continue
        text = rows[item["row"]]
        a, b = sentences(text, "de")[0]
        out.append(
            {
                "group": f"{item['id']}-reversed",
                "q": item["evidence"],
                "s": item["claim"],
                "t": text[a:b],
                "y": int(item["label"] == "support"),
                "lang": "de",
                "src": f"reversed-{item['lang']}",
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument(
        "--swapped", action="store_true", help="add a claim with two names or numbers swapped per supported claim"
    )
    parser.add_argument(
        "--reversed", action="store_true", help="add each paraphrase and changed claim read the other way round"
    )
    parser.add_argument(
        "--parts",
        type=int,
        default=SHIPPED_PARTS,
        help="the first N claim files (default: the shipped checker's; parts 18-21 were tried and not used, "
        "docs/llm.md)",
    )
    args = parser.parse_args()
    rows = gnad_rows()
    items = written_claims(args.parts)
    args.out.mkdir(parents=True, exist_ok=True)
    for part in ("train", "dev"):
        part_items = [c for c in items if part_of(c["row"]) == part]
        pairs = claim_pairs(part_items, rows)
        if args.swapped and part == "train":
            pairs += swapped_pairs(part_items, rows, SEED)
        if args.reversed and part == "train":
            pairs += reversed_pairs(part_items, rows)
        random.Random(SEED).shuffle(pairs)
        with (args.out / f"pairs.{part}.jsonl").open("w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs)
        print(
            f"pairs {part}: {len(pairs)} ({sum(p['y'] for p in pairs)} support), by claim language"
            f" {Counter(p['src'] for p in pairs)}",
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()
