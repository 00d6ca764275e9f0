"""kill -9 during ingest, and ingestion through a real Chroma server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import NEWSBOT, SEED, gnad_lines, run_cli

pytestmark = pytest.mark.slow


def _check(data_dir: Path) -> dict:
    """Open the index as a reader, without repairing anything, and compare the stores."""
    from bot.admin import NewsAdmin
    from bot.settings import Settings

    with NewsAdmin.open(Settings(data_dir=data_dir), write=False, check_embedder=False) as idx:
        result = idx.check().to_dict()
        result["articles"] = idx.stats().articles
        result["ids"] = sorted(r[0] for r in idx.index.catalog.db.execute("SELECT id FROM articles"))
    return result


def test_kill_9_at_random_moments_never_leaves_half_an_article(tmp_path):
    import csv
    import io

    rows = list(csv.reader(io.StringIO(gnad_lines(40)), delimiter=";", quotechar="'"))
    corpus = tmp_path / "gnad.jsonl"
    data_dir = tmp_path / "data"
    rng = random.Random(20220307)
    env = {**os.environ, "NEWSBOT_DATA_DIR": str(data_dir)}
    kills = 0
    for round_ in range(12):
        # Every round changes every article, so every round has a full ingest's work to interrupt
        # (an unchanged re-ingest would finish before the kill, and the kill would test nothing).
        records = [
            {"id": f"gnad-{n}", "section": label, "text": f"{text} Fassung {round_}."}
            for n, (label, text) in enumerate(rows)
        ]
        corpus.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
        proc = subprocess.Popen(
            [*NEWSBOT, "ingest", str(corpus), "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        time.sleep(rng.uniform(2.5, 9.0))  # start-up takes ~3 s; the ingest itself ~15 s
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.communicate(timeout=60)
        state = _check(data_dir)
        # Whatever the catalog has committed is complete: every sentence has its vector
        # and its keyword row. Orphan vectors may exist; they are invisible to search.
        assert state["missing_vectors"] == 0, (round_, state)
        assert state["keyword_rows_match"], (round_, state)
    assert kills >= 1  # how many rounds a slow machine finishes before its kill does not matter

    result = run_cli("ingest", str(corpus), "--json", env={"NEWSBOT_DATA_DIR": str(data_dir)})
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    # (an interrupted last round leaves some articles at the round before: those are updated now)
    assert report["failed"] == [] and report["added"] + report["updated"] + report["unchanged"] == 40
    state = _check(data_dir)
    assert state["ok"] and state["pending"] == 0, state  # the writer repaired what the kills left
    assert state["articles"] + _duplicates(data_dir) == 40
    texts = [r[0] for r in sqlite3.connect(data_dir / "catalog.sqlite3").execute("SELECT text FROM articles")]
    assert all(t.endswith("Fassung 11.") for t in texts)  # the last round's version, nothing older
    assert len(state["ids"]) == len(set(state["ids"])) == 40


def _duplicates(data_dir: Path) -> int:
    import sqlite3

    with sqlite3.connect(data_dir / "catalog.sqlite3") as db:
        return db.execute("SELECT count(*) FROM articles WHERE duplicate_of IS NOT NULL").fetchone()[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def chroma_server(tmp_path):
    port = _free_port()
    chroma = Path(sys.executable).parent / "chroma"
    proc = subprocess.Popen(
        [str(chroma), "run", "--path", str(tmp_path / "chroma-server"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("chroma server did not start")
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(30)


def test_ingest_through_a_chroma_server(chroma_server, tmp_path):
    env = {"NEWSBOT_CHROMA_URL": chroma_server}
    result = run_cli("ingest", str(SEED), "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["embedded_sentences"] == 29
    assert not (tmp_path / "data" / "chroma").exists()  # vectors live on the server

    import chromadb

    host, port = chroma_server.rsplit(":", 1)
    client = chromadb.HttpClient(host="127.0.0.1", port=int(port))
    (collection,) = client.list_collections()
    assert collection.count() == 29

    check = json.loads(run_cli("check", "--json", env=env).stdout)
    assert check["ok"]
    stats = json.loads(run_cli("stats", "--json", env=env).stdout)
    assert (stats["vector_store"], stats["articles"]) == (chroma_server, 1)
    assert run_cli("remove", *_ids(tmp_path / "data"), env=env).returncode == 0
    assert client.get_collection(collection.name).count() == 0


def test_unreachable_chroma_server_is_a_clear_error():
    result = run_cli("ingest", str(SEED), env={"NEWSBOT_CHROMA_URL": f"http://127.0.0.1:{_free_port()}"})
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "Chroma server" in result.stderr


def _ids(data_dir: Path) -> list[str]:
    import sqlite3

    with sqlite3.connect(data_dir / "catalog.sqlite3") as db:
        return [r[0] for r in db.execute("SELECT id FROM articles")]
