"""RSS and Atom feeds: one conditional request per poll, the linked page when an item is a teaser
(or only a title and a link), and re-checks of recent pages for corrections and take-downs.

An item that leaves the feed's rolling window is not a take-down: it stays in the index (and is
still re-checked until ``recheck`` has passed since it was first seen)."""

from __future__ import annotations

import dataclasses
import threading

import httpx

from bot.sources.base import Context, Plan, SourceError, fetch_page, validators
from bot.sources.config import FeedSource
from bot.sources.state import Doc, Item, SourceState
from index.fetch import FetchError
from index.loaders import Loader, Problem
from index.loaders.base import guard
from index.loaders.feeds import FeedRecord, feed_records, is_feed
from index.models import Article

FORGET_AFTER = 86400.0  # an item that left the feed is forgotten this long after it was first seen (at least)


def wants_page(source: FeedSource, article: Article) -> bool:
    """Whether the item's page is fetched: always, never, or (``auto``) when the item's text is a
    teaser, shorter than ``teaser_chars``; an item without text (a title and a link) unless never."""
    if not article.url or source.fetch_pages is False:
        return False
    return source.fetch_pages is True or not article.text or len(article.text) < source.teaser_chars


def read_item(loader: Loader, record: FeedRecord) -> Article:
    """The feed item as an article. An item with only a title and a link comes back with an empty
    ``text`` (its id, title and dates read as for any item): its page is all there is to ingest, and
    such an article is never ingested itself."""
    fields = record.fields
    if str(fields.get("text") or "").strip() or not fields.get("url"):
        return loader.article_from_record(fields, record.origin)  # (no text, no link: a Problem)
    stand_in = loader.article_from_record({**fields, "text": fields.get("title") or fields["url"]}, record.origin)
    return dataclasses.replace(stand_in, text="")


def poll_feed(ctx: Context, source: FeedSource, state: SourceState) -> Plan:
    new = state.copy()
    plan = Plan(new)
    doc = new.docs.setdefault(source.url, Doc())
    try:
        response = ctx.fetcher.get(source.url, etag=doc.etag, last_modified=doc.last_modified)
    except (FetchError, httpx.HTTPError) as exc:
        raise SourceError(f"could not fetch the feed: {exc or type(exc).__name__}") from exc
    measured = state.last_success is not None  # the first poll finds old items: no lag to measure
    budget = Budget(source.max_pages, plan, ctx.stopping)
    writes = Budget(source.max_items, plan, ctx.stopping)  # a feed of 1,000 full items: 200 now, the rest soon
    handled: set[str] = set()
    if response.status == 304:
        plan.not_modified = True
    else:
        plan.fetched += 1
        if not is_feed(response.content, response.content_type):
            raise SourceError("not an RSS or Atom feed (an HTML page?)")
        articles: list[Article] = []
        for entry in feed_records(response.content, source.url):
            read = (
                entry if isinstance(entry, Problem) else guard(entry.origin, lambda e=entry: read_item(ctx.loader, e))
            )
            if isinstance(read, Article):  # a feed without a title: its items are the source's
                articles.append(read if read.source else dataclasses.replace(read, source=source.name))
            elif read.path != source.url:
                plan.results.append(read)  # a bad item: in the report
            elif read.reason != "feed has no items":  # the feed as a whole
                raise SourceError(read.reason)
        doc.etag, doc.last_modified = validators(response)
        for item in new.items.values():
            item.listed = False
        for article in articles:
            key = article.id
            fingerprint = article.content_hash()
            known = new.items.get(key)
            item = known or new.items.setdefault(key, Item(first_seen=ctx.now))
            item.listed = True
            if known is not None and item.fingerprint == fingerprint and not item.pending:
                continue  # unchanged in the feed (its page may still have changed: re-checked below)
            item.fingerprint = fingerprint
            fresh = known is None and measured
            if wants_page(source, article):
                item.url = article.url
                handled.add(key)
                if budget.take():
                    fetch_page(
                        ctx,
                        plan,
                        item,
                        fresh=fresh,
                        fallback=article,
                        window=source.recheck,
                        credit=article.source or source.name,
                    )
                else:
                    item.pending = True
            elif not article.text:  # a title and a link, and fetch_pages: false
                plan.results.append(Problem(article.origin or key, "no text, and fetch_pages is false"))
            elif not writes.take():
                item.pending = True  # written by a later poll
            else:
                plan.ingest([article])
                item.article_ids, item.gone, item.pending = [article.id], False, False
                if fresh and article.published:
                    plan.fresh.append((article.id, article.published.timestamp()))
        if writes.skipped:  # items left for the next poll: it must read the feed in full, not be told 304
            doc.etag, doc.last_modified = None, None
    recheck(ctx, plan, new, source.recheck, handled, budget)
    forget = max(source.recheck, FORGET_AFTER)
    for key in [k for k, i in new.items.items() if not i.listed and ctx.now - i.first_seen > forget]:
        del new.items[key]
    return plan


class Budget:
    """Pages one poll may fetch (or feed items it may write); what is left over waits for the next
    poll, which comes soon. A stopping watcher fetches no more pages: the poll ends between two
    pages, and the pages it left are fetched by the next run."""

    def __init__(self, pages: int, plan: Plan, stopping: threading.Event) -> None:
        self.left = pages
        self.plan = plan
        self.stopping = stopping
        self.skipped = 0  # what was left for the next poll

    def take(self) -> bool:
        if self.left <= 0 or self.stopping.is_set():
            self.plan.again_in = 1.0
            self.skipped += 1
            return False
        self.left -= 1
        return True


def recheck(ctx: Context, plan: Plan, state: SourceState, window: float, handled: set[str], budget: Budget) -> None:
    """Fetch again (conditionally) the pages that failed last time and those first seen within
    ``window``: a correction is re-ingested, a 404/410 takes the article down."""
    for key, item in state.items.items():
        if key in handled or not item.url:
            continue
        # taken down and then restored (`newsbot restore`), or written over by another path (a
        # teaser posted after a restore): the page is fetched again in full, whatever this state
        # remembers of it, so the index holds what the page says now
        article_id = item.article_ids[0] if item.article_ids else key
        was_live = bool(item.article_ids) or (item.gone and item.version is not None)  # not a page never live
        lost = was_live and ctx.lost(article_id, item.url, item.version)
        back = item.gone and item.gone_status == 404 and item.listed  # a 404 may end: the page comes back
        if item.gone and not lost and not back:
            continue
        if not (lost or back or item.pending or (window and ctx.now - item.first_seen < window)):
            continue
        if not budget.take():
            return
        if lost:
            item.gone, item.etag, item.last_modified = False, None, None
        fetch_page(ctx, plan, item, window=window)
