"""Calibrate the reader's refusal threshold and the retrieval floor on development questions.

    .venv/bin/python bench/reader/calibrate.py [--write]

Asks the development questions (bench/news dev and the reader's held-out dev questions, over the
news benchmark's 300-article index) with refusal off, and records per question the retrieval
evidence, the reader's best log-odds, whether the first quote holds the answer, and where the
answering sentence ranked among the first stage's candidates. Then prints, per threshold, the
share of answerable questions refused and of unanswerable ones refused (hard and absent), and
recall of the first stage's candidates at K. ``--write`` stores the chosen threshold in
``bot/data/reader/reader.json`` (or ``--reader DIR``'s card): the highest that refuses at most
``--max-refused`` of the answerable questions and leaves the most unanswerable ones refused, and
the rank prior (log-odds off per place in the first stage's order) that puts the answer first
most often among the questions it answers, and the ``unsure`` bar below which the product reads the
first stage's next candidates too (``bot.reader.READER_MORE``; the bar whose threshold refuses the
most unanswerable questions within the same budget, or none, among those that leave at most
``--max-read-more`` of the questions reading more; of equals, the one that reads most). One threshold serves every
language: the per-language rows show what it costs each.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np

from bench.news_bench import build_index, index_settings, questions, reader_questions
from bot.answer import LOW_CONFIDENCE
from bot.answering import normalized_evidence
from bot.extract import rank_quotes
from bot.qa import READER_MIN_EVIDENCE, NewsQA, _gibberish
from bot.reader import READER_CANDIDATES, READER_MORE, candidate, reads_more
from bot.reader.reader import CARD, DEFAULT_RANK_PRIOR, READER_DIR

OFF = -1e9
MAX_K = 16


def record(qa: NewsQA, q: dict[str, Any]) -> dict[str, Any]:
    """What the first stage ranked and the reader made of its best ``MAX_K`` candidates."""
    golds = [a["text"] for a in q.get("answers", [])]
    found = qa.find(q["question"])
    ranked = rank_quotes(found.retrieval, q["question"], qa.model)[:MAX_K]
    logits = qa.reader.score(found.reading, [candidate(c) for c in ranked]) if ranked else []
    evidence = normalized_evidence(found.retrieval, qa.model) if qa.model else None
    return {
        "id": q["id"],
        "lang": q["lang"],
        "kind": q["kind"],
        "evidence": evidence,
        "logits": [round(float(x), 4) for x in logits],
        "gold": [bool(golds) and any(g in c.sentence.text for g in golds) for c in ranked],
        "gibberish": _gibberish(q["question"], found.retrieval),
    }


def seen(r: dict[str, Any], k: int, unsure: float | None) -> list[float]:
    """The log-odds the product reads for ``r``: its first ``k`` candidates, and the next
    ``READER_MORE`` where none of those reaches ``unsure`` (``bot.reader.read_quotes``)."""
    logits: list[float] = r["logits"][:k]
    return r["logits"][: k + READER_MORE] if reads_more(logits, unsure) else logits


def refused(r: dict[str, Any], k: int, threshold: float, floor: float, unsure: float | None = None) -> bool:
    logits = seen(r, k, unsure)
    return r["gibberish"] or r["evidence"] is None or r["evidence"] < floor or not logits or max(logits) < threshold


# Where the first candidates leave the reader this unsure (log-odds), it reads the next ones too;
# None: never (bench/reader/calibrate.py chooses, on the development questions).
UNSURE = (None, -5.5, -5.0, -4.5, -4.0, -3.5, -3.0, -2.5, -2.0, -1.5, -1.0, 0.0)
PRIORS = (0.0, 0.15, 0.3, 0.5, 0.8, 1.0, 1.2, 1.5, 2.0)


def first(
    r: dict[str, Any],
    k: int,
    prior: float = DEFAULT_RANK_PRIOR,
    unsure: float | None = None,
    threshold: float | None = None,
) -> bool:
    """The gold sentence ranks first as ``bot.reader.read_quotes`` ranks (log-odds, rank prior)."""
    at = first_at(r, k, prior, unsure, threshold)
    return at is not None and r["gold"][at]


def first_at(
    r: dict[str, Any], k: int, prior: float, unsure: float | None, threshold: float | None = None
) -> int | None:
    """Which candidate ``bot.reader.read_quotes`` puts first: of those at or above ``threshold``
    (all without one), the best log-odds minus the rank prior per place; None: none."""
    logits = seen(r, k, unsure)
    places = [i for i in range(len(logits)) if threshold is None or logits[i] >= threshold]
    return max(places, key=lambda i: logits[i] - prior * i) if places else None


def table(
    records: list[dict[str, Any]],
    k: int,
    threshold: float,
    floor: float,
    prior: float = DEFAULT_RANK_PRIOR,
    unsure: float | None = None,
) -> dict[str, dict[str, Any]]:
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by[r["lang"] if r["lang"] in ("de", "en") else "other"].append(r)
        by["all"].append(r)
    out = {}
    for lang, rs in sorted(by.items()):
        ans = [r for r in rs if r["kind"] == "answerable"]
        hard = [r for r in rs if r["kind"] == "hard"]
        absent = [r for r in rs if r["kind"] == "absent"]
        share = lambda xs, f: round(sum(map(f, xs)) / len(xs), 3) if xs else None  # noqa: E731
        out[lang] = {
            "n": len(ans),
            "top1": share(
                ans, lambda r: first(r, k, prior, unsure, threshold) and not refused(r, k, threshold, floor, unsure)
            ),
            "refused_answerable": share(ans, lambda r: refused(r, k, threshold, floor, unsure)),
            "refused_hard": share(hard, lambda r: refused(r, k, threshold, floor, unsure)),
            "refused_absent": share(absent, lambda r: refused(r, k, threshold, floor, unsure)),
            "read_more": share(rs, lambda r: len(seen(r, k, unsure)) > k),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", default="dev")
    parser.add_argument(
        "--max-refused",
        type=float,
        default=0.02,
        help="share of answerable dev questions the threshold may refuse (0.02: at the same threshold, "
        "encyclopaedic text and questions in other languages are refused more often than news; 2%% of the news "
        "questions keeps XQuAD, English questions on German text included, within the reader issue's 3%% "
        "(run 11: 1.3%% / 2.1%%) and the news test within its 5%%; docs/reader.md, 'Run 11')",
    )
    parser.add_argument("--floor", type=float, default=None, help="retrieval evidence floor (default: qa's)")
    parser.add_argument("--k", type=int, default=READER_CANDIDATES, help="candidates the reader reads")
    parser.add_argument("--records", type=Path, help="reuse recorded questions (JSON) instead of asking")
    parser.add_argument(
        "--write", action="store_true", help="store the threshold, rank prior and unsure bar in the card"
    )
    parser.add_argument(
        "--max-read-more",
        type=float,
        default=0.3,
        help="share of the development questions that may read the next candidates too (latency: reading 10 "
        "instead of 6 costs about 40 ms; run 10 at 0.34: 1,028-article p50 115-140 ms against 92-110 at 0.22; "
        "run 11 at 0.30: 104-108 ms)",
    )
    parser.add_argument("--reader", type=Path, help="a reader directory to calibrate (default: the shipped one)")
    args = parser.parse_args()
    if args.records and args.records.exists():
        records = json.loads(args.records.read_text(encoding="utf-8"))
    else:
        settings = index_settings()
        build_index(settings)
        update: dict[str, Any] = {"reader_threshold": OFF}
        if args.reader:
            update["reader"] = str(args.reader)
        settings = settings.model_copy(update=update)
        items = questions(args.part) + reader_questions(args.part)
        with NewsQA(settings) as qa:
            qa.warm_up()
            records = []
            for n, q in enumerate(items):
                records.append(record(qa, q))
                print(f"\r{n + 1}/{len(items)}", end="", file=sys.stderr)
        print(file=sys.stderr)
        if args.records:
            args.records.write_text(json.dumps(records), encoding="utf-8")
    floor = READER_MIN_EVIDENCE if args.floor is None else args.floor
    answerable = [r for r in records if r["kind"] == "answerable"]
    for k in (1, 3, 4, 6, 8, 10, 12, 16):
        recall = sum(any(r["gold"][:k]) for r in answerable) / len(answerable)
        print(f"first stage recall@{k}: {recall:.3f}")
    best, unsure = None, None
    by_unsure = {}
    for u in UNSURE:  # read more when unsure: the bar that refuses the most unanswerable questions
        t = threshold_for(records, args.k, floor, args.max_refused, u)
        if t is not None:
            row = table(records, args.k, t, floor, DEFAULT_RANK_PRIOR, u)["all"]
            by_unsure[u] = (t, row)
            print(f"unsure {u}: threshold {t}, {json.dumps(row)}")
    by_unsure = {u: v for u, v in by_unsure.items() if (v[1]["read_more"] or 0) <= args.max_read_more}
    if by_unsure:
        refusing = {u: (row["refused_hard"] or 0) + (row["refused_absent"] or 0) for u, (_, row) in by_unsure.items()}
        # the most refused; then the most read within the cap: reading more never loses a candidate (the
        # answering sentence is among the first 6 for 0.915 of the development questions, the first 10 for
        # 0.955), and --max-read-more bounds what it costs in latency
        unsure = max(by_unsure, key=lambda u: (round(refusing[u], 3), by_unsure[u][1]["read_more"] or 0))
        best = by_unsure[unsure][0]
    prior = DEFAULT_RANK_PRIOR
    if best is not None:  # the rank prior, on the answerable questions the threshold keeps
        kept = [r for r in answerable if not refused(r, args.k, best, floor, unsure)]
        shares = {p: round(sum(first(r, args.k, p, unsure, best) for r in kept) / max(len(kept), 1), 3) for p in PRIORS}
        prior = max(PRIORS, key=lambda p: shares[p])
        print(f"first quote of the answered, by rank prior: {shares}; chosen: {prior}")
    for k in sorted({4, 6, 8, 12, args.k}):
        for t in sorted({-1.0, 0.0, best if best is not None else 0.0}):
            print(f"k {k} threshold {t:+.1f}: {json.dumps(table(records, k, t, floor, prior))}")
    if best is not None:
        print(
            f"as the product reads (unsure {unsure}): {json.dumps(table(records, args.k, best, floor, prior, unsure))}"
        )
    print(f"chosen threshold (k {args.k}, floor {floor}, unsure {unsure}): {best}")
    calibration = confidence_fit(records, args.k, best, floor, prior, unsure) if best is not None else None
    if args.write and best is not None:
        path = (args.reader or READER_DIR) / CARD
        card = json.loads(path.read_text(encoding="utf-8"))
        card.update({"threshold": best, "rank_prior": prior, "unsure": unsure, "calibration": calibration})
        path.write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")
        print(f"wrote threshold {best}, rank prior {prior}, unsure {unsure} and calibration {calibration} to {path}")


def confidence_fit(
    records: list[dict[str, Any]], k: int, threshold: float, floor: float, prior: float, unsure: float | None
) -> list[float]:
    """``[a, b]`` such that sigmoid(a * x + b) is the probability that a first quote of log-odds x
    holds the answer (Platt scaling: a logistic regression over the first quotes of the questions
    the threshold answers; an unanswerable question's never does), and how well it fits: per band
    of that probability, the share of first quotes that held the answer."""
    from sklearn.linear_model import LogisticRegression

    xs, ys = [], []
    for r in records:
        if refused(r, k, threshold, floor, unsure):
            continue
        at = first_at(r, k, prior, unsure, threshold)
        assert at is not None  # not refused: one candidate reaches the threshold
        xs.append(seen(r, k, unsure)[at])
        ys.append(bool(r["kind"] == "answerable" and r["gold"][at]))
    fit = LogisticRegression(C=1e4).fit(np.array(xs)[:, None], ys)
    a, b = round(float(fit.coef_[0][0]), 4), round(float(fit.intercept_[0]), 4)
    p = 1 / (1 + np.exp(-(a * np.array(xs) + b)))
    right = np.array(ys)
    for lo, hi in ((0.0, 0.3), (0.3, 0.5), (0.5, 0.7), (0.7, 0.9), (0.9, 1.01)):
        band = (p >= lo) & (p < hi)
        if band.any():
            print(
                f"confidence {lo:.1f}-{min(hi, 1.0):.1f}: {int(band.sum())} answers, mean {p[band].mean():.2f}, "
                f"first quote right {right[band].mean():.2f}"
            )
    below = p < LOW_CONFIDENCE
    print(
        f"calibration a {a}, b {b}: {below.mean():.2f} of the answers below {LOW_CONFIDENCE} (first quote right "
        f"{right[below].mean():.2f}; above: {right[~below].mean():.2f})"
    )
    return [a, b]


def threshold_for(
    records: list[dict[str, Any]], k: int, floor: float, max_refused: float, unsure: float | None
) -> float | None:
    """The highest threshold (0.1 steps) that refuses at most ``max_refused`` of the answerable questions."""
    best = None
    for step in range(-150, 61):
        t = step / 10
        if table(records, k, t, floor, DEFAULT_RANK_PRIOR, unsure)["all"]["refused_answerable"] <= max_refused:
            best = t
    return best


if __name__ == "__main__":
    main()
