"""What the routes ask FastAPI for: the server's typed state and the dependencies over it.

``create_app`` makes one ``Server`` (``app.state.server``, the only thing kept on ``app.state``);
a route names what it needs (``ServerDep``, ``ReadyQA``, ``ReaderKey``, ``AdminKey``) and FastAPI
hands it over, so a test or an embedding app can replace any of it through
``app.dependency_overrides`` (e.g. ``{server: lambda: my_server}``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, ParamSpec, TypeVar

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from bot.conversation import Conversations
from bot.feedback import QuestionLog
from bot.http.errors import ApiError
from bot.http.metrics import Metrics
from bot.http.security import Caller, Guard, Workload
from bot.qa import NewsQA
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.sources import Watcher

T = TypeVar("T")
P = ParamSpec("P")

bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer KEY")
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="X-API-Key: KEY")


@dataclass
class Server:
    """One app's state: its settings and guards, and what the lifespan opens."""

    settings: Settings
    guard: Guard
    workload: Workload
    metrics: Metrics
    conversations: Conversations
    questions: QuestionLog  # the question log (feedback, /v1/report); its file is opened on first use
    write_lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one writer: the API's pushes and the watcher
    qa: NewsQA | None = None  # an injected NewsQA is ready at once; otherwise the lifespan opens one
    watcher: Watcher | None = None  # newsbot serve --watch (its failing sources show in /readyz)

    async def bounded(self, caller: Caller, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` in a worker thread, within the request timeout and the workload's
        bounds (questions, searches, the report: CPU work one caller must not pile up)."""
        return await self.workload.run(caller, self.settings.request_timeout, fn, *args, **kwargs)

    @classmethod
    def of(cls, settings: Settings, qa: NewsQA | None = None) -> Server:
        return cls(
            settings=settings,
            guard=Guard(settings),
            workload=Workload(settings.api_concurrent_per_key, settings.api_concurrent_total),
            metrics=Metrics(),
            conversations=Conversations(settings.max_conversations, settings.history_minutes * 60),
            questions=QuestionLog(settings),
            qa=qa,
        )


def server(request: Request) -> Server:
    """The app's ``Server`` (``create_app``)."""
    state: Server = request.app.state.server
    return state


ServerDep = Annotated[Server, Depends(server)]


def ready_qa(state: ServerDep) -> NewsQA:
    """The open ``NewsQA``; 503 while the lifespan is still opening it."""
    if state.qa is None:
        raise ApiError(503, "not_ready", "The index is not open yet; try again in a moment.")
    return state.qa


ReadyQA = Annotated[NewsQA, Depends(ready_qa)]


def _caller(need_admin: bool) -> Callable[..., Awaitable[Caller]]:
    async def caller(
        request: Request,
        state: ServerDep,
        auth: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
        header: Annotated[str | None, Security(api_key_header)],
    ) -> Caller:
        key = auth.credentials if auth is not None else header
        # the client's address (behind a reverse proxy: run uvicorn with --forwarded-allow-ips)
        client = request.client.host if request.client else "unknown"
        return state.guard.caller(key, need_admin=need_admin, client=client)

    return caller


reader = _caller(need_admin=False)
admin = _caller(need_admin=True)
ReaderKey = Annotated[Caller, Depends(reader)]
AdminKey = Annotated[Caller, Depends(admin)]
