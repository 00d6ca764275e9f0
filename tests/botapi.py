"""A small Telegram Bot API server on 127.0.0.1 for the tests.

It speaks the real protocol (``/bot<token>/<method>``, form or JSON parameters,
``{"ok": ..., "result": ...}``), long-polls ``getUpdates``, checks the token, and, like
Telegram, rejects HTML it could not parse and messages over 4,096 characters. Failures
(429 with ``retry_after``, 502) can be scripted per method. Every call is recorded.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

BOT_ID = 4242
BOT_USERNAME = "newsroom_bot"
TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "a",
    "code",
    "pre",
    "blockquote",
    "tg-spoiler",
    "span",
}
JSON_PARAMS = {"reply_parameters", "link_preview_options", "commands", "allowed_updates", "reply_markup", "entities"}
INT_PARAMS = {"chat_id", "offset", "limit", "timeout", "message_id"}


@dataclass
class Call:
    at: float
    method: str
    params: dict[str, Any]


class TelegramHTML(HTMLParser):
    """Parses a message the way Telegram does: known tags only, properly nested."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in TAGS:
            self.errors.append(f'unsupported start tag "{tag}"')
        if tag == "a" and not dict(attrs).get("href"):
            self.errors.append("a without href")
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f'unmatched end tag "{tag}"')
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @classmethod
    def parse(cls, html: str) -> tuple[str, list[str]]:
        parser = cls()
        parser.feed(html)
        parser.close()
        if parser.rawdata:
            parser.errors.append("unterminated tag")
        if parser.stack:
            parser.errors.append(f"unclosed tags {parser.stack}")
        return "".join(parser.text), parser.errors


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass
class Failure:
    status: int
    description: str
    retry_after: int | None = None


