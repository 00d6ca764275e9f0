"""The Telegram front end, end to end: the real python-telegram-bot ``Application`` over the real
index and model, talking to a Bot API server on 127.0.0.1 (``tests/botapi.py``)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
import socket
import subprocess
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, assume, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from bot.answer import Answer
from bot.qa import NewsQA
from bot.settings import Settings
from bot.telegram import NewsBot
from bot.telegram.render import LIMIT, Span, answer_messages, size, split
from tests.botapi import BotAPIServer, TelegramHTML, message_update
from tests.conftest import LINKED, NEWSBOT, SEED, negotiation

REPORTER, STRANGER, GROUP, EDITOR_IN_GROUP = 1, 666, -100500, 7


@pytest.fixture
def server():
    with BotAPIServer() as server:
        yield server


@pytest.fixture
def retrievals(qa, monkeypatch) -> list[str]:
    """Every retrieval the bot runs (to prove that refused users cause none)."""
    calls: list[str] = []
    original = qa.retriever.retrieve

    def counting(query: str, **kwargs: Any):
        if query != "warm-up":  # NewsQA.warm_up's own query at start
            calls.append(query)
        return original(query, **kwargs)

    monkeypatch.setattr(qa.retriever, "retrieve", counting)
    return calls


def bot_settings(index_settings: Settings, server: BotAPIServer, **overrides: Any) -> Settings:
    values = {
        "telegram_token": server.token,
        "telegram_api_url": server.url,
        "telegram_allowed_users": {REPORTER},
        "telegram_allowed_chats": {GROUP},
        **overrides,
    }
    return Settings(**{**index_settings.model_dump(), **values})


def serve(bot: NewsBot, scenario: Callable[[], None], **options: Any) -> None:
    """Run the bot in an event loop while ``scenario`` (plain blocking code) drives the server."""

    async def main() -> None:
        async with bot.running(poll_timeout=1, **options):
            await asyncio.to_thread(scenario)

    asyncio.run(main())


def plain(call) -> str:
    """The text of a sent message as the user sees it (tags parsed away)."""
    return call.params["plain"]


# ---- answering ---------------------------------------------------------------------------------


def test_question_gets_cited_answer_with_typing_and_html(index_settings, qa, server):
    bot = NewsBot(bot_settings(index_settings, server), qa)

    def scenario():
        server.push(message_update("Wer hat in Belarus verhandelt?", user_id=REPORTER))
        server.wait_for(lambda: server.sent(REPORTER))

    serve(bot, scenario)
    (answer,) = server.sent(REPORTER)
    assert answer.params["parse_mode"] == "HTML"
    assert "<blockquote>" in answer.params["text"] and "[1]" in answer.params["text"]
    assert negotiation(plain(answer))
    assert "Quellen:" in plain(answer) and "Laut tagesschau.de" in plain(answer)
    assert "Hinweis zur Berichterstattung" in plain(answer)  # the seed's editorial note travels along
    typing = [c for c in server.calls if c.method == "sendChatAction"]
    assert typing and typing[0].params["action"] == "typing" and typing[0].at < answer.at
    commands = [c for c in server.calls if c.method == "setMyCommands"]
    assert {c.params.get("language_code") for c in commands} == {None, "de"}


def test_sources_are_links_and_follow_ups_use_the_history(index_settings, qa, server):
    bot = NewsBot(bot_settings(index_settings, server), qa)

    def scenario():
        server.push(message_update("Wie lange haben die Bücherhallen in Hamburg geöffnet?", user_id=REPORTER))
        server.wait_for(lambda: len(server.sent(REPORTER)) == 1)
        server.push(message_update("/sources", user_id=REPORTER))
        server.wait_for(lambda: len(server.sent(REPORTER)) == 2)
        server.push(message_update("Wo wollen sich Lawrow und Kuleba treffen?", user_id=REPORTER))
        server.wait_for(lambda: len(server.sent(REPORTER)) == 3)
        server.push(message_update("Und wann?", user_id=REPORTER))
        server.wait_for(lambda: len(server.sent(REPORTER)) == 4)

    serve(bot, scenario)
    answer, sources, lawrow, follow_up = server.sent(REPORTER)
    link = f'<a href="{LINKED["url"]}">Bücherhallen öffnen länger (08.03.2022)</a>'
    assert "22 Uhr" in plain(answer) and link in answer.params["text"]
    assert LINKED["url"] in sources.params["text"] and "NDR · 08.03.2022" in plain(sources)
    assert "Antalya" in plain(lawrow)
    assert "Antalya" in plain(follow_up) or "Lawrow" in plain(follow_up)  # "Und wann?" kept the topic


@pytest.mark.parametrize(
    ("first", "follow_up", "said"),
    [
        ("Wie hoch war die Inflation in Österreich?", "Und in der Eurozone?", "0,1 Prozent"),
        ("How high was inflation in Austria?", "And in the eurozone?", "0,1 Prozent"),
        ("Какой была инфляция в Австрии?", "А в еврозоне?", "0,1 Prozent"),
        ("Wie hoch war die Inflation in Österreich?", "Und was sagte Medinski?", "Medinski"),
    ],
)
def test_a_follow_up_naming_something_new_keeps_only_what_it_lacks(
    tmp_path, e5, server, monkeypatch, first, follow_up, said
):
    """The integrity issue's examples through Telegram's shared ``Conversation``: a new place keeps
    the asked attribute, a new party with its own question stands alone."""
    import json

    from bot.admin import NewsAdmin
    from index.loaders import Loader
    from tests.conftest import ROOT
    from tests.test_qa import INFLATION

    settings = Settings(data_dir=tmp_path / "data")
    (tmp_path / "inflation.json").write_text(json.dumps(INFLATION), encoding="utf-8")
    with NewsAdmin.open(settings, embedder=e5) as admin:
        admin.ingest(Loader().load([ROOT / "corpus", tmp_path / "inflation.json"]))
    with NewsQA(settings, embedder=e5) as qa:
        bot = NewsBot(bot_settings(settings, server), qa)
        searched: list[str] = []
        original = qa.retriever.retrieve
        monkeypatch.setattr(qa.retriever, "retrieve", lambda q, **kw: searched.append(q) or original(q, **kw))

        def scenario():
            server.push(message_update(first, user_id=REPORTER))
            server.wait_for(lambda: len(server.sent(REPORTER)) == 1)
            server.push(message_update(follow_up, user_id=REPORTER))
            server.wait_for(lambda: len(server.sent(REPORTER)) == 2)

        serve(bot, scenario)
    before, after = (plain(m) for m in server.sent(REPORTER))
    assert "0,7 Prozent" in before and said in after and "0,7 Prozent" not in after
    query = searched[-1]  # the follow-up's search: the asked attribute borrowed, the old place not
    assert query.startswith(follow_up.rstrip("?")) and not {"Österreich", "Austria", "Австрии"} & set(query.split())
    assert (query == follow_up) == ("Medinski" in follow_up)


def test_stranger_is_refused_once_and_causes_no_retrieval(index_settings, qa, server, retrievals, caplog):
    bot = NewsBot(bot_settings(index_settings, server), qa)

    def scenario():
        server.push(message_update("Wer hat in Belarus verhandelt?", user_id=STRANGER))
        server.push(message_update("Und jetzt?", user_id=STRANGER))
        server.push(message_update("/help", user_id=STRANGER))
        server.wait_for(lambda: len([c for c in server.calls if c.method == "getUpdates"]) >= 3)
        server.push(message_update("Wer hat in Belarus verhandelt?", user_id=REPORTER))
        server.wait_for(lambda: server.sent(REPORTER))

    with caplog.at_level(logging.WARNING, logger="bot.telegram"):
        serve(bot, scenario)
    (refusal,) = server.sent(STRANGER)
    assert "nur für die Redaktion" in plain(refusal)
    assert retrievals == ["Wer hat in Belarus verhandelt?"]  # the reporter's question only
    refused = [r.getMessage() for r in caplog.records if "refused update" in r.getMessage()]
    assert len(refused) == 3 and all(f"user {STRANGER}" in line for line in refused)


def test_group_answers_only_when_mentioned_or_replied_to(index_settings, qa, server, retrievals):
    bot = NewsBot(bot_settings(index_settings, server), qa)

    def scenario():
        server.push(
            message_update("Wer hat in Belarus verhandelt?", user_id=EDITOR_IN_GROUP, chat_id=GROUP, message_id=10)
        )
        server.push(
            message_update(
                "@newsroom_bot Wer hat in Belarus verhandelt?", user_id=EDITOR_IN_GROUP, chat_id=GROUP, message_id=11
            )
        )
        server.wait_for(lambda: len(server.sent(GROUP)) == 1)
        server.push(
            message_update(
                "How many refugees from Ukraine have arrived so far?",
                user_id=EDITOR_IN_GROUP,
                chat_id=GROUP,
                message_id=12,
                reply_to_bot=True,
                language="en",
            )
        )
        server.wait_for(lambda: len(server.sent(GROUP)) == 2)

    serve(bot, scenario)
    mentioned, replied = server.sent(GROUP)
    assert retrievals == ["Wer hat in Belarus verhandelt?", "How many refugees from Ukraine have arrived so far?"]
    assert mentioned.params["reply_parameters"]["message_id"] == 11
    assert negotiation(plain(mentioned))
    assert "50.000" in plain(replied) and "According to tagesschau.de" in plain(replied)


def test_unanswerable_question_is_a_visibly_different_refusal(index_settings, qa, server):
    bot = NewsBot(bot_settings(index_settings, server), qa)

    def scenario():
        server.push(message_update("Wer gewann 1954 die Fußball-Weltmeisterschaft?", user_id=REPORTER))
        server.wait_for(lambda: server.sent(REPORTER))

    serve(bot, scenario)
    (refusal,) = server.sent(REPORTER)
    assert refusal.params["text"].startswith("🔎 <i>Dazu habe ich in den Artikeln nichts gefunden.")
    assert "<blockquote>" not in refusal.params["text"] and "Quellen" not in plain(refusal)


def test_commands_help_filters_and_reset(index_settings, qa, server):
    bot = NewsBot(bot_settings(index_settings, server), qa)
    replies = lambda n: server.wait_for(lambda: len(server.sent(REPORTER)) == n)  # noqa: E731

    def scenario():
        for n, text in enumerate(
            [
                "/help",
                "/since gestern abend",
                "/since 10.03.2022",
                "Wer hat in Belarus verhandelt?",
                "/reset",
                "/sources",
                "/frobnicate",
            ],
            1,
        ):
            server.push(message_update(text, user_id=REPORTER))
            replies(n)

    serve(bot, scenario)
    help_, bad_date, since, filtered, reset, sources, unknown = (plain(c) for c in server.sent(REPORTER))
    assert "2 Artikel (07.03.2022 – 08.03.2022)" in help_ and "/since" in help_
    assert "07.03.2022" in bad_date or "date" in bad_date  # a clear error, the filter unchanged
    assert since == "Filter gesetzt: ab 10.03.2022."
    assert "nichts gefunden" in filtered and "Filter: ab 10.03.2022" in filtered  # the seed is older
    assert reset == "Verlauf und Filter sind zurückgesetzt."
    assert sources.startswith("Noch keine Quellen")
    assert "kenne ich nicht" in unknown


def test_history_and_filters_survive_a_restart_with_persistence(index_settings, qa, server, tmp_path):
    persist = tmp_path / "state" / "telegram.pickle"

    def first():
        server.push(message_update("/until 07.03.2022", user_id=REPORTER))
        server.wait_for(lambda: len(server.sent(REPORTER)) == 1)

    serve(NewsBot(bot_settings(index_settings, server), qa, persist=persist), first)
    assert persist.exists()

    def second():
        server.push(message_update("/help", user_id=REPORTER))
        server.wait_for(lambda: len(server.sent(REPORTER)) == 2)

    serve(NewsBot(bot_settings(index_settings, server), qa, persist=persist), second)
    assert "Filter: bis 07.03.2022" in plain(server.sent(REPORTER)[1])


# ---- long answers, limits and errors -----------------------------------------------------------


class LongAnswerQA:
    """A stand-in for ``NewsQA`` whose answer is far longer than one Telegram message (real
    answers are at most three quotes of capped sentences, so this cannot come from the index)."""

    llm = None  # no LLM: answers are quotes

    def __init__(self, qa: NewsQA) -> None:
        self.qa = qa

    def warm_up(self) -> None:
        pass

    async def aask(self, question: str, **kwargs: Any) -> Answer:
        answer = await self.qa.aask(question, **kwargs)
        sentences = [s.strip() + "." for s in SEED.read_text(encoding="utf-8").split(".") if len(s.strip()) > 40]
        long_quote = " ".join(sentences * 4)[:3400]
        citations = [dataclasses.replace(answer.citations[0], n=n, quotes=[long_quote]) for n in (1, 2, 3)]
        return dataclasses.replace(answer, citations=citations)


def test_a_10000_character_answer_arrives_as_several_valid_messages(index_settings, qa, server):
    bot = NewsBot(bot_settings(index_settings, server), LongAnswerQA(qa))  # type: ignore[arg-type]

    def scenario():
        server.push(message_update("Wer hat in Belarus verhandelt?", user_id=REPORTER))
        server.wait_for(lambda: len(server.sent(REPORTER)) >= 3 and "Quellen" in plain(server.sent(REPORTER)[-1]))

    serve(bot, scenario)
    parts = server.sent(REPORTER)
    total = sum(len(plain(p)) for p in parts)
    assert total > 10_000 and len(parts) >= 3
    assert all(size(p.params["text"]) <= LIMIT for p in parts)
    assert all(p.params["text"].count("<blockquote>") == p.params["text"].count("</blockquote>") for p in parts)
    assert not any("failed" in c.params for c in server.calls if c.method == "sendMessage")


def test_flood_limit_is_waited_out_and_network_errors_retried(index_settings, qa, server):
    bot = NewsBot(bot_settings(index_settings, server), qa)
    server.fail("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    server.fail("sendMessage", 502, "Bad Gateway")

    def scenario():
        server.push(message_update("Wer hat in Belarus verhandelt?", user_id=REPORTER))
        server.wait_for(lambda: server.sent(REPORTER))

    serve(bot, scenario)
    attempts = [c for c in server.calls if c.method == "sendMessage"]
    assert [c.params.get("failed") for c in attempts] == [429, 502, None]
    assert attempts[1].at - attempts[0].at >= 1.0  # retry_after honoured
    assert negotiation(plain(attempts[2]))


class GateQA:
    """Answers only once two questions are being worked on at the same time: with updates handled
    one after another the first question would wait in vain (and the test would fail)."""

    llm = None  # no LLM: answers are quotes

    def __init__(self, qa: NewsQA) -> None:
        self.qa = qa
        self.waiting = 0
        self.both = asyncio.Event()

    def warm_up(self) -> None:
        pass

    async def aask(self, question: str, **kwargs: Any) -> Answer:
        self.waiting += 1
        if self.waiting == 2:
            self.both.set()
        await asyncio.wait_for(self.both.wait(), timeout=20)
        return await self.qa.aask(question, **kwargs)


def test_different_chats_are_answered_concurrently(index_settings, qa, server):
    bot = NewsBot(bot_settings(index_settings, server, telegram_allowed_users={REPORTER, 2}), GateQA(qa))  # type: ignore[arg-type]

    def scenario():
        server.push(message_update("Wer hat in Belarus verhandelt?", user_id=REPORTER))
        server.push(message_update("Who negotiated in Belarus?", user_id=2, language="en"))
        server.wait_for(lambda: server.sent(REPORTER) and server.sent(2))

    serve(bot, scenario)
    for chat in (REPORTER, 2):
        assert negotiation(plain(server.sent(chat)[0]))


class BrokenQA:
    llm = None  # no LLM: answers are quotes

    def warm_up(self) -> None:
        pass

    async def aask(self, question: str, **kwargs: Any) -> Answer:
        raise RuntimeError("index exploded")


def test_unexpected_error_gets_apology_and_full_traceback_in_log(index_settings, server, caplog):
    bot = NewsBot(bot_settings(index_settings, server), BrokenQA())  # type: ignore[arg-type]

    def scenario():
        server.push(message_update("Wer hat in Belarus verhandelt?", user_id=REPORTER))
        server.wait_for(lambda: server.sent(REPORTER))

    with caplog.at_level(logging.ERROR, logger="bot.telegram"):
        serve(bot, scenario)
    (apology,) = server.sent(REPORTER)
    assert plain(apology).startswith("Entschuldigung, da ist etwas schiefgegangen")
    assert "RuntimeError" not in plain(apology) and "Traceback" not in plain(apology)
    assert any(r.exc_info and "index exploded" in str(r.exc_info[1]) for r in caplog.records)


def test_too_long_question_gets_the_domain_error(index_settings, qa, server):
    bot = NewsBot(bot_settings(index_settings, server), qa)

    def scenario():
        server.push(message_update("Belarus " * 400, user_id=REPORTER))
        server.wait_for(lambda: server.sent(REPORTER))

    serve(bot, scenario)
    assert "too long" in plain(server.sent(REPORTER)[0])


def test_one_user_cannot_flood_the_bot(index_settings, qa, server, retrievals):
    """An allowed user who sends more than NEWSBOT_TELEGRAM_RATE_LIMIT questions gets a polite
    'wait' and costs no retrieval; another user is answered meanwhile."""
    bot = NewsBot(
        bot_settings(index_settings, server, telegram_rate_limit="3/minute", telegram_allowed_users={REPORTER, 77}), qa
    )

    def scenario():
        for n in range(5):
            server.push(message_update("Wer hat in Belarus verhandelt?", user_id=REPORTER, message_id=100 + n))
        server.wait_for(lambda: len(server.sent(REPORTER)) == 5)
        server.push(message_update("Wo wollen sich Lawrow und Kuleba treffen?", user_id=77))
        server.wait_for(lambda: server.sent(77))

    serve(bot, scenario)
    replies = [plain(c) for c in server.sent(REPORTER)]
    assert sum("viele Fragen" in r for r in replies) == 2
    assert sum(negotiation(r) for r in replies) == 3
    assert len([q for q in retrievals if "Belarus" in q]) == 3
    assert "Antalya" in plain(server.sent(77)[0])


# ---- webhook mode ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_webhook_checks_the_secret_and_drops_redelivered_updates(index_settings, qa, server, retrievals):
    port = free_port()
    settings = bot_settings(index_settings, server, telegram_webhook_secret="s3cret-token")
    bot = NewsBot(settings, qa)
    url = f"http://127.0.0.1:{port}/telegram/hook"
    statuses: dict[str, int] = {}

    def scenario():
        update = message_update("Wer hat in Belarus verhandelt?", user_id=REPORTER, update_id=77)
        with httpx.Client() as client:
            statuses["missing"] = client.post(url, json=update).status_code
            statuses["wrong"] = client.post(
                url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "guess"}
            ).status_code
            for attempt in ("first", "again"):
                statuses[attempt] = client.post(
                    url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-token"}
                ).status_code
        server.wait_for(lambda: server.sent(REPORTER))
        server.wait_for(
            lambda: not any(c.method == "sendChatAction" and c.at > server.sent(REPORTER)[-1].at for c in server.calls),
            timeout=5,
        )

    serve(bot, scenario, webhook=url, port=port)
    assert statuses == {"missing": 403, "wrong": 403, "first": 200, "again": 200}
    assert server.webhook == {} or server.webhook.get("url") == url  # deleted again on shutdown, or still set
    registered = [c for c in server.calls if c.method == "setWebhook"]
    assert registered[0].params["url"] == url and registered[0].params["secret_token"] == "s3cret-token"
    assert len(server.sent(REPORTER)) == 1 and retrievals == ["Wer hat in Belarus verhandelt?"]


# ---- the command line --------------------------------------------------------------------------


def test_cli_refuses_to_start_without_token_or_allow_list(index_settings):
    env = {**os.environ, "NEWSBOT_DATA_DIR": str(index_settings.data_dir)}
    no_token = subprocess.run([*NEWSBOT, "telegram"], capture_output=True, text=True, env=env, timeout=60)
    assert no_token.returncode == 2 and "NEWSBOT_TELEGRAM_TOKEN is not set" in no_token.stderr
    open_bot = subprocess.run(
        [*NEWSBOT, "telegram"], capture_output=True, text=True, timeout=60, env={**env, "NEWSBOT_TELEGRAM_TOKEN": "1:x"}
    )
    assert open_bot.returncode == 2 and "NEWSBOT_TELEGRAM_ALLOW_ALL=true" in open_bot.stderr
    bad_webhook = subprocess.run(
        [*NEWSBOT, "telegram", "--webhook", "bot.example.org/hook"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**env, "NEWSBOT_TELEGRAM_TOKEN": "1:x", "NEWSBOT_TELEGRAM_ALLOWED_USERS": "1"},
    )
    assert bad_webhook.returncode == 2 and "--webhook needs a URL" in bad_webhook.stderr
    assert "Traceback" not in no_token.stderr + open_bot.stderr + bad_webhook.stderr


@pytest.mark.slow
def test_cli_polls_answers_and_stops_cleanly_without_logging_the_token(index_settings, server, tmp_path):
    env = {
        **os.environ,
        "NEWSBOT_DATA_DIR": str(index_settings.data_dir),
        "NEWSBOT_TELEGRAM_TOKEN": server.token,
        "NEWSBOT_TELEGRAM_API_URL": server.url,
        "NEWSBOT_TELEGRAM_ALLOWED_USERS": f"{REPORTER}, 99",
    }
    proc = subprocess.Popen(
        [*NEWSBOT, "-vv", "telegram", "--persist", str(tmp_path / "chats.pickle")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        server.push(message_update("Who negotiated in Belarus?", user_id=REPORTER, language="en"))
        server.wait_for(lambda: server.sent(REPORTER), timeout=120)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert negotiation(plain(server.sent(REPORTER)[0]))
    assert server.token not in out + err and server.token.split(":")[1] not in out + err
    assert "Traceback" not in err and (tmp_path / "chats.pickle").exists()


# ---- the renderer ------------------------------------------------------------------------------

WORDS = st.one_of(
    st.text(alphabet="<>&*_[]\"' ", min_size=1, max_size=20),
    st.text(alphabet=st.characters(categories=["Lu", "Ll", "So"]), min_size=1, max_size=30),  # letters, emoji
    st.text(alphabet="aäß&<", min_size=500, max_size=6000),  # words longer than a message
    st.sampled_from([". ", "! ", "? ", "\n", "\n\n", " ", "😀", "👍🏽", "„Zitat“"]),
)
SPANS = st.builds(
    lambda words, tag, bold: Span(
        "".join(words),
        tag,
        "https://example.org/?a=1&b=<2>" if tag == "a" else None,
        bold=bold and tag not in ("b", "code", "a"),  # an answer marked inside a quote
    ),
    st.lists(WORDS, min_size=1, max_size=25),
    st.sampled_from([None, None, "b", "i", "blockquote", "blockquote", "code", "a"]),
    st.booleans(),
)


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(SPANS, min_size=1, max_size=8), st.sampled_from([LIMIT, LIMIT, 400, 64]))
def test_split_always_yields_valid_parts_that_join_back(spans, limit):
    # Link texts are never split (the renderer keeps them short), so they must fit.
    assume(all(s.tag != "a" or size(s.html()) <= limit for s in spans))
    parts = split(spans, limit)
    texts = []
    for part in parts:
        assert size(part) <= limit
        text, errors = TelegramHTML.parse(part)
        assert not errors, (errors, part[:200])
        texts.append(text)
    assert "".join(texts) == "".join(s.text for s in spans)


def test_answer_rendering_escapes_everything(qa):
    answer = qa.ask("Wer hat in Belarus verhandelt?")
    tricky = dataclasses.replace(
        answer,
        citations=[
            dataclasses.replace(
                answer.citations[0],
                title='<script>&amp; "Titel"',
                url='https://x.example/"onmouseover="alert(1)',
                source="A&B <C>",
            )
        ],
    )
    (message,) = answer_messages(tricky)
    _, errors = TelegramHTML.parse(message)
    assert not errors
    assert "<script>" not in message and "&lt;script&gt;&amp;amp;" in message
    assert 'href="https://x.example/&quot;onmouseover=&quot;alert(1)"' in message
    assert "Laut A&amp;B &lt;C&gt;" in message


def test_the_answer_is_bold_inside_one_block_quote(qa):
    """Where the reader marked the answer in a quote, it is bold, and the quote stays one block."""
    answer = qa.ask("Who led the Russian delegation in the talks?")
    (message,) = answer_messages(answer)
    _, errors = TelegramHTML.parse(message)
    assert not errors
    assert "<b>Wladimir Medinski</b>" in message
    assert message.count("<blockquote>") == 1 == message.count("</blockquote>")
    assert message.index("<blockquote>") < message.index("<b>Wladimir Medinski</b>") < message.index("</blockquote>")
    unmarked = dataclasses.replace(answer, citations=[dataclasses.replace(answer.citations[0], answer_spans=[None])])
    (plain_message,) = answer_messages(unmarked)
    assert "<b>Wladimir" not in plain_message and "Wladimir Medinski" in plain_message
