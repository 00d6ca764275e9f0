"""What every kind of source shares: the fetcher (``index/fetch.py``'s limits, conditional requests,
a bound on fetches in flight), the plan a poll hands back, and the page fetch with its
take-down rule (410 means gone, a 404 once it has persisted; any other failure means "try again";
no poll takes down more than half of a source)."""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bot.settings import Settings
from bot.sources.state import Item, SourceState
from index.fetch import Fetched, FetchError, fetch
from index.loaders import Loader, LoadResult, Problem
from index.loaders.feeds import with_feed_item
from index.models import Article

logger = logging.getLogger("bot.sources")

GONE = (404, 410)
# A live page's 404 may be a CMS hiccup: it takes the article down only once it has persisted
# over this many polls and this long; a 410 (gone for good) takes it down at once.
MISSING_POLLS = 3
MISSING_SECONDS = 1800.0
# No poll takes down more than half of a source's live articles for 404/410 answers (unless this
# few): the rest stay and are checked again next poll, so a broken CMS cannot empty the index.
MASS_REMOVAL = 5
USER_AGENT = "newsbot-watch/1"


class SourceError(Exception):
    """The source itself (its feed, sitemap or folder) could not be read: the poll failed."""


class Fetcher:
    """GET with the URL-fetch protections of ``index/fetch.py`` (total deadline, streamed size cap, no
    private addresses unless ``NEWSBOT_FETCH_ALLOW_PRIVATE``) and at most ``slots`` fetches in flight
    across all sources."""

    def __init__(self, settings: Settings, slots: int | None = None) -> None:
        self.timeout = settings.fetch_timeout
        self.max_bytes = settings.max_fetch_bytes
        self.allow_private = settings.fetch_allow_private
        self._slots = threading.BoundedSemaphore(slots or settings.watch_fetches)

    def allowing_private(self) -> Fetcher:
        """This fetcher for one source that may reach private addresses (its ``allow_private`` in
        sources.yaml): the same limits and fetch slots, the others' protection untouched."""
        other = copy.copy(self)
        other.allow_private = True
        return other

    def get(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None, check_status: bool = True
    ) -> Fetched:
        """A conditional GET when validators are given (``status`` 304: unchanged, no body)."""
        headers = {"User-Agent": USER_AGENT}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        with self._slots:
            return fetch(
                url,
                timeout=self.timeout,
                max_bytes=self.max_bytes,
                allow_private=self.allow_private,
                headers=headers,
                check_status=check_status,
            )


@dataclass
class Context:
    """What a poll works with."""

    fetcher: Fetcher
    loader: Loader
    now: float
    stopping: threading.Event = field(default_factory=threading.Event)
    # (article id, url, version written) -> not taken down, and not indexed in that version:
    # restored, or written over by another path; the page is fetched again in full
    lost: Callable[[str, str | None, str | None], bool] = lambda article_id, url, version: False


@dataclass
class Plan:
    """What one poll found: articles to ingest, articles to remove (and why), and the state to save
    once that has committed."""

    state: SourceState
    results: list[LoadResult] = field(default_factory=list)
    removals: dict[str, str] = field(default_factory=dict)  # article id -> why
    sync_dirs: list[Path] = field(default_factory=list)
    fresh: list[tuple[str, float]] = field(default_factory=list)  # (article id, published): for the lag metric
    not_modified: bool = False  # the feed or sitemap answered 304
    fetched: int = 0  # documents and pages that came with a body
    revalidated: int = 0  # conditional requests answered 304
    problems: list[dict[str, str]] = field(default_factory=list)  # {"path", "reason"}: tried again next poll
    again_in: float | None = None  # work is left over (or a file still being written): poll again this soon
    takedowns_left: int | None = None  # pages this poll may still take down for a 404/410 (None: not counted yet)
    unburied: set[str] = field(default_factory=set)  # removals without a tombstone (a lasting 404: may come back)

    def problem(self, url: str, reason: str) -> None:
        self.problems.append({"path": url, "reason": f"{reason}; tried again next poll"})

    def ingest(self, results: list[LoadResult]) -> list[Article]:
        self.results.extend(results)
        return [r for r in results if isinstance(r, Article)]


Poll = Callable[[Context, object, SourceState], Plan]


