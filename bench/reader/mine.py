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

The same question asked over the *other* articles (its own article's candidates left out, and any
candidate with the answer's words) is also kept, every candidate negative, in
``pairs.absent.jsonl``: what the archive holds when the question's topic is missing from it, the
"Who won the World Cup?" put to an archive that never reported it. ``--absent N`` adds N of them
to the training set.

With ``--mix N`` it also writes ``pairs.train.jsonl`` (the mined pairs, ``--counterfactual M``
questions with a name or number changed (``counterfactual.py``), N of the old training pairs,
whole questions, seeded, and every translated ``qa-train`` question of ``build_data.py``; with
``--erased``, each answerable question's answering sentence once more with its answer taken out,
as a negative: ``erase.py``) and ``pairs.dev.jsonl`` (the old development pairs) for
``bench/train_reader.py --data bench/.cache/reader-mined``.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.news_bench import gnad_rows, ingest_rows, reader_rows, set_rows
from bench.reader.build_data import OUT as READER_PAIRS
from bench.reader.build_data import SEED, sentences
from bench.reader.counterfactual import counterfactuals
from bench.reader.erase import erased_pairs, training_answers
from bot.extract import rank_quotes
from bot.qa import NewsQA
from bot.reader import candidate, unlabelled
from bot.settings import Settings

OUT = ROOT / "bench" / ".cache" / "reader-mined"
K = 8


def training_rows(rows: dict[int, tuple[str, str]]) -> list[int]:
    """Of ``rows`` (``gnad_rows``), the training articles and the rows no benchmark or held-out part uses."""
    held_out = set(set_rows()) | set(reader_rows())
    return sorted(r for r in rows if r not in held_out)


@contextmanager
def mining(items: list[dict[str, Any]]) -> Iterator[NewsQA]:
    """The product's first stage (the reader off) over the mining index, built where missing;
    each of ``items`` is given its article's title."""
    settings = Settings(data_dir=OUT / "index")
    texts = gnad_rows()
    ingest_rows(settings, training_rows(texts), "mining index", texts)
    for q in items:
        a, b = sentences(texts[q["row"]][1], "de")[0]
        q["title"] = texts[q["row"]][1][a:b]
    with NewsQA(settings.model_copy(update={"reader": "none"})) as qa:
        qa.warm_up()
        yield qa


def whole_questions(pairs: list[dict[str, Any]], n: int, seed: int, *, translated: bool = True) -> list[dict[str, Any]]:
    """About ``n`` of ``pairs``, whole questions (groups) drawn at random with ``seed``; without
    ``translated``, none of a translated question's (group "<original>><lang>")."""
    by_group: dict[str, list[dict[str, Any]]] = {}
    for p in pairs:
        by_group.setdefault(p["group"], []).append(p)
    names = sorted(name for name in by_group if translated or ">" not in name)
    random.Random(seed).shuffle(names)
    chosen: list[dict[str, Any]] = []
    for name in names:
        if len(chosen) >= n:
            break
        chosen += by_group[name]
    return chosen


def mine(qa: NewsQA, q: dict[str, Any], k: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Two groups of pairs for ``q``: the first stage's best ``k`` candidates, labelled; and, for an
    answerable question, its best ``k`` candidates of *other* articles, all negative (its topic
    absent from the archive; the module docstring says why)."""
    found = qa.find(q["question"])
    everything = rank_quotes(found.retrieval, q["question"], qa.model)
    ranked = everything[:k]
    own = f"gnad-{q['row']}"
    answer, evidence = q.get("answer") or "", q.get("evidence") or ""
    pairs, gold = [], False
    for c in ranked:
        text, title, before, after = candidate(c)
        if answer and c.article.meta.id == own and answer in text and (text in evidence or evidence in text):
            y = 1
            gold = True
        elif answer and answer in text:
            continue  # the answer's words elsewhere: perhaps another sentence that answers
        else:
            y = 0
        pairs.append({"s": text, "t": title, "p": before, "n": after, "y": y})
    if answer and not gold:  # the first stage missed it: the reader must still learn to find it
        pairs.insert(0, {"s": evidence, "t": q["title"], "y": 1})
    group = f"mined-{q['id']}"
    mined = [
        {"group": group, "q": found.reading, **p, "lang": "de", "src": f"mined-{q['lang']}-{q['kind']}"} for p in pairs
    ]
    others = [c for c in everything if c.article.meta.id != own and not (answer and answer in c.sentence.text)][:k]
    src = f"absent-{q['lang']}"
    absent = [
        {
            "group": f"absent-{q['id']}",
            "q": found.reading,
            "s": s,
            "t": t,
            "p": p,
            "n": n,
            "y": 0,
            "lang": "de",
            "src": src,
        }
        for s, t, p, n in map(candidate, others)
    ]
    return mined, absent if answer else []


NEIGHBOURS = (("p", -1), ("n", 1))  # a pair's key for the sentence before and after, and its offset


def add_context(pairs: list[dict[str, Any]], catalog: Path) -> int:
    """Give pairs mined before the pairs had them (no ``"p"``, no ``"n"``) the sentences before and
    after theirs, of its kind as the product hands them (``bot.reader.candidate``: without a leading
    format label), from the mining index's catalog (a sentence text is its article's: 99.7% of them
    are unique there); returns how many pairs were given one."""
    db = sqlite3.connect(f"file:{catalog}?mode=ro", uri=True)
    near: dict[tuple[str, int], str] = {}
    for _, step in NEIGHBOURS:
        rows = db.execute(
            "SELECT s.text, o.text FROM sentences s JOIN sentences o"
            " ON o.article_id = s.article_id AND o.idx = s.idx + ? AND o.kind = s.kind",
            (step,),
        ).fetchall()
        for text, other in rows:
            near.setdefault((text, step), other)
    db.close()
    given = 0
    for p in pairs:
        missing = [(key, step) for key, step in NEIGHBOURS if key not in p]
        for key, step in missing:
            p[key] = unlabelled(o) if (o := near.get((p["s"], step))) is not None else None
        given += any(p[key] is not None for key, _ in missing)
    return given


def _read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()] if path.exists() else []


def _read_ids(path: Path) -> set[str]:
    return set(path.read_text("utf-8").split()) if path.exists() else set()


def _write(path: Path, pairs: list[dict[str, Any]]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs), encoding="utf-8")
    tmp.replace(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--k", type=int, default=K, help="candidates per question (the product reads 6, 10 when unsure)"
    )
    parser.add_argument("--mix", type=int, default=0, help="old training pairs to add (whole questions)")
    parser.add_argument(
        "--counterfactual", type=int, default=0, help="counterfactual questions to add (counterfactual.py)"
    )
    parser.add_argument(
        "--absent",
        type=int,
        default=0,
        help="answerable questions to add asked over other articles only, every candidate negative (their topic absent)",
    )
    parser.add_argument(
        "--without-translations",
        action="store_true",
        help="leave the translated questions out of the training set (run 6's mix; run 7 had them)",
    )
    parser.add_argument(
        "--erased",
        action="store_true",
        help="with --mix: add each answerable question's answering sentence with its answer taken out, as a negative "
        "(erase.py)",
    )
    parser.add_argument("--limit", type=int, help="mine only this many questions (a quick look)")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    mined_path, absent_path = OUT / "pairs.mined.jsonl", OUT / "pairs.absent.jsonl"
    mined, absent = _read(mined_path), _read(absent_path)
    done = {p["group"] for p in mined}
    done_absent = {p["group"].removeprefix("absent-") for p in absent} | _read_ids(OUT / "absent.none.txt")
    items = [json.loads(line) for line in (READER_PAIRS / "news.train.jsonl").read_text("utf-8").splitlines()]
    # resumable: new questions are mined and added (and an answerable one's absent group, where missing)
    items = [q for q in items if f"mined-{q['id']}" not in done or (q.get("answer") and q["id"] not in done_absent)]
    items = items[: args.limit] if args.limit else items
    if items:
        empty: list[str] = []  # answerable questions with no candidate of another article
        with mining(items) as qa:
            for n, q in enumerate(items):
                group, elsewhere = mine(qa, q, args.k)
                if f"mined-{q['id']}" not in done:
                    mined += group
                if q.get("answer") and q["id"] not in done_absent:
                    absent += elsewhere
                    if not elsewhere:
                        empty.append(q["id"])
                print(f"\rmined {n + 1}/{len(items)}", end="", file=sys.stderr)
        print(file=sys.stderr)
        _write(mined_path, mined)
        _write(absent_path, absent)
        with (OUT / "absent.none.txt").open("a", encoding="utf-8") as f:
            f.writelines(f"{i}\n" for i in empty)
    if any("p" not in p or "n" not in p for p in mined + absent) and (OUT / "index" / "catalog.sqlite3").exists():
        given = add_context(mined + absent, OUT / "index" / "catalog.sqlite3")
        print(f"the sentences before and after: given to {given} pairs that lacked them", file=sys.stderr)
        _write(mined_path, mined)
        _write(absent_path, absent)
    groups = {p["group"] for p in mined}
    positives = sum(p["y"] for p in mined)
    print(f"mined: {len(groups)} questions, {len(mined)} pairs, {positives} positive")
    print(f"absent: {len({p['group'] for p in absent})} questions, {len(absent)} pairs")
    if args.mix:
        old = [json.loads(line) for line in (READER_PAIRS / "pairs.train.jsonl").read_text("utf-8").splitlines()]
        # the translated questions (build_data.py: group "<id>><lang>") always, N of the others
        chosen = whole_questions(old, args.mix, SEED, translated=False)
        by_group: dict[str, list[dict[str, Any]]] = {}
        for p in old:
            by_group.setdefault(p["group"], []).append(p)
        translated = [p for name in sorted(by_group) if ">" in name for p in by_group[name]]
        changed = counterfactuals(mined, args.counterfactual, SEED) if args.counterfactual else []
        elsewhere = sorted({p["group"] for p in absent})
        random.Random(SEED).shuffle(elsewhere)
        taken = set(elsewhere[: args.absent])
        gone = [p for p in absent if p["group"] in taken]
        parts = {"mined": mined, "counterfactual": changed, "old": chosen, "translated": translated, "absent": gone}
        if args.without_translations:  # a translated question's group is named "<original>><lang>"; the
            # counterfactual questions are drawn before they are left out, as for run 10 (docs/reader.md)
            parts = {name: [p for p in pairs if ">" not in p["group"]] for name, pairs in parts.items()}
        if args.erased:  # last, so that every other pair stays as it was
            parts["erased"] = erased_pairs([p for pairs in parts.values() for p in pairs], training_answers())
        train = [p for pairs in parts.values() for p in pairs]
        _write(OUT / "pairs.train.jsonl", train)
        (OUT / "pairs.dev.jsonl").write_bytes((READER_PAIRS / "pairs.dev.jsonl").read_bytes())
        counts = " + ".join(f"{len(pairs)} {name}" for name, pairs in parts.items())
        print(f"training pairs: {counts} ({len(taken)} absent questions)")


if __name__ == "__main__":
    main()
