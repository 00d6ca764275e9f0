"""Mine the translated training questions of some languages only, with a replay of the old pairs
(run 17: eight languages no training question was in, trained on from run 11).

    .venv/bin/python bench/reader/mine_languages.py [--langs it,pl,pt,nl,uk,cs,ko,hi] [--replay 24000] [--out DIR]

``mine.py`` mines every training question (14 minutes on 2 cores); this asks only the training
questions in ``--langs`` (``bench/.cache/reader/news.train.jsonl``, written by ``build_data.py``
from ``bench/reader/translations/``) as the product asks them, over ``mine.py``'s mining index,
and labels their first stage's best candidates as ``mine.py`` does. The training set is those
groups and ``--replay`` pairs (whole questions, seeded) of ``build_data.py``'s training pairs; the
development pairs are ``build_data.py``'s. For ``bench/train_reader.py --data DIR --init ...``.
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

from bench.reader.build_data import OUT as READER_PAIRS
from bench.reader.mine import OUT, K, add_context, mine, mining, whole_questions

LANGUAGES = "it,pl,pt,nl,uk,cs,ko,hi"  # run 17's: none of them was in the reader's training before
REPLAY_SEED = 20261206  # run 17's draw of the replayed questions


def _write(path: Path, pairs: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--langs", default=LANGUAGES, help="the questions' languages, comma-separated")
    parser.add_argument("--replay", type=int, default=24000, help="old training pairs to add (whole questions)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / ".cache" / "reader-languages")
    args = parser.parse_args()
    wanted = set(args.langs.split(","))
    lines = (READER_PAIRS / "news.train.jsonl").read_text("utf-8").splitlines()
    items = [q for q in map(json.loads, lines) if q["lang"] in wanted]
    if not items:
        sys.exit(f"no training questions in {args.langs}: run bench/reader/build_data.py first")
    mined: list[dict[str, Any]] = []
    with mining(items) as qa:
        for n, q in enumerate(items):
            mined += mine(qa, q, K)[0]
            print(f"\rmined {n + 1}/{len(items)}", end="", file=sys.stderr)
    print(file=sys.stderr)
    add_context(mined, OUT / "index" / "catalog.sqlite3")
    old = [json.loads(line) for line in (READER_PAIRS / "pairs.train.jsonl").read_text("utf-8").splitlines()]
    replay = whole_questions(old, args.replay, REPLAY_SEED)
    args.out.mkdir(parents=True, exist_ok=True)
    train = mined + replay
    random.Random(1).shuffle(train)  # (as run 17's; the trainer groups pairs by question itself)
    _write(args.out / "pairs.train.jsonl", train)
    (args.out / "pairs.dev.jsonl").write_bytes((READER_PAIRS / "pairs.dev.jsonl").read_bytes())
    positives = sum(p["y"] for p in mined)
    print(f"mined {len(items)} questions, {len(mined)} pairs ({positives} positive); replayed {len(replay)} pairs")


if __name__ == "__main__":
    main()
