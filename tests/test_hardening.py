"""Abuse and load on the API and the core: each test fails without its fix (hardening issue)."""

from __future__ import annotations

import json
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from bot.errors import InvalidInputError
from bot.http import create_app
from bot.qa import MAX_QUESTION_TOKENS, NewsQA
from tests.conftest import serve_app, wait_for
from tests.test_api import ADMIN_AUTH, AUTH, READ, api_settings, assert_error

OTHER = "second-read-key-5555"


@pytest.fixture(scope="module")
def api(index_settings, qa):
    with TestClient(create_app(api_settings(index_settings), qa=qa), raise_server_exceptions=False) as client:
        yield client


# ---- 1. the work one question may cause ---------------------------------------------------------


def test_question_cost_is_bounded_in_tokens_not_characters(qa, api):
    long_in_tokens = "量子" * 400  # 800 characters, under the 2,000-character limit, ~800 tokens
    with pytest.raises(InvalidInputError, match="tokens"):
        qa.ask(long_in_tokens)
    assert_error(api.post("/v1/ask", json={"question": long_in_tokens}, headers=AUTH), 422, "invalid_request")
    assert_error(api.get("/v1/search", params={"q": long_in_tokens}, headers=AUTH), 422, "invalid_request")
    # A chain of follow-ups cannot grow the query: each borrows a bounded topic from the last.
    embedder = qa.index.embedder
    history: list[Any] = []
    first = qa.ask("Wo wollen sich Lawrow und Kuleba treffen?")
    history.append(first)
    for n in range(10):
        follow = qa.ask(f"Und was sagte man dazu am Tag {n} über die Gespräche und ihre Folgen?", history=history)
        assert embedder.count_tokens(follow.trace.query) <= MAX_QUESTION_TOKENS
        history.append(follow)
    assert len(history[-1].trace.query) < 4 * len(first.trace.query) + 200


class BlockingQA:
    """A NewsQA whose questions wait until the test lets them go."""

    def __init__(self, qa: NewsQA) -> None:
        self.qa = qa
        self.entered = threading.Event()
        self.release = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.qa, name)

    def ask(self, question: str, **kwargs: Any):
        self.entered.set()
        assert self.release.wait(60)
        return self.qa.ask(question, **kwargs)


def test_one_key_cannot_occupy_the_cpu(index_settings, qa):
    """Questions in progress are bounded per key; a timed-out question keeps its slot until its
    thread is done (the 504 did not stop the work)."""
    blocking = BlockingQA(qa)
    settings = api_settings(index_settings, api_concurrent_per_key=1, request_timeout=1, api_keys=f"{READ},{OTHER}")
    app = create_app(settings, qa=blocking)  # type: ignore[arg-type]
    question = {"question": "Wer hat in Belarus verhandelt?"}
    with serve_app(app) as url, ThreadPoolExecutor(2) as pool:
        first = pool.submit(httpx.post, f"{url}/v1/ask", json=question, headers=AUTH, timeout=60)
        assert blocking.entered.wait(60)
        assert_error(httpx.post(f"{url}/v1/ask", json=question, headers=AUTH, timeout=60), 429, "busy")
        assert_error(first.result(), 504, "timeout")  # the first one timed out ...
        # ... but its thread still runs, so the key is still busy
        assert_error(httpx.get(f"{url}/v1/search", params={"q": "Belarus"}, headers=AUTH, timeout=60), 429, "busy")
        blocking.release.set()
        wait_for(
            lambda: httpx.get(f"{url}/v1/search", params={"q": "Belarus"}, headers=AUTH, timeout=60).status_code == 200
        )
        other = httpx.post(f"{url}/v1/ask", json=question, headers={"X-API-Key": OTHER}, timeout=60)
        assert other.status_code == 200


def test_wrong_keys_are_rate_limited_per_address(index_settings, qa):
    app = create_app(api_settings(index_settings, failed_auth_limit="3/minute"), qa=qa)
    with TestClient(app, raise_server_exceptions=False) as client:
        wrong = [client.get("/v1/search", params={"q": "x"}, headers={"X-API-Key": f"guess-{n}"}) for n in range(3)]
        assert [r.status_code for r in wrong] == [401, 401, 401]
        limited = client.get("/v1/search", params={"q": "x"}, headers={"X-API-Key": "guess-4"})
        assert_error(limited, 429, "rate_limited")
        assert int(limited.headers["Retry-After"]) >= 1
        # the address is blocked for a while, right key or not
        assert_error(client.get("/v1/search", params={"q": "x"}, headers=AUTH), 429, "rate_limited")


