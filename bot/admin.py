"""The admin facade: every write and maintenance task on the index, for the CLI and the API.

``NewsAdmin.open(settings)`` holds the data dir's write lock for its whole life (one CLI
command); ``NewsQA.admin`` shares the answering handle, so a server writes through the same
Chroma client and catalog connection it answers from, taking the write lock per write.
Every write first repairs what an interrupted writer left (``Ingestor.recover``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from bot.settings import Settings
from index.embed import NewsEmbedding
from index.ingest import Ingestor, IngestReport
from index.loaders import Loader, LoadResult
from index.maintenance import Maintenance
from index.models import AdminStats, IndexCheck, ReindexReport
from index.store import Index

__all__ = ["IngestReport", "NewsAdmin"]


class NewsAdmin:
    """Ingest, remove, reindex, check and stats over one open ``Index``."""

    def __init__(self, settings: Settings, index: Index) -> None:
        self.settings = settings
        self.index = index

    @classmethod
    @contextmanager
    def open(
        cls,
        settings: Settings,
        *,
        write: bool = True,
        embedder: NewsEmbedding | None = None,
        check_embedder: bool = True,
    ) -> Iterator[NewsAdmin]:
        """Open the index of ``settings`` (holding its write lock unless ``write=False``)."""
        with Index.open(
            settings.index_config(), write=write, embedder=embedder, check_embedder=check_embedder
        ) as index:
            admin = cls(settings, index)
            if write:
                Ingestor(index).recover()
            yield admin

    @property
    def embedder(self) -> NewsEmbedding:
        return self.index.embedder

    def loader(self, *, max_bytes: int | None = None, stdin: IO[str] | None = None) -> Loader:
        """A loader with this installation's limits, time zone and fetch timeout."""
        s = self.settings
        return Loader(
            max_bytes=max_bytes or s.max_article_bytes,
            max_file_bytes=s.max_archive_bytes,
            tz=s.timezone,
            fetch_timeout=s.fetch_timeout,
            max_fetch_bytes=s.max_fetch_bytes,
            allow_private_urls=s.fetch_allow_private,
            stdin=stdin,
        )

    def ingest(
        self,
        results: Iterable[LoadResult],
        *,
        sync_dirs: Iterable[str | Path] = (),
        progress: bool = False,
        restore: bool = False,
        stop: threading.Event | None = None,
    ) -> IngestReport:
        """Add new, replace changed and skip unchanged articles (loader results, problems included).
        Taken-down articles stay down unless ``restore``; a teaser never replaces a full text.
        ``stop`` set: the write ends after the batch being committed (``IngestReport.interrupted``).

        Everything is loaded (files read, URLs fetched) before the write lock is taken, so a slow
        source never holds up other writers."""
        loaded = list(results)
        with self._writer() as ingestor:
            return ingestor.ingest(loaded, sync_dirs=sync_dirs, progress=progress, restore=restore, stop=stop)

    def ingest_paths(
        self,
        paths: Iterable[str | Path],
        *,
        sync: bool = False,
        progress: bool = False,
        stdin: IO[str] | None = None,
        restore: bool = False,
    ) -> IngestReport:
        """``newsbot ingest PATHS``: files, directories, feed URLs, ``-`` for JSONL on stdin;
        with ``sync``, articles from below the given directories that are gone are removed."""
        paths = list(paths)
        sync_dirs = [p for p in paths if sync and Path(p).is_dir()]
        return self.ingest(
            self.loader(stdin=stdin).load(paths), sync_dirs=sync_dirs, progress=progress, restore=restore
        )

    def ingest_records(self, text: str, origin: str = "request", *, restore: bool = False) -> IngestReport:
        """Articles as a JSON object, a JSON array or JSONL (the API's ``POST /v1/articles``);
        ``restore``: bring back those that were taken down (republished after a ``DELETE``)."""
        loader = self.loader()  # the body limit is the API's (NEWSBOT_MAX_UPLOAD_BYTES); each record's is ours
        return self.ingest(list(loader.load_records(text, origin)), restore=restore)

    def remove(self, article_ids: Iterable[str], *, bury: bool = True) -> IngestReport:
        """Take articles down: delete them from every store and keep them down (a tombstone that
        later ingests of the same id or URL respect); unknown ids are reported as failed.
        ``bury=False``: delete without a tombstone (a watched page's lasting 404: should the page
        answer again, its article comes back)."""
        with self._writer() as ingestor:
            return ingestor.remove(article_ids, bury=bury)

    def restore(self, article_ids: Iterable[str]) -> IngestReport:
        """Lift take-downs, so that the next ingest or poll adds these articles again."""
        with self._writer() as ingestor:
            return ingestor.restore(article_ids)

    def lost(self, article_id: str, url: str | None, version: str | None = None) -> bool:
        """Whether an article a source holds is not taken down and yet not indexed (in ``version``,
        the one the source wrote, when given): restored after a take-down, or written over by
        another path. Its source fetches it again."""
        if self.index.catalog.taken_down(article_id, url) is not None:
            return False
        indexed = self.indexed_version(article_id)
        return indexed is None or (version is not None and indexed != version)

    def indexed_version(self, article_id: str) -> str | None:
        """The version of an article the index holds (None: not indexed). A watcher remembers it
        after its own write: a teaser the write refused leaves the full text's version there."""
        state = self.index.catalog.state(article_id)
        return state.version if state is not None else None

    def reindex(self, *, progress: bool = False) -> ReindexReport:
        """Re-embed every sentence with the configured embedder into a new collection, then switch."""
        with self.index.writing():
            return Maintenance(self.index).reindex(progress=progress)

    def check(self) -> IndexCheck:
        """Repair what an interrupted write left, then compare catalog, keyword index and vectors."""
        with self._writer():
            return Maintenance(self.index).check()

    def stats(self) -> AdminStats:
        """Articles, sentences, passages, sources, dates, embedder and size on disk."""
        return Maintenance(self.index).stats()

    @contextmanager
    def _writer(self) -> Iterator[Ingestor]:
        with self.index.writing():
            ingestor = Ingestor(self.index)
            ingestor.recover()
            yield ingestor
