"""Sentence vectors in Chroma: embedded in the data dir, or a Chroma server.

newsbot always hands Chroma its own vectors. Collections are created without an
embedding function, so Chroma's default one (which downloads a model) never runs.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import numpy as np
from cachetools import LRUCache

from index.errors import ConfigError, VectorStoreError

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.collection_configuration import UpdateHNSWConfiguration
    from chromadb.api.types import Metadata, Where

logger = logging.getLogger(__name__)

SYNC_MIN, SYNC_MAX = 1_000, 64_000  # Chroma's default sync threshold, and the most a reader replays
# HNSW's candidate list when searching. Chroma's default (100) leaves 40 beyond the 60 neighbours
# newsbot asks for: recall@60 0.94 on real e5 vectors, 0.985 with 200, for ~0.1 ms more
# (bench/hnsw_bench.py). Set at creation; an existing collection gets it from its next writer,
# and a reader when it next loads the index.
EF_SEARCH = 200


def sync_threshold(size: int) -> int:
    """How many added vectors Chroma may keep before writing its HNSW index to disk, for an
    index of ``size`` vectors: about 1% of it, in powers of two from 1,000 to 64,000.

    Each write costs time in proportion to the index (Chroma rewrites its id maps whole: 56 ms
    at 100k vectors, ~0.4 s at 1M), so a fixed threshold makes every added article dearer as the
    archive grows; one that grows with the index keeps the cost per article flat. The price: a
    reader that reopens the index (after another process wrote) replays up to that many
    vectors from Chroma's log, at most about as long as loading the index takes anyway.
    """
    threshold = SYNC_MIN
    while threshold * 2 <= min(SYNC_MAX, size // 100):
        threshold *= 2
    return threshold


class VectorStore:
    """One Chroma collection of sentence vectors (cosine space).

    Vector ids carry the article version, so the vector behind an id never changes:
    ``get`` keeps what it fetched in a bounded in-process cache that can never be stale. With
    ``local`` (the catalog's copy of the committed generation's vectors), ``get`` reads
    there first and asks Chroma only for what the copy lacks (an index from before the copy).
    """

    def __init__(
        self,
        client: ClientAPI,
        name: str,
        cache_size: int = 50_000,
        *,
        cache: VectorStore | None = None,
        local: Callable[[list[str]], dict[str, np.ndarray]] | None = None,
    ) -> None:
        self.client = client
        self.name = name
        self.local = local
        # A reopened store keeps the old one's cache: vector ids are immutable.
        self._cache: LRUCache[str, np.ndarray] = cache._cache if cache is not None else LRUCache(cache_size)
        self.collection = client.get_or_create_collection(
            name, embedding_function=None, configuration={"hnsw": {"space": "cosine", "ef_search": EF_SEARCH}}
        )
        self._max_batch = int(getattr(client, "get_max_batch_size", lambda: 5000)())
        self._hnsw: dict[str, object] | None = None  # the collection's HNSW settings, once read

    def tune(self, size: int) -> None:
        """A writer about to add vectors to an index of ``size``: set the collection's
        ``sync_threshold(size)`` and ``EF_SEARCH`` where they differ (collection settings: the
        sync threshold changes only when it moves to another power of two)."""
        if self._hnsw is None:
            self._hnsw = dict((self.collection.configuration_json or {}).get("hnsw") or {})
        changed: UpdateHNSWConfiguration = {}
        threshold = sync_threshold(size)
        if self._hnsw.get("sync_threshold") != threshold:
            changed["sync_threshold"] = threshold
        if self._hnsw.get("ef_search") != EF_SEARCH:
            changed["ef_search"] = EF_SEARCH
        if changed:
            self._hnsw.update(changed)  # tried once per handle, whatever the outcome
            try:
                with warnings.catch_warnings():
                    # chromadb reads back a collection made without an embedding function as "legacy"
                    warnings.filterwarnings("ignore", "legacy embedding function config", DeprecationWarning)
                    self.collection.modify(configuration={"hnsw": changed})
            except Exception as exc:  # e.g. a Chroma server that does not know a setting: write anyway
                logger.warning("could not change Chroma's index settings %s: %s", changed, exc)
                return
            logger.info("Chroma index settings: %s", changed)

    def upsert(self, ids: Sequence[str], vectors: np.ndarray, metadatas: Sequence[Metadata]) -> None:
        for start in range(0, len(ids), self._max_batch):
            end = start + self._max_batch
            self.collection.upsert(
                ids=list(ids[start:end]), embeddings=vectors[start:end], metadatas=list(metadatas[start:end])
            )

    def get(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored vectors by id; ids that are not stored are left out."""
        out: dict[str, np.ndarray] = {}
        missing: list[str] = []
        for vid in ids:
            vec = self._cache.get(vid)
            if vec is None:
                missing.append(vid)
            else:
                out[vid] = vec
        if missing and self.local is not None:
            found = self.local(missing)
            self._keep(found)
            out.update(found)
            missing = [vid for vid in missing if vid not in found]
        for start in range(0, len(missing), self._max_batch):
            with _translated():
                got = self.collection.get(ids=missing[start : start + self._max_batch], include=["embeddings"])
            fetched = dict(zip(got["ids"], np.asarray(got["embeddings"], dtype=np.float32)))
            self._keep(fetched)
            out.update(fetched)
        return out

    def _keep(self, vectors: dict[str, np.ndarray]) -> None:
        if self._cache.maxsize:  # NEWSBOT_VECTOR_CACHE=0 keeps none (cachetools refuses a 0-size item)
            for vid, vec in vectors.items():
                self._cache[vid] = vec

    def delete(self, ids: Sequence[str]) -> None:
        for vid in ids:
            self._cache.pop(vid, None)
        for start in range(0, len(ids), self._max_batch):
            self.collection.delete(ids=list(ids[start : start + self._max_batch]))

    def query(self, vector: np.ndarray, k: int, where: Where | None = None) -> list[tuple[str, float]]:
        """The ``k`` nearest ids with cosine similarity."""
        with _translated():
            result = self.collection.query(query_embeddings=[vector], n_results=k, where=where, include=["distances"])
        distances = result["distances"]
        assert distances is not None  # asked for with include=["distances"]
        return [(vid, 1.0 - float(d)) for vid, d in zip(result["ids"][0], distances[0])]

    def count(self) -> int:
        return int(self.collection.count())

    def all_ids(self) -> list[str]:
        return list(self.collection.get(include=[])["ids"])


