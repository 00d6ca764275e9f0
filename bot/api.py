"""``newsbot serve``: the intranet HTTP API and the embeddable chat widget (FastAPI).

A thin adapter over ``NewsQA``: the app opens it in its lifespan (warm), answers in
worker threads, and is the one process that writes the index when a CMS pushes
articles. Keys, CORS, body and question limits, a per-key rate limit and a request
timeout guard the ``/v1`` routes; every error is ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from importlib import resources
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, Path, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from fastapi.sse import EventSourceResponse, ServerSentEvent
from limits import parse as parse_rate
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.conversation import Conversations
from bot.errors import (
    ArticleNotFoundError,
    ConfigError,
    IndexDamagedError,
    IndexLockedError,
    InvalidInputError,
    NewsbotError,
    VectorStoreError,
    storage_error,
)
from bot.qa import MAX_QUESTION_CHARS, NewsQA
from bot.settings import Settings

logger = logging.getLogger(__name__)

ASK_MAX_BYTES = 64 * 1024
CONVERSATION_ID = r"^[A-Za-z0-9_.:-]{1,100}$"
T = TypeVar("T")


class ApiError(Exception):
    """An error with its HTTP status and a stable code; rendered as ``{"error": {...}}``."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


# ---- request and response models ----------------------------------------------------------------


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS, examples=["Wer hat in Belarus verhandelt?"])
    conversation_id: str | None = Field(
        None,
        pattern=CONVERSATION_ID,
        description="Any id the client picks; questions with the same id are one conversation (follow-ups).",
    )
    since: date | None = Field(None, description="Only articles from this day on.")
    until: date | None = Field(None, description="Only articles up to and including this day.")


class ArticleRef(BaseModel):
    article_id: str
    title: str
    source: str | None
    url: str | None
    published: str | None = Field(description="ISO 8601")
    updated: str | None = Field(description="ISO 8601")


class CitationModel(ArticleRef):
    n: int
    quote: str
    score: float
    quotes: list[str] = []
    also: list[dict[str, Any]] = []
    note: str | None = None


class AnswerModel(BaseModel):
    """The same JSON as ``newsbot ask --json``."""

    question: str
    answer: str
    refused: bool
    language: str
    citations: list[CitationModel]
    note: str | None
    timings_ms: dict[str, float]
    mode: str = Field(
        "extractive",
        description="'extractive' (verbatim quotes) or 'generated' (an LLM's "
        "sentences, each verified against the source it cites)",
    )


class SearchHit(ArticleRef):
    score: float
    similarity: float
    coverage: float
    passage: str
    sentence: str | None


class SearchResponse(BaseModel):
    query: str
    results: list[SearchHit]


class IngestResponse(BaseModel):
    added: int
    updated: int
    unchanged: int
    removed: int
    duplicates: int
    failed: list[dict[str, str]]
    warnings: list[dict[str, str]]
    embedded_sentences: int
    seconds: float


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (401, 403, 413, 422, 429, 503, 504)
}


# ---- keys and rate limits -----------------------------------------------------------------------

bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer KEY")
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="X-API-Key: KEY")


@dataclass
class Caller:
    key_id: str  # a short hash of the key: safe for logs and metrics
    admin: bool


class Guard:
    """Checks keys in constant time (every configured key is compared) and rate-limits per key."""

    def __init__(self, settings: Settings) -> None:
        self.read = [k.get_secret_value().encode() for k in settings.api_keys]
        self.admin = [k.get_secret_value().encode() for k in settings.admin_keys]
        self.rate = parse_rate(settings.rate_limit)
        self.failed_rate = parse_rate(settings.failed_auth_limit)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def caller(self, key: str | None, *, need_admin: bool, client: str = "unknown") -> Caller:
        """The caller behind ``key``. Wrong keys count against the client's address: guessing
        keys gets 429 after ``NEWSBOT_FAILED_AUTH_LIMIT`` attempts, even with a right one."""
        if not self.limiter.test(self.failed_rate, "failed", client):
            raise self._limited(self.failed_rate, ("failed", client), "wrong API keys from this address")
        if not key:
            raise ApiError(
                401, "unauthorized", "An API key is needed: 'Authorization: Bearer KEY' or 'X-API-Key: KEY'."
            )
        given = key.encode()
        is_admin = _matches(given, self.admin)
        if not (is_admin or _matches(given, self.read)):
            self.limiter.hit(self.failed_rate, "failed", client)
            raise ApiError(401, "unauthorized", "This API key is not valid.")
        if need_admin and not is_admin:
            raise ApiError(403, "forbidden", "Adding and deleting articles needs an admin key (NEWSBOT_ADMIN_KEYS).")
        caller = Caller(hashlib.sha256(given).hexdigest()[:12], is_admin)
        if not self.limiter.hit(self.rate, caller.key_id):
            raise self._limited(self.rate, (caller.key_id,), "requests for this key")
        return caller

    def _limited(self, rate: Any, keys: tuple[str, ...], what: str) -> ApiError:
        reset = self.limiter.get_window_stats(rate, *keys).reset_time
        wait = max(1, math.ceil(reset - time.time()))
        return ApiError(
            429, "rate_limited", f"Too many {what} ({rate}); try again in {wait} s.", headers={"Retry-After": str(wait)}
        )


