"""Loading articles from files, directories, feeds, URLs and stdin.

Every input format ends in the same ``Article``. A bad item (an empty or binary
file, a malformed JSON line, an unparseable date, a feed that does not parse)
becomes a ``Problem`` naming its path and the reason, and loading goes on with
the next item: one bad file never costs the rest of an ingest.

Layout: ``loader.py`` (the ``Loader``: sources, files, limits), ``formats.py`` (the
registry: which extensions and content a format claims), one module per family of
formats (``documents``, ``records``, ``feeds``) and ``base.py`` (records to articles).
"""

from index.loaders.base import LoadResult, Problem
from index.loaders.loader import Loader

__all__ = ["LoadResult", "Loader", "Problem"]
