"""``newsbot watch``: feeds, sitemaps and folders followed by the ``Watcher``, against real HTTP servers
on 127.0.0.1 whose feeds and pages change between polls, the real index and model.

Polls are driven by ``run_once()``/``poll_now()`` and a clock the test moves; only the folder test
runs the real loop (file events), and it waits on states with ``wait_for``, never for a fixed time.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import signal
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bot.qa import NewsQA
from bot.settings import Settings
from bot.sources import FeedSource, FolderSource, SitemapSource, StateStore, Watcher, Writer
from bot.sources.base import Fetcher
from bot.sources.folders import OPEN_WRITER_PATIENCE
from bot.sources.scheduler import LOGGED_PROBLEMS
from tests.conftest import NEWSBOT, invoke_cli, wait_for

INTERVAL = 300.0

# ---- a newsroom on 127.0.0.1 -------------------------------------------------------------------


@dataclass
class Page:
    body: bytes
    status: int | str = 200  # an HTTP status, or "hang": no answer until the test ends
    content_type: str = "text/html; charset=utf-8"

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha1(self.body).hexdigest()[:12] + '"'


class Newsroom:
    """A threaded HTTP server with pages the test changes; it logs every request
    (path, If-None-Match, status answered) and answers 304 when the ETag matches."""

    def __init__(self) -> None:
        self.pages: dict[str, Page] = {}
        self.log: list[tuple[str, str | None, int]] = []
        self.release = threading.Event()
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                page = site.pages.get(self.path)
                condition = self.headers.get("If-None-Match")
                if page is None:
                    status = 404
                elif page.status == "hang":
                    site.release.wait(60)
                    status = 503
                elif page.status != 200:
                    status = int(page.status)
                else:
                    status = 304 if condition == page.etag else 200
                site.log.append((self.path, condition, status))
                self.send_response(status)
                if status == 200:
                    assert page is not None
                    self.send_header("Content-Type", page.content_type)
                    self.send_header("ETag", page.etag)
                    self.send_header("Content-Length", str(len(page.body)))
                    self.end_headers()
                    self.wfile.write(page.body)
                else:
                    self.send_header("Content-Length", "0")
                    self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def put(self, path: str, body: str, **kwargs: Any) -> None:
        self.pages[path] = Page(body.encode("utf-8"), **kwargs)

    def requests(self, path: str) -> list[tuple[str | None, int]]:
        return [(condition, status) for p, condition, status in self.log if p == path]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def article_page(url: str, title: str, *paragraphs: str, published: str = "2024-05-02T08:00:00+02:00") -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f'<html><head><title>{title}</title><link rel="canonical" href="{url}">'
        f'<meta property="article:published_time" content="{published}"></head>'
        f"<body><nav>Startseite</nav><article><h1>{title}</h1>{body}</article></body></html>"
    )


def rss(*items: dict[str, str]) -> str:
    entries = "".join(
        f"<item><title>{i['title']}</title><link>{i['link']}</link><guid>{i['link']}</guid>"
        f"<pubDate>Thu, 02 May 2024 06:00:00 GMT</pubDate><description>{i['teaser']}</description></item>"
        for i in items
    )
    return f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Testschau</title>{entries}</channel></rss>'


def sitemap(*urls: tuple[str, str]) -> str:
    entries = "".join(f"<url><loc>{loc}</loc><lastmod>{lastmod}</lastmod></url>" for loc, lastmod in urls)
    return f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</urlset>'


FERRY = (
    "Die neue Schnellfähre zwischen Cuxhaven und Helgoland fährt ab Juni dreimal täglich.",
    "Die Überfahrt dauert nach Angaben der Reederei künftig nur noch siebzig Minuten.",
    "Bisher brauchten die Schiffe fast zwei Stunden für die Strecke über die Nordsee.",
    "Der Hafen von Helgoland wird dafür bis zum Frühjahr ausgebaut.",
)
BRIDGE = (
    "Die marode Autobahnbrücke bei Lüdenscheid wird im Herbst gesprengt.",
    "Nach Angaben der Autobahn GmbH sollen dafür 150 Kilogramm Sprengstoff eingesetzt werden.",
    "Anwohner im Umkreis von 500 Metern müssen ihre Häuser für einen Tag verlassen.",
    "Der Neubau der Brücke soll fünf Jahre dauern.",
)
ZOO = (
    "Im Leipziger Zoo ist ein seltenes Okapi-Jungtier zur Welt gekommen.",
    "Das Weibchen wog bei der Geburt nach Angaben des Zoos 18 Kilogramm.",
    "Besucher können das Jungtier ab Pfingsten im Gehege sehen.",
    "Okapis gelten in ihrer Heimat im Kongo als stark gefährdet.",
)


# ---- fixtures ----------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_714_600_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class CountingWriter(Writer):
    """The real writer, counting the ingests it is handed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ingests = 0

    def ingest(self, results: Any, **kwargs: Any) -> Any:
        self.ingests += 1
        return super().ingest(results, **kwargs)


@pytest.fixture
def newsroom() -> Iterator[Newsroom]:
    site = Newsroom()
    yield site
    site.close()


@pytest.fixture
def watch_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", fetch_allow_private=True, fetch_timeout=5, lock_timeout=0.2)


@pytest.fixture
def qa(watch_settings: Settings, e5: Any) -> Iterator[NewsQA]:
    with NewsQA(watch_settings, embedder=e5) as qa:
        yield qa


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_watcher(settings: Settings, qa: NewsQA, sources: list[Any], clock: Clock, **kwargs: Any) -> Watcher:
    import random

    return Watcher(
        sources,
        CountingWriter(qa.admin),
        StateStore(settings.data_dir),
        loader=qa.admin.loader(),
        fetcher=Fetcher(settings),
        clock=clock,
        rng=random.Random(7),
        **kwargs,
    )


def answer_ids(qa: NewsQA, question: str) -> list[str]:
    answer = qa.ask(question)
    return [] if answer.refused else [c.article_id for c in answer.citations]


def quotes(qa: NewsQA, question: str) -> str:
    answer = qa.ask(question)
    return "" if answer.refused else " ".join(q for c in answer.citations for q in c.quotes)


def indexed(qa: NewsQA) -> set[str]:
    return {row[0] for row in qa.index.catalog.db.execute("SELECT id FROM articles")}


# ---- feeds -------------------------------------------------------------------------------------


def test_new_item_answerable_after_next_poll_and_a_correction_changes_the_answer(watch_settings, qa, newsroom, clock):
    ferry, bridge = f"{newsroom.url}/faehre.html", f"{newsroom.url}/bruecke.html"
    newsroom.put("/faehre.html", article_page(ferry, "Schneller nach Helgoland", *FERRY))
    newsroom.put("/feed.xml", rss({"title": "Schneller nach Helgoland", "link": ferry, "teaser": "Neue Fähre."}))
    source = FeedSource(kind="feed", name="testschau", url=f"{newsroom.url}/feed.xml", interval=INTERVAL)
    watcher = make_watcher(watch_settings, qa, [source], clock)

    [first] = watcher.run_once()
    assert first.ok and first.added == 1
    assert answer_ids(qa, "Wie lange dauert die Überfahrt nach Helgoland?") == [ferry]  # the page, not the teaser
    assert "siebzig Minuten" in quotes(qa, "Wie lange dauert die Überfahrt nach Helgoland?")

    newsroom.put("/bruecke.html", article_page(bridge, "Brücke wird gesprengt", *BRIDGE))
    newsroom.put(
        "/feed.xml",
        rss(
            {"title": "Brücke wird gesprengt", "link": bridge, "teaser": "Sprengung im Herbst."},
            {"title": "Schneller nach Helgoland", "link": ferry, "teaser": "Neue Fähre."},
        ),
    )
    clock.advance(INTERVAL / 2)
    assert watcher.run_once() == []  # not due yet: nothing is fetched
    assert bridge not in indexed(qa)
    clock.advance(INTERVAL / 2)
    [second] = watcher.run_once()
    assert second.added == 1
    lag = watcher.metrics.registry.get_sample_value("newsbot_source_lag_seconds_count", {"source": "testschau"})
    assert lag == 1  # the new item's lag; the first poll's old items are not counted
    assert answer_ids(qa, "Wie viel Sprengstoff wird für die Brücke bei Lüdenscheid eingesetzt?")[0] == bridge

    # the editors correct the ferry article; the feed does not change (its teaser is the same)
    corrected = list(FERRY)
    corrected[1] = "Die Überfahrt dauert nach Angaben der Reederei künftig nur noch achtzig Minuten."
    newsroom.put("/faehre.html", article_page(ferry, "Schneller nach Helgoland", *corrected))
    clock.advance(INTERVAL)
    [third] = watcher.run_once()
    assert third.not_modified and third.updated == 1
    said = quotes(qa, "Wie lange dauert die Überfahrt nach Helgoland?")
    assert "achtzig Minuten" in said and "siebzig" not in said


