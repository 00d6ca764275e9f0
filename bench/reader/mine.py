"""Mine the reader's training pairs from the product's own first stage.

    .venv/bin/python bench/reader/mine.py                  # -> bench/.cache/reader-mined/
    .venv/bin/python bench/reader/mine.py --mix 30000 --counterfactual 2000   # ... and a training set

``build_data.py`` gives each question the sentences of its *own* article as negatives. In the
product the reader reads the first stage's best sentences over the top *articles*, and its worst
mistakes there come from other articles: a sentence with the asked kind of fact about someone
else ("Sie starb ... 1944" for "When did director Heiner Carow die?"), which no training pair
showed it. So each training news question (the training part of ``bench/reader/questions/``) is
asked here as the product asks it, over an index of the training articles and the other rows
that no benchmark uses (never rows 0-299, never the articles of ``bench/news`` or of the reader's
development and test parts), and its first stage's best ``--k`` candidates become one group of
pairs: the sentence that holds the answer positive (added when the first stage missed it), the
rest negative, candidates that contain the answer text elsewhere left out (they may answer too).
An unanswerable question's candidates are all negative: exactly the tempting sentences the
reader must learn to refuse. The reader reads the question as the product does (without date
phrases).

With ``--mix N`` it also writes ``pairs.train.jsonl`` (the mined pairs, ``--counterfactual M``
questions with a name or number changed (``counterfactual.py``), N of the old training pairs,
whole questions, seeded, and every translated ``qa-train`` question of ``build_data.py``) and ``pairs.dev.jsonl`` (the old development pairs) for
``bench/train_reader.py --data bench/.cache/reader-mined``.
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

from bench.news_bench import gnad_rows, ingest_rows, reader_rows, set_rows
from bench.reader.build_data import OUT as READER_PAIRS
from bench.reader.build_data import SEED, sentences
from bench.reader.counterfactual import counterfactuals
from bot.extract import rank_quotes
from bot.qa import NewsQA
from bot.settings import Settings

OUT = ROOT / "bench" / ".cache" / "reader-mined"
K = 8


def training_rows(rows: dict[int, tuple[str, str]]) -> list[int]:
    """Of ``rows`` (``gnad_rows``), the training articles and the rows no benchmark or held-out part uses."""
    held_out = set(set_rows()) | set(reader_rows())
    return sorted(r for r in rows if r not in held_out)


def mine(qa: NewsQA, q: dict[str, Any], k: int) -> list[dict[str, Any]]:
    """One group of pairs: the first stage's best ``k`` candidates for ``q``, labelled."""
    found = qa.find(q["question"])
    ranked = rank_quotes(found.retrieval, q["question"], qa.model)[:k]
    own = f"gnad-{q['row']}"
    answer, evidence = q.get("answer") or "", q.get("evidence") or ""
    pairs, gold = [], False
    for c in ranked:
        text = c.sentence.text
        if answer and c.article.meta.id == own and answer in text and (text in evidence or evidence in text):
            y = 1
            gold = True
        elif answer and answer in text:
            continue  # the answer's words elsewhere: perhaps another sentence that answers
        else:
            y = 0
        pairs.append({"s": text, "t": c.article.meta.title, "y": y})
    if answer and not gold:  # the first stage missed it: the reader must still learn to find it
        pairs.insert(0, {"s": evidence, "t": q["title"], "y": 1})
    group = f"mined-{q['id']}"
    return [
        {"group": group, "q": found.reading, **p, "lang": "de", "src": f"mined-{q['lang']}-{q['kind']}"} for p in pairs
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--k", type=int, default=K, help="candidates per question (the product reads 6, 10 when unsure)"
    )
    parser.add_argument("--mix", type=int, default=0, help="old training pairs to add (whole questions)")
    parser.add_argument(
        "--counterfactual", type=int, default=0, help="counterfactual questions to add (counterfactual.py)"
    )
    parser.add_argument("--limit", type=int, help="mine only this many questions (a quick look)")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    mined_path = OUT / "pairs.mined.jsonl"
    mined = [json.loads(line) for line in mined_path.read_text("utf-8").splitlines()] if mined_path.exists() else []
    done = {p["group"] for p in mined}
    items = [json.loads(line) for line in (READER_PAIRS / "news.train.jsonl").read_text("utf-8").splitlines()]
    items = [q for q in items if f"mined-{q['id']}" not in done]  # resumable: new questions are mined and added
    items = items[: args.limit] if args.limit else items
    if items:
        settings = Settings(data_dir=OUT / "index")
        texts = gnad_rows()
        ingest_rows(settings, training_rows(texts), "mining index", texts)
        for q in items:
            a, b = sentences(texts[q["row"]][1], "de")[0]
            q["title"] = texts[q["row"]][1][a:b]
        out: list[dict[str, Any]] = []
        with NewsQA(settings.model_copy(update={"reader": "none"})) as qa:
            qa.warm_up()
            for n, q in enumerate(items):
                out += mine(qa, q, args.k)
                print(f"\rmined {n + 1}/{len(items)}", end="", file=sys.stderr)
        print(file=sys.stderr)
        mined += out
        tmp = mined_path.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in mined), encoding="utf-8")
        tmp.replace(mined_path)
    groups = {p["group"] for p in mined}
    positives = sum(p["y"] for p in mined)
    print(f"mined: {len(groups)} questions, {len(mined)} pairs, {positives} positive")
    if args.mix:
        old = [json.loads(line) for line in (READER_PAIRS / "pairs.train.jsonl").read_text("utf-8").splitlines()]
        by_group: dict[str, list[dict[str, Any]]] = {}
        for p in old:
            by_group.setdefault(p["group"], []).append(p)
        # the translated questions (build_data.py: group "<id>><lang>") always, N of the others
        names = sorted(name for name in by_group if ">" not in name)
        random.Random(SEED).shuffle(names)
        chosen: list[dict[str, Any]] = []
        for name in names:
            if len(chosen) >= args.mix:
                break
            chosen += by_group[name]
        translated = [p for name in sorted(by_group) if ">" in name for p in by_group[name]]
        changed = counterfactuals(mined, args.counterfactual, SEED) if args.counterfactual else []
        train = mined + changed + chosen + translated
        (OUT / "pairs.train.jsonl").write_text(
            "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in train), encoding="utf-8"
        )
        (OUT / "pairs.dev.jsonl").write_bytes((READER_PAIRS / "pairs.dev.jsonl").read_bytes())
        print(
            f"training pairs: {len(mined)} mined + {len(changed)} counterfactual + {len(chosen)} old"
            f" + {len(translated)} translated"
        )


if __name__ == "__main__":
    main()
