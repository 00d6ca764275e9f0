"""State machine over every write path (integrity issue): the watcher's polls, a manual ingest of
the feed URL (``newsbot ingest FEED_URL``), a record posted with only the feed's teaser
(``POST /v1/articles``), ``newsbot remove`` / ``restore``, and the newsroom correcting, taking
down (410) and republishing pages. Whatever the order, after the watcher's next poll the catalog
holds what the source says now: every live page that is not taken down, with its current full
text; nothing taken down (410, remove) unless restored."""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from bot.qa import NewsQA
from bot.settings import Settings
from bot.sources import FeedSource
from index.errors import ArticleNotFoundError
from index.models import Article
from tests.test_watch import BRIDGE, FERRY, ZOO, Clock, Newsroom, article_page, make_watcher, rss

INTERVAL = 60
STORIES = {"faehre": FERRY, "bruecke": BRIDGE, "zoo": ZOO}
NAMES = sorted(STORIES)


def version(name: str, n: int) -> tuple[str, ...]:
    """The page's text in version ``n``: a correction changes a sentence in the middle, so no
    version is a teaser of another."""
    first, second, *rest = STORIES[name]
    return (first, second.replace("nach Angaben", f"nach Angaben (Stand {n + 1})"), *rest)


class Integrity(RuleBasedStateMachine):
    """The write paths as rules; set ``newsroom`` and ``e5`` before running."""

    newsroom: Newsroom
    e5: Any

    @initialize()
    def start(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.settings = Settings(
            data_dir=Path(self.tmp.name) / "data",
            fetch_allow_private=True,
            fetch_timeout=5,
            lock_timeout=2,
            reader="none",
        )
        self.qa = NewsQA(self.settings, embedder=self.e5)
        self.clock = Clock()
        self.prefix = f"/{random.Random().getrandbits(32):08x}"  # pages of this example only
        self.live = dict.fromkeys(NAMES, True)  # the page answers 200 (else 410)
        self.versions = dict.fromkeys(NAMES, 0)
        self.down = dict.fromkeys(NAMES, False)  # taken down and not restored
        for name in NAMES:
            self._publish(name)
        self.feed = f"{self.newsroom.url}{self.prefix}/feed.xml"
        self.newsroom.put(
            f"{self.prefix}/feed.xml",
            rss(*({"title": name, "link": self.url(name), "teaser": STORIES[name][0]} for name in NAMES)),
        )
        source = FeedSource(kind="feed", name="testschau", url=self.feed, interval=INTERVAL, recheck=10**6)
        self.watcher = make_watcher(self.settings, self.qa, [source], self.clock)
        self.poll()

    def stored(self, name: str) -> Article | None:
        try:
            return self.qa.article(self.url(name))
        except ArticleNotFoundError:
            return None

    def url(self, name: str) -> str:
        return f"{self.newsroom.url}{self.prefix}/{name}.html"

    def _publish(self, name: str) -> None:
        self.newsroom.put(
            f"{self.prefix}/{name}.html", article_page(self.url(name), name, *version(name, self.versions[name]))
        )

    def teardown(self) -> None:
        if hasattr(self, "qa"):
            self.qa.close()
            self.tmp.cleanup()

    # ---- the newsroom ----

    @rule(name=st.sampled_from(NAMES))
    def correct(self, name: str) -> None:
        self.versions[name] += 1
        if self.live[name]:
            self._publish(name)

    @rule(name=st.sampled_from(NAMES))
    def take_down(self, name: str) -> None:
        self.live[name] = False
        self.newsroom.put(f"{self.prefix}/{name}.html", "", status=410)

    @rule(name=st.sampled_from(NAMES))
    def republish(self, name: str) -> None:
        self.live[name] = True
        self._publish(name)

    # ---- the write paths ----

    @rule()
    def poll(self) -> None:
        self.clock.advance(INTERVAL)
        reports = self.watcher.run_once(every=True)
        assert all(r.ok for r in reports), [r.error for r in reports]
        for name in NAMES:
            if not self.live[name]:
                self.down[name] = True
        self.check()

    @rule()
    def manual_ingest(self) -> None:
        self.qa.admin.ingest_paths([self.feed])  # a page's 410 is the watcher's to act on

    @rule(name=st.sampled_from(NAMES))
    def post_teaser(self, name: str) -> None:
        record = {"id": self.url(name), "url": self.url(name), "title": name, "text": STORIES[name][0]}
        self.qa.admin.ingest_records(json.dumps(record))

    @rule(name=st.sampled_from(NAMES))
    def remove(self, name: str) -> None:
        self.qa.admin.remove([self.url(name)])
        self.down[name] = True

    @rule(name=st.sampled_from(NAMES))
    def restore(self, name: str) -> None:
        self.qa.admin.restore([self.url(name)])
        self.down[name] = False

    # ---- what must hold ----

    def check(self) -> None:
        """After a poll: the catalog is what the source says now."""
        for name in NAMES:
            stored = self.stored(name)
            if self.down[name]:
                assert stored is None, f"{name} was taken down but is indexed"
            else:
                assert stored is not None, f"{name} is live and not taken down but missing"
                text = " ".join(stored.text.split())
                assert text == " ".join(version(name, self.versions[name])), f"{name}: stale text {text[:80]}"

    @invariant()
    def taken_down_is_never_indexed(self) -> None:
        if hasattr(self, "qa"):
            for name in NAMES:
                if self.down[name] and not self.live[name]:
                    assert self.stored(name) is None


def test_every_write_path_leaves_what_the_source_says_now(e5):
    Integrity.newsroom, Integrity.e5 = Newsroom(), e5
    try:
        run_state_machine_as_test(
            Integrity,
            settings=hsettings(
                max_examples=40,
                stateful_step_count=10,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
            ),
        )
    finally:
        Integrity.newsroom.close()


def _replay(e5: Any, steps: list[tuple[str, str | None]]) -> None:
    Integrity.newsroom, Integrity.e5 = Newsroom(), e5
    machine = Integrity()
    try:
        machine.start()
        for rule_name, name in steps:
            getattr(machine, rule_name)(*([name] if name else []))
            machine.taken_down_is_never_indexed()
    finally:
        machine.teardown()
        Integrity.newsroom.close()


def test_a_restored_article_comes_back_at_the_next_poll(e5):
    """`newsbot restore` promises that the next ingest or poll adds the article again: the
    watcher's memory of the page (its ETag, or that it answered 410) must not stand in the way."""
    _replay(e5, [("remove", "zoo"), ("poll", None), ("restore", "zoo"), ("poll", None)])
    _replay(e5, [("take_down", "zoo"), ("poll", None), ("republish", "zoo"), ("poll", None)])  # 410 stays final
    _replay(e5, [("take_down", "zoo"), ("poll", None), ("republish", "zoo"), ("restore", "zoo"), ("poll", None)])


def test_a_teaser_posted_for_a_restored_article_gives_way_to_its_page(e5):
    _replay(e5, [("remove", "faehre"), ("restore", "faehre"), ("post_teaser", "faehre"), ("poll", None)])
