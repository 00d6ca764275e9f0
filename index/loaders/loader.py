"""The ``Loader``: sources (paths, directories, URLs, ``-``) to files, files to formats, and the
limits every input is held to (bytes per article and per archive file, fetch deadline and size)."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

from index.loaders import documents, records
from index.loaders.base import ItemError, LoadResult, Problem, article_from_record, guard
from index.loaders.documents import no_alias_loader
from index.loaders.feeds import MAX_ITEM_PAGES, feed_records, is_feed, is_teaser, load_feed, with_feed_item
from index.loaders.formats import KNOWN_EXT, SIDECAR_SUFFIX, Format, by_extension, recognize
from index.models import Article

if TYPE_CHECKING:
    from index.fetch import Fetched

# Bad records a file may name; the rest are one problem that counts them (``bounded_problems``).
MAX_FILE_PROBLEMS = 100
BINARY_MAGIC = (b"%PDF", b"PK\x03\x04", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"\x1f\x8b")


class Loader:
    """Turns paths, URLs and ``-`` (JSONL on stdin) into articles and problems."""

    def __init__(
        self,
        *,
        max_bytes: int = 5_000_000,
        max_file_bytes: int = 1_000_000_000,
        tz: str = "Europe/Berlin",
        fetch_timeout: float = 20.0,
        max_fetch_bytes: int = 20_000_000,
        allow_private_urls: bool = False,
        stdin: IO[str] | None = None,
    ) -> None:
        self.max_bytes = max_bytes  # one article: a file, or one record of a JSONL/CSV/JSON/feed file
        self.max_file_bytes = max(max_file_bytes, max_bytes)  # a file of many records (an archive export)
        self.tz = tz
        self.fetch_timeout = fetch_timeout  # the whole fetch, redirects included
        self.max_fetch_bytes = max_fetch_bytes  # a feed of many items; a page is also held to max_bytes
        self.allow_private_urls = allow_private_urls
        self.stdin = stdin

    # ---- entry points -------------------------------------------------------------------

    def load(self, sources: Iterable[str | Path]) -> Iterator[LoadResult]:
        """Load every source in order; directories are walked recursively."""
        for source in sources:
            source = str(source)
            if source == "-":
                yield from bounded_problems(self.load_jsonl_stream(self.stdin or sys.stdin, "<stdin>"), "<stdin>")
            elif re.match(r"^https?://", source, re.IGNORECASE):
                yield from self.load_url(source)
            else:
                path = Path(source)
                if path.is_dir():
                    for file in self.walk(path):
                        yield from self.load_file(file)
                elif path.exists():
                    yield from self.load_file(path)
                else:
                    yield Problem(source, "no such file or directory")

    @staticmethod
    def walk(directory: Path) -> list[Path]:
        """Article files under ``directory``: known extensions, no hidden files, no sidecars, no
        symbolic links (a link in a watched folder must not ingest ``/etc/passwd`` or an ``.env``
        elsewhere; the link's own target, when inside, is found as itself)."""
        files = []
        for path in sorted(directory.rglob("*")):
            rel = path.relative_to(directory)
            if any(part.startswith(".") for part in rel.parts) or path.is_symlink() or not path.is_file():
                continue
            if path.name.endswith(SIDECAR_SUFFIX) or path.suffix.lower() not in KNOWN_EXT:
                continue
            files.append(path)
        return files

    def load_file(self, path: Path) -> Iterator[LoadResult]:
        """Load one file of any supported format (``formats.FORMATS``); at most
        ``MAX_FILE_PROBLEMS`` of its bad records are named (``bounded_problems``)."""
        return bounded_problems(self._load_file(path), str(path))

    def _load_file(self, path: Path) -> Iterator[LoadResult]:
        origin = str(path)
        known = by_extension(path)
        # an archive export need not fit in memory (a JSON object is one record: read whole)
        if known is not None and known.streamed and (known.name != "json" or _json_array(path)):
            yield from self._load_stream(path, origin, known)
            return
        try:
            raw = self._read_bytes(path, self.max_file_bytes if known is not None and known.many else None)
            form: Format = recognize(path, raw)
            if form.binary:
                yield from form.load(self, raw, origin, None)
                return
            text, encoding = self._decode(raw)
        except ItemError as exc:
            yield Problem(origin, str(exc))
            return
        if encoding not in ("utf-8", "utf-8-sig"):
            yield Problem(origin, f"not UTF-8; decoded as {encoding}", fatal=False)
        sidecar = self._sidecar(path)
        if isinstance(sidecar, Problem):
            yield sidecar
            return
        yield from form.load(self, text, origin, sidecar)

    def load_url(self, url: str) -> Iterator[LoadResult]:
        """Fetch a feed or an article page over HTTP(S) (limits: ``index/fetch.py``); a feed's
        teaser items come with their pages' articles."""
        response = self._fetch(url)
        if isinstance(response, Problem):
            yield response
        elif is_feed(response.content, response.content_type):
            yield from self._feed_with_pages(response.content, url)
        else:
            yield from self.load_fetched(response, url)

    def _fetch(self, url: str) -> Fetched | Problem:
        import httpx

        from index.fetch import FetchError, fetch

        try:
            return fetch(
                url, timeout=self.fetch_timeout, max_bytes=self.max_fetch_bytes, allow_private=self.allow_private_urls
            )
        except (httpx.HTTPError, FetchError) as exc:
            return Problem(url, f"could not fetch: {exc}")

    def _feed_with_pages(self, raw: bytes, origin: str) -> Iterator[LoadResult]:
        """A feed's items, as ``newsbot watch`` reads them: a teaser's page is fetched for the
        article (the full text, not the feed's few lines; at most ``MAX_ITEM_PAGES`` per feed);
        the item's own text where its page gives no article."""
        pages = 0
        for record in feed_records(raw, origin):
            if isinstance(record, Problem):
                yield record
                continue
            item = guard(record.origin, lambda r=record: self.article_from_record(r.fields, r.origin))
            if not is_teaser(record.fields) or pages >= MAX_ITEM_PAGES:
                yield item
                continue
            pages += 1
            page = self._fetch(str(record.fields["url"]))
            found = [page] if isinstance(page, Problem) else list(self.load_fetched(page, str(record.fields["url"])))
            fallback = item if isinstance(item, Article) else None
            articles = [
                with_feed_item(r, fallback, record.fields.get("source")) for r in found if isinstance(r, Article)
            ]
            if articles:
                yield from articles
                continue
            why = "; ".join(r.reason for r in found if isinstance(r, Problem)) or "no article in it"
            if fallback is None:
                yield Problem(record.origin, f"no text in the feed, and its page gave none ({why})")
            else:
                yield Problem(
                    record.origin, f"its page gave no article ({why}); the feed's teaser is used", fatal=False
                )
                yield fallback

    def load_fetched(self, response: Fetched, origin: str) -> Iterator[LoadResult]:
        """What a fetched URL holds: a feed's items, or the article of a page (``newsbot watch``
        fetches with its own conditional requests and hands the body over here)."""
        raw = response.content
        if is_feed(raw, response.content_type):
            yield from load_feed(self, raw, origin)
        elif len(raw) > self.max_bytes:
            yield Problem(origin, f"larger than NEWSBOT_MAX_ARTICLE_BYTES ({len(raw)} > {self.max_bytes} bytes)")
        else:
            yield guard(origin, lambda: documents.parse_html(self, response.text, origin, url=response.url))

    def load_records(self, text: str, origin: str) -> Iterator[LoadResult]:
        """A JSON object, a JSON array of objects, or JSONL (an upload, a request body)."""
        return records.load_records(self, text, origin)

    def load_jsonl_stream(self, stream: IO[str], origin: str) -> Iterator[LoadResult]:
        return records.load_jsonl_stream(self, stream, origin)

    def article_from_record(self, record: object, origin: str) -> Article:
        """Build an ``Article`` from a dict with the JSON fields; unknown keys become metadata."""
        return article_from_record(record, origin, max_bytes=self.max_bytes, tz=self.tz)

    # ---- files ---------------------------------------------------------------------------

    def _load_stream(self, path: Path, origin: str, form: Format) -> Iterator[LoadResult]:
        try:
            size = path.stat().st_size
            if size > self.max_file_bytes:
                yield Problem(origin, f"larger than NEWSBOT_MAX_ARCHIVE_BYTES ({size} > {self.max_file_bytes} bytes)")
                return
            if form.name == "json":
                with path.open("rb") as raw:
                    yield from records.load_json_array(self, raw, origin)
                return
            with path.open(encoding="utf-8", errors="replace", newline="") as stream:
                yield from self.load_jsonl_stream(stream, origin)
        except OSError as exc:
            yield Problem(origin, f"cannot read: {exc.strerror or exc}")

    def _read_bytes(self, path: Path, limit: int | None = None) -> bytes:
        limit = limit or self.max_bytes
        setting = "NEWSBOT_MAX_ARTICLE_BYTES" if limit == self.max_bytes else "NEWSBOT_MAX_ARCHIVE_BYTES"
        try:
            size = path.stat().st_size
            if size > limit:
                raise ItemError(f"larger than {setting} ({size} > {limit} bytes)")
            raw = path.read_bytes()
        except OSError as exc:
            raise ItemError(f"cannot read: {exc.strerror or exc}") from exc
        if not raw.strip():
            raise ItemError("empty file")
        if b"\x00" in raw[:8192] or raw.startswith(BINARY_MAGIC):
            raise ItemError("binary file, not text")
        return raw

    @staticmethod
    def _decode(raw: bytes) -> tuple[str, str]:
        for encoding in ("utf-8-sig", "cp1252", "latin-1"):
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError:
                continue
            # latin-1 decodes anything; text that is mostly control characters is not text.
            controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\n\r\t\f") + text.count("\ufffd")
            if controls > max(2, len(text) // 100):
                raise ItemError(f"undecodable bytes (tried UTF-8, cp1252, latin-1; last: {encoding})")
            return text, "utf-8" if encoding == "utf-8-sig" else encoding
        raise ItemError("undecodable bytes")

    def _sidecar(self, path: Path) -> dict[str, object] | Problem | None:
        sidecar = path.with_name(path.stem + SIDECAR_SUFFIX)
        if not sidecar.exists():
            return None
        import yaml

        try:
            data = yaml.load(sidecar.read_text(encoding="utf-8"), Loader=no_alias_loader())
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            return Problem(str(sidecar), f"metadata file does not parse: {exc}")
        if not isinstance(data, dict):
            return Problem(str(sidecar), "metadata file must hold a mapping of fields")
        return data


def _json_array(path: Path) -> bool:
    """Whether a JSON file holds an array (its first character past a byte order mark and blanks);
    one with a NUL byte goes the whole-file way, which calls it binary."""
    try:
        with path.open("rb") as f:
            head = f.read(8192)
    except OSError:
        return False
    return b"\x00" not in head and head.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"[")


def bounded_problems(results: Iterable[LoadResult], origin: str) -> Iterator[LoadResult]:
    """A file's results with the first ``MAX_FILE_PROBLEMS`` of its bad records named and the rest
    counted in one problem at the end. An export of 600,000 bad records was 600,000 problems held
    through the write, in the poll's result and in ``--json``: the first ones say what is wrong."""
    named = more = 0
    for result in results:
        if isinstance(result, Problem) and result.fatal:
            if named == MAX_FILE_PROBLEMS:
                more += 1
                continue
            named += 1
        yield result
    if more:
        yield Problem(origin, f"and {more} more records that could not be read (the first {named} are named)")