def test_pages_without_a_site_name_are_credited_to_the_feed(watch_settings, qa, newsroom, clock):
    """Not to "127.0.0.1:PORT": the feed's title (the source's name in sources.yaml for a feed
    without one), also after a re-check of the page. A page that names its site keeps its own
    name; a sitemap's pages (a sitemap has no title, and two sitemaps may list one page) keep
    their host."""
    ferry, bridge = f"{newsroom.url}/faehre.html", f"{newsroom.url}/bruecke.html"
    newsroom.put("/faehre.html", article_page(ferry, "Schneller nach Helgoland", *FERRY))
    named = article_page(bridge, "Brücke wird gesprengt", *BRIDGE)
    newsroom.put("/bruecke.html", named.replace("<head>", '<head><meta property="og:site_name" content="NDR">'))
    newsroom.put("/feed.xml", rss({"title": "Schneller nach Helgoland", "link": ferry, "teaser": "Neue Fähre."}))
    newsroom.put("/sitemap.xml", sitemap((bridge, "2024-05-02")))
    sources = [
        FeedSource(
            kind="feed", name="testschau", url=f"{newsroom.url}/feed.xml", interval=INTERVAL, recheck=3 * INTERVAL
        ),
        SitemapSource(kind="sitemap", name="hafenblatt", url=f"{newsroom.url}/sitemap.xml", interval=INTERVAL),
    ]
    watcher = make_watcher(watch_settings, qa, sources, clock)
    assert all(r.ok for r in watcher.run_once())
    assert qa.article(ferry).source == "Testschau"  # the feed's title
    assert qa.article(bridge).source == "NDR"  # the page's own site name wins

    corrected = [p.replace("siebzig", "achtzig") for p in FERRY]
    newsroom.put("/faehre.html", article_page(ferry, "Schneller nach Helgoland", *corrected))  # a correction
    newsroom.put("/feed.xml", rss())  # gone from the feed: the page is only re-checked
    newsroom.put("/bruecke.html", article_page(bridge, "Brücke wird gesprengt", *BRIDGE))  # no site name now
    newsroom.put("/sitemap.xml", sitemap((bridge, "2024-05-03")))
    clock.advance(INTERVAL)
    assert all(r.ok for r in watcher.run_once())
    assert "achtzig Minuten" in qa.article(ferry).text  # the correction was read ...
    assert qa.article(ferry).source == "Testschau"  # ... and still credited to the feed
    assert qa.article(bridge).source == newsroom.url.split("://", 1)[1]


