"""Compare trained readers on what they were selected on and on text they were not trained for.

    .venv/bin/python bench/reader/compare.py DIR [DIR ...] [--questions 200]

Per reader, per set: ``top1`` (the answering sentence scores highest among its question's
candidates), ``refused`` (answerable questions whose best log-odds is below the reader's
threshold), ``best_p5`` (the threshold that would refuse 5% of them) and, where a set has
unanswerable questions, ``auc`` (the best candidate's log-odds separate answerable from
unanswerable questions). The sets:

- ``news-dev``: the news development pairs (``bench/.cache/reader/pairs.dev.jsonl``, from
  ``build_data.py``), what training and the threshold are selected on;
- ``wiki-en``, ``drcd-zh``, ``jsquad-ja``: questions of ``qa-train`` sets that training never
  saw (SQuADShifts new-wiki questions outside the training pairs, the DRCD and JSQuAD test
  splits), built like the training pairs: encyclopaedic text, the kind of text a reader tuned
  only on news forgets (XQuAD, our evaluation set, is never used to choose).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np

from bench.reader.build_data import QA, pairs_for
from bench.train_reader import CACHE, dev_metrics, load_pairs, pair_candidate
from bot.reader.reader import E5Reader

HELD_OUT = {  # set -> (qa-train file, language)
    "wiki-en": ("squadshifts/new_wiki_v1.0.json", "en"),
    "drcd-zh": ("drcd/DRCD_test.json", "zh"),
    "jsquad-ja": ("jsquad/test-v1.3.json", "ja"),
}
SEED = 20261206


def held_out(name: str, n: int, used: set[str]) -> list[dict[str, Any]]:
    path, lang = HELD_OUT[name]
    items = []
    for article in json.loads((QA / path).read_text(encoding="utf-8"))["data"]:
        title = str(article.get("title", "")).replace("_", " ")
        for paragraph in article["paragraphs"]:
            items += [(title, paragraph["context"], qa) for qa in paragraph["qas"] if str(qa["id"]) not in used]
    rng = random.Random(SEED)
    rng.shuffle(items)
    out: list[dict[str, Any]] = []
    for title, context, qa in items:
        answer = qa["answers"][0]
        start = context.find(answer["text"], max(answer["answer_start"] - 5, 0))
        if start < 0:
            continue
        out += pairs_for(
            str(qa["id"]), qa["question"], context, title, [(start, start + len(answer["text"]))], lang, name, rng
        )
        if len({p["group"] for p in out}) >= n:
            break
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("readers", type=Path, nargs="+")
    parser.add_argument("--questions", type=int, default=200, help="per held-out set")
    args = parser.parse_args()
    used = {p["group"] for p in load_pairs(CACHE / "pairs.train.jsonl")}
    sets = {"news-dev": load_pairs(CACHE / "pairs.dev.jsonl")}
    sets.update({name: held_out(name, args.questions, used) for name in HELD_OUT})
    for directory in args.readers:
        reader = E5Reader(directory)
        row = {}
        for name, pairs in sets.items():
            logits = np.asarray(score_in_order(reader, pairs))
            metrics: dict[str, Any] = dev_metrics(pairs, logits)
            best: dict[str, tuple[float, int]] = {}
            for p, x in zip(pairs, logits, strict=True):
                b, y = best.get(p["group"], (-1e9, 0))
                best[p["group"]] = (max(b, float(x)), max(y, p["y"]))
            answerable = sorted(b for b, y in best.values() if y)
            metrics["refused"] = sum(b < reader.threshold for b in answerable) / len(answerable)
            metrics["best_p5"] = answerable[len(answerable) // 20]  # 5% of answerable questions below it
            row[name] = {k: round(v, 3) if isinstance(v, float) else v for k, v in metrics.items()}
        print(json.dumps({"reader": str(directory), **row}), flush=True)


def score_in_order(reader: E5Reader, pairs: list[dict[str, Any]]) -> list[float]:
    """Log-odds per pair, in the pairs' order (a question's pairs scored together)."""
    by_group: dict[str, list[int]] = {}
    for i, p in enumerate(pairs):
        by_group.setdefault(p["group"], []).append(i)
    out = [0.0] * len(pairs)
    for members in by_group.values():
        logits = reader.score(pairs[members[0]]["q"], [pair_candidate(pairs[i]) for i in members])
        for i, x in zip(members, logits, strict=True):
            out[i] = float(x)
    return out


if __name__ == "__main__":
    main()
