"""Feedback under every Telegram answer: 👍/👎 as an inline keyboard; 👎 asks for an optional comment.

Answers are logged with the chat type only (the user id too only with
``NEWSBOT_LOG_TELEGRAM_USER_IDS``). Which answers went to a chat is kept in that chat's
``chat_data`` (in memory, or in the ``--persist`` file), not in the log: a button press counts
only in the chat its answer went to, so someone who learns an answer id elsewhere cannot rate it.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from telegram import ForceReply, InlineKeyboardButton, InlineKeyboardMarkup, Message, ReplyParameters, Update
from telegram.constants import ChatType
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from bot.answer import Answer
from bot.errors import FeedbackError, LoggingOffError
from bot.feedback import RATINGS, QuestionLog
from bot.texts import texts

logger = logging.getLogger(__name__)

PREFIX = "fb"
CODES = {"helpful": "h", "wrong": "w"}  # callback data has 64 bytes: "fb:h:" + a 22-character id
RATING_OF = {code: rating for rating, code in CODES.items()}
ANSWERS = "feedback_answers"  # chat_data: answer ids given in this chat, oldest first
PROMPTS = "feedback_prompts"  # chat_data: message id of a "what was wrong?" prompt -> answer id
KEEP = 500  # answers per chat that can still be rated (and open comment prompts)
_DATA = re.compile(rf"{PREFIX}:([{''.join(RATING_OF)}]):([A-Za-z0-9_-]{{8,64}})")


def keyboard(answer_id: str, labels: dict[str, str], chosen: str | None = None) -> InlineKeyboardMarkup:
    """👍/👎 under an answer; the chosen one ticked once feedback was taken."""
    buttons = [
        InlineKeyboardButton(
            labels[f"feedback_{rating}"] + (" ✓" if rating == chosen else ""),
            callback_data=f"{PREFIX}:{CODES[rating]}:{answer_id}",
        )
        for rating in RATINGS
    ]
    return InlineKeyboardMarkup([buttons])


def parse(data: str | None) -> tuple[str, str] | None:
    """(rating, answer id) of a feedback button's callback data, or None."""
    match = _DATA.fullmatch(data or "")
    return (RATING_OF[match[1]], match[2]) if match else None


class TelegramFeedback:
    """Logs the bot's answers, hands out their keyboards, and takes the presses and comments."""

    def __init__(self, questions: QuestionLog, *, user_ids: bool = False) -> None:
        self.questions = questions
        self.user_ids = user_ids

    async def log(
        self, answer: Answer, message: Message, chat_data: dict[Any, Any] | None, labels: dict[str, str]
    ) -> InlineKeyboardMarkup | None:
        """Log the answer to ``message`` (its id remembered for this chat); the keyboard to send
        under it, or None when it was not logged."""
        user = message.from_user
        answer_id = await asyncio.to_thread(
            self.questions.record,
            answer,
            front_end="telegram",
            chat_type=str(message.chat.type),
            user_ref=str(user.id) if self.user_ids and user is not None else None,
        )
        if answer_id is not None and chat_data is not None:
            given: list[str] = chat_data.setdefault(ANSWERS, [])
            given.append(answer_id)
            del given[:-KEEP]
        return keyboard(answer_id, labels) if answer_id is not None else None

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A 👍/👎 press: recorded if the answer went to this chat, always answered (Telegram
        shows a spinner on the button until ``answerCallbackQuery``)."""
        query = update.callback_query
        assert query is not None
        labels = texts(query.from_user.language_code if query.from_user else None)
        parsed = parse(query.data)
        chat_data = context.chat_data if context.chat_data is not None else {}
        if parsed is None or parsed[1] not in chat_data.get(ANSWERS, ()):
            logger.info("refused feedback on an answer this chat was not given")
            await query.answer(labels["feedback_refused"], show_alert=True)
            return
        rating, answer_id = parsed
        try:
            await asyncio.to_thread(self.questions.rate, answer_id, rating, front_end="telegram")
        except LoggingOffError:
            await query.answer(labels["feedback_off"], show_alert=True)
            return
        except FeedbackError as exc:  # expired meanwhile
            logger.info("feedback not taken: %s", exc)
            await query.answer(labels["feedback_refused"], show_alert=True)
            return
        await query.answer(labels["feedback_thanks"])
        try:
            await query.edit_message_reply_markup(keyboard(answer_id, labels, chosen=rating))
        except BadRequest as exc:  # e.g. "message is not modified" when pressed twice
            logger.debug("feedback keyboard not updated: %s", exc)
        message = query.message
        if rating == "wrong" and isinstance(message, Message):
            private = message.chat.type == ChatType.PRIVATE
            prompt = await context.bot.send_message(
                message.chat.id,
                labels["feedback_ask_comment"],
                parse_mode=None,
                reply_parameters=ReplyParameters(message_id=message.message_id, allow_sending_without_reply=True),
                # In a group, a forced reply would open the reply field for everyone.
                reply_markup=ForceReply(input_field_placeholder=labels["feedback_comment_hint"]) if private else None,
            )
            prompts: dict[int, str] = chat_data.setdefault(PROMPTS, {})
            prompts[prompt.message_id] = answer_id
            for old in list(prompts)[:-KEEP]:
                del prompts[old]

    async def comment(self, message: Message, chat_data: dict[Any, Any] | None, labels: dict[str, str]) -> bool:
        """Whether ``message`` answers a "what was wrong?" prompt (and was taken as its comment)."""
        reply = message.reply_to_message
        prompts: dict[int, str] = (chat_data or {}).get(PROMPTS) or {}
        if reply is None or reply.message_id not in prompts:
            return False
        answer_id = prompts.pop(reply.message_id)
        try:
            await asyncio.to_thread(
                self.questions.rate, answer_id, "wrong", front_end="telegram", comment=message.text or ""
            )
        except FeedbackError as exc:
            logger.info("feedback comment not taken: %s", exc)
            await message.reply_text(labels["feedback_refused"], parse_mode=None)
            return True
        await message.reply_text(labels["feedback_comment_thanks"], parse_mode=None)
        return True