def test_ingest_of_a_feed_url_reads_a_teasers_page_as_the_watcher_does(newsroom):
    """`newsbot ingest FEED_URL` used to store the feed's three-line teasers: now the pages, as
    `newsbot watch` stores them (same text, same credit); an item whose page fails keeps its teaser."""
    ferry, bridge = f"{newsroom.url}/faehre.html", f"{newsroom.url}/bruecke.html"
    newsroom.put("/faehre.html", article_page(ferry, "Schneller nach Helgoland", *FERRY))
    newsroom.put("/bruecke.html", "", status=500)
    newsroom.put(
        "/feed.xml",
        rss(
            {"title": "Schneller nach Helgoland", "link": ferry, "teaser": "Neue Fähre nach Helgoland."},
            {"title": "Brücke wird gesprengt", "link": bridge, "teaser": BRIDGE[0]},
        ),
    )
    env = {"NEWSBOT_FETCH_ALLOW_PRIVATE": "true"}
    result = invoke_cli("ingest", f"{newsroom.url}/feed.xml", "--json", env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["added"] == 2 and not report["failed"]
    [warning] = report["warnings"]
    assert warning["path"].endswith(bridge) and "its page gave no article" in warning["reason"]
    with NewsQA(Settings()) as qa:
        assert qa.article(ferry).text.count("\n") >= 3 and "siebzig Minuten" in qa.article(ferry).text
        assert qa.article(ferry).source == "Testschau"
        assert qa.article(bridge).text == BRIDGE[0]  # the teaser, until its page answers


FIRE = (
    "Eine Lagerhalle am Hafen ist in der Nacht vollständig ausgebrannt.",
    "Die Feuerwehr war mit 120 Einsatzkräften vor Ort.",
    "Verletzt wurde nach Angaben der Polizei niemand.",
)


def test_a_manual_feed_ingest_beside_the_watcher_overwrites_nothing_and_brings_nothing_back(
    watch_settings, qa, newsroom, clock
):
    """The integrity issue's scenario: the watcher holds full pages and has taken one down (410);
    then an admin runs `newsbot ingest FEED_URL` while a page fails, then `watch --once`."""
    ferry, bridge, fire = (f"{newsroom.url}/{name}.html" for name in ("faehre", "bruecke", "brand"))
    newsroom.put("/faehre.html", article_page(ferry, "Schneller nach Helgoland", *FERRY))
    newsroom.put("/bruecke.html", article_page(bridge, "Brücke wird gesprengt", *BRIDGE))
    newsroom.put("/brand.html", article_page(fire, "Großbrand in Lagerhalle", *FIRE))
    newsroom.put(
        "/feed.xml",
        rss(
            {"title": "Schneller nach Helgoland", "link": ferry, "teaser": FERRY[0]},
            {"title": "Brücke wird gesprengt", "link": bridge, "teaser": BRIDGE[0]},
            {"title": "Großbrand in Lagerhalle", "link": fire, "teaser": FIRE[0]},
        ),
    )
    source = FeedSource(kind="feed", name="testschau", url=f"{newsroom.url}/feed.xml", interval=INTERVAL, recheck=0)
    watcher = make_watcher(watch_settings, qa, [source], clock)
    [first] = watcher.run_once()
    assert first.added == 3
    full = {url: qa.article(url).text for url in (ferry, bridge)}

    newsroom.put("/brand.html", "", status=410)  # taken down by the newsroom
    newsroom.put(
        "/feed.xml",  # the feed changes, so the watcher reads it and fetches the items' pages again
        rss(
            {"title": "Schneller nach Helgoland", "link": ferry, "teaser": FERRY[0] + " Neu."},
            {"title": "Brücke wird gesprengt", "link": bridge, "teaser": BRIDGE[0]},
            {"title": "Großbrand in Lagerhalle", "link": fire, "teaser": FIRE[0] + " Neu."},
        ),
    )
    clock.advance(INTERVAL)
    [second] = watcher.run_once()
    assert [t["id"] for t in second.taken_down] == [fire] and fire not in indexed(qa)

    newsroom.put("/faehre.html", "", status=503)  # a CMS hiccup during the manual ingest
    env = {"NEWSBOT_DATA_DIR": str(watch_settings.data_dir), "NEWSBOT_FETCH_ALLOW_PRIVATE": "true"}
    result = invoke_cli("ingest", f"{newsroom.url}/feed.xml", "--json", env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["added"], report["updated"], report["kept_down"], report["kept_full_text"]) == (0, 0, 1, 1)
    why = " ".join(w["reason"] for w in report["warnings"])
    assert f"{fire} was taken down on" in why and f"{ferry}: kept the full text" in why
    assert {url: qa.article(url).text for url in (ferry, bridge)} == full  # nothing replaced by a teaser
    assert fire not in indexed(qa)  # and the take-down holds
    assert "Lagerhalle" not in " ".join(quotes(qa, "Großbrand Lagerhalle Hafen"))

    newsroom.put("/faehre.html", article_page(ferry, "Schneller nach Helgoland", *FERRY))
    clock.advance(INTERVAL)
    assert all(r.ok for r in watcher.run_once(every=True))  # watch --once: the catalog and its state agree
    assert {url: qa.article(url).text for url in (ferry, bridge)} == full and fire not in indexed(qa)


def test_a_feed_of_many_full_items_is_written_a_bounded_batch_per_poll(watch_settings, qa, newsroom, clock):
    towns = ["Bremen", "Kiel", "Rostock", "Lübeck", "Emden"]
    items = [
        {
            "title": f"Neue Fähre in {t}",
            "link": f"{newsroom.url}/{n}.html",
            "teaser": f"In {t} legt ab Juni eine neue Fähre an.",
        }
        for n, t in enumerate(towns)
    ]
    newsroom.put("/feed.xml", rss(*items))
    source = FeedSource(
        kind="feed", name="testschau", url=f"{newsroom.url}/feed.xml", interval=INTERVAL, fetch_pages=False, max_items=2
    )
    watcher = make_watcher(watch_settings, qa, [source], clock)
    added = []
    for _ in range(3):
        [result] = watcher.run_once()
        assert result.ok and not result.not_modified  # items left over: the feed is read in full again
        added.append(result.added)
        if len(indexed(qa)) < 5:
            assert watcher.states["testschau"].next_poll == clock.now + 1.0  # the rest soon, not an interval later
        clock.advance(1.0)
    assert added == [2, 2, 1]
    assert len(indexed(qa)) == 5
    clock.advance(INTERVAL)
    [quiet] = watcher.run_once()
    assert quiet.not_modified and not quiet.changed  # all written: the feed's validators are kept again


def test_unchanged_feed_costs_one_304_and_no_ingest(watch_settings, qa, newsroom, clock):
    ferry = f"{newsroom.url}/faehre.html"
    newsroom.put("/faehre.html", article_page(ferry, "Schneller nach Helgoland", *FERRY))
    newsroom.put("/feed.xml", rss({"title": "Schneller nach Helgoland", "link": ferry, "teaser": "Neue Fähre."}))
    source = FeedSource(kind="feed", name="testschau", url=f"{newsroom.url}/feed.xml", interval=INTERVAL)
    watcher = make_watcher(watch_settings, qa, [source], clock)
    assert watcher.run_once()[0].added == 1
    assert watcher.writer.ingests == 1  # type: ignore[attr-defined]
    changes = qa.index.catalog.db.total_changes

    clock.advance(INTERVAL)
    [again] = watcher.run_once()
    assert again.ok and again.not_modified and not again.changed
    feed_etag = newsroom.pages["/feed.xml"].etag
    assert newsroom.requests("/feed.xml") == [(None, 200), (feed_etag, 304)]
    # the page is re-checked (it may have been corrected) and is not modified either
    assert newsroom.requests("/faehre.html")[-1] == (newsroom.pages["/faehre.html"].etag, 304)
    assert watcher.writer.ingests == 1  # type: ignore[attr-defined]
    assert qa.index.catalog.db.total_changes == changes


def test_page_answering_410_leaves_the_index_but_leaving_the_feed_does_not(watch_settings, qa, newsroom, clock, caplog):
    ferry, zoo = f"{newsroom.url}/faehre.html", f"{newsroom.url}/zoo.html"
    newsroom.put("/faehre.html", article_page(ferry, "Schneller nach Helgoland", *FERRY))
    newsroom.put("/zoo.html", article_page(zoo, "Okapi geboren", *ZOO))
    newsroom.put(
        "/feed.xml",
        rss(
            {"title": "Schneller nach Helgoland", "link": ferry, "teaser": "Neue Fähre."},
            {"title": "Okapi geboren", "link": zoo, "teaser": "Nachwuchs im Zoo."},
        ),
    )
    source = FeedSource(kind="feed", name="testschau", url=f"{newsroom.url}/feed.xml", interval=INTERVAL)
    watcher = make_watcher(watch_settings, qa, [source], clock)
    assert watcher.run_once()[0].added == 2

    # the zoo item rolls out of the feed's window: that is not a take-down
    newsroom.put("/feed.xml", rss({"title": "Schneller nach Helgoland", "link": ferry, "teaser": "Neue Fähre."}))
    clock.advance(INTERVAL)
    assert watcher.run_once()[0].removed == 0
    assert zoo in indexed(qa)

    newsroom.put("/faehre.html", "", status=410)
    clock.advance(INTERVAL)
    with caplog.at_level(logging.INFO, logger="bot.sources"):
        [gone] = watcher.run_once()
    assert gone.removed == 1 and gone.taken_down == [{"id": ferry, "why": f"{ferry} answered 410"}]
    assert ferry not in indexed(qa) and zoo in indexed(qa)
    assert answer_ids(qa, "Wie lange dauert die Überfahrt nach Helgoland?") == []
    assert any(f"removed article {ferry}" in r.getMessage() and "410" in r.getMessage() for r in caplog.records)


def test_only_a_source_that_says_so_may_reach_private_addresses(watch_settings, qa, newsroom, clock):
    """`allow_private: true` on one source opens private addresses for it alone; without
    NEWSBOT_FETCH_ALLOW_PRIVATE every other source stays kept off them (issue 24, finding 10)."""
    ferry = f"{newsroom.url}/faehre.html"
    newsroom.put("/faehre.html", article_page(ferry, "Schneller nach Helgoland", *FERRY))
    newsroom.put("/feed.xml", rss({"title": "Schneller nach Helgoland", "link": ferry, "teaser": "Neue Fähre."}))
    sources = [
        FeedSource(kind="feed", name="intranet", url=f"{newsroom.url}/feed.xml", interval=INTERVAL, allow_private=True),
        FeedSource(kind="feed", name="outside", url=f"{newsroom.url}/feed.xml?other", interval=INTERVAL),
    ]
    closed = watch_settings.model_copy(update={"fetch_allow_private": False})
    watcher = make_watcher(closed, qa, sources, clock)
    results = {r.source: r for r in watcher.run_once()}
    assert results["intranet"].ok and results["intranet"].added == 1
    assert not results["outside"].ok and "private, loopback or link-local" in (results["outside"].error or "")


def test_a_failing_source_keeps_its_credentials_and_httpx_boilerplate_out_of_errors(
    watch_settings, qa, newsroom, clock
):
    host = newsroom.url.split("://", 1)[1]
    url = f"http://svc-user:hunter2@{host}/gone.xml?token=s3cr3t-token"
    newsroom.put("/gone.xml", "", status=404)
    watcher = make_watcher(
        watch_settings, qa, [FeedSource(kind="feed", name="geheim", url=url, interval=INTERVAL)], clock
    )
    for _ in range(5):
        clock.now = watcher.states["geheim"].next_poll
        (result,) = watcher.run_once()
        assert not result.ok
    error = watcher.status()[0]["last_error"]
    assert "404" in error and f"http://{host}/gone.xml?…" in error  # the source is still recognizable
    assert not {"hunter2", "svc-user", "s3cr3t", "developer.mozilla.org"} & set(re.findall(r"[\w.-]+", error))
    assert watcher.failing() == [  # what /readyz shows without a key: no errors, no URLs, no paths
        {k: watcher.status()[0][k] for k in ("name", "kind", "failures", "last_poll", "last_success")}
    ]
    assert "last_error" not in watcher.failing()[0]


def test_failing_and_hanging_sources_back_off_while_another_is_polled(watch_settings, qa, newsroom, clock):
    ferry = f"{newsroom.url}/faehre.html"
    newsroom.put("/faehre.html", article_page(ferry, "Schneller nach Helgoland", *FERRY))
    newsroom.put(
        "/good.xml",
        rss({"title": "Schneller nach Helgoland", "link": ferry, "teaser": "Neue Fähre."}),
    )
    newsroom.put("/broken.xml", "", status=500)
    newsroom.put("/slow.xml", "", status="hang")
    settings = watch_settings.model_copy(update={"fetch_timeout": 1.0})
    sources = [
        FeedSource(kind="feed", name="good", url=f"{newsroom.url}/good.xml", interval=INTERVAL),
        FeedSource(kind="feed", name="broken", url=f"{newsroom.url}/broken.xml", interval=INTERVAL),
        SitemapSource(kind="sitemap", name="slow", url=f"{newsroom.url}/slow.xml", interval=INTERVAL),
    ]
    watcher = make_watcher(settings, qa, sources, clock)
    results = {r.source: r for r in watcher.run_once()}
    assert results["good"].ok and results["good"].added == 1
    assert not results["broken"].ok and "500" in (results["broken"].error or "")
    assert not results["slow"].ok
    first_delay = {name: watcher.states[name].next_poll - clock.now for name in ("broken", "slow")}
    assert all(delay > INTERVAL for delay in first_delay.values())  # backed off beyond the interval

    clock.advance(INTERVAL)
    assert [r.source for r in watcher.run_once()] == ["good"]  # the failing ones wait, the good one goes on
    assert len(newsroom.requests("/good.xml")) == 2 and len(newsroom.requests("/broken.xml")) == 1

    clock.now = watcher.states["broken"].next_poll
    results = {r.source: r for r in watcher.run_once()}
    assert "broken" in results and not results["broken"].ok
    assert watcher.states["broken"].failures == 2
    assert watcher.states["broken"].next_poll - clock.now > first_delay["broken"]  # exponential
    status = {s["name"]: s for s in watcher.status()}
    assert status["broken"]["failures"] == 2 and "500" in status["broken"]["last_error"]
    assert status["good"]["failures"] == 0 and status["good"]["items"] == 1
    assert watcher.failing() == []


def test_a_page_that_fails_is_fetched_again_on_the_next_poll(watch_settings, qa, newsroom, clock):
    ferry = f"{newsroom.url}/faehre.html"
    newsroom.put("/faehre.html", "", status=503)
    newsroom.put("/feed.xml", rss({"title": "Schneller nach Helgoland", "link": ferry, "teaser": "Neue Fähre."}))
    source = FeedSource(kind="feed", name="testschau", url=f"{newsroom.url}/feed.xml", interval=INTERVAL, recheck=0)
    watcher = make_watcher(watch_settings, qa, [source], clock)
    [first] = watcher.run_once()
    assert first.ok and first.added == 0  # the source is fine; one of its pages is not
    assert first.failed == [{"path": ferry, "reason": "HTTP 503; tried again next poll"}]

    newsroom.put("/faehre.html", article_page(ferry, "Schneller nach Helgoland", *FERRY))
    clock.advance(INTERVAL)
    [second] = watcher.run_once()
    assert second.not_modified and second.added == 1  # the feed is unchanged, the page was retried
    assert ferry in indexed(qa)


def test_restart_resumes_with_the_stored_etag(watch_settings, qa, newsroom, clock):
    ferry = f"{newsroom.url}/faehre.html"
    newsroom.put("/faehre.html", article_page(ferry, "Schneller nach Helgoland", *FERRY))
    newsroom.put("/feed.xml", rss({"title": "Schneller nach Helgoland", "link": ferry, "teaser": "Neue Fähre."}))
    source = FeedSource(kind="feed", name="testschau", url=f"{newsroom.url}/feed.xml", interval=INTERVAL)
    first = make_watcher(watch_settings, qa, [source], clock)
    assert first.run_once()[0].added == 1
    first.close()

    restarted = make_watcher(watch_settings, qa, [source], clock)
    assert restarted.run_once() == []  # its schedule survived too
    clock.advance(INTERVAL)
    [result] = restarted.run_once()
    assert result.not_modified
    assert newsroom.requests("/feed.xml")[-1] == (newsroom.pages["/feed.xml"].etag, 304)


def test_state_is_saved_only_after_the_ingest_committed(watch_settings, qa, newsroom, clock, monkeypatch):
    ferry = f"{newsroom.url}/faehre.html"
    newsroom.put("/faehre.html", article_page(ferry, "Schneller nach Helgoland", *FERRY))
    newsroom.put("/feed.xml", rss({"title": "Schneller nach Helgoland", "link": ferry, "teaser": "Neue Fähre."}))
    source = FeedSource(kind="feed", name="testschau", url=f"{newsroom.url}/feed.xml", interval=INTERVAL)
    watcher = make_watcher(watch_settings, qa, [source], clock)

    def killed(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("killed before the ingest committed")

    monkeypatch.setattr(watcher.writer, "ingest", killed)
    assert not watcher.run_once()[0].ok
    assert StateStore(watch_settings.data_dir).load("testschau").docs == {}  # no ETag was kept

    restarted = make_watcher(watch_settings, qa, [source], clock)
    clock.now = restarted.states["testschau"].next_poll
    [result] = restarted.run_once()
    assert result.added == 1
    assert newsroom.requests("/feed.xml")[-1] == (None, 200)  # fetched whole again: nothing was lost


def test_a_second_writer_holding_the_lock_is_waited_for(watch_settings, qa, newsroom, clock, e5):
    from bot.admin import NewsAdmin

    ferry = f"{newsroom.url}/faehre.html"
    newsroom.put("/faehre.html", article_page(ferry, "Schneller nach Helgoland", *FERRY))
    newsroom.put("/feed.xml", rss({"title": "Schneller nach Helgoland", "link": ferry, "teaser": "Neue Fähre."}))
    source = FeedSource(kind="feed", name="testschau", url=f"{newsroom.url}/feed.xml", interval=INTERVAL)
    watcher = make_watcher(watch_settings, qa, [source], clock)
    with NewsAdmin.open(watch_settings, embedder=e5):  # another process's ingest holds the write lock
        [locked] = watcher.run_once()
    assert locked.locked and not locked.ok
    assert watcher.states["testschau"].failures == 0
    assert watcher.states["testschau"].next_poll - clock.now < INTERVAL  # soon, not after the interval
    clock.now = watcher.states["testschau"].next_poll
    [result] = watcher.run_once()
    assert result.added == 1 and not result.not_modified  # nothing of the locked poll was kept


def test_a_new_page_answering_404_is_tried_again_until_recheck_has_passed(watch_settings, qa, newsroom, clock):
    ferry, zoo, bridge = f"{newsroom.url}/faehre.html", f"{newsroom.url}/zoo.html", f"{newsroom.url}/bruecke.html"
    # listed before the CDN has the pages: they answer 404 for now
    newsroom.put(
        "/feed.xml",
        rss(
            {"title": "Schneller nach Helgoland", "link": ferry, "teaser": "Neue Fähre."},
            {"title": "Okapi geboren", "link": zoo, "teaser": "Nachwuchs im Zoo."},
        ),
    )
    newsroom.put("/sitemap.xml", sitemap((bridge, "2024-05-02T08:00:00+02:00")))
    sources = [
        FeedSource(kind="feed", name="testschau", url=f"{newsroom.url}/feed.xml", recheck=2 * INTERVAL),
        SitemapSource(kind="sitemap", name="map", url=f"{newsroom.url}/sitemap.xml", recheck=2 * INTERVAL),
    ]
    watcher = make_watcher(watch_settings, qa, sources, clock)
    first = {r.source: r for r in watcher.run_once()}
    assert first["testschau"].ok and first["testschau"].added == 0 and first["map"].added == 0
    assert {"path": ferry, "reason": "HTTP 404; tried again next poll"} in first["testschau"].failed

    newsroom.put("/faehre.html", article_page(ferry, "Schneller nach Helgoland", *FERRY))
    newsroom.put("/bruecke.html", article_page(bridge, "Brücke wird gesprengt", *BRIDGE))
    clock.advance(INTERVAL)
    second = {r.source: r for r in watcher.run_once()}
    assert second["testschau"].not_modified and second["testschau"].added == 1
    assert second["map"].not_modified and second["map"].added == 1
    assert {ferry, bridge} <= indexed(qa)

    # the zoo page never comes: once `recheck` has passed it is given up, not asked for on every poll
    clock.advance(INTERVAL)
    watcher.run_once()
    asked = len(newsroom.requests("/zoo.html"))
    clock.advance(INTERVAL)
    watcher.run_once()
    assert len(newsroom.requests("/zoo.html")) == asked
    assert zoo not in indexed(qa) and {ferry, bridge} <= indexed(qa)


@pytest.mark.parametrize("fetch_pages", [True, "auto"])
def test_a_feed_item_with_only_a_title_and_a_link_gets_its_page(watch_settings, qa, newsroom, clock, fetch_pages):
    ferry = f"{newsroom.url}/faehre.html"
    newsroom.put("/faehre.html", article_page(ferry, "Schneller nach Helgoland", *FERRY))
    newsroom.put("/feed.xml", rss({"title": "Schneller nach Helgoland", "link": ferry, "teaser": ""}))
    source = FeedSource(kind="feed", name="testschau", url=f"{newsroom.url}/feed.xml", fetch_pages=fetch_pages)
    watcher = make_watcher(watch_settings, qa, [source], clock)
    [result] = watcher.run_once()
    assert result.ok and result.added == 1 and result.failed == []
    assert "siebzig Minuten" in quotes(qa, "Wie lange dauert die Überfahrt nach Helgoland?")


def test_a_teaser_whose_page_has_no_article_yet_is_indexed_until_the_page_has_one(watch_settings, qa, newsroom, clock):
    ferry = f"{newsroom.url}/faehre.html"
    newsroom.put("/faehre.html", "<html><head><title>Schneller nach Helgoland</title></head><body></body></html>")
    newsroom.put("/feed.xml", rss({"title": "Schneller nach Helgoland", "link": ferry, "teaser": FERRY[0]}))
    source = FeedSource(kind="feed", name="testschau", url=f"{newsroom.url}/feed.xml", interval=INTERVAL, recheck=0)
    watcher = make_watcher(watch_settings, qa, [source], clock)
    [first] = watcher.run_once()
    assert first.ok and first.added == 1 and [f["path"] for f in first.failed] == [ferry]
    assert answer_ids(qa, "Wie oft fährt die Schnellfähre nach Helgoland?") == [ferry]  # the feed item's own text

    newsroom.put("/faehre.html", article_page(ferry, "Schneller nach Helgoland", *FERRY))  # the CMS filled it in
    clock.advance(INTERVAL)
    [second] = watcher.run_once()
    assert second.not_modified and second.updated == 1  # the page was tried again, though recheck is 0
    assert "siebzig Minuten" in quotes(qa, "Wie lange dauert die Überfahrt nach Helgoland?")
    assert indexed(qa) == {ferry}


def test_a_stopping_watcher_ends_its_poll_between_pages(watch_settings, qa, newsroom, clock, monkeypatch):
    pages = {"faehre": FERRY, "bruecke": BRIDGE, "zoo": ZOO}
    for name, paragraphs in pages.items():
        newsroom.put(f"/{name}.html", article_page(f"{newsroom.url}/{name}.html", name.title(), *paragraphs))
    newsroom.put(
        "/feed.xml",
        rss(*({"title": name.title(), "link": f"{newsroom.url}/{name}.html", "teaser": "Kurz."} for name in pages)),
    )
    source = FeedSource(kind="feed", name="testschau", url=f"{newsroom.url}/feed.xml", interval=INTERVAL)
    watcher = make_watcher(watch_settings, qa, [source], clock)
    get = watcher.fetcher.get

    def stop_while_fetching(url: str, **kwargs: Any) -> Any:
        if url.endswith("/faehre.html") and not newsroom.requests("/faehre.html"):
            watcher.stopping.set()  # Ctrl-C while the first page is on its way
        return get(url, **kwargs)

    monkeypatch.setattr(watcher.fetcher, "get", stop_while_fetching)
    [stopped] = watcher.run_once()
    assert stopped.ok and stopped.added == 1
    assert newsroom.requests("/bruecke.html") == [] and newsroom.requests("/zoo.html") == []

    watcher.stopping.clear()  # the next run does the pages the stopped one left
    clock.now = watcher.states["testschau"].next_poll
    [resumed] = watcher.run_once()
    assert resumed.added == 2 and len(indexed(qa)) == 3


# ---- sitemaps ----------------------------------------------------------------------------------


def test_sitemap_index_new_changed_and_dropped_pages(watch_settings, qa, newsroom, clock):
    ferry, zoo = f"{newsroom.url}/faehre.html", f"{newsroom.url}/zoo.html"
    newsroom.put("/faehre.html", article_page(ferry, "Schneller nach Helgoland", *FERRY))
    newsroom.put("/zoo.html", article_page(zoo, "Okapi geboren", *ZOO))
    newsroom.put(
        "/sitemap.xml",
        '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<sitemap><loc>{newsroom.url}/news.xml</loc></sitemap></sitemapindex>",
    )
    newsroom.put("/news.xml", sitemap((ferry, "2024-05-02T08:00:00+02:00"), (zoo, "2024-05-02T09:00:00+02:00")))
    sources = [
        SitemapSource(kind="sitemap", name="full", url=f"{newsroom.url}/sitemap.xml", on_missing="remove", recheck=0),
        SitemapSource(kind="sitemap", name="news", url=f"{newsroom.url}/news.xml", recheck=0),
    ]
    watcher = make_watcher(watch_settings, qa, sources, clock)
    results = {r.source: r for r in watcher.run_once()}
    assert results["full"].added + results["news"].added == 2  # one source added each page, the other found it
    assert {ferry, zoo} <= indexed(qa)

    corrected = list(ZOO)
    corrected[1] = "Das Weibchen wog bei der Geburt nach Angaben des Zoos 16 Kilogramm."
    newsroom.put("/zoo.html", article_page(zoo, "Okapi geboren", *corrected))
    newsroom.put("/news.xml", sitemap((zoo, "2024-05-02T11:00:00+02:00")))  # lastmod moved; the ferry is dropped
    clock.advance(INTERVAL)
    results = {r.source: r for r in watcher.run_once()}
    assert results["full"].taken_down == [{"id": ferry, "why": f"{ferry} was dropped from the sitemap"}]
    assert results["news"].removed == 0  # on_missing: keep (what a news sitemap needs)
    assert results["full"].updated + results["news"].updated == 1
    assert ferry not in indexed(qa)
    assert "16 Kilogramm" in quotes(qa, "Wie schwer war das Okapi bei der Geburt?")


def test_sitemap_on_missing_remove_refuses_to_take_down_most_pages_at_once(watch_settings, qa, newsroom, clock, caplog):
    urls = [f"{newsroom.url}/meldung-{n}.html" for n in range(6)]
    for n, url in enumerate(urls):
        lines = [f"Meldung {n}: {sentence}" for sentence in (FERRY, BRIDGE, ZOO)[n % 3]]
        newsroom.put(f"/meldung-{n}.html", article_page(url, f"Meldung {n}", *lines))
    listed = sitemap(*((url, "2024-05-02T08:00:00+02:00") for url in urls))
    newsroom.put("/sitemap.xml", listed)
    source = SitemapSource(
        kind="sitemap",
        name="full",
        url=f"{newsroom.url}/sitemap.xml",
        on_missing="remove",
        recheck=0,
        interval=INTERVAL,
    )
    watcher = make_watcher(watch_settings, qa, [source], clock)
    assert watcher.run_once()[0].added == 6

    newsroom.put("/sitemap.xml", sitemap())  # valid, and empty: a hiccup of the CMS
    clock.advance(INTERVAL)
    with caplog.at_level(logging.WARNING, logger="bot.sources"):
        [empty] = watcher.run_once()
    assert not empty.ok and "no longer lists 6 of the 6 pages" in (empty.error or "")
    assert indexed(qa) == set(urls)  # nothing was taken down
    assert watcher.states["full"].failures == 1 and watcher.states["full"].next_poll - clock.now > INTERVAL
    assert any("source full" in r.getMessage() and "6 of the 6" in r.getMessage() for r in caplog.records)

    newsroom.put("/sitemap.xml", listed)  # back to normal
    clock.now = watcher.states["full"].next_poll
    [back] = watcher.run_once()
    assert back.ok and back.removed == 0 and indexed(qa) == set(urls)


# ---- folders -----------------------------------------------------------------------------------


def test_folder_file_created_rewritten_and_deleted(watch_settings, qa, tmp_path):
    export = tmp_path / "export"
    export.mkdir()
    (export / "alt.txt").write_text("Okapi geboren\n" + " ".join(ZOO), encoding="utf-8")
    source = FolderSource(kind="folder", name="cms", path=export, interval=3600, settle=0.2)
    watcher = Watcher(
        [source],
        Writer(qa.admin),
        StateStore(watch_settings.data_dir),
        loader=qa.admin.loader(),
        fetcher=Fetcher(watch_settings),
    )
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    runner = threading.Thread(target=loop.run_until_complete, args=(watcher.run(stop),), daemon=True)
    runner.start()
    try:
        wait_for(lambda: len(indexed(qa)) == 1, what="the first scan (once alt.txt has settled)")

        ferry = export / "faehre.md"
        ferry.write_text("# Schneller nach Helgoland\n\n" + "\n\n".join(FERRY), encoding="utf-8")
        wait_for(
            lambda: "siebzig" in quotes(qa, "Wie lange dauert die Überfahrt nach Helgoland?"),
            what="the new file answers",
        )
        ferry.write_text("# Schneller nach Helgoland\n\n" + "\n\n".join(FERRY).replace("siebzig", "achtzig"))
        wait_for(
            lambda: "achtzig" in quotes(qa, "Wie lange dauert die Überfahrt nach Helgoland?"),
            what="the rewritten file answers",
        )
        ferry.unlink()
        wait_for(lambda: len(indexed(qa)) == 1, what="the deleted file's article is gone")
        assert "achtzig" not in quotes(qa, "Wie lange dauert die Überfahrt nach Helgoland?")
    finally:
        loop.call_soon_threadsafe(stop.set)
        runner.join(timeout=60)
        loop.close()
    assert not runner.is_alive()


def test_an_edited_sources_file_is_followed_without_a_restart(watch_settings, qa, newsroom, tmp_path, caplog):
    """Added sources are polled at once, dropped ones no longer; a broken edit changes nothing."""
    from bot.sources import load_sources

    ferry, bridge = f"{newsroom.url}/faehre.html", f"{newsroom.url}/bruecke.html"
    newsroom.put("/faehre.html", article_page(ferry, "Schneller nach Helgoland", *FERRY))
    newsroom.put("/bruecke.html", article_page(bridge, "Brücke wird gesprengt", *BRIDGE))
    newsroom.put("/feed.xml", rss({"title": "Schneller nach Helgoland", "link": ferry, "teaser": "Neue Fähre."}))
    newsroom.put("/feed2.xml", rss({"title": "Brücke wird gesprengt", "link": bridge, "teaser": "Sprengung."}))
    listing = tmp_path / "sources.yaml"
    listing.write_text(f"- {{name: eins, kind: feed, url: '{newsroom.url}/feed.xml', interval: 1h}}\n")
    watcher = Watcher.build(watch_settings, qa.admin, load_sources(listing), sources_file=listing)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    runner = threading.Thread(target=loop.run_until_complete, args=(watcher.run(stop),), daemon=True)
    runner.start()
    try:
        wait_for(lambda: indexed(qa) == {ferry}, what="the first source's first poll")
        listing.write_text("- {name: [kaputt\n")  # an editor saving half a file
        wait_for(lambda: "cannot be used" in caplog.text, what="the broken edit is logged")
        assert set(watcher.sources) == {"eins"}
        listing.write_text(f"- {{name: zwei, kind: feed, url: '{newsroom.url}/feed2.xml', interval: 1h}}\n")
        wait_for(lambda: bridge in indexed(qa), what="the added source is polled")
        assert set(watcher.sources) == {"zwei"} and [s["name"] for s in watcher.status()] == ["zwei"]
        polls = len(newsroom.requests("/feed.xml"))
        watcher.wake("eins")  # a dropped source: nothing to wake
    finally:
        loop.call_soon_threadsafe(stop.set)
        runner.join(timeout=60)
        loop.close()
    assert not runner.is_alive()
    assert len(newsroom.requests("/feed.xml")) == polls  # the dropped source was not polled again


def test_folder_file_still_being_written_is_read_once_it_settled(watch_settings, qa, tmp_path, clock):
    export = tmp_path / "export"
    export.mkdir()
    article = export / "faehre.txt"
    article.write_text("Schneller nach Helgoland\n" + FERRY[0], encoding="utf-8")  # the CMS is still writing
    source = FolderSource(kind="folder", name="cms", path=export, interval=3600, settle=30)
    watcher = make_watcher(watch_settings, qa, [source], clock)
    [early] = watcher.run_once()
    assert early.ok and early.added == 0 and watcher.writer.ingests == 0  # type: ignore[attr-defined]
    assert watcher.states["cms"].next_poll == clock.now + 30  # looked at again once it may have settled

    article.write_text("Schneller nach Helgoland\n" + " ".join(FERRY), encoding="utf-8")
    settled = article.stat().st_mtime - 60
    os.utime(article, (settled, settled))
    clock.advance(30)
    [done] = watcher.run_once()
    assert done.added == 1 and watcher.writer.ingests == 1  # type: ignore[attr-defined]
    assert "siebzig" in quotes(qa, "Wie lange dauert die Überfahrt nach Helgoland?")


def _ferry_export(watch_settings, qa, tmp_path, clock):
    """A watched export folder (settle 30 s) and the path its ferry article will be written to."""
    export = tmp_path / "export"
    export.mkdir()
    source = FolderSource(kind="folder", name="cms", path=export, interval=3600, settle=30)
    return export / "faehre.txt", make_watcher(watch_settings, qa, [source], clock)


def test_folder_file_held_open_for_writing_is_not_read_while_its_writer_pauses(watch_settings, qa, tmp_path, clock):
    article, watcher = _ferry_export(watch_settings, qa, tmp_path, clock)
    with article.open("w", encoding="utf-8") as writer:  # the CMS writes, then pauses longer than `settle`
        writer.write("Schneller nach Helgoland\n" + FERRY[0])
        writer.flush()
        paused = article.stat().st_mtime - 60
        os.utime(article, (paused, paused))
        for _ in range(2):
            [early] = watcher.run_once()
            assert early.ok and early.added == 0 and watcher.writer.ingests == 0  # type: ignore[attr-defined]
            assert watcher.states["cms"].next_poll == clock.now + 30
            clock.advance(30)
        writer.write(" " + " ".join(FERRY[1:]))
    done = article.stat().st_mtime - 60
    os.utime(article, (done, done))
    [result] = watcher.run_once()
    assert result.added == 1 and watcher.writer.ingests == 1  # type: ignore[attr-defined]
    assert "siebzig" in quotes(qa, "Wie lange dauert die Überfahrt nach Helgoland?")


def test_folder_file_a_daemon_keeps_open_is_read_once_unchanged_for_long(watch_settings, qa, tmp_path, clock):
    article, watcher = _ferry_export(watch_settings, qa, tmp_path, clock)
    with article.open("w", encoding="utf-8") as writer:  # an exporter that never closes its file
        writer.write("Schneller nach Helgoland\n" + " ".join(FERRY))
        writer.flush()
        long_ago = article.stat().st_mtime - OPEN_WRITER_PATIENCE - 1
        os.utime(article, (long_ago, long_ago))
        [result] = watcher.run_once()
    assert result.added == 1


def test_a_poll_with_many_bad_records_logs_a_bounded_number_of_lines(watch_settings, qa, tmp_path, clock, caplog):
    export = tmp_path / "export"
    export.mkdir()
    records = [{"id": "ferry", "title": "Schneller nach Helgoland", "text": " ".join(FERRY)}]
    records += [{"id": f"bad-{n}", "title": "Ohne Text"} for n in range(LOGGED_PROBLEMS + 30)]
    (export / "export.jsonl").write_text("\n".join(json.dumps(r) for r in records), encoding="utf-8")
    source = FolderSource(kind="folder", name="cms", path=export, interval=60, settle=0)
    watcher = make_watcher(watch_settings, qa, [source], clock)
    with caplog.at_level(logging.WARNING, logger="bot.sources"):
        [result] = watcher.run_once()
    assert result.added == 1 and len(result.failed) == LOGGED_PROBLEMS + 30  # every problem is in the result ...
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("source cms:")]
    assert len(lines) == LOGGED_PROBLEMS + 1  # ... but the log names the first ones and counts the rest
    assert lines[-1] == "source cms: and 30 more problems in this poll (not logged)"


def test_folder_rescan_drops_records_a_rewritten_file_no_longer_has(watch_settings, qa, tmp_path, clock):
    export = tmp_path / "export"
    export.mkdir()
    records = [
        {"id": "ferry", "title": "Schneller nach Helgoland", "text": " ".join(FERRY)},
        {"id": "zoo", "title": "Okapi geboren", "text": " ".join(ZOO)},
    ]
    feed = export / "export.jsonl"
    feed.write_text("\n".join(json.dumps(r) for r in records), encoding="utf-8")
    (export / "bruecke.txt").write_text("Brücke wird gesprengt\n" + " ".join(BRIDGE), encoding="utf-8")
    source = FolderSource(kind="folder", name="cms", path=export, interval=60, settle=0)
    watcher = make_watcher(watch_settings, qa, [source], clock)
    assert watcher.run_once()[0].added == 3

    feed.write_text(json.dumps(records[0]), encoding="utf-8")
    (export / "bruecke.txt").unlink()
    clock.advance(60)
    [result] = watcher.run_once()
    assert result.removed == 2 and result.unchanged == 1
    assert sorted(e["why"] for e in result.taken_down) == [
        f"{export / 'bruecke.txt'} was deleted",
        f"no longer in {feed}",
    ]
    assert indexed(qa) == {"ferry"}


def test_folder_first_scan_removes_files_deleted_unwatched_even_when_a_file_was_not_settled(
    watch_settings, qa, tmp_path, clock
):
    export = (tmp_path / "export").resolve()
    export.mkdir()
    old = export / "alt.txt"
    old.write_text("Okapi geboren\n" + " ".join(ZOO), encoding="utf-8")
    qa.admin.ingest_paths([export])  # an earlier `newsbot ingest`; the file is deleted before the watch
    [deleted_unwatched] = indexed(qa)
    old.unlink()
    ferry, bridge = export / "faehre.txt", export / "bruecke.txt"
    ferry.write_text("Schneller nach Helgoland\n" + " ".join(FERRY), encoding="utf-8")
    settled = ferry.stat().st_mtime - 60
    os.utime(ferry, (settled, settled))
    bridge.write_text("Brücke wird gesprengt\n" + " ".join(BRIDGE), encoding="utf-8")  # still being written
    source = FolderSource(kind="folder", name="cms", path=export, interval=3600, settle=30)
    watcher = make_watcher(watch_settings, qa, [source], clock)
    [first] = watcher.run_once()
    assert first.added == 1 and deleted_unwatched in indexed(qa)  # no sync while a file is unread

    os.utime(bridge, (settled, settled))
    clock.advance(30)
    [second] = watcher.run_once()
    assert second.added == 1 and second.removed == 1
    assert deleted_unwatched not in indexed(qa) and len(indexed(qa)) == 2


class StopsAsTheWriteBegins(CountingWriter):
    """The real writer; a shutdown (SIGTERM) comes as its first write begins."""

    def ingest(self, results: Any, **kwargs: Any) -> Any:
        if self.ingests == 0:
            kwargs["stop"].set()
        return super().ingest(results, **kwargs)


def test_a_shutdown_during_a_write_ends_it_after_the_batch_and_the_next_poll_writes_the_rest(
    watch_settings, qa, tmp_path, clock, monkeypatch
):
    monkeypatch.setattr("index.ingest.BATCH_ARTICLES", 1)  # each article its own batch and commit
    export = (tmp_path / "export").resolve()
    export.mkdir()
    old = export / "alt.txt"
    old.write_text(
        "Haushalt beschlossen\nDer Stadtrat hat am Montag den Haushalt beschlossen. Die Opposition stimmte dagegen.",
        encoding="utf-8",
    )
    qa.admin.ingest_paths([export])  # an earlier `newsbot ingest`; the file is deleted before the watch
    [deleted_unwatched] = indexed(qa)
    old.unlink()
    for name, text in (("faehre", FERRY), ("bruecke", BRIDGE), ("zoo", ZOO)):
        (export / f"{name}.txt").write_text(f"{name.title()}\n" + " ".join(text), encoding="utf-8")
        settled = (export / f"{name}.txt").stat().st_mtime - 60
        os.utime(export / f"{name}.txt", (settled, settled))
    source = FolderSource(kind="folder", name="cms", path=export, interval=3600, settle=30)
    watcher = make_watcher(watch_settings, qa, [source], clock)
    watcher.writer = StopsAsTheWriteBegins(qa.admin)

    [stopped] = watcher.run_once()
    assert not stopped.ok and stopped.added == 1 and "2 articles are written at the next poll" in (stopped.error or "")
    assert len(indexed(qa)) == 2 and deleted_unwatched in indexed(qa)  # no sync from a write cut short
    saved = watcher.store.load("cms")
    [written] = [key for key, item in saved.items.items() if item.fingerprint]  # what committed is done ...
    assert len(saved.items) == 3  # ... the two files not reached are read again at the next poll
    assert not saved.synced and set(saved.items[written].article_ids) < indexed(qa)

    (export / written).unlink()  # deleted before the restart: its article must not stay behind
    watcher.stopping.clear()  # the restart
    [rest] = watcher.run_once()
    assert rest.ok and (rest.added, rest.unchanged, rest.removed) == (2, 0, 2)
    assert len(indexed(qa)) == 2 and deleted_unwatched not in indexed(qa)
    assert not set(saved.items[written].article_ids) & indexed(qa)


def test_folder_file_with_a_modification_time_in_the_future_is_read(watch_settings, qa, tmp_path, clock):
    export = tmp_path / "export"
    export.mkdir()
    ferry, bridge = export / "faehre.txt", export / "bruecke.txt"
    ferry.write_text("Schneller nach Helgoland\n" + " ".join(FERRY), encoding="utf-8")
    bridge.write_text("Brücke wird gesprengt\n" + " ".join(BRIDGE), encoding="utf-8")
    far, near = ferry.stat().st_mtime + 3600, bridge.stat().st_mtime + 10  # the file server's clock is ahead
    os.utime(ferry, (far, far))
    os.utime(bridge, (near, near))
    source = FolderSource(kind="folder", name="cms", path=export, interval=3600, settle=30)
    watcher = make_watcher(watch_settings, qa, [source], clock)
    [first] = watcher.run_once()
    assert first.added == 1  # an hour ahead: more than `settle`, read at once
    assert "siebzig" in quotes(qa, "Wie lange dauert die Überfahrt nach Helgoland?")

    clock.advance(30)  # a scan `settle` later finds the other one unchanged: settled
    [second] = watcher.run_once()
    assert second.added == 1 and len(indexed(qa)) == 2


def test_a_file_event_during_a_poll_brings_the_next_poll_forward(watch_settings, qa, tmp_path, clock, monkeypatch):
    export = tmp_path / "export"
    export.mkdir()
    (export / "faehre.txt").write_text("Schneller nach Helgoland\n" + " ".join(FERRY), encoding="utf-8")
    source = FolderSource(kind="folder", name="cms", path=export, interval=3600, settle=0)
    watcher = make_watcher(watch_settings, qa, [source], clock)
    ingest = watcher.writer.ingest

    def event_while_writing(results: Any, **kwargs: Any) -> Any:
        watcher.wake("cms")  # a file event arrives while the poll is busy
        return ingest(results, **kwargs)

    monkeypatch.setattr(watcher.writer, "ingest", event_while_writing)
    [first] = watcher.run_once()
    assert first.added == 1
    assert watcher.states["cms"].next_poll == clock.now  # polled again at once, not in an hour
    assert [r.source for r in watcher.run_once()] == ["cms"]
    assert watcher.states["cms"].next_poll == clock.now + 3600  # the wake was used once


# ---- configuration and the command line ---------------------------------------------------------


@pytest.mark.parametrize(
    "yaml_text, message",
    [
        (
            "sources:\n  - {name: tagesschau, kind: feed, url: https://example.org/rss, interval: bald}\n",
            "source 'tagesschau' (sources[0]), field 'interval'",
        ),
        ("sources:\n  - {name: cms, kind: ftp, path: /srv}\n", "source 'cms' (sources[0]), field 'kind'"),
        ("sources:\n  - {name: s, kind: sitemap, url: /news.xml}\n", "field 'url': expected an http(s) URL"),
        (
            "sources:\n  - {name: a, kind: folder, path: x}\n  - {name: a, kind: folder, path: y}\n",
            "the name 'a' is used twice",
        ),
        ("sources: [\n", "not valid YAML"),
    ],
)
def test_bad_sources_yaml_is_one_clear_error(tmp_path, yaml_text, message):
    (tmp_path / "sources.yaml").write_text(yaml_text, encoding="utf-8")
    for command in ("sources", "watch"):
        result = invoke_cli(command)
        assert result.returncode == 2, result.stderr
        assert message in result.stderr and "sources.yaml" in result.stderr
        assert "Traceback" not in result.stderr and result.stderr.count("Error:") == 1


def test_watch_once_then_sources_lists_the_state(tmp_path, newsroom):
    ferry = f"{newsroom.url}/faehre.html"
    newsroom.put("/faehre.html", article_page(ferry, "Schneller nach Helgoland", *FERRY))
    newsroom.put("/feed.xml", rss({"title": "Schneller nach Helgoland", "link": ferry, "teaser": "Neue Fähre."}))
    (tmp_path / "sources.yaml").write_text(
        f"sources:\n  - name: testschau\n    kind: feed\n    url: {newsroom.url}/feed.xml\n    interval: 5m\n"
        f"  - name: kaputt\n    kind: feed\n    url: {newsroom.url}/kaputt.xml\n",
        encoding="utf-8",
    )
    env = {"NEWSBOT_FETCH_ALLOW_PRIVATE": "true"}
    result = invoke_cli("watch", "--once", "--json", env=env)
    assert result.returncode == 1  # one source failed ...
    polled = {r["source"]: r for r in json.loads(result.stdout)}
    assert polled["testschau"]["added"] == 1 and "404" in polled["kaputt"]["error"]  # ... the other went on

    listed = json.loads(invoke_cli("sources", "--json").stdout)
    assert [s["name"] for s in listed] == ["testschau", "kaputt"]
    assert listed[0]["items"] == 1 and listed[0]["failures"] == 0 and listed[0]["last_change"]
    assert listed[1]["failures"] == 1 and listed[1]["next_poll"] > listed[0]["last_poll"]
    text = invoke_cli("sources").stdout
    assert "testschau" in text and "5m" in text and "last error" in text and "404" in text
    assert "--watch" in invoke_cli("serve", "--help").stdout
    assert all(command in invoke_cli("--help").stdout for command in ("watch", "sources"))


def test_serve_watch_polls_beside_the_api_and_readyz_lists_failing_sources(tmp_path, newsroom, e5):
    from fastapi.testclient import TestClient

    from bot.http import create_app
    from bot.sources.state import SourceState

    ferry = f"{newsroom.url}/faehre.html"
    newsroom.put("/faehre.html", article_page(ferry, "Schneller nach Helgoland", *FERRY))
    newsroom.put("/feed.xml", rss({"title": "Schneller nach Helgoland", "link": ferry, "teaser": "Neue Fähre."}))
    (tmp_path / "sources.yaml").write_text(
        f"- {{name: testschau, kind: feed, url: '{newsroom.url}/feed.xml'}}\n"
        f"- {{name: kaputt, kind: feed, url: '{newsroom.url}/kaputt.xml', interval: 1h}}\n",
        encoding="utf-8",
    )
    settings = Settings(data_dir=tmp_path / "data", fetch_allow_private=True, api_keys="k" * 20)
    store = StateStore(settings.data_dir)  # "kaputt" has failed five times in a row before this start
    store.save(SourceState("kaputt", failures=5, last_error="HTTP 404", next_poll=4e9))
    store.close()
    with NewsQA(settings, embedder=e5) as qa:
        app = create_app(settings, qa=qa, watch=True)
        with TestClient(app) as client:
            added = 'newsbot_source_changes_total{change="added",source="testschau"} 1.0'
            wait_for(lambda: added in client.get("/metrics").text, what="the watcher's first poll")
            assert 'newsbot_source_consecutive_failures{source="kaputt"} 5.0' in client.get("/metrics").text
            ready = client.get("/readyz").json()
            assert ready["status"] == "ready" and ready["articles"] == 1
            assert [s["name"] for s in ready["failing_sources"]] == ["kaputt"]
            answer = client.post(
                "/v1/ask", json={"question": "Wie lange dauert die Überfahrt?"}, headers={"X-API-Key": "k" * 20}
            ).json()
            assert answer["citations"][0]["article_id"] == ferry


def test_watch_stops_cleanly_on_sigterm(tmp_path, newsroom):
    ferry = f"{newsroom.url}/faehre.html"
    newsroom.put("/faehre.html", article_page(ferry, "Schneller nach Helgoland", *FERRY))
    newsroom.put("/feed.xml", rss({"title": "Schneller nach Helgoland", "link": ferry, "teaser": "Neue Fähre."}))
    (tmp_path / "sources.yaml").write_text(
        f"- {{name: testschau, kind: feed, url: '{newsroom.url}/feed.xml', interval: 1h}}\n", encoding="utf-8"
    )
    env = {**os.environ, "NEWSBOT_FETCH_ALLOW_PRIVATE": "true"}
    process = subprocess.Popen(
        [*NEWSBOT, "watch"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        store = StateStore(tmp_path / "data")
        wait_for(lambda: store.load("testschau").last_success or process.poll() is not None, what="the first poll")
        assert process.poll() is None
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert "1 added" in stderr and "Stopped" in stderr and "Traceback" not in stderr
    assert store.load("testschau").failures == 0


def test_a_404_takes_a_page_down_only_once_it_persists_and_the_page_comes_back(watch_settings, qa, newsroom, clock):
    """Hardening round 2, finding 3: one 404 (a CMS hiccup) used to take the article down for good.
    Now a live page's 404 must persist (3 polls and 30 minutes); the article then goes, and comes
    back when the page answers again. A 410 still takes it down at once (the test above)."""
    ferry, zoo = f"{newsroom.url}/faehre.html", f"{newsroom.url}/zoo.html"
    newsroom.put("/faehre.html", article_page(ferry, "Schneller nach Helgoland", *FERRY))
    newsroom.put("/zoo.html", article_page(zoo, "Okapi geboren", *ZOO))
    feed = rss(
        {"title": "Schneller nach Helgoland", "link": ferry, "teaser": "Neue Fähre."},
        {"title": "Okapi geboren", "link": zoo, "teaser": "Nachwuchs im Zoo."},
    )
    newsroom.put("/feed.xml", feed)
    source = FeedSource(kind="feed", name="testschau", url=f"{newsroom.url}/feed.xml", interval=INTERVAL)
    watcher = make_watcher(watch_settings, qa, [source], clock)
    assert watcher.run_once()[0].added == 2

    newsroom.put("/faehre.html", "", status=404)
    for _ in range(3):  # three polls within 30 minutes: still there
        clock.advance(INTERVAL)
        [poll] = watcher.run_once()
        assert poll.removed == 0 and ferry in indexed(qa)
    assert any("HTTP 404 (3 of 3" in f["reason"] for f in poll.failed)
    clock.advance(1800)  # the 404 has lasted: the article goes
    [poll] = watcher.run_once()
    assert poll.removed == 1 and ferry not in indexed(qa) and zoo in indexed(qa)
    clock.advance(INTERVAL)
    watcher.run_once()  # still 404: asked again
    asked = len(newsroom.requests("/faehre.html"))
    clock.advance(INTERVAL)
    watcher.run_once()
    assert len(newsroom.requests("/faehre.html")) == asked + 1

    newsroom.put("/faehre.html", article_page(ferry, "Schneller nach Helgoland", *FERRY))  # back online
    clock.advance(INTERVAL)
    [poll] = watcher.run_once()
    assert poll.added == 1 and ferry in indexed(qa)

    # an editor's take-down is final (a 404 leaves no tombstone; an explicit removal does)
    assert qa.admin.remove([ferry]).removed == 1
    for _ in range(2):
        clock.advance(INTERVAL)
        watcher.run_once()
    assert ferry not in indexed(qa)


def test_no_poll_takes_down_more_than_half_of_a_source_for_404_or_410():
    from types import SimpleNamespace

    from bot.sources.base import MASS_REMOVAL, Plan, _taken_down
    from bot.sources.state import Item, SourceState

    state = SourceState("s")
    state.items = {f"p{i}": Item(url=f"http://x/{i}", article_ids=[f"a{i}"]) for i in range(4 * MASS_REMOVAL)}
    plan = Plan(state)
    ctx = SimpleNamespace(now=1000.0)
    down = [_taken_down(ctx, plan, item, 410) for item in state.items.values()]
    assert sum(down) == 2 * MASS_REMOVAL  # half of the live pages; the others are tried again next poll
    assert all(item.pending for item, d in zip(state.items.values(), down, strict=True) if not d)
    assert sum("half of the source" in p["reason"] for p in plan.problems) == 2 * MASS_REMOVAL
