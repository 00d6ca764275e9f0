"""Questions while an ingest runs beside them: how much the writer costs the readers.

    .venv/bin/python bench/ingest_beside_bench.py [--articles 250] [--questions 60]

A copy of the news benchmark's 300-article index (``bench/news_bench.py`` builds it) answers the
news development questions in a ``NewsQA`` that stays open, as a server does: first quietly, then
while ``newsbot ingest`` adds ``--articles`` other 10kGNAD articles (rows 300-1027 that the index
does not hold) to the same index from its own process, once at ``NEWSBOT_INGEST_NICE=0`` (as
before the setting) and once at the default. Prints p50/p95 of the question latency in each case
and the ratio to the quiet p95 (goal: at most 2). Writes bench/results/ingest_beside.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.news_bench import CACHE, build_index, gnad_rows, index_settings, questions
from bot.qa import NewsQA
from bot.settings import Settings


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "n": len(values),
        "p50": round(statistics.median(ordered), 1),
        "p95": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 1),
    }


def ask_all(qa: NewsQA, asked: list[str]) -> list[float]:
    return [qa.ask(q).timings_ms["total"] for q in asked]


def beside(qa: NewsQA, data: Path, records: Path, asked: list[str], nice: int) -> dict[str, object]:
    """Questions, round after round, for as long as the ingest process runs (one round at least)."""
    env = {**os.environ, "NEWSBOT_DATA_DIR": str(data), "NEWSBOT_INGEST_NICE": str(nice)}
    started = time.monotonic()
    writer = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "ingest", str(records), "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    latencies: list[float] = []
    while writer.poll() is None or not latencies:
        for q in asked:
            latencies.append(qa.ask(q).timings_ms["total"])
            if writer.poll() is not None and latencies:
                break
    report = json.loads(writer.communicate()[0] or "{}")
    return {
        "nice": nice,
        "ingest_s": round(time.monotonic() - started, 1),
        "added": report.get("added"),
        "latency_ms": percentiles(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=250)
    parser.add_argument("--questions", type=int, default=60)
    args = parser.parse_args()
    if not (CACHE / "catalog.sqlite3").exists():
        build_index(index_settings())
    asked = [q["question"] for q in questions("dev")][: args.questions]
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        rows = gnad_rows()
        for run, nice in (("old", 0), ("new", Settings().ingest_nice)):
            data = Path(tmp) / run
            shutil.copytree(CACHE, data)
            with NewsQA(Settings(data_dir=data)) as qa:
                held = {row[0].removeprefix("gnad-") for row in qa.index.catalog.db.execute("SELECT id FROM articles")}
                others = [r for r in sorted(rows) if str(r) not in held][: args.articles]
                records = Path(tmp) / f"{run}.jsonl"
                records.write_text(
                    "".join(
                        json.dumps({"id": f"extra-{r}", "text": rows[r][1], "section": rows[r][0]}, ensure_ascii=False)
                        + "\n"
                        for r in others
                    ),
                    encoding="utf-8",
                )
                qa.warm_up()
                ask_all(qa, asked[:10])
                if "quiet" not in results:
                    results["quiet"] = {"latency_ms": percentiles(ask_all(qa, asked))}
                results[run] = beside(qa, data, records, asked, nice)
    quiet = results["quiet"]["latency_ms"]["p95"]  # type: ignore[index]
    for run in ("old", "new"):
        got = results[run]
        got["p95_ratio"] = round(got["latency_ms"]["p95"] / quiet, 2)  # type: ignore[index]
        print(
            f"{run} (NEWSBOT_INGEST_NICE={got['nice']}): p50 {got['latency_ms']['p50']} ms, p95 "  # type: ignore[index]
            f"{got['latency_ms']['p95']} ms = {got['p95_ratio']}x the quiet p95 {quiet} ms "  # type: ignore[index]
            f"(ingest of {got['added']} articles: {got['ingest_s']} s; goal <= 2x)"
        )
    out = ROOT / "bench" / "results" / "ingest_beside.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