def _taken_down(ctx: Context, plan: Plan, item: Item, status: int) -> bool:
    """Whether a live page's 404/410 takes its article down now: a 410 at once, a 404 once it has
    persisted (``MISSING_POLLS`` polls, ``MISSING_SECONDS``); either only while this poll has not
    taken down half of the source's live articles. Otherwise the page is checked again next poll."""
    assert item.url is not None
    if status == 404:
        item.missing += 1
        item.missing_since = item.missing_since or ctx.now
        if item.missing < MISSING_POLLS or ctx.now - item.missing_since < MISSING_SECONDS:
            item.pending = True
            plan.problem(item.url, f"HTTP 404 ({item.missing} of {MISSING_POLLS} before the article is taken down)")
            return False
    if plan.takedowns_left is None:
        live = sum(1 for i in plan.state.items.values() if not i.gone and i.article_ids)
        plan.takedowns_left = max(MASS_REMOVAL, live // 2)
    if plan.takedowns_left <= 0:
        item.pending = True
        plan.problem(item.url, f"HTTP {status}, but this poll has taken down half of the source's pages already")
        return False
    plan.takedowns_left -= 1
    return True


def validators(response: Fetched) -> tuple[str | None, str | None]:
    return response.headers.get("etag"), response.headers.get("last-modified")


def fetch_page(
    ctx: Context,
    plan: Plan,
    item: Item,
    *,
    fresh: bool = False,
    fallback: Article | None = None,
    window: float = 0.0,
    credit: str | None = None,
) -> None:
    """Fetch ``item.url`` (conditionally, when it was fetched before) and plan what follows:
    a 304 changes nothing, a page is ingested, 404/410 takes the item's articles down, any other
    failure leaves the item ``pending`` for the next poll. ``fresh``: a new item whose lag from
    publication to answerable is measured. ``fallback``: the feed item, whose dates a page without
    any keeps and whose text is ingested while the page has no article to extract. ``window``: the
    source's ``recheck``; within it, a page that never gave an article and answers 404/410 is
    tried again (it may be listed before it is live). ``credit``: who publishes the page when the
    page does not say (no site name, only its host): the feed's title or the source's name;
    remembered with the item for re-checks."""
    assert item.url is not None
    item.credit = credit or item.credit
    try:
        response = ctx.fetcher.get(item.url, etag=item.etag, last_modified=item.last_modified, check_status=False)
    except (FetchError, httpx.HTTPError) as exc:
        item.pending = True
        plan.problem(item.url, str(exc) or type(exc).__name__)
        return
    if response.status == 304:
        plan.revalidated += 1
        item.pending, item.missing, item.missing_since = False, 0, 0.0
        return
    if response.status in GONE:
        if not item.article_ids and not item.gone and ctx.now - item.first_seen < window:
            # Never live yet (a CDN still propagating a page listed seconds ago): not a take-down.
            # The forgotten fingerprint has the listing fetch it again, like the pending flag.
            item.pending, item.fingerprint = True, None
            plan.problem(item.url, f"HTTP {response.status}")
            return
        if item.article_ids and not _taken_down(ctx, plan, item, response.status):
            return
        for article_id in item.article_ids:
            plan.removals[article_id] = f"{item.url} answered {response.status}"
            if response.status == 404:
                plan.unburied.add(article_id)
        # a page that was live and answers 404 is checked again (a 410 ends that); one never live is given up
        live = bool(item.article_ids) or (item.gone and item.gone_status == 404)
        item.gone_status = response.status if live else None
        item.gone, item.pending, item.article_ids, item.teaser = True, False, [], False
        item.missing, item.missing_since = 0, 0.0
        item.etag = item.last_modified = None  # should it answer again, its page is read in full
        return
    if not response.ok:
        item.pending = True
        plan.problem(item.url, f"HTTP {response.status}")
        return
    plan.fetched += 1
    item.missing, item.missing_since, item.gone_status = 0, 0.0, None
    item.etag, item.last_modified = validators(response)
    results = [with_feed_item(r, fallback, item.credit) for r in ctx.loader.load_fetched(response, item.url)]
    articles = plan.ingest(results)
    item.gone = False
    if not articles and any(isinstance(r, Problem) and r.fatal for r in results):
        # No article in the page (not filled in yet, a layout the extractor does not know): the
        # feed item's own text keeps the item findable, and the page is tried again (conditionally:
        # only a changed page is read again). An article the page gave before is kept instead.
        item.pending = True
        if fallback is not None and fallback.text and (item.teaser or not item.article_ids):
            plan.ingest([fallback])
            item.article_ids, item.teaser = [fallback.id], True
            if fresh and fallback.published:
                plan.fresh.append((fallback.id, fallback.published.timestamp()))
        return
    ids = [a.id for a in articles]
    for old in set(item.article_ids) - set(ids):  # the page now names itself differently
        plan.removals[old] = f"{item.url} is now article {', '.join(ids) or 'nothing'}"
    item.article_ids, item.pending, item.teaser = ids, False, False
    if fresh and articles and articles[0].published:
        plan.fresh.append((articles[0].id, articles[0].published.timestamp()))
