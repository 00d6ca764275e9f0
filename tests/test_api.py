"""The intranet HTTP API: the contract through ``TestClient``, and streaming, limits and keys
through a real uvicorn on 127.0.0.1, over the real index and model."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from http.client import HTTPResponse
from typing import Any, NoReturn

import httpx
import pytest
from fastapi.testclient import TestClient

from bot.http import create_app
from bot.http.deps import ready_qa
from bot.http.errors import ApiError
from bot.qa import NewsQA
from bot.settings import Settings
from tests.conftest import LINKED, negotiation, serve_app, sse_events

READ, ADMIN = "read-key-0123456789", "admin-key-9876543210"
ORIGIN = "http://intranet.test:8001"
AUTH = {"X-API-Key": READ}
ADMIN_AUTH = {"Authorization": f"Bearer {ADMIN}"}
ANSWER_KEYS = {"question", "answer", "refused", "language", "citations", "note", "timings_ms"}
CITATION_KEYS = {
    "n",
    "article_id",
    "title",
    "source",
    "url",
    "published",
    "updated",
    "quote",
    "quotes",
    "answer_spans",
    "score",
}


def api_settings(index_settings: Settings, **overrides: Any) -> Settings:
    values = {"api_keys": READ, "admin_keys": ADMIN, "cors_origins": ORIGIN, **overrides}
    return Settings(**{**index_settings.model_dump(), **values})


@pytest.fixture(scope="module")
def client(index_settings, qa) -> Iterator[TestClient]:
    app = create_app(api_settings(index_settings), qa=qa)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code and body["error"]["message"]
    assert "Traceback" not in response.text
    return body


# ---- the contract ------------------------------------------------------------------------------


def test_ask_returns_the_cli_json_contract(client):
    response = client.post("/v1/ask", json={"question": "Who negotiated in Belarus?"}, headers=AUTH)
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= ANSWER_KEYS and "debug" not in body
    assert body["refused"] is False and body["language"] == "en" and body["mode"] == "extractive"
    assert negotiation(body["citations"][0]["quote"])
    assert set(body["citations"][0]) >= CITATION_KEYS
    assert body["note"] and body["timings_ms"]["total"] > 0
    marked = client.post("/v1/ask", json={"question": "Who led the Russian delegation in the talks?"}, headers=AUTH)
    citation = marked.json()["citations"][0]
    start, end = citation["answer_spans"][0]  # characters of the quote that answer
    assert citation["quotes"][0][start:end] == "Wladimir Medinski"


def test_ask_follow_ups_by_conversation_id_and_date_filters(client):
    def ask(question: str, **extra: Any) -> dict[str, Any]:
        response = client.post("/v1/ask", json={"question": question, **extra}, headers=AUTH)
        assert response.status_code == 200, response.text
        return response.json()

    assert "Antalya" in ask("Wo wollen sich Lawrow und Kuleba treffen?", conversation_id="c-1")["citations"][0]["quote"]
    follow_up = ask("Und wann?", conversation_id="c-1")  # the conversation adds the topic
    assert any(w in q for c in follow_up["citations"] for q in c["quotes"] for w in ("Lawrow", "Antalya"))
    assert ask("Wer hat in Belarus verhandelt?", since="2022-03-10")["refused"]  # the seed is older
    assert not ask("Wer hat in Belarus verhandelt?", until="2022-03-07")["refused"]


def test_search_returns_ranked_passages(client):
    response = client.get("/v1/search", params={"q": "Bücherhallen Öffnungszeiten", "limit": 2}, headers=AUTH)
    assert response.status_code == 200
    results = response.json()["results"]
    assert 1 <= len(results) <= 2
    top = results[0]
    assert top["article_id"] == LINKED["id"] and top["url"] == LINKED["url"]
    assert "22 Uhr" in top["passage"] and top["score"] >= top["similarity"]
    assert "note" in top  # the editorial note, as citations carry it (null here)


def test_articles_push_get_update_delete(client):
    article = {
        "id": "api-test-1",
        "title": "Neue Fähre nach Helgoland",
        "source": "NDR",
        "text": "Eine neue Schnellfähre verbindet ab Mai Hamburg und Helgoland in drei Stunden.",
    }
    pushed = client.post("/v1/articles", json=article, headers=ADMIN_AUTH)
    assert pushed.status_code == 200 and pushed.json()["added"] == 1
    again = client.post("/v1/articles", json=article, headers=ADMIN_AUTH)
    assert again.json()["unchanged"] == 1 and again.json()["added"] == 0  # idempotent

    fetched = client.get("/v1/articles/api-test-1", headers=AUTH).json()
    assert fetched["title"] == article["title"] and fetched["text"] == article["text"]
    assert "origin" not in fetched  # where it was read from is not content (Article.to_dict)
    answer = client.post(
        "/v1/ask", json={"question": "Wie lange braucht die Fähre nach Helgoland?"}, headers=AUTH
    ).json()
    assert "drei Stunden" in answer["citations"][0]["quote"]

    jsonl = "\n".join(
        json.dumps(r)
        for r in [
            {**article, "text": article["text"].replace("drei", "zweieinhalb")},
            {"id": "api-test-bad", "title": "ohne Text"},
        ]
    )
    report = client.post("/v1/articles", content=jsonl, headers={**ADMIN_AUTH, "Content-Type": "application/x-ndjson"})
    assert report.status_code == 200
    assert report.json()["updated"] == 1 and report.json()["failed"][0]["reason"] == "missing or empty 'text'"
    answer = client.post(
        "/v1/ask", json={"question": "Wie lange braucht die Fähre nach Helgoland?"}, headers=AUTH
    ).json()
    assert "zweieinhalb Stunden" in answer["citations"][0]["quote"]

    assert client.delete("/v1/articles/api-test-1", headers=ADMIN_AUTH).json()["removed"] == 1
    assert_error(client.get("/v1/articles/api-test-1", headers=AUTH), 404, "not_found")
    assert_error(client.delete("/v1/articles/api-test-1", headers=ADMIN_AUTH), 404, "not_found")
    gone = client.post("/v1/ask", json={"question": "Wie lange braucht die Fähre nach Helgoland?"}, headers=AUTH).json()
    assert not any(c["article_id"] == "api-test-1" for c in gone["citations"])

    # Taken down stays down, also when pushed again; a CMS republishing it says so.
    again = client.post("/v1/articles", json=article, headers=ADMIN_AUTH).json()
    assert again["kept_down"] == 1 and again["added"] == 0 and "taken down" in again["warnings"][0]["reason"]
    assert_error(client.get("/v1/articles/api-test-1", headers=AUTH), 404, "not_found")
    back = client.post("/v1/articles", params={"restore": "true"}, json=article, headers=ADMIN_AUTH).json()
    assert back["restored"] == 1 and back["added"] == 1 and back["kept_down"] == 0
    assert client.get("/v1/articles/api-test-1", headers=AUTH).json()["text"] == article["text"]
    assert client.delete("/v1/articles/api-test-1", headers=ADMIN_AUTH).json()["removed"] == 1


def test_bad_uploads_get_clear_errors(client):
    assert_error(client.post("/v1/articles", content=b"", headers=ADMIN_AUTH), 422, "invalid_request")
    assert_error(client.post("/v1/articles", content=b"\xff\xfe", headers=ADMIN_AUTH), 422, "invalid_request")
    report = client.post("/v1/articles", content=b"{not json", headers=ADMIN_AUTH).json()
    assert report["added"] == 0 and "invalid JSON" in report["failed"][0]["reason"]


def test_operations_endpoints(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["articles"] >= 2
    client.post("/v1/ask", json={"question": "asdf qwer zxcv"}, headers=AUTH)
    metrics = client.get("/metrics").text
    assert 'newsbot_answers_total{refused="true"}' in metrics
    assert 'newsbot_http_requests_total{method="POST",route="/v1/ask",status="200"}' in metrics
    assert "newsbot_index_articles" in metrics and "newsbot_http_request_seconds_bucket" in metrics
    assert READ not in metrics and ADMIN not in metrics
    assert client.get("/openapi.json").json()["paths"]["/v1/ask"]["post"]
    assert client.get("/docs").status_code == 200


def test_the_routes_get_the_index_through_dependencies_an_app_can_override(client):
    """Routes ask FastAPI for the open NewsQA (``bot.http.deps.ready_qa``), so an embedding app or
    a test swaps it through ``dependency_overrides``: here, an index still opening."""

    def opening() -> NoReturn:
        raise ApiError(503, "not_ready", "The index is not open yet; try again in a moment.")

    client.app.dependency_overrides[ready_qa] = opening
    try:
        assert_error(client.get("/readyz"), 503, "not_ready")
        assert_error(client.post("/v1/ask", json={"question": "Wer hat verhandelt?"}, headers=AUTH), 503, "not_ready")
        assert_error(
            client.post("/v1/ask", json={"question": "Wer hat verhandelt?"}), 401, "unauthorized"
        )  # keys first
        assert client.get("/metrics").status_code == 200  # needs no open index
    finally:
        client.app.dependency_overrides.clear()
    assert client.get("/readyz").json()["status"] == "ready"


# ---- keys, CORS, limits, errors ----------------------------------------------------------------


def test_keys_are_required_and_writes_need_an_admin_key(client):
    question = {"question": "Wer hat in Belarus verhandelt?"}
    assert_error(client.post("/v1/ask", json=question), 401, "unauthorized")
    assert_error(client.post("/v1/ask", json=question, headers={"X-API-Key": "wrong"}), 401, "unauthorized")
    assert_error(client.post("/v1/ask", json=question, headers={"Authorization": "Bearer wrong"}), 401, "unauthorized")
    assert client.post("/v1/ask", json=question, headers={"Authorization": f"Bearer {READ}"}).status_code == 200
    assert client.post("/v1/ask", json=question, headers={"X-API-Key": ADMIN}).status_code == 200
    assert_error(client.post("/v1/articles", json={"text": "x"}, headers=AUTH), 403, "forbidden")
    assert_error(client.delete("/v1/articles/x", headers=AUTH), 403, "forbidden")


def test_cors_allows_listed_origins_only(client):
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-api-key,content-type"}
    allowed = client.options("/v1/ask", headers={"Origin": ORIGIN, **preflight})
    assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == ORIGIN
    other = client.options("/v1/ask", headers={"Origin": "http://evil.test", **preflight})
    assert "access-control-allow-origin" not in other.headers
    simple = client.post(
        "/v1/ask", json={"question": "Wer hat in Belarus verhandelt?"}, headers={**AUTH, "Origin": "http://evil.test"}
    )
    assert "access-control-allow-origin" not in simple.headers


def test_limits_and_errors_are_json(client):
    assert_error(client.post("/v1/ask", json={"question": "x" * 2001}, headers=AUTH), 422, "invalid_request")
    assert_error(client.post("/v1/ask", json={"question": ""}, headers=AUTH), 422, "invalid_request")
    assert_error(
        client.post("/v1/ask", json={"question": "a", "since": "gestern"}, headers=AUTH), 422, "invalid_request"
    )
    assert_error(
        client.post("/v1/ask", json={"question": "a", "conversation_id": "<x>"}, headers=AUTH), 422, "invalid_request"
    )
    assert_error(
        client.post("/v1/ask", content=b"{", headers={**AUTH, "Content-Type": "application/json"}),
        422,
        "invalid_request",
    )
    big = json.dumps({"question": "x" * 70_000})
    assert_error(
        client.post("/v1/ask", content=big, headers={**AUTH, "Content-Type": "application/json"}), 413, "too_large"
    )
    assert_error(client.get("/nowhere"), 404, "not_found")
    assert_error(client.put("/v1/ask", headers=AUTH), 405, "method_not_allowed")


def test_rate_limit_per_key_and_address_answers_429_with_retry_after(index_settings, qa):
    app = create_app(api_settings(index_settings, rate_limit="3/minute"), qa=qa)
    with TestClient(app, raise_server_exceptions=False) as client:
        statuses = [client.get("/v1/search", params={"q": "Belarus"}, headers=AUTH).status_code for _ in range(4)]
        limited = client.get("/v1/search", params={"q": "Belarus"}, headers=AUTH)
        other_key = client.get("/v1/search", params={"q": "Belarus"}, headers={"X-API-Key": ADMIN})
    assert statuses == [200, 200, 200, 429]
    assert_error(limited, 429, "rate_limited")
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert other_key.status_code == 200  # limits are per key ...
    with TestClient(app, raise_server_exceptions=False, client=("10.0.0.7", 50000)) as elsewhere:
        # ... and address: one address flooding the widget's key leaves it to the others
        assert elsewhere.get("/v1/search", params={"q": "Belarus"}, headers=AUTH).status_code == 200


class SlowQA:
    """Stands in for a question that takes too long (the real one answers in milliseconds)."""

    def __init__(self, qa: NewsQA) -> None:
        self.qa = qa

    def __getattr__(self, name: str) -> Any:
        return getattr(self.qa, name)

    def ask(self, question: str, **kwargs: Any):
        time.sleep(2)
        return self.qa.ask(question, **kwargs)


def test_request_timeout_answers_504(index_settings, qa):
    app = create_app(api_settings(index_settings, request_timeout=0.3), qa=SlowQA(qa))  # type: ignore[arg-type]
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/v1/ask", json={"question": "Wer hat in Belarus verhandelt?"}, headers=AUTH)
    assert_error(response, 504, "timeout")


class BrokenQA(SlowQA):
    def ask(self, question: str, **kwargs: Any):
        raise RuntimeError("disk on fire at /srv/secret/path")


def test_unexpected_errors_are_json_without_details(index_settings, qa, caplog):
    app = create_app(api_settings(index_settings), qa=BrokenQA(qa))  # type: ignore[arg-type]
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/v1/ask", json={"question": "Wer hat in Belarus verhandelt?"}, headers=AUTH)
        with client.stream(
            "POST", "/v1/ask/stream", json={"question": "Wer hat in Belarus verhandelt?"}, headers=AUTH
        ) as stream:
            events = sse_events(stream.iter_lines())
    assert events[-1] == (
        "error",
        {"error": {"code": "internal_error", "message": "Something went wrong on the server; it has been logged."}},
    )
    body = assert_error(response, 500, "internal_error")
    assert "secret" not in json.dumps(body) and "RuntimeError" not in json.dumps(body)
    assert any(r.exc_info and "disk on fire" in str(r.exc_info[1]) for r in caplog.records)


def test_startup_refuses_unsafe_settings(index_settings):
    from bot.errors import ConfigError

    with pytest.raises(ConfigError, match="NEWSBOT_API_KEYS"):
        create_app(api_settings(index_settings, api_keys="", admin_keys=""))
    with pytest.raises(ConfigError, match="CORS"):
        create_app(api_settings(index_settings, cors_origins="*", cors_credentials=True))


# ---- a real server on 127.0.0.1 ----------------------------------------------------------------


@pytest.fixture(scope="module")
def live(index_settings, qa) -> Iterator[str]:
    """The app under uvicorn on a free loopback port."""
    with serve_app(create_app(api_settings(index_settings), qa=qa)) as url:
        yield url


def test_stream_sends_progress_then_the_answer(live):
    with httpx.stream(
        "POST", f"{live}/v1/ask/stream", json={"question": "Wer hat in Belarus verhandelt?"}, headers=AUTH, timeout=60
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response.iter_lines())
    assert [e for e, _ in events] == ["progress", "progress", "answer"]
    assert events[0][1] == {"stage": "searching"}
    answer = events[-1][1]
    assert set(answer) >= ANSWER_KEYS and negotiation(answer["citations"][0]["quote"])


def test_stream_needs_a_key_and_reports_errors_as_events(live, index_settings, qa):
    assert_error(httpx.post(f"{live}/v1/ask/stream", json={"question": "x"}), 401, "unauthorized")
    app = create_app(api_settings(index_settings, request_timeout=0.3), qa=SlowQA(qa))  # type: ignore[arg-type]
    with (
        TestClient(app) as client,
        client.stream(
            "POST", "/v1/ask/stream", json={"question": "Wer hat in Belarus verhandelt?"}, headers=AUTH
        ) as response,
    ):
        assert response.status_code == 200  # the stream had started; the error comes as an event
        events = sse_events(response.iter_lines())
    assert [e for e, _ in events] == ["progress", "error"]
    assert events[-1][1]["error"]["code"] == "timeout"


def test_body_limit_applies_before_reading_and_to_chunked_uploads(live):
    # A client that announces 50 MB gets 413 at once, before it has sent (or we have read) the body.
    host, port = live.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as raw:
        raw.sendall(
            f"POST /v1/articles HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {ADMIN}\r\n"
            f"Content-Type: application/json\r\nContent-Length: 50000000\r\n\r\n{{".encode()
        )
        # Parse the reply as HTTP: uvicorn may send the head and the body in separate segments.
        reply = HTTPResponse(raw)
        reply.begin()
        body = json.loads(reply.read())
    assert reply.status == 413 and body["error"]["code"] == "too_large"

    with httpx.Client(base_url=live, timeout=30) as http:

        def chunks() -> Iterator[bytes]:  # no Content-Length: Transfer-Encoding: chunked
            for _ in range(200):
                yield b"x" * 65_536

        assert_error(http.post("/v1/articles", headers=ADMIN_AUTH, content=chunks()), 413, "too_large")
        assert_error(http.post("/v1/ask", headers=AUTH, content=(b"y" * 4096 for _ in range(20))), 413, "too_large")
        assert http.get("/healthz").json() == {"status": "ok"}  # the server is fine afterwards


def test_keys_on_the_real_server(live):
    assert_error(httpx.get(f"{live}/v1/search", params={"q": "Belarus"}), 401, "unauthorized")
    ok = httpx.get(f"{live}/v1/search", params={"q": "Belarus"}, headers={"Authorization": f"Bearer {READ}"})
    assert ok.status_code == 200 and ok.json()["results"]


def test_errors_carry_cors_headers_so_the_widget_can_read_them(client):
    response = client.post(
        "/v1/ask", content=b"x" * 70_000, headers={**AUTH, "Origin": ORIGIN, "Content-Type": "application/json"}
    )
    assert_error(response, 413, "too_large")
    assert response.headers["access-control-allow-origin"] == ORIGIN
    unauthorized = client.post("/v1/ask", json={"question": "x"}, headers={"Origin": ORIGIN})
    assert unauthorized.status_code == 401 and unauthorized.headers["access-control-allow-origin"] == ORIGIN


# ---- the command line --------------------------------------------------------------------------


def test_serve_refuses_to_start_without_keys(index_settings):
    from tests.conftest import run_cli

    result = run_cli("serve", env={"NEWSBOT_DATA_DIR": str(index_settings.data_dir)})
    assert result.returncode == 2 and "NEWSBOT_API_KEYS is not set" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_serve_with_telegram_answers_both_from_one_process(index_settings, tmp_path):
    """`newsbot serve --telegram`: one process owns the index; HTTP and Telegram both answer, and
    an article pushed over HTTP is found through Telegram right away."""
    import os
    import shutil
    import signal
    import subprocess

    from tests.botapi import BotAPIServer, message_update
    from tests.conftest import NEWSBOT

    data_dir = tmp_path / "data"  # a copy: this test writes to the index
    shutil.copytree(index_settings.data_dir, data_dir)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with BotAPIServer() as telegram:
        env = {
            **os.environ,
            "NEWSBOT_DATA_DIR": str(data_dir),
            "NEWSBOT_API_KEYS": READ,
            "NEWSBOT_ADMIN_KEYS": ADMIN,
            "NEWSBOT_TELEGRAM_TOKEN": telegram.token,
            "NEWSBOT_TELEGRAM_API_URL": telegram.url,
            "NEWSBOT_TELEGRAM_ALLOWED_USERS": "1",
        }
        proc = subprocess.Popen(
            [*NEWSBOT, "serve", "--port", str(port), "--telegram"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(f"{base}/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
                time.sleep(0.2)
            answer = httpx.post(
                f"{base}/v1/ask", json={"question": "Who negotiated in Belarus?"}, headers=AUTH, timeout=60
            ).json()
            assert negotiation(answer["citations"][0]["quote"])
            article = {
                "id": "serve-test",
                "title": "Deichbau an der Elbe",
                "text": "Der neue Elbdeich bei Wedel wird bis 2027 um zwei Meter erhöht.",
            }
            assert httpx.post(f"{base}/v1/articles", json=article, headers=ADMIN_AUTH, timeout=60).json()["added"] == 1
            telegram.push(message_update("Um wie viel wird der Elbdeich erhöht?", user_id=1))
            reply = telegram.wait_for(lambda: telegram.sent(1), timeout=60)[0]
            assert "zwei Meter" in reply.params["plain"]
        finally:
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and telegram.token not in out + err and READ not in out + err
