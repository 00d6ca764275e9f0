"""Sources newsbot follows by itself (``newsbot watch``, ``newsbot serve --watch``): RSS/Atom feeds,
sitemaps and folders, listed in ``sources.yaml`` (``NEWSBOT_SOURCES_FILE``).

``config`` (the file, validated), ``state`` (what survives restarts), one module per kind of
source (``feeds``, ``sitemaps``, ``folders``) over ``base`` (fetching, plans, take-downs),
``scheduler`` (the ``Watcher``: when to poll, backoff, writing through ``NewsAdmin``) and
``metrics`` (Prometheus). Every write goes through ``NewsAdmin``; see docs/sources.md.
"""

from bot.sources.config import FeedSource, FolderSource, SitemapSource, load_sources
from bot.sources.scheduler import FAILING_AFTER, PollResult, Watcher, Writer
from bot.sources.state import StateStore

__all__ = [
    "FAILING_AFTER",
    "FeedSource",
    "FolderSource",
    "PollResult",
    "SitemapSource",
    "StateStore",
    "Watcher",
    "Writer",
    "load_sources",
]
