"""``newsbot telegram``: the newsroom bot for private chats and groups (python-telegram-bot v22).

A thin adapter over ``NewsQA``: updates come in (long polling or a webhook), pass a
guard (duplicate ``update_id`` s, the allow lists), and questions go to ``qa.aask``
in a worker thread, so chats are answered concurrently while the event loop stays
free. Each chat keeps a short, expiring history for follow-ups and its date filter
in ``chat_data`` (persisted with ``--persist``). Rendering lives in ``render``, sending (rate limits, retries, drafts) in ``delivery``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import TypedDict
from urllib.parse import urlsplit

from cachetools import LRUCache
from limits import parse as parse_rate
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from telegram import (
    BotCommand,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
    User,
)
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    MessageHandler,
    PersistenceInput,
    PicklePersistence,
    TypeHandler,
    filters,
)

from bot.answer import Answer
from bot.conversation import Conversation
from bot.errors import ConfigError, NewsbotError
from bot.feedback import QuestionLog
from bot.qa import NewsQA
from bot.render import day
from bot.settings import Settings
from bot.telegram.delivery import Draft, PatientRateLimiter, redact_in_logs, typing
from bot.telegram.feedback import PREFIX, TelegramFeedback
from bot.telegram.render import Span, answer_messages, sources_messages, split
from bot.texts import COMMANDS, EXAMPLES, language_of, texts

logger = logging.getLogger(__name__)

ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]  # callback queries: the feedback buttons
SEEN_UPDATES = 10_000  # update ids remembered to drop re-deliveries
REFUSED_USERS = 10_000  # users told once that they may not ask


def check_settings(settings: Settings) -> None:
    """Refuse to start without a token, or open to everyone without saying so."""
    if settings.telegram_token is None or not settings.telegram_token.get_secret_value().strip():
        raise ConfigError(
            "NEWSBOT_TELEGRAM_TOKEN is not set. Create a bot with @BotFather in Telegram (/newbot) "
            "and put its token into .env."
        )
    if not (settings.telegram_allowed_users or settings.telegram_allowed_chats or settings.telegram_allow_all):
        raise ConfigError(
            "Nobody may use the bot: set NEWSBOT_TELEGRAM_ALLOWED_USERS and/or NEWSBOT_TELEGRAM_ALLOWED_CHATS "
            "(comma-separated ids), or NEWSBOT_TELEGRAM_ALLOW_ALL=true to open the archive to every "
            "Telegram user."
        )


class Webhook(TypedDict):
    """What ``run_webhook`` / ``start_webhook`` need besides the updates to receive."""

    listen: str
    port: int
    url_path: str
    webhook_url: str
    secret_token: str


class NewsBot:
    """The Telegram application over one ``NewsQA``: ``run()`` blocks, ``running()`` shares a loop."""

    def __init__(
        self, settings: Settings, qa: NewsQA, *, persist: Path | None = None, questions: QuestionLog | None = None
    ) -> None:
        check_settings(settings)
        assert settings.telegram_token is not None
        redact_in_logs(settings.telegram_token.get_secret_value())
        self.settings = settings
        self.qa = qa
        self._seen: LRUCache[int, bool] = LRUCache(SEEN_UPDATES)
        self._refused: LRUCache[int, bool] = LRUCache(REFUSED_USERS)
        # An allowed user cannot flood the bot (and with it everyone else's questions).
        self._rate = parse_rate(settings.telegram_rate_limit)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self.feedback = TelegramFeedback(
            questions if questions is not None else QuestionLog(settings), user_ids=settings.log_telegram_user_ids
        )
        self.app = self._application(persist)

    def run(self, *, webhook: str | None = None, listen: str = "127.0.0.1", port: int = 8443) -> None:
        """Run until Ctrl-C / SIGTERM: long polling, or a webhook at ``webhook`` (an https URL)."""
        if webhook is None:
            self.app.run_polling(allowed_updates=ALLOWED_UPDATES)
        else:
            self.app.run_webhook(**self._webhook(webhook, listen, port), allowed_updates=ALLOWED_UPDATES)

    @contextlib.asynccontextmanager
    async def running(
        self, *, webhook: str | None = None, listen: str = "127.0.0.1", port: int = 8443, poll_timeout: float = 10
    ) -> AsyncIterator[Application]:
        """Run inside an event loop that is already running (next to the HTTP API, in tests)."""
        app = self.app
        assert app.updater is not None
        async with app:
            await self._post_init(app)
            if webhook is None:
                await app.updater.start_polling(
                    timeout=timedelta(seconds=poll_timeout), allowed_updates=ALLOWED_UPDATES
                )
            else:
                await app.updater.start_webhook(**self._webhook(webhook, listen, port), allowed_updates=ALLOWED_UPDATES)
            await app.start()
            try:
                yield app
            finally:
                await app.updater.stop()
                await app.stop()

    def _webhook(self, url: str, listen: str, port: int) -> Webhook:
        """Where to listen and the secret Telegram must send (the configured one, or a fresh random one)."""
        configured = self.settings.telegram_webhook_secret
        return {
            "listen": listen,
            "port": port,
            "url_path": urlsplit(url).path.strip("/"),
            "webhook_url": url,
            "secret_token": configured.get_secret_value() if configured else secrets.token_urlsafe(32),
        }

    def _application(self, persist: Path | None) -> Application:
        assert self.settings.telegram_token is not None
        root = self.settings.telegram_api_url.rstrip("/")
        builder = (
            ApplicationBuilder()
            .token(self.settings.telegram_token.get_secret_value())
            .base_url(f"{root}/bot")
            .base_file_url(f"{root}/file/bot")
            .rate_limiter(PatientRateLimiter(max_retries=3))
            .concurrent_updates(True)
            .defaults(Defaults(parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True)))
            .post_init(self._post_init)
        )
        if persist is not None:
            persist.parent.mkdir(parents=True, exist_ok=True)
            builder = builder.persistence(
                PicklePersistence(
                    filepath=persist,
                    store_data=PersistenceInput(bot_data=False, user_data=False, callback_data=False),
                )
            )
        app = builder.build()
        app.add_handler(TypeHandler(Update, self.guard), group=-1)
        app.add_handler(CommandHandler("start", self.start))
        app.add_handler(CommandHandler("help", self.help))
        app.add_handler(CommandHandler("sources", self.sources))
        app.add_handler(CommandHandler(["since", "until"], self.date_filter))
        app.add_handler(CommandHandler("reset", self.reset))
        app.add_handler(CallbackQueryHandler(self.feedback.on_button, pattern=rf"^{PREFIX}:"))
        app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, self.question))
        app.add_handler(MessageHandler(filters.COMMAND & filters.ChatType.PRIVATE, self.unknown))
        app.add_error_handler(self.on_error)
        return app

    async def _post_init(self, app: Application) -> None:
        me = app.bot
        logger.info("Telegram bot @%s (id %s) is up", me.username, me.id)
        for language, commands in COMMANDS.items():
            await me.set_my_commands(
                [BotCommand(c, d) for c, d in commands], language_code=None if language == "en" else language
            )
        await asyncio.to_thread(self.qa.warm_up)

    # ---- the guard: re-deliveries and the allow lists -----------------------------------------

    async def guard(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Runs before every handler: drop re-delivered updates and serve allowed people only."""
        if _remember(self._seen, update.update_id):
            logger.info("dropped re-delivered update %s", update.update_id)
            raise ApplicationHandlerStop
        user, chat, message = update.effective_user, update.effective_chat, update.effective_message
        if self._allowed(user.id if user else None, chat.id if chat else None):
            return
        logger.warning(
            "refused update from user %s in chat %s (not on the allow lists)",
            user.id if user else None,
            chat.id if chat else None,
        )
        if update.callback_query is not None:  # a feedback button: answer the press, send nothing
            await update.callback_query.answer(_texts(user)["not_allowed"], show_alert=True)
            raise ApplicationHandlerStop
        addressed = message is not None and (_is_command(message) or self._addressed(message, context))
        if message is not None and addressed and user is not None and not _remember(self._refused, user.id):
            await message.reply_text(_texts(user)["not_allowed"], parse_mode=None)
        raise ApplicationHandlerStop

    def _allowed(self, user_id: int | None, chat_id: int | None) -> bool:
        s = self.settings
        return s.telegram_allow_all or user_id in s.telegram_allowed_users or chat_id in s.telegram_allowed_chats

    # ---- questions ------------------------------------------------------------------------------

    async def question(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        assert message is not None and message.text is not None
        if not self._addressed(message, context):
            return  # group chatter that is not meant for the bot
        texts = _texts(message.from_user)
        if await self.feedback.comment(message, context.chat_data, texts):
            return  # the reply to a "what was wrong?" prompt is a comment, not a question
        question = _without_mention(message, context.bot.username)
        if not question:
            await message.reply_text(
                texts["empty"].format(
                    example=EXAMPLES[language_of(message.from_user.language_code if message.from_user else None)][0]
                )
            )
            return
        user_id = message.from_user.id if message.from_user else message.chat_id
        if not self._limiter.hit(self._rate, "telegram", str(user_id)):
            await message.reply_text(texts["too_many"], parse_mode=None)
            return
        state = self._state(context)
        draft = Draft(message) if self.qa.llm is not None else None
        try:
            async with typing(context, message.chat_id), draft or contextlib.nullcontext():
                answer = await self.qa.aask(question, conversation=state, on_draft=draft.update if draft else None)
        except NewsbotError as exc:  # a question newsbot cannot work with: say why
            await message.reply_text(str(exc), parse_mode=None)
            return
        parts = answer_messages(answer, since=state.since, until=state.until)
        markup = await self.feedback.log(answer, message, context.chat_data, texts)  # 👍/👎 under the answer
        if draft is not None and draft.sent is not None:  # the verified answer replaces the draft
            try:
                await draft.sent.edit_text(parts[0], reply_markup=markup if len(parts) == 1 else None)
                parts = parts[1:]
            except BadRequest as exc:  # e.g. the draft was deleted meanwhile: send the answer anew
                logger.info("could not replace the draft (%s); sending the answer as a new message", exc)
        await self._send(message, parts, reply_markup=markup)

    def _addressed(self, message: Message, context: ContextTypes.DEFAULT_TYPE) -> bool:
        """Private chats always; in groups only a mention of the bot or a reply to it."""
        if message.chat.type == ChatType.PRIVATE:
            return True
        bot = context.bot
        reply = message.reply_to_message
        if reply is not None and reply.from_user is not None and reply.from_user.id == bot.id:
            return True
        for entity, text in message.parse_entities([MessageEntity.MENTION, MessageEntity.TEXT_MENTION]).items():
            if entity.type == MessageEntity.TEXT_MENTION and entity.user and entity.user.id == bot.id:
                return True
            if entity.type == MessageEntity.MENTION and text.casefold() == f"@{bot.username}".casefold():
                return True
        return False

    def _state(self, context: ContextTypes.DEFAULT_TYPE) -> Conversation:
        """This chat's conversation: history, last answer and filters (the turns expire after a quiet while)."""
        data = context.chat_data
        assert data is not None
        if not isinstance(data.get("conversation"), Conversation):
            data["conversation"] = Conversation(ttl_seconds=self.settings.history_minutes * 60)
        return data["conversation"].touch()

    async def _send(self, message: Message, parts: list[str], reply_markup: InlineKeyboardMarkup | None = None) -> None:
        """Send the parts in order; in groups the first one replies to the question. ``reply_markup``
        goes under the last one."""
        first = True
        parts = [part for part in parts if _visible(part)]
        for i, part in enumerate(parts):
            reply = (
                ReplyParameters(message_id=message.message_id, allow_sending_without_reply=True)
                if first and message.chat.type != ChatType.PRIVATE
                else None
            )
            await message.get_bot().send_message(
                message.chat_id,
                part,
                reply_parameters=reply,
                reply_markup=reply_markup if i == len(parts) - 1 else None,
            )
            first = False

    # ---- commands -------------------------------------------------------------------------------

    async def start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        assert message is not None
        texts = _texts(update.effective_user)
        text = texts["start"].format(example=EXAMPLES[_language(update.effective_user)][0])
        if message.chat.type != ChatType.PRIVATE:
            text += "\n\n" + texts["group"].format(mention=f"@{context.bot.username}")
        await message.reply_text(text, parse_mode=None)

    async def help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        assert message is not None
        texts = _texts(update.effective_user)
        language = _language(update.effective_user)
        info = await asyncio.to_thread(self.qa.overview)
        sources = ", ".join(s.source for s in info.sources[:5] if s.source)
        text = texts["help"].format(
            articles=info.articles,
            range=f"{day(info.oldest) or '?'} – {day(info.newest) or '?'}",
            sources=f"; {sources}" if sources else "",
            examples="\n• ".join(EXAMPLES[language]),
        )
        state = self._state(context)
        spans = [Span(text)]
        filters = state.filters()
        if any(filters.values()):
            shown = ", ".join(f"{texts[k]} {v}" for k, v in filters.items() if v)
            spans += [Span("\n\n"), Span(f"Filter: {shown}", "i")]
        if message.chat.type != ChatType.PRIVATE:
            spans.append(Span("\n\n" + texts["group"].format(mention=f"@{context.bot.username}")))
        await self._send(message, split(spans))

    async def sources(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        assert message is not None
        last: Answer | None = self._state(context).last
        if last is None or not last.citations:
            texts = _texts(update.effective_user)
            await message.reply_text(texts["no_sources"], parse_mode=None)
            return
        await self._send(message, sources_messages(last))

    async def date_filter(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/since DATE`` and ``/until DATE`` (without a date: clear that bound)."""
        message = update.effective_message
        assert message is not None and message.text is not None
        texts = _texts(update.effective_user)
        which = "since" if message.text.lstrip("/").casefold().startswith("since") else "until"
        value = " ".join(context.args or []).strip() or None
        if value is not None:
            try:
                self.qa.check_date(value)
            except NewsbotError as exc:
                await message.reply_text(str(exc), parse_mode=None)
                return
        setattr(self._state(context), which, value)
        reply = (
            texts["filter_set"].format(which=texts[which], value=value)
            if value
            else texts["filter_cleared"].format(which=texts[which])
        )
        await message.reply_text(reply, parse_mode=None)

    async def reset(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        assert message is not None and context.chat_data is not None
        context.chat_data.clear()
        texts = _texts(update.effective_user)
        await message.reply_text(texts["reset"], parse_mode=None)

    async def unknown(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        assert message is not None
        texts = _texts(update.effective_user)
        await message.reply_text(texts["unknown"], parse_mode=None)

    # ---- errors ---------------------------------------------------------------------------------

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The one error handler: the full traceback to the log, a short apology to the user."""
        logger.error("error while handling update %s", getattr(update, "update_id", None), exc_info=context.error)
        if isinstance(update, Update) and update.effective_chat is not None:
            texts = _texts(update.effective_user)
            try:
                await context.bot.send_message(update.effective_chat.id, texts["error"], parse_mode=None)
            except TelegramError:
                logger.warning("could not send the apology either", exc_info=True)


def run(
    settings: Settings,
    *,
    webhook: str | None = None,
    listen: str = "127.0.0.1",
    port: int = 8443,
    persist: Path | None = None,
) -> None:
    """``newsbot telegram``: open the index, then run the bot until Ctrl-C / SIGTERM."""
    check_settings(settings)
    with NewsQA(settings) as qa, QuestionLog(settings) as questions:
        NewsBot(settings, qa, persist=persist, questions=questions).run(webhook=webhook, listen=listen, port=port)


def _is_command(message: Message) -> bool:
    return bool(message.text and message.text.startswith("/"))


def _without_mention(message: Message, username: str | None) -> str:
    text = message.text or ""
    if username:
        text = re.sub(rf"@{re.escape(username)}\b", " ", text, flags=re.IGNORECASE)
    return " ".join(text.split())


def _visible(part: str) -> bool:
    return bool(re.sub(r"<[^>]+>", "", part).strip())


def _remember(seen: LRUCache[int, bool], key: int) -> bool:
    """Whether ``key`` was seen before; remembers it (the cache keeps the most recent keys)."""
    if seen.get(key):
        return True
    seen[key] = True
    return False


def _language(user: User | None) -> str:
    return language_of(user.language_code if user is not None else None)


def _texts(user: User | None) -> dict[str, str]:
    """The bot's own texts in the user's Telegram language (German, else English)."""
    return texts(_language(user))
