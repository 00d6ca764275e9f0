"""Soak test: a real `newsbot serve` on 127.0.0.1 under mixed load, with abuse and a crash.

    .venv/bin/python bench/soak.py [--minutes 20] [--chroma-server]

- 8 clients ask (plain and streamed) and search, in German and English;
- an admin client adds, updates and deletes articles (and remembers what was acknowledged; a
  deleted id pushed again stays down unless the push says ``?restore=true``, which every other
  push does);
- a CLI `newsbot ingest` of a changed archive every few minutes (the server's writes wait for it
  or get 503 index_busy: expected, not an error);
- one abusive client sends maximal questions (2,000 characters), token bombs and 10-step
  follow-up chains in one conversation, as fast as it is allowed to;
- at the same time one address floods the readers' shared (widget) key with cheap requests, as
  fast as it can, past the per-address rate limit (600 a minute here): the readers, each on an
  address of its own, must not be refused for it;
- every tenth article the admin client pushes has a 600,000-character title (titles are cut to
  the bound, the article goes in);
- halfway, the server is killed with SIGKILL during a write and started again.

Reported: requests by status, unexpected 5xx (goal 0), readers refused as rate-limited while the
flood runs (goal 0), p50/p95 of normal questions in a quiet minute and while the abusive clients
run (goal: within 2x), writes acknowledged vs present
afterwards (goal: all present, `newsbot check` ok), server RSS at start and end.
With --chroma-server the vectors live in a `chroma run` server on loopback.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NEWSBOT = [sys.executable, "-m", "bot.cli"]
GNAD = ROOT.parent / "shared" / "corpora" / "10kgnad-test.csv"
RATE_PER_MINUTE = 600
READ, ADMIN, ABUSER = "soak-read-key-000000", "soak-admin-key-00000", "soak-abuse-key-00000"
QUESTIONS = [
    "Wer hat in Belarus verhandelt?",
    "Who negotiated in Belarus?",
    "Wo wollen sich Lawrow und Kuleba treffen?",
    "Wie viele Flüchtlinge sind eingereist?",
    "Was beschloss der Gemeinderat?",
    "How many jobs will be cut?",
    "Welche Firma baut das neue Werk?",
    "Wer gewann das Spiel?",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Soak:
    def __init__(self, minutes: float, chroma_server: bool) -> None:
        self.minutes = minutes
        self.work = Path(tempfile.mkdtemp(prefix="newsbot-soak-"))
        self.data = self.work / "data"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "NEWSBOT_DATA_DIR": str(self.data),
            "NEWSBOT_API_KEYS": f"{READ},{ABUSER}",
            "NEWSBOT_ADMIN_KEYS": ADMIN,
            "NEWSBOT_RATE_LIMIT": f"{RATE_PER_MINUTE}/minute",  # per key and address
            "NEWSBOT_LOCK_TIMEOUT": "5",
        }
        self.chroma: subprocess.Popen[bytes] | None = None
        if chroma_server:
            chroma_port = free_port()
            chroma_bin = Path(sys.executable).with_name("chroma")
            self.chroma = subprocess.Popen(
                [
                    str(chroma_bin),
                    "run",
                    "--path",
                    str(self.work / "chroma-server"),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(chroma_port),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            self.env["NEWSBOT_CHROMA_URL"] = f"http://127.0.0.1:{chroma_port}"
            time.sleep(5)
        self.server: subprocess.Popen[bytes] | None = None
        self.log = (self.work / "serve.log").open("ab")
        self.stop = threading.Event()
        self.abusing = threading.Event()
        self.lock = threading.Lock()
        self.statuses: collections.Counter[tuple[str, int]] = collections.Counter()
        self.latency: dict[str, list[float]] = {"quiet": [], "abused": []}
        # article id -> the texts it may read (the acknowledged one; None: deleted), see written()
        self.acknowledged: dict[str, set[str | None]] = {}
        self.lost: list[str] = []
        self.acked_at: dict[str, float] = {}
        self.events: list[str] = []  # when the CLI ingests and the crash happened (s after the start)
        self.started = time.monotonic()
        self.unexpected: list[str] = []
        self.readers_limited_under_flood = 0
        self.rss: list[float] = []

    # ---- the server -----------------------------------------------------------------------------

    def start_server(self) -> None:
        self.server = subprocess.Popen(
            [*NEWSBOT, "serve", "--port", str(self.port)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        raise RuntimeError("newsbot serve did not become ready")

    def record(self, kind: str, status: int, text: str = "") -> None:
        with self.lock:
            self.statuses[(kind, status)] += 1
            if status >= 500 and status not in (503, 504):
                self.unexpected.append(f"{kind} {status} {text[:200]}")

    # ---- the clients ----------------------------------------------------------------------------

    def reader(self, n: int) -> None:
        rng = random.Random(n)
        # Every reader is another intranet user: its own loopback address, the widget's shared key.
        transport = httpx.HTTPTransport(local_address=f"127.0.0.{10 + n}")
        with httpx.Client(base_url=self.url, timeout=60, headers={"X-API-Key": READ}, transport=transport) as http:
            while not self.stop.is_set():
                question = rng.choice(QUESTIONS)
                kind = rng.choice(["ask", "ask", "stream", "search"])
                started = time.perf_counter()
                try:
                    if kind == "ask":
                        r = http.post("/v1/ask", json={"question": question, "conversation_id": f"reader-{n}"})
                        self.record(kind, r.status_code, r.text)
                        self.note_reader_limited(r)
                        _back_off(r)
                        if r.status_code == 200:
                            phase = "abused" if self.abusing.is_set() else "quiet"
                            with self.lock:
                                self.latency[phase].append((time.perf_counter() - started) * 1000)
                    elif kind == "stream":
                        with http.stream("POST", "/v1/ask/stream", json={"question": question}) as r:
                            body = "".join(r.iter_text())
                        status = _stream_status(r.status_code, body)
                        self.record(kind, status, body)
                        if status == 429:
                            time.sleep(1)
                    else:
                        r = http.get("/v1/search", params={"q": question})
                        self.record(kind, r.status_code, r.text)
                        self.note_reader_limited(r)
                        _back_off(r)
                except httpx.TransportError as exc:
                    self.record(kind, 0, str(exc))
                    time.sleep(1)  # the server is down (the crash): wait for the restart

    def note_reader_limited(self, response: httpx.Response) -> None:
        """A reader refused for the rate (not for its own work in progress) while the flood runs."""
        if response.status_code == 429 and "rate_limited" in response.text and self.abusing.is_set():
            with self.lock:
                self.readers_limited_under_flood += 1

    def writer(self) -> None:
        rng = random.Random(99)
        with httpx.Client(base_url=self.url, timeout=60, headers={"X-API-Key": ADMIN}) as http:
            n = 0
            while not self.stop.is_set():
                n += 1
                article_id = f"soak-{rng.randrange(30)}"
                text: str | None = None  # a delete
                try:
                    if rng.random() < 0.2:
                        r = http.delete(f"/v1/articles/{article_id}")
                        self.record("delete", r.status_code, r.text)
                        done = r.status_code in (200, 404)
                    else:
                        text = f"Meldung {n}: Der Pegel der Elbe bei Wedel stieg um {n % 90} Zentimeter."
                        title = "Pegel " * 100_000 if n % 10 == 0 else f"Pegel {n}"  # 600,000 characters
                        # a deleted id stays down (kept_down) unless the push restores it, as a CMS
                        # republishing it would: every other push does
                        restore = {"restore": "true"} if n % 2 else {}
                        r = http.post(
                            "/v1/articles", params=restore, json={"id": article_id, "title": title, "text": text}
                        )
                        self.record("write", r.status_code, r.text)
                        report = r.json() if r.status_code == 200 else {}
                        done = r.status_code == 200 and not report["failed"] and not report["kept_down"]
                    self.written(article_id, text, done=done, maybe=r.status_code >= 500 and r.status_code != 503)
                except httpx.TransportError as exc:  # the server died: the write may or may not have landed
                    self.record("write", 0, str(exc))
                    self.written(article_id, text, done=False, maybe=True)
                    time.sleep(1)
                time.sleep(0.5)

    def written(self, article_id: str, text: str | None, *, done: bool, maybe: bool) -> None:
        """What an article may read afterwards: an acknowledged write (or delete: None) is the
        one possible state; one whose outcome is unknown (the crash, a timeout) may have landed too.
        A refused one (422, 503 index_busy) changed nothing."""
        with self.lock:
            if done:
                self.acknowledged[article_id] = {text}
                self.acked_at[article_id] = round(time.monotonic() - self.started, 1)
            elif maybe and article_id in self.acknowledged:
                self.acknowledged[article_id].add(text)

    def flooder(self) -> None:
        """One address floods the readers' shared key with cheap requests (a 404 each), as fast as
        it can: past the rate limit it gets 429, and only it."""
        transport = httpx.HTTPTransport(local_address="127.0.0.98")
        with httpx.Client(base_url=self.url, timeout=60, headers={"X-API-Key": READ}, transport=transport) as http:
            n = 0
            while not self.stop.is_set():
                if not self.abusing.is_set():
                    time.sleep(0.5)
                    continue
                n += 1
                try:
                    r = http.get(f"/v1/articles/flood-{n}")
                    self.record("flood", r.status_code, r.text)
                except httpx.TransportError:
                    time.sleep(1)

    def abuser(self) -> None:
        rng = random.Random(7)
        maximal = ("Welche " + "sehr " * 330 + "wichtigen Fragen?")[:2000]
        token_bomb = "量子" * 999
        transport = httpx.HTTPTransport(local_address="127.0.0.99")
        with httpx.Client(base_url=self.url, timeout=60, headers={"X-API-Key": ABUSER}, transport=transport) as http:
            while not self.stop.is_set():
                if not self.abusing.is_set():
                    time.sleep(0.5)
                    continue
                try:
                    choice = rng.random()
                    if choice < 0.3:
                        r = http.post("/v1/ask", json={"question": maximal})
                    elif choice < 0.6:
                        r = http.post("/v1/ask", json={"question": token_bomb})
                    else:
                        conversation = f"chain-{rng.randrange(1000)}"
                        for step in range(10):
                            r = http.post(
                                "/v1/ask",
                                json={
                                    "question": f"Und was ist mit {step} und den Folgen dort?",
                                    "conversation_id": conversation,
                                },
                            )
                            self.record("abuse", r.status_code, r.text)
                        continue
                    self.record("abuse", r.status_code, r.text)
                except httpx.TransportError:
                    time.sleep(1)

    def cli_ingest(self, round_: int) -> None:
        archive = self.work / "archive.jsonl"
        rows = GNAD.read_text(encoding="utf-8").splitlines()[300:340]
        with archive.open("w", encoding="utf-8") as fh:
            for n, line in enumerate(rows):
                text = line.split(";", 1)[1].strip("'")
                fh.write(json.dumps({"id": f"gnad-{n}", "text": f"{text} Stand {round_}."}, ensure_ascii=False) + "\n")
        result = subprocess.run(
            [*NEWSBOT, "ingest", str(archive), "--json"], env=self.env, capture_output=True, text=True, timeout=900
        )
        self.record("cli-ingest", 200 if result.returncode == 0 else 500 + result.returncode, result.stderr)

    # ---- the run --------------------------------------------------------------------------------

    def run(self) -> dict[str, object]:
        subprocess.run([*NEWSBOT, "ingest", str(ROOT / "corpus")], env=self.env, check=True, capture_output=True)
        self.start_server()
        assert self.server is not None
        self.rss.append(rss_mb(self.server.pid))
        threads = [threading.Thread(target=self.reader, args=(n,), daemon=True) for n in range(8)]
        threads += [
            threading.Thread(target=self.writer, daemon=True),
            threading.Thread(target=self.abuser, daemon=True),
            threading.Thread(target=self.flooder, daemon=True),
        ]
        for thread in threads:
            thread.start()
        total = self.minutes * 60
        started = self.started = time.monotonic()
        crashed = False
        next_ingest = started + total / 4
        ingest_round = 0
        while (elapsed := time.monotonic() - started) < total:
            # abuse in the second and fourth quarter of every four minutes
            self.abusing.set() if int(elapsed // 60) % 4 in (1, 3) else self.abusing.clear()
            if time.monotonic() >= next_ingest:
                ingest_round += 1
                self.event(f"cli ingest {ingest_round}")
                self.cli_ingest(ingest_round)
                self.event(f"cli ingest {ingest_round} done")
                next_ingest = time.monotonic() + total / 4
            if not crashed and elapsed > total / 2:
                crashed = True
                self.event("kill -9")
                self.kill_during_a_write()
                self.event("restarted")
            time.sleep(1)
        self.stop.set()
        for thread in threads:
            thread.join(120)
        self.rss.append(rss_mb(self.server.pid))
        present = self.check_writes()
        self.server.send_signal(signal.SIGINT)
        self.server.wait(60)
        check = subprocess.run([*NEWSBOT, "check", "--json"], env=self.env, capture_output=True, text=True)
        if self.chroma is not None:
            self.chroma.terminate()
        quiet, abused = self.latency["quiet"], self.latency["abused"]
        result = {
            "minutes": self.minutes,
            "vector_store": "chroma server" if self.chroma is not None else "embedded",
            "requests": {f"{k} {s}": n for (k, s), n in sorted(self.statuses.items())},
            "unexpected_5xx": len(self.unexpected),
            "unexpected_examples": self.unexpected[:5],
            "readers_rate_limited_under_flood": self.readers_limited_under_flood,
            "questions_quiet_ms": _percentiles(quiet),
            "questions_under_abuse_ms": _percentiles(abused),
            "p95_ratio_abused_vs_quiet": round(_p95(abused) / _p95(quiet), 2) if quiet and abused else None,
            "writes_acknowledged": len(self.acknowledged),
            "writes_present": present,
            "writes_lost": self.lost[:5],
            "events": self.events,
            "check": json.loads(check.stdout) if check.stdout else check.stderr,
            "server_rss_mb": {"start": round(self.rss[0]), "end": round(self.rss[-1])},
        }
        self.log.close()
        shutil.rmtree(self.work, ignore_errors=True)
        return result

    def kill_during_a_write(self) -> None:
        """SIGKILL the server while a push is in flight, then start it again."""
        assert self.server is not None
        body = [{"id": f"crash-{n}", "text": f"Absturztest {n}: Die Fähre fährt um {n} Uhr."} for n in range(40)]

        def push() -> None:
            # the server dies mid-write: the push is not acknowledged, so it is not expected afterwards
            with contextlib.suppress(httpx.TransportError):
                httpx.post(f"{self.url}/v1/articles", json=body, headers={"X-API-Key": ADMIN}, timeout=60)

        thread = threading.Thread(target=push)
        thread.start()
        time.sleep(1.0)
        self.server.send_signal(signal.SIGKILL)
        self.server.wait(30)
        thread.join(60)
        self.start_server()

    def event(self, what: str) -> None:
        self.events.append(f"{time.monotonic() - self.started:.1f} s {what}")

    def check_writes(self) -> str:
        """Every acknowledged write is there (or one whose outcome was unknown, written after it)."""
        ok = 0
        with httpx.Client(base_url=self.url, timeout=60, headers={"X-API-Key": ADMIN}) as http:
            for article_id, possible in self.acknowledged.items():
                r = http.get(f"/v1/articles/{article_id}")
                now = r.json()["text"] if r.status_code == 200 else None if r.status_code == 404 else "?"
                if now in possible:
                    ok += 1
                else:
                    self.lost.append(
                        f"{article_id} (acknowledged at {self.acked_at.get(article_id)} s): {r.status_code} "
                        f"{str(now)[:60]!r}, expected one of {possible}"
                    )
        return f"{ok} of {len(self.acknowledged)}"


def _back_off(response: httpx.Response) -> None:
    """What a well-behaved client does with a 429: wait as long as the server says."""
    if response.status_code == 429:
        time.sleep(min(float(response.headers.get("Retry-After", "1")), 5.0))


STREAM_ERRORS = {"busy": 429, "rate_limited": 429, "timeout": 504, "index_busy": 503, "invalid_request": 422}


def _stream_status(status: int, body: str) -> int:
    """A stream that started (200) may end in an error event: count it by its code."""
    if status != 200 or "event: error" not in body:
        return status
    payload = json.loads(body.split("event: error", 1)[1].split("data:", 1)[1].split("\n", 1)[0])
    return STREAM_ERRORS.get(payload["error"]["code"], 500)


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {"n": len(values), "p50": round(statistics.median(values), 1), "p95": round(_p95(values), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=20)
    parser.add_argument("--chroma-server", action="store_true", help="Vectors in a `chroma run` server on loopback.")
    args = parser.parse_args()
    print(json.dumps(Soak(args.minutes, args.chroma_server).run(), indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