# ---- 5. conversations belong to a key -----------------------------------------------------------


def test_conversations_are_scoped_to_the_key(index_settings, qa):
    app = create_app(api_settings(index_settings, api_keys=f"{READ},{OTHER}"), qa=qa)
    with TestClient(app) as client:

        def ask(key: str, question: str) -> dict[str, Any]:
            body = {"question": question, "conversation_id": "desk-9"}
            return client.post("/v1/ask", json=body, headers={"X-API-Key": key}).json()

        ask(READ, "Wo wollen sich Lawrow und Kuleba treffen?")
        mine = ask(READ, "Und wann?")
        theirs = ask(OTHER, "Und wann?")
    assert "Donnerstag" in mine["citations"][0]["quote"]
    assert not any("Donnerstag" in c["quote"] for c in theirs["citations"])
    assert app.state.server.conversations.get("a", "desk-9") is not app.state.server.conversations.get("b", "desk-9")


# ---- 10, 11, 12: reader and writer input that used to cause 500s -------------------------------


def test_dates_out_of_range_are_not_server_errors(api):
    for body in (
        {"question": "Wer hat in Belarus verhandelt?", "until": "9999-12-31"},
        {"question": "Was geschah vor 999999 Tagen?"},
        {"question": "Was geschah vor 99999999999999999999 Wochen?"},
        {"question": "Wer hat in Belarus verhandelt?", "since": "0001-01-01"},
    ):
        response = api.post("/v1/ask", json=body, headers=AUTH)
        assert response.status_code == 200, (body, response.text)
    response = api.get("/v1/search", params={"q": "Belarus", "until": "9999-12-31"}, headers=AUTH)
    assert response.status_code == 200 and response.json()["results"]


def test_hostile_uploads_fail_per_item(index_settings, qa, tmp_path):
    data_dir = tmp_path / "data"
    shutil.copytree(index_settings.data_dir, data_dir)
    settings = api_settings(index_settings, data_dir=data_dir, max_article_bytes=50_000)
    with NewsQA(settings, embedder=qa.index.embedder) as own, TestClient(create_app(settings, qa=own)) as client:
        deep = "[" * 100_000 + "]" * 100_000
        response = client.post("/v1/articles", content=deep, headers={**ADMIN_AUTH, "Content-Type": "application/json"})
        assert response.status_code == 200 and "nested too deeply" in response.json()["failed"][0]["reason"]
        records = [{"id": "small", "text": "Der Deich bei Wedel wird erhöht."}, {"id": "big", "text": "Wort " * 20_000}]
        body = "\n".join(json.dumps(r) for r in records)
        report = client.post(
            "/v1/articles", content=body, headers={**ADMIN_AUTH, "Content-Type": "application/x-ndjson"}
        )
        assert report.json()["added"] == 1 and "NEWSBOT_MAX_ARTICLE_BYTES" in report.json()["failed"][0]["reason"]


# ---- 2. answering while the API writes ----------------------------------------------------------


def test_questions_and_writes_at_once_never_fail(index_settings, qa, tmp_path):
    """Each write used to open a second embedded Chroma client on the same path in another thread:
    3 of 954 questions and 3 of 40 writes answered 500. Now readers and the writer share one."""
    data_dir = tmp_path / "data"
    shutil.copytree(index_settings.data_dir, data_dir)
    settings = api_settings(
        index_settings, data_dir=data_dir, rate_limit="10000/minute", api_concurrent_per_key=8, api_concurrent_total=8
    )
    stop = threading.Event()
    statuses: list[int] = []

    def asker() -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            while not stop.is_set():
                statuses.append(
                    http.post("/v1/ask", json={"question": "Wer hat in Belarus verhandelt?"}, headers=AUTH).status_code
                )

    with NewsQA(settings, embedder=qa.index.embedder) as own, serve_app(create_app(settings, qa=own)) as url:
        threads = [threading.Thread(target=asker) for _ in range(4)]
        for thread in threads:
            thread.start()
        writes = []
        with httpx.Client(base_url=url, timeout=60) as http:
            for n in range(12):
                article = {
                    "id": f"load-{n % 4}",
                    "title": f"Meldung {n}",
                    "text": f"Der Pegel steigt um {n} Zentimeter.",
                }
                writes.append(http.post("/v1/articles", json=article, headers=ADMIN_AUTH).status_code)
                if n % 3 == 2:
                    writes.append(http.delete(f"/v1/articles/load-{n % 4}", headers=ADMIN_AUTH).status_code)
        stop.set()
        for thread in threads:
            thread.join(60)
        assert own.admin.check().ok
    assert set(writes) == {200} and statuses and set(statuses) == {200}


