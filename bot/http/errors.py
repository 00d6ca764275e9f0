"""Error responses: every failure is ``{"error": {"code", "message"}}``, domain errors mapped once."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from bot.errors import (
    ArticleNotFoundError,
    EmbedderError,
    IndexDamagedError,
    IndexLockedError,
    InvalidInputError,
    NewsbotError,
    VectorStoreError,
    storage_error,
)

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """An error with its HTTP status and a stable code; rendered as ``{"error": {...}}``."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def on_api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}" for e in exc.errors()
        )
        return error_response(422, "invalid_request", problems or "The request is not valid.")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(NewsbotError)
    async def domain_error(request: Request, exc: NewsbotError) -> JSONResponse:
        error = api_error(exc)
        if error.status == 500 or isinstance(exc, EmbedderError):
            logger.error("newsbot error on %s: %s", request.url.path, exc, exc_info=error.status == 500)
        return error_response(error.status, error.code, error.message, error.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        if storage_error(exc) is not None:  # the full message names paths: for the log, not the client
            return error_response(
                503,
                "storage_error",
                "The server cannot read or write its index; the operators have been told in the log.",
            )
        return error_response(500, "internal_error", "Something went wrong on the server; it has been logged.")


def api_error(exc: NewsbotError) -> ApiError:
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
    if isinstance(exc, EmbedderError):  # the message names the internal endpoint: for the log only
        return ApiError(
            503,
            "embedder_unavailable",
            "The embedding service does not answer; try again later.",
            {"Retry-After": "10"},
        )
    if isinstance(exc, IndexDamagedError):
        return ApiError(503, "index_damaged", str(exc))
    return ApiError(500, "internal_error", str(exc))
