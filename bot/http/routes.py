"""The routes, one ``APIRouter`` per capability: answers, articles, operations, widget."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import date
from importlib import resources
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.errors import (
    ArticleNotFoundError,
    NewsbotError,
)
from bot.http.deps import AdminKey, ReaderKey, ReadyQA, Server, ServerDep
from bot.http.errors import ApiError, api_error
from bot.http.feedback import log_answer
from bot.http.schemas import ERRORS, AnswerResponse, AskRequest, ErrorResponse, IngestResponse, SearchResponse
from bot.http.security import Caller
from bot.qa import MAX_QUESTION_CHARS, NewsQA

logger = logging.getLogger(__name__)

ANSWERS = APIRouter(tags=["answers"])
ARTICLES = APIRouter(tags=["articles"])
OPERATIONS = APIRouter(tags=["operations"])
WIDGET = APIRouter(tags=["widget"])
ALL = (ANSWERS, ARTICLES, OPERATIONS, WIDGET)


async def _answer(
    state: Server, qa: NewsQA, body: AskRequest, caller: Caller, on_draft: Callable[[str], None] | None = None
) -> dict[str, object]:
    conversation = state.conversations.get(caller.key_id, body.conversation_id) if body.conversation_id else None
    answer = await state.bounded(
        caller,
        qa.ask,
        body.question,
        conversation=conversation,
        since=body.since,
        until=body.until,
        on_draft=on_draft,
    )
    state.metrics.answers.labels(str(answer.refused).lower()).inc()
    await log_answer(state.questions, caller, answer)  # sets answer.answer_id (None if not logged)
    return answer.to_dict()


def _static(name: str) -> str:
    return resources.files("bot").joinpath("static", name).read_text(encoding="utf-8")


@ANSWERS.post("/v1/ask", response_model=AnswerResponse, responses=ERRORS, tags=["answers"])
async def ask(body: AskRequest, caller: ReaderKey, state: ServerDep, qa: ReadyQA) -> dict[str, object]:
    """Answer a question with verbatim quotes and their sources (or refuse when nothing fits)."""
    return await _answer(state, qa, body, caller)


@ANSWERS.post("/v1/ask/stream", response_class=EventSourceResponse, responses=ERRORS, tags=["answers"])
async def ask_stream(
    body: AskRequest, caller: ReaderKey, state: ServerDep, qa: ReadyQA
) -> AsyncIterator[ServerSentEvent]:
    """Server-sent events: ``progress`` events, ``draft`` events with the LLM's unverified text so
    far (only when an LLM is configured), then one ``answer`` (or ``error``) event; the answer,
    verified, replaces the draft."""
    yield ServerSentEvent(event="progress", data={"stage": "searching"})
    loop = asyncio.get_running_loop()
    drafts: asyncio.Queue[str] = asyncio.Queue()

    def on_draft(text: str) -> None:  # called from the worker thread
        loop.call_soon_threadsafe(drafts.put_nowait, text)

    work = asyncio.ensure_future(_answer(state, qa, body, caller, on_draft=on_draft))
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
        error = exc if isinstance(exc, ApiError) else api_error(exc)
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


@ANSWERS.get("/v1/search", response_model=SearchResponse, responses=ERRORS, tags=["search"])
async def search(
    caller: ReaderKey,
    state: ServerDep,
    qa: ReadyQA,
    q: Annotated[str, Query(min_length=1, max_length=MAX_QUESTION_CHARS, description="What to look for.")],
    since: Annotated[date | None, Query(description="Only articles from this day on.")] = None,
    until: Annotated[date | None, Query(description="Only articles up to and including this day.")] = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> dict[str, object]:
    """Ranked articles with their best passage, without building an answer."""
    hits = await state.bounded(caller, qa.search, q, since=since, until=until, limit=limit)
    return {"query": q, "results": [hit.to_dict() for hit in hits]}


@WIDGET.post(
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
async def add_articles(
    request: Request,
    caller: AdminKey,
    state: ServerDep,
    qa: ReadyQA,
    restore: Annotated[
        bool,
        Query(description="Bring back articles that were taken down (DELETE): a CMS republishing them."),
    ] = False,
) -> dict[str, object]:
    """Add or update articles: a JSON object, a JSON array or JSONL, with the fields of
    ``newsbot ingest`` (id, title, text, url, published, updated, source, ...). Unchanged
    articles are skipped; a bad record is reported in ``failed`` and the rest is ingested. An
    article taken down earlier (``DELETE``) stays down, counted in ``kept_down`` with a warning,
    unless ``?restore=true``."""
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(422, "invalid_request", "The body must be UTF-8 encoded JSON or JSONL.") from None
    if not text.strip():
        raise ApiError(422, "invalid_request", "The body is empty: send a JSON object, a JSON array or JSONL.")
    async with state.write_lock:
        report = await asyncio.to_thread(qa.admin.ingest_records, text, restore=restore)
    return report.to_dict()


@ARTICLES.get("/v1/articles/{article_id:path}", responses=ERRORS | {404: {"model": ErrorResponse}}, tags=["articles"])
async def get_article(
    caller: ReaderKey,
    qa: ReadyQA,
    article_id: Annotated[str, Path(min_length=1, max_length=2000)],
) -> dict[str, object]:
    """One article as indexed: metadata and text."""
    article = await asyncio.to_thread(qa.article, article_id)
    return article.to_dict()


@WIDGET.delete(
    "/v1/articles/{article_id:path}",
    response_model=IngestResponse,
    responses=ERRORS | {404: {"model": ErrorResponse}},
    tags=["articles"],
)
async def delete_article(
    caller: AdminKey,
    state: ServerDep,
    qa: ReadyQA,
    article_id: Annotated[str, Path(min_length=1, max_length=2000)],
) -> dict[str, object]:
    """Remove an article from every store (catalog, keyword index, vectors)."""
    async with state.write_lock:
        report = await asyncio.to_thread(qa.admin.remove, [article_id])
    if report.failed:
        raise ArticleNotFoundError(article_id)
    return report.to_dict()


@OPERATIONS.get("/healthz", tags=["operations"])
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@OPERATIONS.get("/readyz", responses={503: {"model": ErrorResponse}}, tags=["operations"])
async def readyz(state: ServerDep, qa: ReadyQA) -> dict[str, object]:
    """The index is open and whole; how many articles it holds. With ``serve --watch``, also
    ``failing_sources``: sources with 5 or more failed polls in a row (still 200: answers go on)."""
    info = await asyncio.to_thread(qa.overview)
    health = await asyncio.to_thread(qa.index.health)
    if not health["ok"]:
        raise await asyncio.to_thread(qa.index.damage)
    ready: dict[str, object] = {"status": "ready", "articles": info.articles, "sentences": info.sentences}
    if state.watcher is not None:  # serve --watch: still ready (the index answers), but say which
        ready["failing_sources"] = state.watcher.failing()  # sources keep failing
    return ready


@OPERATIONS.get("/metrics", response_class=PlainTextResponse, tags=["operations"])
async def metrics(state: ServerDep) -> Response:
    """Prometheus metrics: requests, latencies, refusals, index size."""
    m = state.metrics
    if state.qa is not None:
        info = await asyncio.to_thread(state.qa.overview)
        m.articles.set(info.articles)
        m.sentences.set(info.sentences)
    return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)


@WIDGET.get("/widget.js", response_class=Response, tags=["widget"])
async def widget() -> Response:
    """The chat widget: one script tag adds an ask box to any intranet page."""
    return Response(
        _static("widget.js"),
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300"},
    )


@WIDGET.get("/embed", response_class=HTMLResponse, tags=["widget"])
async def embed() -> HTMLResponse:
    """The widget as a page of its own, for an iframe: /embed#key=KEY&lang=de"""
    return HTMLResponse(
        _static("embed.html"),
        headers={
            "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:",
            "Referrer-Policy": "no-referrer",
        },
    )
