"""Sitemaps: ``sitemap.xml``, Google news sitemaps and sitemap indexes (one level of children).

Each listed page is fetched when it is new or its ``lastmod`` (news: ``publication_date``)
changed; a child sitemap of an index is fetched conditionally, and not at all while the index
shows the same ``lastmod`` for it. A page the sitemap stops listing is removed only with
``on_missing: remove`` (news sitemaps drop everything older than two days by design)."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import httpx

from bot.sources.base import Context, Plan, SourceError, fetch_page, validators
from bot.sources.config import SitemapSource
from bot.sources.feeds import FORGET_AFTER, Budget, recheck
from bot.sources.state import Doc, Item, SourceState
from index.fetch import Fetched, FetchError

MAX_CHILDREN = 100  # child sitemaps read from one index
MAX_URLS = 50_000  # the sitemap protocol's own limit per file
MASS_REMOVAL = 5  # on_missing: remove refuses to take down more than half of a source's pages at once, unless this few


@dataclass(frozen=True)
class Entry:
    loc: str
    lastmod: str | None = None  # lastmod, else the news publication date


def parse_sitemap(raw: bytes, max_bytes: int) -> tuple[str, list[Entry]]:
    """("index", children) or ("urlset", pages) of a sitemap (gzip-compressed or not)."""
    from lxml import etree

    if raw[:2] == b"\x1f\x8b":
        inflate = zlib.decompressobj(wbits=31)
        raw = inflate.decompress(raw, max_bytes)
        if inflate.unconsumed_tail:
            raise SourceError(f"the sitemap unpacks to more than {max_bytes} bytes")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True, remove_pis=True)
    try:
        root = etree.fromstring(raw, parser)
    except etree.XMLSyntaxError as exc:
        raise SourceError(f"the sitemap does not parse: {exc}") from None
    if root is None:
        raise SourceError("the sitemap is empty")
    kind = etree.QName(root).localname
    if kind not in ("sitemapindex", "urlset"):
        raise SourceError(f"not a sitemap (root element <{kind}>)")
    entries: list[Entry] = []
    for node in root:
        if not isinstance(node.tag, str) or etree.QName(node).localname not in ("sitemap", "url"):
            continue
        fields: dict[str, str] = {}
        for child in node.iter():
            if isinstance(child.tag, str) and child.text and child.text.strip():
                fields.setdefault(etree.QName(child).localname, child.text.strip())
        if fields.get("loc"):
            entries.append(Entry(fields["loc"], fields.get("lastmod") or fields.get("publication_date")))
        if len(entries) >= MAX_URLS:
            break
    return ("index" if kind == "sitemapindex" else "urlset"), entries


def poll_sitemap(ctx: Context, source: SitemapSource, state: SourceState) -> Plan:
    new = state.copy()
    plan = Plan(new)
    root = _fetch(ctx, plan, new, source.url)
    listing: dict[str, list[Entry]] = {}  # doc URL -> its pages, for the docs read this time
    if root is None:  # unchanged; an index's children may have changed all the same
        children = [Entry(url, doc.lastmod) for url, doc in new.docs.items() if url != source.url]
    else:
        kind, entries = parse_sitemap(root.content, ctx.fetcher.max_bytes)
        children = entries[:MAX_CHILDREN] if kind == "index" else []
        if kind == "urlset":
            listing[source.url] = entries
        current = {source.url} | {c.loc for c in children}
        for url in [u for u in new.docs if u not in current]:
            del new.docs[url]
            listing[url] = []  # a child the index no longer lists lists nothing
    for child in children:
        if ctx.stopping.is_set():  # the children left are read by the next run
            plan.again_in = 1.0
            break
        doc = new.docs.get(child.loc)
        read_before = any(item.doc == child.loc for item in new.items.values())
        if doc is not None and read_before and child.lastmod and doc.lastmod == child.lastmod:
            continue  # the index says this child is as it was
        try:
            response = _fetch(ctx, plan, new, child.loc)
            if response is not None:
                listing[child.loc] = parse_sitemap(response.content, ctx.fetcher.max_bytes)[1]
        except SourceError as exc:  # this child's pages stay as they were; the next poll tries again
            plan.problem(child.loc, str(exc))
            continue
        new.docs[child.loc].lastmod = child.lastmod
    plan.not_modified = root is None and not listing
    measured = state.last_success is not None
    budget = Budget(source.max_pages, plan, ctx.stopping)
    handled: set[str] = set()
    for doc_url, entries in listing.items():
        listed = {e.loc for e in entries}
        for item in new.items.values():
            if item.doc == doc_url and item.url not in listed:
                item.listed = False
        for entry in entries:
            known = new.items.get(entry.loc)
            item = known or new.items.setdefault(entry.loc, Item(first_seen=ctx.now, url=entry.loc))
            item.listed, item.doc = True, doc_url
            if known is not None and item.fingerprint == (entry.lastmod or "") and not item.pending:
                continue  # same lastmod: unchanged (pages without one are re-checked within the window)
            item.fingerprint = entry.lastmod or ""
            handled.add(entry.loc)
            if budget.take():
                fetch_page(ctx, plan, item, fresh=known is None and measured, window=source.recheck)
            else:
                item.pending = True
    dropped = [i for i in new.items.values() if not i.listed and not i.gone and i.article_ids]
    if source.on_missing == "remove" and dropped:
        live = sum(1 for i in state.items.values() if not i.gone and i.article_ids)
        if len(dropped) > MASS_REMOVAL and 2 * len(dropped) > live:
            # An empty or cut-off sitemap (a CMS hiccup) looks like a mass take-down: refused, and
            # failed polls (with their backoff and alerts) until a person or the sitemap sorts it out.
            raise SourceError(
                f"the sitemap no longer lists {len(dropped)} of the {live} pages it had; on_missing: remove "
                "takes down at most half of them in one poll, so none was removed"
            )
        for item in dropped:
            for article_id in item.article_ids:
                plan.removals[article_id] = f"{item.url} was dropped from the sitemap"
            # forgotten fingerprint: should the page be listed again, it is fetched again
            item.gone, item.article_ids, item.fingerprint, item.pending = True, [], None, False
    recheck(ctx, plan, new, source.recheck, handled, budget)
    forget = max(source.recheck, FORGET_AFTER)
    for key in [k for k, i in new.items.items() if not i.listed and ctx.now - i.first_seen > forget]:
        del new.items[key]
    return plan


def _fetch(ctx: Context, plan: Plan, state: SourceState, url: str) -> Fetched | None:
    """A sitemap document, conditionally; None when unchanged (304)."""
    doc = state.docs.setdefault(url, Doc())
    try:
        response = ctx.fetcher.get(url, etag=doc.etag, last_modified=doc.last_modified)
    except (FetchError, httpx.HTTPError) as exc:
        raise SourceError(f"could not fetch the sitemap: {exc or type(exc).__name__}") from exc
    if response.status == 304:
        plan.revalidated += 1
        return None
    plan.fetched += 1
    doc.etag, doc.last_modified = validators(response)
    return response