@dataclass
class BotAPIServer:
    token: str = "123456:TEST-token-do-not-log"
    calls: list[Call] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    failures: dict[str, list[Failure]] = field(default_factory=dict)
    webhook: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        self._next_update = 1000
        self._next_message = 1
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                server._handle(self)

            do_GET = do_POST

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> BotAPIServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._cond.notify_all()
        self.httpd.shutdown()
        self.httpd.server_close()

    # ---- what tests do --------------------------------------------------------------------------

    def push(self, update: dict[str, Any]) -> int:
        with self._cond:
            update.setdefault("update_id", self._next_update)
            self._next_update = max(self._next_update, update["update_id"]) + 1
            self.updates.append(update)
            self._cond.notify_all()
        return update["update_id"]

    def fail(
        self, method: str, status: int, description: str, *, retry_after: int | None = None, times: int = 1
    ) -> None:
        self.failures.setdefault(method, []).extend([Failure(status, description, retry_after)] * times)

    def sent(self, chat_id: int | None = None) -> list[Call]:
        """Successful sendMessage calls (to ``chat_id``)."""
        return [
            c
            for c in self.calls
            if c.method == "sendMessage"
            and "failed" not in c.params
            and (chat_id is None or c.params["chat_id"] == chat_id)
        ]

    def wait_for(self, condition: Callable[[], Any], timeout: float = 60) -> Any:
        from tests.conftest import wait_for

        return wait_for(condition, timeout, lambda: f"condition (calls: {[c.method for c in self.calls]})")

    # ---- the protocol ---------------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        prefix = f"/bot{self.token}/"
        if not request.path.startswith(prefix):
            return self._reply(request, 401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        method = request.path[len(prefix) :]
        params = self._params(request)
        call = Call(time.monotonic(), method, params)
        self.calls.append(call)
        scripted = self.failures.get(method)
        if scripted:
            failure = scripted.pop(0)
            call.params["failed"] = failure.status
            body: dict[str, Any] = {"ok": False, "error_code": failure.status, "description": failure.description}
            if failure.retry_after is not None:
                body["parameters"] = {"retry_after": failure.retry_after}
            return self._reply(request, failure.status, body)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return self._reply(request, 404, {"ok": False, "error_code": 404, "description": "Not Found"})
        try:
            result = handler(params)
        except ValueError as exc:
            call.params["failed"] = 400
            return self._reply(request, 400, {"ok": False, "error_code": 400, "description": f"Bad Request: {exc}"})
        self._reply(request, 200, {"ok": True, "result": result})

    @staticmethod
    def _params(request: BaseHTTPRequestHandler) -> dict[str, Any]:
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length).decode("utf-8") if length else ""
        if "json" in (request.headers.get("Content-Type") or ""):
            return json.loads(raw or "{}")
        params: dict[str, Any] = dict(parse_qsl(raw, keep_blank_values=True))
        for key, value in params.items():
            if key in JSON_PARAMS:
                params[key] = json.loads(value)
            elif key in INT_PARAMS:
                params[key] = int(value)
        return params

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        # a long poll the client gave up on (shutdown)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            request.wfile.write(data)

    def _me(self) -> dict[str, Any]:
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "Newsroom",
            "username": BOT_USERNAME,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def _m_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._me()

    def _m_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = params.get("offset", 0)
        deadline = time.monotonic() + float(params.get("timeout", 0))
        with self._cond:
            while True:
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
                if self.updates or time.monotonic() >= deadline:
                    return list(self.updates[: params.get("limit", 100)])
                self._cond.wait(max(0.0, deadline - time.monotonic()))

    def _m_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        text = self._checked_text(params)
        return self._message(params["chat_id"], text)

    def _m_editMessageText(self, params: dict[str, Any]) -> dict[str, Any]:
        text = self._checked_text(params)
        return self._message(params["chat_id"], text, message_id=params["message_id"])

    def _m_sendChatAction(self, params: dict[str, Any]) -> bool:
        return True

    def _m_setMyCommands(self, params: dict[str, Any]) -> bool:
        return True

    def _m_setWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = dict(params)
        return True

    def _m_deleteWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = {}
        return True

    def _m_getWebhookInfo(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"url": self.webhook.get("url", ""), "has_custom_certificate": False, "pending_update_count": 0}

    def _checked_text(self, params: dict[str, Any]) -> str:
        text = params.get("text", "")
        if params.get("parse_mode") == "HTML":
            text, errors = TelegramHTML.parse(text)
            if errors:
                raise ValueError(f"can't parse entities: {errors[0]}")
        if not text.strip():
            raise ValueError("message text is empty")
        if utf16(text) > 4096:
            raise ValueError("message is too long")
        params["plain"] = text
        return text

    def _message(self, chat_id: int, text: str, message_id: int | None = None) -> dict[str, Any]:
        if message_id is None:
            message_id, self._next_message = self._next_message, self._next_message + 1
        chat_type = "private" if chat_id > 0 else "supergroup"
        return {
            "message_id": message_id,
            "date": int(time.time()),
            "text": text,
            "from": self._me(),
            "chat": {"id": chat_id, "type": chat_type, **({"title": "Newsroom"} if chat_id < 0 else {})},
        }


def message_update(
    text: str,
    *,
    user_id: int = 1,
    chat_id: int | None = None,
    language: str = "de",
    reply_to_bot: bool = False,
    message_id: int = 1,
    update_id: int | None = None,
) -> dict[str, Any]:
    """An update carrying a text message, as Telegram sends it (mentions and commands as entities)."""
    chat_id = user_id if chat_id is None else chat_id
    chat = (
        {"id": chat_id, "type": "private", "first_name": "Reporter"}
        if chat_id > 0
        else {"id": chat_id, "type": "supergroup", "title": "Newsroom"}
    )
    entities = []
    if text.startswith("/"):
        entities.append({"type": "bot_command", "offset": 0, "length": len(text.split()[0])})
    mention = f"@{BOT_USERNAME}"
    if mention in text:
        entities.append({"type": "mention", "offset": utf16(text[: text.index(mention)]), "length": len(mention)})
    message: dict[str, Any] = {
        "message_id": message_id,
        "date": int(time.time()),
        "text": text,
        "chat": chat,
        "from": {"id": user_id, "is_bot": False, "first_name": "Reporter", "language_code": language},
    }
    if entities:
        message["entities"] = entities
    if reply_to_bot:
        message["reply_to_message"] = {
            "message_id": 999,
            "date": int(time.time()),
            "chat": chat,
            "text": "…",
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "Newsroom", "username": BOT_USERNAME},
        }
    update: dict[str, Any] = {"message": message}
    if update_id is not None:
        update["update_id"] = update_id
    return update
