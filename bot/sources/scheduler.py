"""The watcher: polls every source on its interval, writes through ``NewsAdmin``, saves the state.

Each poll runs in a thread of its own, so a slow or failing source never holds up the others;
fetches are bounded across all sources (``NEWSBOT_WATCH_FETCHES``) and each one has the total
deadline of ``NEWSBOT_FETCH_TIMEOUT``. A failed poll is retried with exponential backoff and
jitter (up to ``NEWSBOT_WATCH_MAX_BACKOFF``). The index's write lock is taken per write, so a
second writer (a cron ingest, another watcher) is waited for and the poll retried, never a crash.

Order of a poll: fetch and load (no lock held), ingest and remove (one write each), then save the
state. A watcher killed before the save loses nothing: the next poll does it again.

Tests (and ``newsbot watch --once``) drive it with ``run_once()`` / ``poll_now()`` and an
injectable clock; ``run()`` is the loop for ``newsbot watch`` and ``newsbot serve --watch``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import logging
import random
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bot.admin import IngestReport, NewsAdmin
from bot.errors import IndexLockedError, NewsbotError
from bot.settings import Settings
from bot.sources.base import Context, Fetcher, Plan, SourceError
from bot.sources.config import FeedSource, FolderSource, SitemapSource, load_sources
from bot.sources.feeds import poll_feed
from bot.sources.folders import poll_folder
from bot.sources.metrics import SourceMetrics
from bot.sources.sitemaps import poll_sitemap
from bot.sources.state import SourceState, SourceSummary, StateStore, error_text
from index.fetch import FetchError
from index.loaders import Loader, LoadResult
from index.models import Article

logger = logging.getLogger("bot.sources")

AnySource = FeedSource | SitemapSource | FolderSource
RELOAD_CHECK = 5.0  # seconds between looks at the sources file (a stat) while the watcher waits
FAILING_AFTER = 5  # consecutive failures after which /readyz and `newsbot sources` list a source as failing
LOCK_RETRY = 5.0  # seconds until a poll that found the index locked by another writer is tried again
LOGGED_PROBLEMS = 20  # problems of one poll logged one by one; the rest as a count
_POLLERS: dict[str, Callable[[Context, Any, SourceState], Plan]] = {
    "feed": poll_feed,
    "sitemap": poll_sitemap,
    "folder": poll_folder,
}


class SourceStatus(SourceSummary):
    """One source and its state, as ``newsbot sources`` lists it."""

    name: str
    kind: str
    interval: float


class Writer:
    """Where a watcher's writes go: ``NewsAdmin`` (which takes the index's write lock per write), and,
    inside ``newsbot serve``, first the app's ``asyncio.Lock`` that API pushes and deletes take too."""

    def __init__(
        self,
        admin: NewsAdmin,
        *,
        lock: asyncio.Lock | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.admin = admin
        self._lock = lock
        self._loop = loop

    def ingest(
        self, results: list[LoadResult], *, sync_dirs: Iterable[Path] = (), stop: threading.Event | None = None
    ) -> IngestReport:
        with self._turn():
            return self.admin.ingest(results, sync_dirs=sync_dirs, stop=stop)

    def remove(self, article_ids: Iterable[str], *, bury: bool = True) -> IngestReport:
        with self._turn():
            return self.admin.remove(article_ids, bury=bury)

    def lost(self, article_id: str, url: str | None, version: str | None = None) -> bool:
        """A read: no turn needed (``NewsAdmin.lost``)."""
        return self.admin.lost(article_id, url, version)

    def indexed_version(self, article_id: str) -> str | None:
        return self.admin.indexed_version(article_id)

    @contextlib.contextmanager
    def _turn(self) -> Iterator[None]:
        # Called from a poll's worker thread: the lock belongs to the event loop's thread.
        if self._lock is None or self._loop is None:
            yield
            return
        asyncio.run_coroutine_threadsafe(self._lock.acquire(), self._loop).result()
        try:
            yield
        finally:
            self._loop.call_soon_threadsafe(self._lock.release)


@dataclass
class PollResult:
    """What one poll of one source did (``newsbot watch --once --json`` prints these)."""

    source: str
    ok: bool
    not_modified: bool = False
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    taken_down: list[dict[str, str]] = field(default_factory=list)  # {"id", "why"} of each removed article
    failed: list[dict[str, str]] = field(default_factory=list)  # items that could not be loaded or fetched
    fetched: int = 0
    revalidated: int = 0
    error: str | None = None
    locked: bool = False
    next_poll: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self) | {"changed": self.changed}