# ---- 3 and 13: a damaged index says so --------------------------------------------------------


def test_deleted_vectors_make_the_index_not_ready_not_silent(index_settings, qa, tmp_path, caplog):
    """With chroma/ deleted, questions used to get a 200 "nothing found" and /readyz said ready."""
    from tests.conftest import invoke_cli

    data_dir = tmp_path / "data"
    shutil.copytree(index_settings.data_dir, data_dir)
    shutil.rmtree(data_dir / "chroma")
    settings = api_settings(index_settings, data_dir=data_dir)
    with (
        NewsQA(settings, embedder=qa.index.embedder) as damaged,
        TestClient(create_app(settings, qa=damaged)) as client,
    ):
        damaged.warm_up()
        assert any("damaged" in r.getMessage() for r in caplog.records if r.levelname == "ERROR")
        body = assert_error(client.get("/readyz"), 503, "index_damaged")
        assert "newsbot reindex" in body["error"]["message"]
        assert_error(
            client.post("/v1/ask", json={"question": "Wer hat in Belarus verhandelt?"}, headers=AUTH),
            503,
            "index_damaged",
        )
        assert_error(client.get("/v1/search", params={"q": "Belarus"}, headers=AUTH), 503, "index_damaged")
    check = invoke_cli("check", env={"NEWSBOT_DATA_DIR": str(data_dir)})
    assert check.returncode == 1 and "INCONSISTENT" in check.stdout and "newsbot reindex" in check.stdout
    assert invoke_cli("reindex", env={"NEWSBOT_DATA_DIR": str(data_dir)}).returncode == 0
    assert invoke_cli("check", env={"NEWSBOT_DATA_DIR": str(data_dir)}).returncode == 0


def test_a_corrupt_catalog_is_named_with_the_way_out(index_settings, tmp_path):
    from tests.conftest import invoke_cli

    data_dir = tmp_path / "data"
    shutil.copytree(index_settings.data_dir, data_dir)
    for extra in ("catalog.sqlite3-wal", "catalog.sqlite3-shm"):
        (data_dir / extra).unlink(missing_ok=True)
    catalog = data_dir / "catalog.sqlite3"
    raw = bytearray(catalog.read_bytes())
    raw[100:4100] = b"\x00garbage" * 500
    catalog.write_bytes(bytes(raw))
    for command in (["stats"], ["check"], ["ask", "Wer hat verhandelt?"]):
        result = invoke_cli(*command, env={"NEWSBOT_DATA_DIR": str(data_dir)})
        assert result.returncode == 1, (command, result.stderr)
        assert "catalog" in result.stderr and "damaged" in result.stderr and "backup" in result.stderr
        assert "Traceback" not in result.stderr and "Unexpected error" not in result.stderr


def test_the_access_log_keeps_questions_out_when_questions_are_not_logged():
    """`serve -v` with NEWSBOT_LOG_QUESTIONS=false: uvicorn's access line for /v1/search?q=...
    keeps the path, not the question (issue 24, finding 10)."""
    import logging

    from uvicorn.logging import AccessFormatter

    from bot.cli.servers import QueryOutOfAccessLog

    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/v1/search?q=Wer%20ist%20der%20Informant", "1.1", 200),
        None,
    )
    assert QueryOutOfAccessLog().filter(record)
    line = AccessFormatter("%(message)s", use_colors=False).format(record)
    assert "/v1/search?…" in line and "Informant" not in line and "200" in line


def test_a_disk_io_error_is_named_with_the_way_out():
    """SQLite reports a disk that fills up mid-write as "disk I/O error": the CLI and the API say
    what it means, not "Unexpected error (OperationalError ...)" (issue 24, finding 9)."""
    import sqlite3

    from index.errors import StorageError, storage_error

    known = storage_error(sqlite3.OperationalError("disk I/O error"))
    assert isinstance(known, StorageError) and "full or failing" in str(known) and "NEWSBOT_DATA_DIR" in str(known)
    assert storage_error(sqlite3.OperationalError("no such table: articles")) is None
