"""Feedback and the newsroom's report: ``POST /v1/feedback`` (reader key, on an answer that key
was given) and ``GET /v1/report`` (admin key). Every answer of ``/v1/ask`` and the stream is
logged by ``log_answer`` and carries its ``answer_id``; the log is ``bot.feedback.QuestionLog``."""

from __future__ import annotations

import asyncio
import logging
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from bot.answer import Answer
from bot.errors import FeedbackError, ForeignAnswerError, LoggingOffError, UnknownAnswerError
from bot.feedback import MAX_COMMENT, QuestionLog, Report
from bot.http.deps import ReaderKey, ServerDep
from bot.http.errors import ApiError
from bot.http.schemas import ERRORS, ErrorResponse
from bot.http.security import Caller

logger = logging.getLogger(__name__)

FEEDBACK = APIRouter(tags=["feedback"])
ANSWER_ID = r"^[A-Za-z0-9_-]{8,64}$"


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answer_id: str = Field(pattern=ANSWER_ID, description="The answer_id of an answer this key was given.")
    rating: Literal["helpful", "wrong"]
    comment: str | None = Field(None, max_length=MAX_COMMENT, description="What was wrong (or right), briefly.")


class FeedbackResponse(BaseModel):
    answer_id: str
    rating: str
    comment: str | None
    rated_at: str = Field(description="ISO 8601")


def owner(caller: Caller) -> str:
    """Who may rate an API answer: the key that asked (its short hash; the key itself is never stored)."""
    return f"api:{caller.key_id}"


async def log_answer(log: QuestionLog, caller: Caller, answer: Answer) -> None:
    """Log an API answer and set its ``answer_id``; a failing log costs a warning, not the answer."""
    await asyncio.to_thread(log.record, answer, front_end="api", owner=owner(caller))


@FEEDBACK.post(
    "/v1/feedback",
    response_model=FeedbackResponse,
    responses=ERRORS | {404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}},
)
async def feedback(body: FeedbackRequest, caller: ReaderKey, state: ServerDep) -> FeedbackResponse:
    """Mark an answer 'helpful' or 'wrong' (with an optional comment); the latest verdict counts.
    Only the key that got the answer may rate it."""
    log = state.questions
    try:
        rated = await asyncio.to_thread(
            log.rate, body.answer_id, body.rating, front_end="api", owner=owner(caller), comment=body.comment
        )
    except UnknownAnswerError as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    except ForeignAnswerError as exc:
        raise ApiError(403, "forbidden", str(exc)) from None
    except LoggingOffError as exc:
        raise ApiError(409, "logging_off", str(exc)) from None
    except FeedbackError as exc:
        raise ApiError(422, "invalid_request", str(exc)) from None
    return FeedbackResponse(
        answer_id=body.answer_id, rating=rated.rating, comment=rated.comment, rated_at=rated.rated_at.isoformat()
    )


@FEEDBACK.get("/v1/report", response_model=Report, responses=ERRORS)
async def report(
    caller: ReaderKey,
    state: ServerDep,
    since: Annotated[date | None, Query(description="Only questions from this day on.")] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="Entries per list.")] = 20,
) -> Report:
    """What the archive could not answer: refused questions grouped by wording, answers marked
    wrong, questions answered but unsure, the most asked questions and topics, answered vs refused
    per day and front end."""
    if not caller.admin:
        raise ApiError(403, "forbidden", "The report needs an admin key (NEWSBOT_ADMIN_KEYS).")
    # Within the request timeout and the workload's bounds, like a question: the grouping is CPU work.
    return await state.bounded(caller, state.questions.report, since=since, limit=limit)