class Workload:
    """Bounds the CPU work of questions and searches: at most ``per_key`` at a time for one key
    (more get 429 at once), at most ``total`` at a time for everyone (more wait their turn, up to
    the request timeout). A request that times out answers 504, but its slot stays taken until
    its thread has finished: a timed-out question still uses the CPU, so it still counts."""

    def __init__(self, per_key: int, total: int) -> None:
        self.per_key = per_key
        self.total = total
        self.busy: dict[str, int] = {}
        self._free: asyncio.Semaphore | None = None  # made in the server's event loop

    async def run(self, caller: Caller, timeout: float, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self._free is None:
            self._free = asyncio.Semaphore(self.total)
        free = self._free
        key = caller.key_id
        if self.busy.get(key, 0) >= self.per_key:
            raise ApiError(
                429,
                "busy",
                f"This key already has {self.per_key} questions in progress; wait for an answer.",
                headers={"Retry-After": "1"},
            )
        self.busy[key] = self.busy.get(key, 0) + 1
        started = time.monotonic()
        try:
            await asyncio.wait_for(free.acquire(), timeout)
        except TimeoutError:
            self._done(key)
            raise _timeout(timeout) from None
        future = asyncio.get_running_loop().run_in_executor(None, functools.partial(fn, *args, **kwargs))

        def finished(_: object) -> None:
            free.release()
            self._done(key)

        future.add_done_callback(finished)
        try:
            return await asyncio.wait_for(asyncio.shield(future), max(0.0, timeout - (time.monotonic() - started)))
        except TimeoutError:
            raise _timeout(timeout) from None

    def _done(self, key: str) -> None:
        self.busy[key] -= 1
        if not self.busy[key]:
            del self.busy[key]


def _timeout(timeout: float) -> ApiError:
    return ApiError(504, "timeout", f"No answer within {timeout:g} s; try a shorter question or again later.")


def _matches(given: bytes, keys: list[bytes]) -> bool:
    found = False
    for key in keys:  # no early exit: the time taken does not depend on which key matched
        found |= hmac.compare_digest(given, key)
    return found


def _key(bearer_auth: HTTPAuthorizationCredentials | None, header: str | None) -> str | None:
    return bearer_auth.credentials if bearer_auth is not None else header


async def reader(
    request: Request,
    auth: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    header: Annotated[str | None, Security(api_key_header)],
) -> Caller:
    return request.app.state.guard.caller(_key(auth, header), need_admin=False, client=_client(request))


async def admin(
    request: Request,
    auth: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    header: Annotated[str | None, Security(api_key_header)],
) -> Caller:
    return request.app.state.guard.caller(_key(auth, header), need_admin=True, client=_client(request))


def _client(request: Request) -> str:
    """The client's address (behind a reverse proxy: run uvicorn with --forwarded-allow-ips)."""
    return request.client.host if request.client else "unknown"


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
            response = _error_response(413, "too_large", str(BodyTooLarge(limit).detail))
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


# ---- the app ------------------------------------------------------------------------------------


def check_settings(settings: Settings) -> None:
    """Refuse to start with no keys at all, or with CORS '*' and credentials together."""
    if not settings.api_keys and not settings.admin_keys:
        raise ConfigError(
            "NEWSBOT_API_KEYS is not set: every request would be refused. Set one or more keys "
            "(comma-separated), e.g. NEWSBOT_API_KEYS=$(python -c 'import secrets; "
            "print(secrets.token_urlsafe(24))')."
        )
    if "*" in settings.cors_origins and settings.cors_credentials:
        raise ConfigError(
            "NEWSBOT_CORS_ORIGINS='*' together with NEWSBOT_CORS_CREDENTIALS=true would let any "
            "web page call the API with a user's cookies. List the intranet origins instead."
        )


class Metrics:
    """Prometheus metrics of one app (its own registry, so several apps can live in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "newsbot_http_requests", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "newsbot_http_request_seconds",
            "Time to answer an HTTP request",
            ["route"],
            registry=self.registry,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.answers = Counter("newsbot_answers", "Answers given", ["refused"], registry=self.registry)
        self.articles = Gauge("newsbot_index_articles", "Articles in the index", registry=self.registry)
        self.sentences = Gauge("newsbot_index_sentences", "Sentences in the index", registry=self.registry)


def create_app(settings: Settings, *, qa: NewsQA | None = None, telegram: bool = False) -> FastAPI:
    """The API over ``qa`` (opened from ``settings`` in the lifespan when not given)."""
    check_settings(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            service = qa if qa is not None else stack.enter_context(NewsQA(settings))
            await asyncio.to_thread(service.warm_up)
            app.state.qa = service
            if telegram:
                from bot.telegram_bot import NewsBot

                await stack.enter_async_context(NewsBot(settings, service).running())
            yield
            app.state.qa = qa

    app = FastAPI(
        title="newsbot",
        version="1",
        lifespan=lifespan,
        description="Questions over the newsroom's articles, answered with cited passages.",
    )
    app.state.settings = settings
    app.state.guard = Guard(settings)
    app.state.workload = Workload(settings.api_concurrent_per_key, settings.api_concurrent_total)
    app.state.metrics = Metrics()
    app.state.qa = qa  # an injected NewsQA is ready at once; otherwise the lifespan opens one
    app.state.conversations = Conversations(settings.max_conversations, settings.history_minutes * 60)
    app.state.write_lock = asyncio.Lock()

    app.add_middleware(BodyLimit, upload_bytes=settings.max_upload_bytes)
    app.middleware("http")(_measure)
    app.add_middleware(  # outermost: error responses carry CORS headers too
        CORSMiddleware,
        allow_origins=list(settings.cors_origins),
        allow_credentials=settings.cors_credentials,
        allow_methods=["GET", "POST", "DELETE"],
        allow_headers=["Authorization", "X-API-Key", "Content-Type"],
        max_age=600,
    )
    _install_error_handlers(app)
    _routes(app)
    return app


async def _measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    started = time.perf_counter()
    status = 500
    try:
        response = await call_next(request)
        status = response.status_code
        return response
    finally:
        route = getattr(request.scope.get("route"), "path", "unmatched")
        metrics: Metrics = request.app.state.metrics
        metrics.requests.labels(request.method, route, str(status)).inc()
        metrics.latency.labels(route).observe(time.perf_counter() - started)


def _error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}" for e in exc.errors()
        )
        return _error_response(422, "invalid_request", problems or "The request is not valid.")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(exc.status_code, "http_error")
        return _error_response(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(NewsbotError)
    async def domain_error(request: Request, exc: NewsbotError) -> JSONResponse:
        error = _api_error(exc)
        if error.status == 500:
            logger.error("newsbot error on %s", request.url.path, exc_info=exc)
        return _error_response(error.status, error.code, error.message, error.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        if storage_error(exc) is not None:  # the full message names paths: for the log, not the client
            return _error_response(
                503,
                "storage_error",
                "The server cannot read or write its index; the operators have been told in the log.",
            )
        return _error_response(500, "internal_error", "Something went wrong on the server; it has been logged.")


def _api_error(exc: NewsbotError) -> ApiError:
    """The HTTP status and code of a domain error (for responses and for stream error events)."""
    if isinstance(exc, ArticleNotFoundError):
        return ApiError(404, "not_found", str(exc))
    if isinstance(exc, InvalidInputError):
        return ApiError(422, "invalid_request", str(exc))
    if isinstance(exc, IndexLockedError):  # the message names the data dir and the pid: not for clients
        return ApiError(
            503,
            "index_busy",
            "The index is being updated by another process; try again in a few seconds.",
            {"Retry-After": "5"},
        )
    if isinstance(exc, VectorStoreError):
        return ApiError(503, "vector_store_unavailable", "The vector store does not answer; try again later.")
    if isinstance(exc, IndexDamagedError):
        return ApiError(503, "index_damaged", str(exc))
    return ApiError(500, "internal_error", str(exc))


def _qa(request: Request) -> NewsQA:
    qa = request.app.state.qa
    if qa is None:
        raise ApiError(503, "not_ready", "The index is not open yet; try again in a moment.")
    return qa


async def _bounded(request: Request, caller: Caller, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` in a worker thread, within the request timeout and the workload's bounds."""
    state = request.app.state
    return await state.workload.run(caller, state.settings.request_timeout, fn, *args, **kwargs)


def _routes(app: FastAPI) -> None:
    @app.post("/v1/ask", response_model=AnswerModel, responses=ERRORS, tags=["answers"])
    async def ask(body: AskRequest, request: Request, caller: Annotated[Caller, Depends(reader)]) -> dict[str, Any]:
        """Answer a question with verbatim quotes and their sources (or refuse when nothing fits)."""
        return await _answer(request, body, caller)

    @app.post("/v1/ask/stream", response_class=EventSourceResponse, responses=ERRORS, tags=["answers"])
    async def ask_stream(
        body: AskRequest, request: Request, caller: Annotated[Caller, Depends(reader)]
    ) -> AsyncIterator[ServerSentEvent]:
        """Server-sent events: ``progress`` events, ``draft`` events with the LLM's unverified text so
        far (only when an LLM is configured), then one ``answer`` (or ``error``) event; the answer,
        verified, replaces the draft."""
        yield ServerSentEvent(event="progress", data={"stage": "searching"})
        loop = asyncio.get_running_loop()
        drafts: asyncio.Queue[str] = asyncio.Queue()

        def on_draft(text: str) -> None:  # called from the worker thread
            loop.call_soon_threadsafe(drafts.put_nowait, text)

        work = asyncio.ensure_future(_answer(request, body, caller, on_draft=on_draft))
        while not work.done():
            next_draft = asyncio.ensure_future(drafts.get())
            await asyncio.wait({work, next_draft}, return_when=asyncio.FIRST_COMPLETED)
            if next_draft.done():
                yield ServerSentEvent(event="draft", data={"text": next_draft.result()})
            else:
                next_draft.cancel()
        try:
            answer = work.result()
        except (ApiError, NewsbotError) as exc:
            error = exc if isinstance(exc, ApiError) else _api_error(exc)
            yield ServerSentEvent(event="error", data={"error": {"code": error.code, "message": error.message}})
            return
        except Exception:  # the stream has started: the error goes out as an event, details to the log
            logger.exception("unexpected error while streaming an answer")
            yield ServerSentEvent(
                event="error",
                data={
                    "error": {
                        "code": "internal_error",
                        "message": "Something went wrong on the server; it has been logged.",
                    }
                },
            )
            return
        yield ServerSentEvent(event="progress", data={"stage": "answered"})
        yield ServerSentEvent(event="answer", data=answer)

    @app.get("/v1/search", response_model=SearchResponse, responses=ERRORS, tags=["search"])
    async def search(
        request: Request,
        caller: Annotated[Caller, Depends(reader)],
        q: Annotated[str, Query(min_length=1, max_length=MAX_QUESTION_CHARS, description="What to look for.")],
        since: Annotated[date | None, Query(description="Only articles from this day on.")] = None,
        until: Annotated[date | None, Query(description="Only articles up to and including this day.")] = None,
        limit: Annotated[int, Query(ge=1, le=50)] = 10,
    ) -> dict[str, Any]:
        """Ranked articles with their best passage, without building an answer."""
        qa = _qa(request)
        results = await _bounded(request, caller, qa.search, q, since=since, until=until, limit=limit)
        return {"query": q, "results": results}

    @app.post(
        "/v1/articles",
        response_model=IngestResponse,
        responses=ERRORS,
        tags=["articles"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"oneOf": [{"type": "object"}, {"type": "array"}]}},
                    "application/x-ndjson": {"schema": {"type": "string"}},
                },
            }
        },
    )
    async def add_articles(request: Request, caller: Annotated[Caller, Depends(admin)]) -> dict[str, Any]:
        """Add or update articles: a JSON object, a JSON array or JSONL, with the fields of
        ``newsbot ingest`` (id, title, text, url, published, updated, source, ...). Unchanged
        articles are skipped; a bad record is reported in ``failed`` and the rest is ingested."""
        qa = _qa(request)
        raw = await request.body()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(422, "invalid_request", "The body must be UTF-8 encoded JSON or JSONL.") from None
        if not text.strip():
            raise ApiError(422, "invalid_request", "The body is empty: send a JSON object, a JSON array or JSONL.")
        async with request.app.state.write_lock:
            report = await asyncio.to_thread(qa.admin.ingest_records, text)
        return report.to_dict()

    @app.get("/v1/articles/{article_id:path}", responses=ERRORS | {404: {"model": ErrorResponse}}, tags=["articles"])
    async def get_article(
        request: Request,
        caller: Annotated[Caller, Depends(reader)],
        article_id: Annotated[str, Path(min_length=1, max_length=2000)],
    ) -> dict[str, Any]:
        """One article as indexed: metadata and text."""
        return await asyncio.to_thread(_qa(request).article, article_id)

    @app.delete(
        "/v1/articles/{article_id:path}",
        response_model=IngestResponse,
        responses=ERRORS | {404: {"model": ErrorResponse}},
        tags=["articles"],
    )
    async def delete_article(
        request: Request,
        caller: Annotated[Caller, Depends(admin)],
        article_id: Annotated[str, Path(min_length=1, max_length=2000)],
    ) -> dict[str, Any]:
        """Remove an article from every store (catalog, keyword index, vectors)."""
        qa = _qa(request)
        async with request.app.state.write_lock:
            report = await asyncio.to_thread(qa.admin.remove, [article_id])
        if report.failed:
            raise ArticleNotFoundError(article_id)
        return report.to_dict()

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @app.get("/readyz", responses={503: {"model": ErrorResponse}}, tags=["operations"])
    async def readyz(request: Request) -> dict[str, Any]:
        """The index is open and whole; how many articles it holds."""
        qa = _qa(request)
        info = await asyncio.to_thread(qa.overview)
        health = await asyncio.to_thread(qa.index.health)
        if not health["ok"]:
            logger.error(
                "not ready: catalog %d sentences, vector store %d vectors", health["sentences"], health["vectors"]
            )
            raise IndexDamagedError(health["sentences"] - health["vectors"], health["sentences"])
        return {"status": "ready", "articles": info["articles"], "sentences": info["sentences"]}

    @app.get("/metrics", response_class=PlainTextResponse, tags=["operations"])
    async def metrics(request: Request) -> Response:
        """Prometheus metrics: requests, latencies, refusals, index size."""
        m: Metrics = request.app.state.metrics
        if request.app.state.qa is not None:
            info = await asyncio.to_thread(request.app.state.qa.overview)
            m.articles.set(info["articles"])
            m.sentences.set(info["sentences"])
        return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/widget.js", response_class=Response, tags=["widget"])
    async def widget() -> Response:
        """The chat widget: one script tag adds an ask box to any intranet page."""
        return Response(
            _static("widget.js"),
            media_type="text/javascript; charset=utf-8",
            headers={"Cache-Control": "public, max-age=300"},
        )

    @app.get("/embed", response_class=HTMLResponse, tags=["widget"])
    async def embed() -> HTMLResponse:
        """The widget as a page of its own, for an iframe: /embed#key=KEY&lang=de"""
        return HTMLResponse(
            _static("embed.html"),
            headers={
                "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:",
                "Referrer-Policy": "no-referrer",
            },
        )


async def _answer(
    request: Request, body: AskRequest, caller: Caller, on_draft: Callable[[str], None] | None = None
) -> dict[str, Any]:
    qa = _qa(request)
    conversation = (
        request.app.state.conversations.get(caller.key_id, body.conversation_id) if body.conversation_id else None
    )
    answer = await _bounded(
        request,
        caller,
        qa.ask,
        body.question,
        conversation=conversation,
        since=body.since,
        until=body.until,
        on_draft=on_draft,
    )
    request.app.state.metrics.answers.labels(str(answer.refused).lower()).inc()
    return answer.to_dict()


def _static(name: str) -> str:
    return resources.files("bot").joinpath("static", name).read_text(encoding="utf-8")
