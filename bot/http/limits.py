"""Body size limits, enforced before the body is read (and while a chunked upload streams)."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.http.errors import error_response
from bot.http.schemas import ASK_MAX_BYTES

logger = logging.getLogger(__name__)

# ---- body limits (before the body is read) --------------------------------------------------------


class BodyTooLarge(StarletteHTTPException):
    """Raised while a body is read past its limit (an HTTP error, so FastAPI passes it on)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than {limit} bytes.")


class BodyLimit:
    """413 for bodies over the limit, as JSON: by Content-Length before anything is read, and
    while reading for chunked uploads that do not announce their size. (Starlette's own body
    limit answers in plain text.)"""

    def __init__(self, app: ASGIApp, *, upload_bytes: int) -> None:
        self.app = app
        self.upload_bytes = upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        limit = self.upload_bytes if scope["path"].startswith("/v1/articles") else ASK_MAX_BYTES
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            response = error_response(413, "too_large", str(BodyTooLarge(limit).detail))
            return await response(scope, receive, send)
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited_receive, send)
