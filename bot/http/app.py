"""``newsbot serve``: the intranet HTTP API and the embeddable chat widget (FastAPI).

A thin adapter over ``NewsQA``: the app opens it in its lifespan (warm), answers in
worker threads, and is the one process that writes the index when a CMS pushes
articles. Keys, CORS, body and question limits, a per-key rate limit, work bounds and a
request timeout guard the ``/v1`` routes (``bot/http/security.py``); every error is
``{"error": {"code", "message"}}`` (``bot/http/errors.py``). One router per capability
(``bot/http/routes.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from bot.errors import (
    ConfigError,
)
from bot.http import feedback, routes
from bot.http.deps import Server
from bot.http.errors import install_error_handlers
from bot.http.limits import BodyLimit
from bot.http.metrics import measure
from bot.qa import NewsQA
from bot.settings import Settings
from bot.sources.config import load_sources
from bot.sources.metrics import SourceMetrics

logger = logging.getLogger(__name__)


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


def create_app(settings: Settings, *, qa: NewsQA | None = None, telegram: bool = False, watch: bool = False) -> FastAPI:
    """The API over ``qa`` (opened from ``settings`` in the lifespan when not given)."""
    check_settings(settings)
    sources = load_sources(settings.sources_file) if watch else []
    state = Server.of(settings, qa)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            stack.callback(state.questions.close)
            service = qa if qa is not None else stack.enter_context(NewsQA(settings))
            await asyncio.to_thread(service.warm_up)
            state.qa = service
            if telegram:
                from bot.telegram import NewsBot

                await stack.enter_async_context(NewsBot(settings, service, questions=state.questions).running())
            if watch:  # the watcher writes through the answering handle, behind the same write lock as the API
                from bot.sources import Watcher

                watcher = Watcher.build(
                    settings,
                    service.admin,
                    sources,
                    lock=state.write_lock,
                    loop=asyncio.get_running_loop(),
                    metrics=SourceMetrics(state.metrics.registry),
                    sources_file=settings.sources_file,
                )
                stack.callback(watcher.close)
                state.watcher = watcher
                await stack.enter_async_context(watcher.running())
            yield
            state.qa = qa

    app = FastAPI(
        title="newsbot",
        version="1",
        lifespan=lifespan,
        description="Questions over the newsroom's articles, answered with cited passages.",
    )
    app.state.server = state  # what the routes get through bot.http.deps

    app.add_middleware(BodyLimit, upload_bytes=settings.max_upload_bytes)
    app.middleware("http")(measure)
    app.add_middleware(  # outermost: error responses carry CORS headers too
        CORSMiddleware,
        allow_origins=list(settings.cors_origins),
        allow_credentials=settings.cors_credentials,
        allow_methods=["GET", "POST", "DELETE"],
        allow_headers=["Authorization", "X-API-Key", "Content-Type"],
        max_age=600,
    )
    install_error_handlers(app)
    for router in routes.ALL:
        app.include_router(router)
    app.include_router(feedback.FEEDBACK)
    return app
