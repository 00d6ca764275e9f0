"""Feedback in Telegram, end to end against the loopback Bot API server: 👍/👎 under every
answer, a press recorded and answered (``answerCallbackQuery``), 👎's comment taken from a reply,
and presses from strangers or from another chat refused."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest

from bot.feedback import QuestionLog
from bot.telegram import NewsBot
from tests.botapi import BOT_ID, BOT_USERNAME, BotAPIServer, message_update
from tests.test_telegram import EDITOR_IN_GROUP, GROUP, REPORTER, STRANGER, bot_settings, plain, serve

_callbacks = itertools.count(1)


class FeedbackBotAPI(BotAPIServer):
    """The loopback Bot API plus what inline keyboards need (and the id of every sent message)."""

    def _m_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        sent = super()._m_sendMessage(params)
        params["sent_id"] = sent["message_id"]
        return sent

    def _m_answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        return True

    def _m_editMessageReplyMarkup(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._message(int(params["chat_id"]), "…", message_id=int(params["message_id"]))

    def answered(self) -> list[dict[str, Any]]:
        return [c.params for c in self.calls if c.method == "answerCallbackQuery"]


@pytest.fixture
def server():
    with FeedbackBotAPI() as server:
        yield server


def press(data: str, *, user_id: int, chat_id: int, message_id: int) -> dict[str, Any]:
    """A callback query update, as Telegram sends it when someone presses an inline button."""
    chat = (
        {"id": chat_id, "type": "private", "first_name": "Reporter"}
        if chat_id > 0
        else {"id": chat_id, "type": "supergroup", "title": "Newsroom"}
    )
    return {
        "callback_query": {
            "id": f"cb-{next(_callbacks)}",
            "from": {"id": user_id, "is_bot": False, "first_name": "Someone", "language_code": "de"},
            "chat_instance": str(chat_id),
            "data": data,
            "message": {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": chat,
                "text": "…",
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "Newsroom", "username": BOT_USERNAME},
            },
        }
    }


def buttons(call) -> list[dict[str, str]]:
    return call.params["reply_markup"]["inline_keyboard"][0]


def test_every_answer_has_feedback_buttons_and_a_press_is_recorded(index_settings, qa, server):
    settings = bot_settings(index_settings, server)
    bot = NewsBot(settings, qa)

    def scenario():
        server.push(message_update("Wie lange haben die Bücherhallen in Hamburg geöffnet?", user_id=REPORTER))
        server.push(message_update("Wie viele Einhörner leben auf dem Mond?", user_id=REPORTER, message_id=2))
        server.wait_for(lambda: len(server.sent(REPORTER)) == 2)
        answer = next(c for c in server.sent(REPORTER) if "22 Uhr" in plain(c))
        wrong = buttons(answer)[1]["callback_data"]
        server.push(press(wrong, user_id=REPORTER, chat_id=REPORTER, message_id=answer.params["sent_id"]))
        server.wait_for(lambda: any("Was war falsch?" in plain(c) for c in server.sent(REPORTER)))
        prompt = next(c for c in server.sent(REPORTER) if "Was war falsch?" in plain(c))
        comment = message_update("Die Zeiten gelten erst ab Montag.", user_id=REPORTER, message_id=3, reply_to_bot=True)
        comment["message"]["reply_to_message"]["message_id"] = prompt.params["sent_id"]
        server.push(comment)
        server.wait_for(lambda: any("Kommentar ist notiert" in plain(c) for c in server.sent(REPORTER)))

    serve(bot, scenario)
    hours, refused = sorted(server.sent(REPORTER)[:2], key=lambda c: "22 Uhr" not in plain(c))
    for call in (hours, refused):  # refusals get buttons too: "nothing found" can be wrong
        labels = [b["text"] for b in buttons(call)]
        assert labels == ["👍 Hilfreich", "👎 Falsch"]
    answer_id = buttons(hours)[0]["callback_data"].split(":", 2)[2]
    assert buttons(hours)[1]["callback_data"] == f"fb:w:{answer_id}"

    (taken,) = server.answered()
    assert taken["text"] == "Danke für die Rückmeldung!"
    (edit,) = [c for c in server.calls if c.method == "editMessageReplyMarkup"]
    assert [b["text"] for b in edit.params["reply_markup"]["inline_keyboard"][0]] == ["👍 Hilfreich", "👎 Falsch ✓"]
    prompt = next(c for c in server.sent(REPORTER) if "Was war falsch?" in plain(c))
    assert prompt.params["reply_markup"]["force_reply"] is True
    # The comment was not taken for a question: no third answer, only the thank-you.
    assert [plain(c) for c in server.sent(REPORTER)][-1] == "Danke, der Kommentar ist notiert."
    assert len(server.sent(REPORTER)) == 4

    with QuestionLog(settings) as log:
        entry = log.get(answer_id)
    assert entry is not None and entry.front_end == "telegram" and entry.chat_type == "private"
    assert entry.user_ref is None and entry.owner == "telegram"  # nobody's id, unless a setting allows it
    assert entry.rating is not None
    assert (entry.rating.rating, entry.rating.comment) == ("wrong", "Die Zeiten gelten erst ab Montag.")
    assert entry.citations[0].article_id == "hamburg-bibliothek"


def test_strangers_and_other_chats_cannot_rate_an_answer(index_settings, qa, server):
    settings = bot_settings(index_settings, server, log_telegram_user_ids=True)
    bot = NewsBot(settings, qa)

    def scenario():
        server.push(message_update("Wer hat in Belarus verhandelt?", user_id=REPORTER))
        server.wait_for(lambda: server.sent(REPORTER))
        (answer,) = server.sent(REPORTER)
        helpful = buttons(answer)[0]["callback_data"]
        # Someone not on the allow lists, in their own chat with the bot:
        server.push(press(helpful, user_id=STRANGER, chat_id=STRANGER, message_id=answer.params["sent_id"]))
        server.wait_for(lambda: len(server.answered()) == 1)
        # An allowed editor, but in the group, where this answer was never given:
        server.push(press(helpful, user_id=EDITOR_IN_GROUP, chat_id=GROUP, message_id=answer.params["sent_id"]))
        server.wait_for(lambda: len(server.answered()) == 2)
        # Made-up callback data is refused the same way.
        server.push(press("fb:h:not-an-answer", user_id=REPORTER, chat_id=REPORTER, message_id=1))
        server.wait_for(lambda: len(server.answered()) == 3)

    serve(bot, scenario)
    stranger, group, made_up = server.answered()
    assert "nur für die Redaktion" in stranger["text"] and str(stranger["show_alert"]).lower() == "true"
    assert group["text"] == "Zu dieser Antwort kann ich hier keine Rückmeldung annehmen."
    assert made_up["text"] == group["text"]
    assert not [c for c in server.calls if c.method == "editMessageReplyMarkup"]
    assert not server.sent(STRANGER) and not server.sent(GROUP)  # refusals go to the button, not the chat

    (answer,) = server.sent(REPORTER)
    answer_id = buttons(answer)[0]["callback_data"].split(":", 2)[2]
    with QuestionLog(settings) as log:
        entry = log.get(answer_id)
    assert entry is not None and entry.rating is None
    assert entry.user_ref == str(REPORTER)  # NEWSBOT_LOG_TELEGRAM_USER_IDS=true