class Chroma:
    """The index's one Chroma client and its collection generations.

    One client per index handle, shared by the readers and the writer of a process:
    embedded Chroma keeps one system per path and does not lock between clients, so a
    second client on the same path in another thread breaks the first. ``reindex`` builds
    generation g+1 beside g and switches in one catalog commit.
    """

    def __init__(
        self, data_dir: Path, url: str | None, prefix: str, index_id: str, *, cache_size: int = 50_000
    ) -> None:
        self.data_dir = data_dir
        self.cache_size = cache_size
        self.url = url
        self.family = f"{prefix}-{index_id}-g"  # collection names: <prefix>-<index id>-g<generation>
        self._client: ClientAPI | None = None
        self._lock = threading.Lock()

    @property
    def client(self) -> ClientAPI:
        with self._lock:
            if self._client is None:
                self._client = self._connect(self.data_dir, self.url)
            return self._client

    def store(
        self,
        generation: int,
        *,
        cache: VectorStore | None = None,
        local: Callable[[list[str]], dict[str, np.ndarray]] | None = None,
    ) -> VectorStore:
        """The collection of ``generation`` (created when missing)."""
        return VectorStore(self.client, self.name(generation), self.cache_size, cache=cache, local=local)

    def name(self, generation: int) -> str:
        return f"{self.family}{generation}"

    def drop_other_generations(self, keep: str) -> None:
        """Delete this index's collections other than ``keep`` (an interrupted or finished reindex's)."""
        for collection in self.client.list_collections():
            name = collection if isinstance(collection, str) else collection.name  # a name in older chromadb
            if name.startswith(self.family) and name != keep:
                self.client.delete_collection(name)

    def close(self) -> None:
        """Close the client: the last client of a path stops its system, a new one reads the disk."""
        with self._lock:
            if self._client is not None:
                close = getattr(self._client, "close", None)  # chromadb >= 1.4
                if close is not None:
                    close()
                self._client = None

    @staticmethod
    def _connect(data_dir: Path, url: str | None) -> ClientAPI:
        """A Chroma client: ``HttpClient`` for ``url``, else ``PersistentClient`` in ``data_dir``."""
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        settings = ChromaSettings(anonymized_telemetry=False)
        if url:
            parsed = urlparse(url)
            if parsed.scheme not in ("http", "https") or not parsed.hostname:
                raise ConfigError(f"NEWSBOT_CHROMA_URL must look like http://host:port, got '{url}'")
            try:
                return chromadb.HttpClient(
                    host=parsed.hostname,
                    port=parsed.port or (443 if parsed.scheme == "https" else 8000),
                    ssl=parsed.scheme == "https",
                    settings=settings,
                )
            except Exception as exc:  # chromadb raises plain Exception/ValueError when unreachable
                raise ConfigError(f"Cannot reach the Chroma server at {url}: {exc}") from exc
        path = data_dir / "chroma"
        path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(path), settings=settings)


@contextmanager
def _translated() -> Iterator[None]:
    """Chroma's errors on the read path become one domain error the caller can act on."""
    from chromadb.errors import ChromaError

    try:
        yield
    except ChromaError as exc:
        raise VectorStoreError(f"The vector store failed: {exc}") from exc