def _result(source: AnySource, plan: Plan, report: IngestReport, **fields: Any) -> PollResult:
    """A poll's result as its plan and its write made it (``fields``: the rest)."""
    return PollResult(
        source.name,
        added=report.added,
        updated=report.updated,
        unchanged=report.unchanged,
        failed=report.failed + plan.problems,
        fetched=plan.fetched,
        revalidated=plan.revalidated,
        **fields,
    )


class Watcher:
    """Follows ``sources``; see the module docstring."""

    def __init__(
        self,
        sources: Sequence[AnySource],
        writer: Writer,
        store: StateStore,
        *,
        loader: Loader,
        fetcher: Fetcher,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        metrics: SourceMetrics | None = None,
        max_backoff: float = 3600.0,
        sources_file: Path | None = None,
    ) -> None:
        self.sources = {s.name: s for s in sources}
        self.sources_file = sources_file  # re-read when it changes (``reload``)
        self._file_signature = _signature(sources_file)
        self.writer = writer
        self.store = store
        self.loader = loader
        self.fetcher = fetcher
        self.clock = clock
        self.rng = rng or random.Random()
        self.metrics = metrics or SourceMetrics()
        self.max_backoff = max_backoff
        self.states = {name: store.load(name) for name in self.sources}
        self.stopping = threading.Event()
        self._busy: set[str] = set()
        self._woken: set[str] = set()  # woken while being polled: polled again as soon as that poll ends
        self._busy_lock = threading.Lock()
        self._wake: asyncio.Event | None = None
        for name, state in self.states.items():
            self.metrics.consecutive_failures.labels(name).set(state.failures)

    @classmethod
    def build(
        cls,
        settings: Settings,
        admin: NewsAdmin,
        sources: Sequence[AnySource],
        *,
        lock: asyncio.Lock | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        metrics: SourceMetrics | None = None,
        clock: Callable[[], float] = time.time,
        sources_file: Path | None = None,
    ) -> Watcher:
        """A watcher over ``admin``'s index with this installation's limits; given the
        ``sources_file`` the sources came from, it follows that file's edits."""
        return cls(
            sources,
            Writer(admin, lock=lock, loop=loop),
            StateStore(Path(settings.data_dir)),
            loader=admin.loader(),
            fetcher=Fetcher(settings),
            clock=clock,
            metrics=metrics,
            max_backoff=settings.watch_max_backoff,
            sources_file=sources_file,
        )

    def close(self) -> None:
        self.store.close()

    def reload(self) -> bool:
        """Follow an edited ``sources_file``: new sources are polled at once (with their stored
        state, if they were followed before), dropped ones are no longer polled, changed ones
        take effect at their next poll. A file that does not parse changes nothing and is
        logged; the watcher goes on with the sources it has. True when the sources changed."""
        signature = _signature(self.sources_file)
        if self.sources_file is None or signature == self._file_signature:
            return False
        self._file_signature = signature
        try:
            listed = {s.name: s for s in load_sources(self.sources_file)}
        except NewsbotError as exc:
            logger.error(
                "%s changed but cannot be used (%s); still following the sources read before", self.sources_file, exc
            )
            return False
        if listed == self.sources:
            return False
        added, dropped = sorted(set(listed) - set(self.sources)), sorted(set(self.sources) - set(listed))
        changed = sorted(n for n in set(listed) & set(self.sources) if listed[n] != self.sources[n])
        states = {name: self.store.load(name) for name in added}
        with self._busy_lock:  # polls in flight save their states under it
            for name in dropped:
                self.states.pop(name, None)
            for name, state in states.items():
                state.next_poll = 0.0
                self.states[name] = state
                self.metrics.consecutive_failures.labels(name).set(state.failures)
            self.sources = listed
        logger.warning(
            "%s changed: %d sources (added: %s; dropped: %s; changed: %s)",
            self.sources_file,
            len(listed),
            ", ".join(added) or "none",
            ", ".join(dropped) or "none",
            ", ".join(changed) or "none",
        )
        return True

    # ---- state ------------------------------------------------------------------------------

    def status(self) -> list[SourceStatus]:
        """Every source with its state (``newsbot sources``)."""
        return [
            {"name": s.name, "kind": s.kind, "interval": s.interval, **self.states[s.name].summary()}
            for s in self.sources.values()
        ]

    def failing(self) -> list[dict[str, object]]:
        """Sources with at least ``FAILING_AFTER`` consecutive failures (``/readyz``, which answers
        without a key: names and counts only; the errors, which name URLs and folders, are for
        ``newsbot sources``)."""
        shown = ("name", "kind", "failures", "last_poll", "last_success")
        return [{k: entry.get(k) for k in shown} for entry in self.status() if entry["failures"] >= FAILING_AFTER]

    def due(self, now: float | None = None) -> list[AnySource]:
        now = self.clock() if now is None else now
        return [s for s in self.sources.values() if self.states[s.name].next_poll <= now]

    def wake(self, name: str) -> None:
        """Poll ``name`` as soon as possible (a folder event); call from the event loop. A source
        being polled is polled again once that poll ends: the poll may have missed the change."""
        with self._busy_lock:
            if name not in self.states:  # dropped from the sources file
                return
            self.states[name].next_poll = 0.0
            if name in self._busy:
                self._woken.add(name)
        if self._wake is not None:
            self._wake.set()

    # ---- polling ----------------------------------------------------------------------------

    def run_once(self, *, every: bool = False) -> list[PollResult]:
        """Poll the due sources (``every``: all of them) at once, each in its own thread; wait for all."""
        todo = list(self.sources.values()) if every else self.due()
        if not todo:
            return []
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(todo), thread_name_prefix="newsbot-poll") as pool:
            return list(pool.map(self.poll_now, [s.name for s in todo]))

    def poll_now(self, name: str) -> PollResult:
        """Poll one source now, whatever its schedule (a source already being polled is not polled twice)."""
        with self._busy_lock:
            if name in self._busy:
                return PollResult(name, ok=False, error="already being polled")
            self._busy.add(name)
        try:
            source = self.sources.get(name)
            if source is None:  # dropped from the sources file since it came due
                return PollResult(name, ok=False, error="no longer in the sources file")
            return self._poll(source)
        finally:
            with self._busy_lock:
                self._busy.discard(name)
                self._woken.discard(name)  # a wake after the poll's _schedule() found its new state

    def _poll(self, source: AnySource) -> PollResult:
        state = self.states[source.name]
        now = self.clock()
        private = isinstance(source, (FeedSource, SitemapSource)) and source.allow_private
        fetcher = self.fetcher.allowing_private() if private else self.fetcher
        ctx = Context(fetcher, self.loader, now, self.stopping, lost=self.writer.lost)
        try:
            plan = _POLLERS[source.kind](ctx, source, state)
            result = self._write(source, plan)
        except IndexLockedError as exc:
            # Another writer has the index: not the source's fault. Nothing is saved, so the
            # next poll fetches and ingests the same again.
            state.next_poll = now + min(source.interval, LOCK_RETRY * self.rng.uniform(1, 2))
            logger.info("source %s: %s; trying again shortly", source.name, exc)
            self.metrics.polls.labels(source.name, "locked").inc()
            return PollResult(source.name, ok=False, locked=True, error=str(exc), next_poll=state.next_poll)
        except (SourceError, FetchError, httpx.HTTPError, NewsbotError, OSError) as exc:
            return self._failed(source, state, now, str(exc) or type(exc).__name__)
        except Exception as exc:  # a bug must not stop the other sources or the next poll
            logger.exception("source %s: unexpected error while polling", source.name)
            return self._failed(source, state, now, f"unexpected error ({type(exc).__name__}: {exc})")
        return result

    def _write(self, source: AnySource, plan: Plan) -> PollResult:
        new = plan.state
        now = self.clock()
        report = IngestReport()
        if plan.results or plan.sync_dirs:
            report = self.writer.ingest(plan.results, sync_dirs=plan.sync_dirs, stop=self.stopping)
        if report.interrupted:
            return self._interrupted(source, plan, report)
        ingested = {r.id for r in plan.results if isinstance(r, Article)}
        for item in new.items.values():  # a page's article as the index holds it after this write
            if item.article_ids and item.article_ids[0] in ingested:
                page = item.url is not None and not item.teaser and len(item.article_ids) == 1
                item.version = self.writer.indexed_version(item.article_ids[0]) if page else None
        removals = {aid: why for aid, why in plan.removals.items() if aid not in ingested}
        removed: list[dict[str, str]] = []
        if removals:
            # a lasting 404 leaves no tombstone (the page may answer again); a 410 or a drop does
            unknown: set[str] = set()  # already gone from the index
            for bury in (True, False):
                chosen = [a for a in removals if (a in plan.unburied) is not bury]
                if chosen:
                    unknown |= {f["path"] for f in self.writer.remove(chosen, bury=bury).failed}
            removed = [{"id": aid, "why": why} for aid, why in removals.items() if aid not in unknown]
        result = _result(
            source,
            plan,
            report,
            ok=True,
            not_modified=plan.not_modified,
            removed=report.removed + len(removed),  # report.removed: the first scan of a folder (sync)
            taken_down=removed,
        )
        committed = self.clock()
        new.last_poll = new.last_success = now
        new.failures, new.last_error = 0, None
        if result.changed:
            new.last_change = now
        new.next_poll = now + (source.interval if plan.again_in is None else min(source.interval, plan.again_in))
        self._schedule(source.name, new, now)
        result.next_poll = new.next_poll
        self.store.save(new)  # only now: what was ingested above has committed
        self._measure(source, result, plan, committed)
        self._log(source, result)
        return result

    def _interrupted(self, source: AnySource, plan: Plan, report: IngestReport) -> PollResult:
        """A shutdown ended the poll's write after a batch (``IngestReport.interrupted``). The state
        saved is the poll's, except where it would claim work that was not done: an item whose
        articles were not all written, or whose removals were not made, keeps every article id it
        had before or since (what committed can still be removed) and loses its fingerprint, so
        the next poll reads it again and finishes it; an item this poll dropped is kept; the
        documents' validators and a folder's first-sync mark stay as they were."""
        old, new = self.states[source.name], plan.state
        undone = set(report.unwritten) | set(plan.removals)
        for key, item in new.items.items():
            before = old.items[key].article_ids if key in old.items else []
            if undone & set(item.article_ids + before):
                item.article_ids = list(dict.fromkeys(before + item.article_ids))
                item.fingerprint = None
        for key, item in old.items.items():  # dropped by this poll: its removal was not made
            new.items.setdefault(key, item)
        new.docs, new.synced = old.docs, old.synced
        now = self.clock()
        new.last_poll, new.next_poll = now, now  # after the restart, at once
        self._schedule(source.name, new, now)
        self.store.save(new)
        result = _result(
            source,
            plan,
            report,
            ok=False,
            error=f"stopped while writing (shutting down); {len(report.unwritten)} articles are written at the next poll",
            next_poll=now,
        )
        self.metrics.polls.labels(source.name, "interrupted").inc()
        self._log(source, result)
        logger.warning("source %s: %s", source.name, result.error)
        return result

    def _failed(self, source: AnySource, state: SourceState, now: float, error: str) -> PollResult:
        error = error_text(error)  # also in the log: no credentials, one line
        state.failures += 1
        state.last_poll, state.last_error = now, error
        delay = min(max(self.max_backoff, source.interval), source.interval * 2.0 ** min(state.failures, 20))
        state.next_poll = now + delay * self.rng.uniform(0.75, 1.0)  # jitter: failing sources do not align
        self._schedule(source.name, state, now)
        self.store.save(state)
        self.metrics.polls.labels(source.name, "failed").inc()
        self.metrics.failures.labels(source.name).inc()
        self.metrics.consecutive_failures.labels(source.name).set(state.failures)
        level = logging.ERROR if state.failures == FAILING_AFTER else logging.WARNING
        logger.log(
            level,
            "source %s: poll failed (%d in a row): %s; next poll in %.0f s",
            source.name,
            state.failures,
            error,
            state.next_poll - now,
        )
        return PollResult(source.name, ok=False, error=error, next_poll=state.next_poll)

    def _schedule(self, name: str, state: SourceState, now: float) -> None:
        """Make ``state`` the source's state; a wake that came while it was being polled (a file
        event the poll may have missed) moves its next poll to ``now``."""
        with self._busy_lock:  # wake() either came before this, or finds the new state
            if name in self._woken:
                self._woken.discard(name)
                state.next_poll = now
            if name in self.sources:  # not dropped from the sources file meanwhile
                self.states[name] = state

    def _measure(self, source: AnySource, result: PollResult, plan: Plan, committed: float) -> None:
        m = self.metrics
        outcome = "changed" if result.changed else "not_modified" if result.not_modified else "unchanged"
        m.polls.labels(source.name, outcome).inc()
        for change, n in (("added", result.added), ("updated", result.updated), ("removed", result.removed)):
            if n:
                m.changes.labels(source.name, change).inc(n)
        m.consecutive_failures.labels(source.name).set(0)
        m.last_success.labels(source.name).set(committed)
        if result.added or result.updated:
            for _, published in plan.fresh:
                m.lag.labels(source.name).observe(max(0.0, committed - published))

    def _log(self, source: AnySource, result: PollResult) -> None:
        for entry in result.taken_down:
            logger.warning("source %s: removed article %s: %s", source.name, entry["id"], entry["why"])
        for entry in result.failed[:LOGGED_PROBLEMS]:
            logger.warning("source %s: %s: %s", source.name, entry["path"], entry["reason"])
        if len(result.failed) > LOGGED_PROBLEMS:  # a file of 600,000 bad records is one line more, not 600,000
            logger.warning(
                "source %s: and %d more problems in this poll (not logged)",
                source.name,
                len(result.failed) - LOGGED_PROBLEMS,
            )
        what = (
            f"{result.added} added, {result.updated} updated, {result.unchanged} unchanged, "
            f"{result.removed} removed; {result.fetched} fetched, {result.revalidated} not modified"
            + (" (source not modified)" if result.not_modified else "")
        )
        logger.log(logging.INFO if result.changed else logging.DEBUG, "source %s: %s", source.name, what)

    # ---- the loop ---------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Poll every source when it is due until ``stop`` is set (or the task is cancelled); folder
        events wake their source at once. Polls in progress are finished before this returns."""
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self.stopping.clear()
        pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(4, len(self.sources)), thread_name_prefix="newsbot-poll"
        )
        folders: dict[str, tuple[FolderSource, asyncio.Task[None]]] = {}
        running: dict[str, asyncio.Future[PollResult]] = {}
        try:
            while not stop.is_set():
                self.reload()
                self._follow_folders(folders, stop)
                for name in [n for n, f in running.items() if f.done()]:
                    running.pop(name)
                now = self.clock()
                for source in self.due(now):
                    if source.name not in running:
                        running[source.name] = loop.run_in_executor(pool, self.poll_now, source.name)
                idle = [self.states[n].next_poll for n in self.sources if n not in running]
                longest = RELOAD_CHECK if self.sources_file is not None else 60.0
                timeout = min([max(0.0, t - self.clock()) for t in idle] + [longest])
                waiters: list[asyncio.Future[Any]] = [
                    asyncio.ensure_future(self._wake.wait()),
                    asyncio.ensure_future(stop.wait()),
                ]
                await asyncio.wait([*waiters, *running.values()], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                for waiter in waiters:
                    waiter.cancel()
                self._wake.clear()
        finally:
            self.stopping.set()  # polls in progress stop between pages
            tasks = [task for _, task in folders.values()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, *running.values(), return_exceptions=True)
            pool.shutdown(wait=False)
            self._wake = None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Watcher]:
        """Run the loop in a background task for the body's duration (``newsbot serve --watch``)."""
        stop = asyncio.Event()
        task = asyncio.create_task(self.run(stop))
        try:
            yield self
        finally:
            stop.set()
            await task

    def _follow_folders(self, folders: dict[str, tuple[FolderSource, asyncio.Task[None]]], stop: asyncio.Event) -> None:
        """One file-event task per folder source, as the sources are now (after a reload too)."""
        for name, (folder, task) in list(folders.items()):
            if self.sources.get(name) != folder:
                task.cancel()
                del folders[name]
        for source in self.sources.values():
            if isinstance(source, FolderSource) and source.name not in folders:
                folders[source.name] = (source, asyncio.create_task(self._watch_folder(source, stop)))

    async def _watch_folder(self, source: FolderSource, stop: asyncio.Event) -> None:
        """Wake the folder's poll on file events; without events its rescans every ``interval`` remain."""
        try:
            from watchfiles import awatch

            async for _ in awatch(
                source.path,
                stop_event=stop,
                debounce=max(50, int(source.settle * 1000)),
                force_polling=source.force_polling or None,
                ignore_permission_denied=True,
            ):
                self.wake(source.name)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # no inotify, a missing folder: the periodic rescans still run
            logger.warning(
                "source %s: cannot watch %s for changes (%s); rescanning every %.0f s",
                source.name,
                source.path,
                exc,
                source.interval,
            )


def _signature(path: Path | None) -> tuple[int, int] | None:
    """What tells a changed file (modification time and size), None when there is none."""
    if path is None:
        return None
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size
