"""Getting messages to Telegram: PTB's flood-limit aware limiter with retries for network trouble,
the token kept out of logs, "typing…" while an answer is built, and the LLM's growing draft."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine

from telegram import Message
from telegram.constants import ChatAction
from telegram.error import BadRequest, NetworkError, TelegramError
from telegram.ext import AIORateLimiter, ContextTypes
from tenacity import AsyncRetrying, before_sleep_log, retry_if_exception, stop_after_attempt, wait_exponential

from bot.telegram.render import LIMIT, Span, split

logger = logging.getLogger(__name__)

TYPING_EVERY = 4.5  # seconds; Telegram shows "typing" for about 5
DRAFT_EVERY = 1.0  # seconds between edits of a streaming draft (Telegram's flood limits)
NETWORK_ATTEMPTS = 4  # a send that fails with a network error is tried this often in all
BotReply = bool | dict[str, object] | list[dict[str, object]]  # a Bot API method's JSON result


class Redact(logging.Filter):
    """Replaces a secret in log records (python-telegram-bot logs its Bot API URLs at DEBUG,
    and those URLs carry the token)."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.secret in message:
            record.msg, record.args = message.replace(self.secret, "<token>"), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text and self.secret in record.exc_text:
            record.exc_text = record.exc_text.replace(self.secret, "<token>")
        return True


def redact_in_logs(secret: str) -> None:
    """Keep ``secret`` out of every log line, whichever logger writes it."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, Redact) and f.secret == secret for f in handler.filters):
            handler.addFilter(Redact(secret))


class PatientRateLimiter(AIORateLimiter):
    """PTB's limiter (keeps under Telegram's flood limits, waits out ``RetryAfter``), plus
    retries with exponential backoff for network errors and timeouts on the way to Telegram."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[object, object, BotReply]],
        args: object,
        kwargs: dict[str, object],
        endpoint: str,
        data: dict[str, object],
        rate_limit_args: int | None,
    ) -> BotReply:
        retrying = AsyncRetrying(
            retry=retry_if_exception(_transient),
            stop=stop_after_attempt(NETWORK_ATTEMPTS),
            wait=wait_exponential(multiplier=0.5, max=8),
            reraise=True,
            before_sleep=before_sleep_log(logger, logging.WARNING),
        )
        async for attempt in retrying:
            with attempt:
                return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)
        raise AssertionError("unreachable")  # pragma: no cover - reraise=True ends the loop


def _transient(exc: BaseException) -> bool:
    """Network trouble and timeouts are worth another try; a malformed request (BadRequest) is not."""
    return isinstance(exc, NetworkError) and not isinstance(exc, BadRequest)


class Draft:
    """The LLM's unverified draft in one message, edited at most once per second while it grows.

    ``update`` is called from the worker thread that talks to the LLM; the event loop shows the
    latest text every second. The caller replaces the message with the verified answer.
    """

    def __init__(self, message: Message) -> None:
        self.message = message
        self.text = ""
        self.shown = ""
        self.sent: Message | None = None
        self._task: asyncio.Task[None] | None = None

    def update(self, text: str) -> None:
        self.text = text

    async def __aenter__(self) -> Draft:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(DRAFT_EVERY)
            text = self.text
            if not text or text == self.shown:
                continue
            shown = split([Span("✍️ "), Span(text[: LIMIT - 100], "i"), Span(" …")])[0]
            try:
                if self.sent is None:
                    self.sent = await self.message.reply_text(shown, do_quote=False)
                else:
                    await self.sent.edit_text(shown)
                self.shown = text
            except TelegramError as exc:  # a draft is cosmetic: the verified answer still comes
                logger.debug("draft update failed: %s", exc)


@contextlib.asynccontextmanager
async def typing(context: ContextTypes.DEFAULT_TYPE, chat_id: int) -> AsyncIterator[None]:
    """Show "typing…" in the chat until the block is done."""

    async def keep_typing() -> None:
        while True:
            try:
                await context.bot.send_chat_action(chat_id, ChatAction.TYPING)
            except TelegramError as exc:  # cosmetic: never let it stop the answer
                logger.debug("typing action failed: %s", exc)
            await asyncio.sleep(TYPING_EVERY)

    task = asyncio.create_task(keep_typing())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
