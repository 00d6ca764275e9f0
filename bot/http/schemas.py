"""Request and response models of the HTTP API (the JSON contract of ``newsbot ask --json``)."""

from __future__ import annotations

import logging
from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from bot.answer import Citation
from bot.qa import MAX_QUESTION_CHARS

logger = logging.getLogger(__name__)


ASK_MAX_BYTES = 64 * 1024
CONVERSATION_ID = r"^[A-Za-z0-9_.:-]{1,100}$"

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


class AnswerResponse(BaseModel):
    """The same JSON as ``newsbot ask --json`` (``Answer.to_dict``); citations are the core's own
    ``Citation`` dataclass, so the contract cannot drift from what the facade returns."""

    question: str
    answer: str
    refused: bool
    language: str
    citations: list[Citation]
    note: str | None
    timings_ms: dict[str, float]
    mode: str = Field(
        "extractive",
        description="'extractive' (verbatim quotes) or 'generated' (an LLM's "
        "sentences, each verified against the source it cites)",
    )
    confidence: float | None = Field(
        None,
        description="How likely the first quote answers the question: the reader's probability, "
        "calibrated on the news development questions (there, about that share of answers given it "
        "are right); below 0.5 the note says the answer is unsure. Null for refusals, generated "
        "answers, NEWSBOT_READER=none and readers without a calibration.",
    )
    answer_id: str | None = Field(
        None,
        description="What POST /v1/feedback refers to; null when the question was not logged "
        "(NEWSBOT_LOG_QUESTIONS=false, or the log could not be written).",
    )


class SearchHit(ArticleRef):
    note: str | None = Field(None, description="The article's editorial note, as citations carry it.")
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
    kept_down: int = 0  # taken down earlier (remove, DELETE, 404/410): not added again
    restored: int = 0  # taken down earlier, brought back (POST /v1/articles?restore=true)
    kept_full_text: int = 0  # a teaser did not replace the stored full text
    failed: list[dict[str, str]]
    warnings: list[dict[str, str]]
    embedded_sentences: int
    seconds: float


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


ERRORS: dict[int | str, dict[str, type[BaseModel]]] = {
    status: {"model": ErrorResponse} for status in (401, 403, 413, 422, 429, 503, 504)
}
