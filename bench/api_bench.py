"""HTTP API benchmark: ``POST /v1/ask`` on the 1,028 10kGNAD articles, 8 concurrent clients on
loopback, against a real ``newsbot serve`` process.

    .venv/bin/python bench/ingest_bench.py --keep bench/.cache/gnad   # builds the 10kGNAD index once
    .venv/bin/python bench/api_bench.py [--index bench/.cache/gnad] [--requests 10000] [--clients 8]

Prints requests per second, p50/p95 latency as the clients see it, and the server's resident
memory after warm-up, after 1,000 and after all requests (it must not keep growing). Every
request carries a fresh conversation_id, so the server-side conversation store fills up to its
bound on the way. Writes bench/results/api.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot import evaluate as ev

XQUAD = ROOT.parent / "shared" / "bench" / "xquad"
KEY = "bench-key"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmRSS")


def questions() -> list[str]:
    _, de = ev.load_squad(XQUAD / "xquad.de.json")
    _, en = ev.load_squad(XQUAD / "xquad.de.json", XQUAD / "xquad.en.json")
    newsroom = [
        "Was sagte Katzian zu All-in-Verträgen?",
        "What did the union say about all-in contracts?",
        "Wer gewann das Spiel am Wochenende?",
        "Wie hoch ist die Arbeitslosigkeit in Österreich?",
    ]
    return newsroom + [q.question for pair in zip(de, en) for q in pair]


async def run_clients(base: str, qs: list[str], start: int, count: int, clients: int) -> list[float]:
    latencies: list[float] = []
    next_index = start
    end = start + count

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal next_index
        while next_index < end:
            i = next_index
            next_index += 1
            body = {"question": qs[i % len(qs)], "conversation_id": f"bench-{i}"}
            started = time.perf_counter()
            response = await http.post("/v1/ask", json=body)
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"request {i}: {response.status_code} {response.text[:200]}")

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": KEY}, timeout=120, limits=limits) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, default=ROOT / "bench" / ".cache" / "gnad")
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    if not (args.index / "catalog.sqlite3").exists():
        raise SystemExit(f"No index in {args.index}: run bench/ingest_bench.py --keep {args.index} first.")

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "NEWSBOT_DATA_DIR": str(args.index),
        "NEWSBOT_API_KEYS": KEY,
        "NEWSBOT_RATE_LIMIT": "1000000/minute",
        "NEWSBOT_REQUEST_TIMEOUT": "120",
    }
    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "newsbot"), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"server did not start: {server.stderr.read() if server.stderr else ''}")
            time.sleep(0.2)
        articles = httpx.get(f"{base}/readyz").json()["articles"]
        qs = questions()
        asyncio.run(run_clients(base, qs, 0, 100, args.clients))  # warm-up
        memory = {"after_warmup": rss_mb(server.pid)}
        started = time.perf_counter()
        latencies = asyncio.run(run_clients(base, qs, 100, 1000, args.clients))
        memory["after_1000"] = rss_mb(server.pid)
        latencies += asyncio.run(run_clients(base, qs, 1100, args.requests - 1000, args.clients))
        seconds = time.perf_counter() - started
        memory[f"after_{args.requests}"] = rss_mb(server.pid)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)

    result = {
        "articles": articles,
        "requests": len(latencies),
        "clients": args.clients,
        "requests_per_second": round(len(latencies) / seconds, 2),
        "latency_ms": ev._percentiles(latencies),
        "mean_ms": round(statistics.mean(latencies), 2),
        "rss_mb": memory,
        "rss_growth_1000_to_end_mb": round(memory[f"after_{args.requests}"] - memory["after_1000"], 1),
    }
    out = ROOT / "bench" / "results" / "api.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
