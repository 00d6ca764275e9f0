"""Train the answer model (bot/data/answer_model.json) on the news development questions and
report its cross-validated effect. The model has two parts:

- **sentence ranking**: for every answerable question of bench/news/news.dev.json, every
  sentence of the three best articles (as ``NewsQA.find`` ranks them over the 300-article news
  index of ``bench/news_bench.py``) is one row of ``bot.answering.FEATURES``, labelled 1 when a
  gold answer occurs in it; a logistic regression (scikit-learn, standardized features, L2).
- **refusal threshold**: ``min_evidence`` on ``bot.answering.normalized_evidence`` (the best
  article's lead over the question's background level, in units of its spread: one number
  for every language) refuses 0.5% of the answerable questions. Reported next to it: the
  unanswerable questions refused, and two kinds of synthetic negatives made from every
  answerable question (the same retrieval without the sentences that hold the answer, and
  without the answer's article). A floor under the best sentence's log-odds was tried for the
  "right article, detail missing" case; it refused answerable questions on small archives
  (the sample corpus) whose sentence scores sit lower, so it is not used.

Everything is scored by 5-fold cross-validation grouped by article (a question's article
never helps train the fold that tests it); sentence scores fed to the gate are out of fold too.

    .venv/bin/python bench/train_answer_model.py [--write]

The test part (news.test.json) is never read here.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.news_bench import build_index, index_settings, questions
from bot.answering import FEATURES, analyse, background_evidence, quote_articles, sentence_features
from bot.extract import QUOTABLE
from bot.qa import NewsQA
from bot.retrieve import Retrieval

MODEL = ROOT / "bot" / "data" / "answer_model.json"
FOLDS = 5
# The share of answerable development questions the threshold may refuse. Chosen low: a
# reporter is worse served by a wrong "nothing found" than by a weak quote, and the sample
# corpus's own "Who negotiated in Belarus?" sits at the 1% mark.
REFUSE_ANSWERABLE = 0.005


@dataclasses.dataclass
class Item:
    id: str
    lang: str
    kind: str  # answerable, hard, absent
    article: str  # the gold article (for grouping folds)
    golds: list[str]
    retrieval: Retrieval
    variants: dict[str, tuple[np.ndarray, np.ndarray, list[str]]]  # name -> (X, y, texts) of its sentences
    cut: dict[str, Retrieval]  # name -> the retrieval the variant's gate features come from


def features_of(question: str, retrieval: Retrieval, articles: list) -> tuple[np.ndarray, list[str]]:
    analysed = analyse(question)
    blocks, texts = [], []
    for rank, article in enumerate(articles):
        sentences, x = sentence_features(analysed, article, rank, articles[0].score, retrieval)
        keep = [i for i, s in enumerate(sentences) if QUOTABLE.search(s.text)]
        blocks.append(x[keep])
        texts += [sentences[i].text for i in keep]
    width = len(FEATURES)
    return (np.vstack(blocks) if blocks else np.zeros((0, width), dtype=np.float32)), texts


def collect(qa: NewsQA, items: list[dict[str, Any]]) -> list[Item]:
    out = []
    for q in items:
        found = qa.find(q["question"])
        retrieval = found.retrieval
        golds = [a["text"] for a in q.get("answers", [])]
        X, texts = features_of(q["question"], retrieval, quote_articles(retrieval))
        y = np.asarray([any(g in t for g in golds) for t in texts], dtype=bool)
        item = Item(
            q["id"],
            q["lang"],
            q["kind"],
            q["article_id"],
            golds,
            retrieval,
            {"real": (X, y, texts)},
            {"real": retrieval},
        )
        if q["kind"] == "answerable" and y.any():
            # The right article without the sentences that answer: a hard negative.
            item.variants["hard"] = (X[~y], y[~y], [t for t, hit in zip(texts, y) if not hit])
            item.cut["hard"] = retrieval
            # The archive without the answer's article: an absent negative.
            rest = [a for a in retrieval.articles if a.article_id != q["article_id"]]
            cut = dataclasses.replace(retrieval, articles=rest)
            Xa, texts_a = features_of(q["question"], cut, quote_articles(cut))
            item.variants["absent"] = (Xa, np.zeros(len(texts_a), dtype=bool), texts_a)
            item.cut["absent"] = cut
        out.append(item)
    return out


def fit_linear(X: np.ndarray, y: np.ndarray, c: float) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(X)
    model = LogisticRegression(C=c, class_weight="balanced", max_iter=5000).fit(scaler.transform(X), y)
    return {"coef": model.coef_[0], "bias": float(model.intercept_[0]), "mean": scaler.mean_, "scale": scaler.scale_}


def apply(model: dict[str, Any], X: np.ndarray) -> np.ndarray:
    if len(X) == 0:
        return np.zeros(0)
    return ((X - model["mean"]) / model["scale"]) @ model["coef"] + model["bias"]


def folds(items: list[Item]) -> list[tuple[list[int], list[int]]]:
    from sklearn.model_selection import GroupKFold

    return list(GroupKFold(n_splits=FOLDS).split(items, groups=[i.article for i in items]))


def sentence_model(items: list[Item], c: float) -> dict[str, Any]:
    train = [i for i in items if i.kind == "answerable" and i.variants["real"][1].any()]
    X = np.vstack([i.variants["real"][0] for i in train])
    y = np.concatenate([i.variants["real"][1] for i in train])
    return fit_linear(X, y, c)


def evaluate(items: list[Item], c: float) -> dict[str, Any]:
    """Out-of-fold sentence top-1, the two thresholds, and what they refuse."""
    top1: dict[str, list[bool]] = {"de": [], "en": []}
    best: dict[tuple[str, str], float] = {}  # (item id, variant) -> out-of-fold best sentence log-odds
    for train_idx, test_idx in folds(items):
        model = sentence_model([items[i] for i in train_idx], c)
        for i in test_idx:
            item = items[i]
            for name, (X, y, _) in item.variants.items():
                scores = apply(model, X)
                best[(item.id, name)] = float(scores.max()) if len(scores) else -20.0
                if name == "real" and item.kind == "answerable" and len(X):
                    top1[item.lang].append(bool(y[int(np.argmax(scores))]))
    answerable = [i for i in items if i.kind == "answerable"]
    evidence = {(i.id, n): background_evidence(i.cut[n]) for i in items for n in i.variants}
    min_background = float(np.quantile([evidence[(i.id, "real")] or -9.0 for i in answerable], REFUSE_ANSWERABLE))

    def refused(key: tuple[str, str]) -> bool:
        value = evidence[key]
        return value is None or value < min_background

    out: dict[str, Any] = {"min_background": round(min_background, 4)}
    for lang in ("de", "en"):
        mine = [i for i in items if i.lang == lang]
        for kind in ("answerable", "hard", "absent"):
            keys = [(i.id, "real") for i in mine if i.kind == kind]
            out[f"{lang}_refused_{kind}"] = round(float(np.mean([refused(k) for k in keys])), 3) if keys else None
        for name in ("hard", "absent"):
            keys = [(i.id, name) for i in mine if name in i.variants]
            out[f"{lang}_refused_synthetic_{name}"] = round(float(np.mean([refused(k) for k in keys])), 3)
        out[f"{lang}_top1"] = round(float(np.mean(top1[lang])), 3)
        sims = [
            bool(i.variants["real"][1][int(np.argmax(i.variants["real"][0][:, 0]))])
            for i in answerable
            if i.lang == lang and len(i.variants["real"][0])
        ]
        out[f"{lang}_top1_similarity_only"] = round(float(np.mean(sims)), 3)
    return out


def final(items: list[Item], c: float, thresholds: dict[str, Any]) -> dict[str, Any]:
    model = sentence_model(items, c)
    return {
        "about": "bench/train_answer_model.py on bench/news/news.dev.json; features: bot.answering",
        "sentences": {
            "weights": dict(zip(FEATURES, (float(w) for w in model["coef"]))),
            "bias": model["bias"],
            "mean": [float(v) for v in model["mean"]],
            "scale": [float(v) for v in model["scale"]],
        },
        "min_background": thresholds["min_background"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help=f"Save the model to {MODEL.relative_to(ROOT)}.")
    parser.add_argument("--c", type=float, default=1.0, help="Inverse L2 strength of the sentence model.")
    args = parser.parse_args()
    settings = index_settings()
    build_index(settings)
    with NewsQA(settings) as qa:
        qa.warm_up()
        items = collect(qa, questions("dev"))
    result = evaluate(items, args.c)
    print("cross-validated:", json.dumps(result))
    model = final(items, args.c, result)
    print("sentence weights:", json.dumps({k: round(v, 3) for k, v in model["sentences"]["weights"].items()}))
    if args.write:
        MODEL.write_text(json.dumps(model, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {MODEL}")


if __name__ == "__main__":
    main()
