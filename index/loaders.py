"""Loading articles from files, directories, feeds, URLs and stdin.

Every input format ends in the same ``Article``. A bad item (an empty or binary
file, a malformed JSON line, an unparseable date, a feed that does not parse)
becomes a ``Problem`` naming its path and the reason, and loading goes on with
the next item: one bad file never costs the rest of an ingest.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from index.dates import parse_datetime, parse_stand
from index.models import Article
from index.split import normalized_hash, split_sentences

logger = logging.getLogger(__name__)

TEXT_EXT = {".txt", ".text"}
MARKDOWN_EXT = {".md", ".markdown"}
HTML_EXT = {".html", ".htm", ".xhtml"}
JSON_EXT = {".json"}
JSONL_EXT = {".jsonl", ".ndjson"}
CSV_EXT = {".csv", ".tsv"}
FEED_EXT = {".xml", ".rss", ".atom"}
KNOWN_EXT = TEXT_EXT | MARKDOWN_EXT | HTML_EXT | JSON_EXT | JSONL_EXT | CSV_EXT | FEED_EXT
CONTAINER_EXT = JSON_EXT | JSONL_EXT | CSV_EXT | FEED_EXT  # files of many records: the byte limit is per record
SIDECAR_SUFFIX = ".meta.yaml"  # "article.txt" + "article.meta.yaml": metadata for formats without any
RECORD_FIELDS = ("id", "url", "title", "text", "published", "updated", "source", "section", "author")
TITLE_MAX_CHARS = 200
GNAD_LINE = re.compile(r"^[\w\- ]{1,40};'")  # 10kGNAD: label;'text'
BINARY_MAGIC = (b"%PDF", b"PK\x03\x04", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"\x1f\x8b")


@dataclass(frozen=True)
class Problem:
    """One input item that could not be loaded (``fatal``) or loaded with a caveat."""

    path: str
    reason: str
    fatal: bool = True


LoadResult = Article | Problem


class _ItemError(Exception):
    """Raised inside a loader for one bad item; turned into a ``Problem`` by the caller."""


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
                yield from self.load_jsonl_stream(self.stdin or sys.stdin, "<stdin>")
            elif re.match(r"^https?://", source, re.IGNORECASE):
                yield from self.load_url(source)
            else:
                path = Path(source)
                if path.is_dir():
                    for file in self.walk(path):
                        yield from self.load_file(file)
                elif path.exists():
                    yield from self.load_file(path, explicit=True)
                else:
                    yield Problem(source, "no such file or directory")

    @staticmethod
    def walk(directory: Path) -> list[Path]:
        """Article files under ``directory``: known extensions, no hidden files, no sidecars."""
        files = []
        for path in sorted(directory.rglob("*")):
            rel = path.relative_to(directory)
            if any(part.startswith(".") for part in rel.parts) or not path.is_file():
                continue
            if path.name.endswith(SIDECAR_SUFFIX) or path.suffix.lower() not in KNOWN_EXT:
                continue
            files.append(path)
        return files

    def load_file(self, path: Path, explicit: bool = False) -> Iterator[LoadResult]:
        """Load one file of any supported format."""
        origin = str(path)
        if path.suffix.lower() in JSONL_EXT:  # streamed: an archive export need not fit in memory
            yield from self._load_jsonl_file(path, origin)
            return
        try:
            raw = self._read_bytes(path, self.max_file_bytes if path.suffix.lower() in CONTAINER_EXT else None)
            kind = self._kind(path, raw)
            if kind == "feed":
                yield from self.load_feed(raw, origin)
                return
            text, encoding = self._decode(raw, origin)
        except _ItemError as exc:
            yield Problem(origin, str(exc))
            return
        if encoding not in ("utf-8", "utf-8-sig"):
            yield Problem(origin, f"not UTF-8; decoded as {encoding}", fatal=False)
        sidecar = self._sidecar(path)
        if isinstance(sidecar, Problem):
            yield sidecar
            return
        if kind == "jsonl":
            yield from self.load_jsonl_stream(io.StringIO(text), origin)
        elif kind == "json":
            yield from self.load_json(text, origin)
        elif kind == "csv":
            yield from self.load_csv(text, origin)
        else:
            parsers: dict[str, Callable[..., Article]] = {
                "text": self.parse_text,
                "markdown": self.parse_markdown,
                "html": self.parse_html,
            }
            loader = parsers[kind]
            yield self._guard(origin, lambda: loader(text, origin, sidecar))

    # ---- formats -------------------------------------------------------------------------

    def parse_text(self, text: str, origin: str, meta: dict[str, Any] | None = None) -> Article:
        """Plain text shaped like a tagesschau export: title, "Stand: ...", lead and body."""
        lines = text.strip().splitlines()
        if not lines:
            raise _ItemError("empty file")
        head, rest = lines[0].strip(), lines[1:]
        record: dict[str, Any] = {}
        # "Stand:" may share the title line or stand on the second one.
        for candidate in (head, rest[0] if rest else ""):
            stand = self._stand(candidate)
            if stand is None:
                continue
            updated, match = stand
            record["updated"] = updated
            if candidate is head:
                title, lead = head[: match.start()].strip(), head[match.end() :].strip()
            else:
                title, lead = head, candidate[match.end() :].strip()
                rest = rest[1:]
            record["title"] = title
            record["text"] = "\n".join([lead, *rest]).strip()
            break
        else:
            if len(head) <= TITLE_MAX_CHARS:
                record["title"], record["text"] = head, "\n".join(rest).strip()
            else:
                record["text"] = text.strip()
        if not record.get("text"):
            raise _ItemError("no article text after the title")
        return self.article_from_record({**record, **(meta or {})}, origin)

    def parse_markdown(self, text: str, origin: str, meta: dict[str, Any] | None = None) -> Article:
        """Markdown with optional YAML front matter; headings stay headings."""
        import frontmatter
        from markdown_it import MarkdownIt

        try:
            post = frontmatter.loads(text, handler=_SafeYAML())
        except Exception as exc:  # yaml raises many types; all mean "front matter is broken"
            raise _ItemError(f"front matter does not parse: {exc}") from exc
        record = {**(meta or {}), **dict(post.metadata)}
        lines: list[str] = []
        tokens = MarkdownIt("commonmark").parse(post.content)
        for i, token in enumerate(tokens):
            if token.type != "inline":
                continue
            plain = "".join(
                child.content
                if child.type in ("text", "code_inline")
                else " "
                if child.type in ("softbreak", "hardbreak")
                else ""
                for child in token.children or []
            ).strip()
            if not plain:
                continue
            opener = tokens[i - 1]
            if opener.type == "heading_open":
                if opener.tag == "h1" and "title" not in record:
                    record["title"] = plain
                    continue
                lines.append(f"## {plain}")
            else:
                lines.append(plain)
        record["text"] = "\n".join(lines)
        return self.article_from_record(record, origin)

    def parse_html(self, html: str, origin: str, meta: dict[str, Any] | None = None, url: str | None = None) -> Article:
        """An article page: main text (trafilatura), title, dates, author and canonical URL."""
        import trafilatura

        doc: Any = trafilatura.bare_extraction(
            html, url=url, with_metadata=True, include_formatting=True, include_comments=False
        )
        if doc is None or not (doc.text or "").strip():
            raise _ItemError("no article text found in the HTML page")
        page = _html_meta(html)
        title = doc.title or page.get("title")
        lines = [
            line
            for line in doc.text.splitlines()
            if line.strip() and line.lstrip("# ").strip() != (title or "").strip()
        ]
        record: dict[str, Any] = {
            "title": title,
            "text": "\n".join(lines),
            "url": page.get("canonical") or doc.url or url,
            "author": doc.author,
            "source": doc.sitename or doc.hostname,
            "published": page.get("published") or doc.date,
            "updated": page.get("modified"),
            "section": (doc.categories or [None])[0] if doc.categories else None,
        }
        if record["updated"] is None and (stand := self._stand(_visible_text(html))):
            record["updated"] = stand[0]
        record = {k: v for k, v in record.items() if v}
        return self.article_from_record({**record, **(meta or {})}, origin)

    def load_json(self, text: str, origin: str) -> Iterator[LoadResult]:
        """A JSON object or an array of objects, each an article record."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            yield Problem(origin, f"invalid JSON: {exc}")
            return
        except RecursionError:
            yield Problem(origin, "invalid JSON: nested too deeply")
            return
        records = data if isinstance(data, list) else [data]
        for n, record in enumerate(records):
            where = origin if len(records) == 1 else f"{origin}[{n}]"
            yield self._guard(where, lambda record=record, where=where: self.article_from_record(record, where))

    def load_records(self, text: str, origin: str) -> Iterator[LoadResult]:
        """A JSON object, a JSON array of objects, or JSONL (one object per line)."""
        try:
            json.loads(text)
        except RecursionError:
            pass  # load_json reports it
        except json.JSONDecodeError:
            if "\n" in text.strip():
                yield from self.load_jsonl_stream(io.StringIO(text), origin)
                return
        yield from self.load_json(text, origin)

    def load_jsonl_stream(self, stream: IO[str], origin: str) -> Iterator[LoadResult]:
        """One JSON record per line; a malformed line is reported with its line number."""
        for lineno, line in enumerate(stream, 1):
            if not line.strip():
                continue
            where = f"{origin}:{lineno}"
            # (a UTF-8 character is at most 4 bytes: most lines pass without being encoded)
            if len(line) * 4 > self.max_bytes and len(line.encode("utf-8")) > self.max_bytes:
                yield Problem(where, f"record larger than NEWSBOT_MAX_ARTICLE_BYTES ({self.max_bytes} bytes)")
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                yield Problem(where, f"malformed JSON line: {exc.msg}")
                continue
            except RecursionError:
                yield Problem(where, "malformed JSON line: nested too deeply")
                continue
            yield self._guard(where, lambda record=record, where=where: self.article_from_record(record, where))

    def load_csv(self, text: str, origin: str) -> Iterator[LoadResult]:
        """CSV with a header row, or the 10kGNAD shape ``label;'text'`` without one."""
        first = text.lstrip("\ufeff").split("\n", 1)[0]
        if GNAD_LINE.match(first):
            rows = csv.reader(io.StringIO(text), delimiter=";", quotechar="'")
            for lineno, row in _csv_rows(rows, origin):
                if isinstance(row, Problem):
                    yield row
                    continue
                if not row:
                    continue
                where = f"{origin}:{lineno}"
                if len(row) != 2:
                    yield Problem(where, f"expected label;'text', got {len(row)} fields")
                    continue
                yield self._guard(
                    where,
                    lambda row=row, where=where: self.article_from_record({"section": row[0], "text": row[1]}, where),
                )
            return
        try:
            dialect = csv.Sniffer().sniff(first, delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
        reader = csv.DictReader(io.StringIO(text), dialect=dialect)
        if "text" not in (reader.fieldnames or []):
            yield Problem(origin, f"CSV has no 'text' column (columns: {', '.join(reader.fieldnames or [])})")
            return
        for line_num, fields in _csv_rows(reader, origin):
            if isinstance(fields, Problem):
                yield fields
                continue
            where = f"{origin}:{line_num}"
            record: dict[str, Any] = {k: v for k, v in fields.items() if k is not None and v not in (None, "")}
            yield self._guard(where, lambda record=record, where=where: self.article_from_record(record, where))

    def load_feed(self, data: bytes, origin: str) -> Iterator[LoadResult]:
        """RSS or Atom: one article per item, HTML content reduced to text."""
        import feedparser

        feed = feedparser.parse(data)
        broken = feed.bozo and not isinstance(
            feed.bozo_exception, (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)
        )
        if broken:
            # A truncated or malformed feed: its last items may be cut off, so none is trusted.
            yield Problem(origin, f"feed does not parse: {feed.bozo_exception}")
            return
        if not feed.entries:
            yield Problem(origin, "feed has no items")
            return
        source = feed.feed.get("title")
        for n, entry in enumerate(feed.entries):
            where = f"{origin}#{entry.get('id') or entry.get('link') or n}"
            yield self._guard(where, lambda entry=entry, where=where: self._feed_entry(entry, source, where))

    def load_url(self, url: str) -> Iterator[LoadResult]:
        """Fetch a feed or an article page over HTTP(S) (limits: ``index/fetch.py``)."""
        import httpx

        from index.fetch import FetchError, fetch

        try:
            response = fetch(
                url, timeout=self.fetch_timeout, max_bytes=self.max_fetch_bytes, allow_private=self.allow_private_urls
            )
        except (httpx.HTTPError, FetchError) as exc:
            yield Problem(url, f"could not fetch: {exc}")
            return
        raw = response.content
        if _is_feed(raw, response.content_type):
            yield from self.load_feed(raw, url)
        elif len(raw) > self.max_bytes:
            yield Problem(url, f"larger than NEWSBOT_MAX_ARTICLE_BYTES ({len(raw)} > {self.max_bytes} bytes)")
        else:
            yield self._guard(url, lambda: self.parse_html(response.text, url, url=response.url))

    # ---- records -------------------------------------------------------------------------

    def article_from_record(self, record: Any, origin: str) -> Article:
        """Build an ``Article`` from a dict with the JSON fields; unknown keys become metadata."""
        if not isinstance(record, dict):
            raise _ItemError(f"expected a JSON object, got {type(record).__name__}")
        text = record.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _ItemError("missing or empty 'text'")
        if len(text) * 4 > self.max_bytes and len(text.encode("utf-8")) > self.max_bytes:
            raise _ItemError(f"larger than NEWSBOT_MAX_ARTICLE_BYTES ({self.max_bytes} bytes)")
        fields: dict[str, Any] = {}
        for key in ("title", "source", "url", "section", "author"):
            value = record.get(key)
            if value is not None and not isinstance(value, str):
                value = str(value)
            fields[key] = value.strip() if value and value.strip() else None
        for key in ("published", "updated"):
            try:
                fields[key] = parse_datetime(record.get(key), self.tz)
            except ValueError as exc:
                raise _ItemError(f"{exc} in '{key}'") from exc
        text = text.strip()
        title = fields.pop("title") or _title_from_text(text)
        given = str(record.get("id") or "").strip()
        # Stable ids: the given one, else the canonical URL, else a hash of the content.
        article_id = given or fields["url"] or "sha256:" + normalized_hash(title + "\n" + text)[:24]
        metadata = {k: _jsonable(v) for k, v in record.items() if k not in RECORD_FIELDS}
        return Article(id=article_id, title=title, text=text, metadata=metadata, origin=origin, **fields)

    def _feed_entry(self, entry: Any, source: str | None, origin: str) -> Article:
        content = entry.get("content") or []
        body = content[0].get("value") if content else entry.get("summary", "")
        record = {
            "id": entry.get("id") or entry.get("link"),
            "url": entry.get("link"),
            "title": _html_to_text(entry.get("title", "")),
            "text": _html_to_text(body or ""),
            # dict.get: feedparser's own get() silently maps a missing "updated" to "published".
            "published": dict.get(entry, "published_parsed") or dict.get(entry, "published"),
            "updated": dict.get(entry, "updated_parsed") or dict.get(entry, "updated"),
            "source": source,
            "section": (entry.get("tags") or [{}])[0].get("term"),
            "author": entry.get("author"),
        }
        return self.article_from_record(record, origin)

    # ---- helpers -------------------------------------------------------------------------

    def _guard(self, origin: str, build: Any) -> LoadResult:
        try:
            return build()
        except _ItemError as exc:
            return Problem(origin, str(exc))
        except (RecursionError, MemoryError, ValueError, TypeError) as exc:  # one odd item, not the run
            logger.warning("could not load %s", origin, exc_info=True)
            return Problem(origin, f"could not be read ({type(exc).__name__})")

    def _load_jsonl_file(self, path: Path, origin: str) -> Iterator[LoadResult]:
        try:
            size = path.stat().st_size
            if size > self.max_file_bytes:
                yield Problem(origin, f"larger than NEWSBOT_MAX_ARCHIVE_BYTES ({size} > {self.max_file_bytes} bytes)")
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
                raise _ItemError(f"larger than {setting} ({size} > {limit} bytes)")
            raw = path.read_bytes()
        except OSError as exc:
            raise _ItemError(f"cannot read: {exc.strerror or exc}") from exc
        if not raw.strip():
            raise _ItemError("empty file")
        if b"\x00" in raw[:8192] or raw.startswith(BINARY_MAGIC):
            raise _ItemError("binary file, not text")
        return raw

    @staticmethod
    def _decode(raw: bytes, origin: str) -> tuple[str, str]:
        for encoding in ("utf-8-sig", "cp1252", "latin-1"):
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError:
                continue
            # latin-1 decodes anything; text that is mostly control characters is not text.
            controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\n\r\t\f") + text.count("\ufffd")
            if controls > max(2, len(text) // 100):
                raise _ItemError(f"undecodable bytes (tried UTF-8, cp1252, latin-1; last: {encoding})")
            return text, "utf-8" if encoding == "utf-8-sig" else encoding
        raise _ItemError("undecodable bytes")

    @staticmethod
    def _kind(path: Path, raw: bytes) -> str:
        suffix = path.suffix.lower()
        for kind, exts in (
            ("text", TEXT_EXT),
            ("markdown", MARKDOWN_EXT),
            ("html", HTML_EXT),
            ("json", JSON_EXT),
            ("jsonl", JSONL_EXT),
            ("csv", CSV_EXT),
        ):
            if suffix in exts:
                return kind
        if suffix in FEED_EXT or _is_feed(raw, ""):
            return "feed"
        head = raw.lstrip()[:1]
        if head in (b"{", b"["):
            return "json"
        if head == b"<":
            return "html"
        return "text"

    def _sidecar(self, path: Path) -> dict[str, Any] | Problem | None:
        sidecar = path.with_name(path.stem + SIDECAR_SUFFIX)
        if not sidecar.exists():
            return None
        import yaml

        try:
            data = yaml.load(sidecar.read_text(encoding="utf-8"), Loader=_no_alias_loader())
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            return Problem(str(sidecar), f"metadata file does not parse: {exc}")
        if not isinstance(data, dict):
            return Problem(str(sidecar), "metadata file must hold a mapping of fields")
        return data

    def _stand(self, text: str) -> Any:
        try:
            return parse_stand(text, self.tz)
        except ValueError as exc:
            raise _ItemError(str(exc)) from exc


def _csv_rows(reader: Any, origin: str) -> Iterator[tuple[int, Any]]:
    """(line number, row) of a csv reader; a row the csv module rejects (a field over the size
    limit, a stray quote) becomes a ``Problem`` and reading goes on with the next line."""
    n = 0
    while True:
        n += 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield n, Problem(f"{origin}:{getattr(reader, 'line_num', n)}", f"malformed CSV row: {exc}")
            continue
        yield getattr(reader, "line_num", n), row


def _title_from_text(text: str) -> str:
    first = split_sentences(text.split("\n", 1)[0][:400])
    title = first[0] if first else text
    return title if len(title) <= TITLE_MAX_CHARS else title[: TITLE_MAX_CHARS - 1].rsplit(" ", 1)[0] + "…"


def _is_feed(raw: bytes, content_type: str) -> bool:
    if any(t in content_type for t in ("rss", "atom", "xml")) and "html" not in content_type:
        return True
    head = raw[:1024].lstrip().lower()
    return (
        head.startswith(b"<?xml")
        and (b"<rss" in raw[:4096].lower() or b"<feed" in raw[:4096].lower())
        or head.startswith((b"<rss", b"<feed"))
    )


def _html_to_text(html: str) -> str:
    """Text of an HTML fragment (feed item content), block elements on their own lines."""
    if "<" not in html:
        return html.strip()
    from lxml import html as lxml_html

    try:
        root = lxml_html.fragment_fromstring(html, create_parent="div")
    except Exception:  # lxml raises ParserError and friends for hopeless markup
        return re.sub(r"<[^>]+>", " ", html).strip()
    for tag in root.iter("script", "style"):
        tag.drop_tree()
    for tag in root.iter("p", "br", "div", "li", "h1", "h2", "h3", "h4", "blockquote"):
        tag.tail = "\n" + (tag.tail or "")
    return "\n".join(line.strip() for line in root.text_content().splitlines() if line.strip())


def _visible_text(html: str) -> str:
    return _html_to_text(re.sub(r"(?is)<head.*?</head>", "", html))


def _html_meta(html: str) -> dict[str, str]:
    """Canonical URL and full publication timestamps from meta tags and JSON-LD."""
    from lxml import html as lxml_html

    out: dict[str, str] = {}
    try:
        root = lxml_html.document_fromstring(html)
    except Exception:  # unparseable head: trafilatura's own metadata still applies
        return out
    for link in root.iterfind(".//link[@rel='canonical']"):
        if link.get("href"):
            out["canonical"] = link.get("href").strip()
    names = {
        "article:published_time": "published",
        "og:published_time": "published",
        "date": "published",
        "dc.date.issued": "published",
        "article:modified_time": "modified",
        "og:updated_time": "modified",
        "last-modified": "modified",
        "og:title": "title",
    }
    for meta in root.iterfind(".//meta"):
        key = (meta.get("property") or meta.get("name") or "").lower()
        if key in names and meta.get("content") and names[key] not in out:
            out[names[key]] = meta.get("content").strip()
    for script in root.iterfind(".//script[@type='application/ld+json']"):
        try:
            data = json.loads(script.text or "")
        except json.JSONDecodeError:
            continue
        for item in data if isinstance(data, list) else [data]:
            if isinstance(item, dict):
                for key, field_name in (("published", "datePublished"), ("modified", "dateModified")):
                    if isinstance(item.get(field_name), str):
                        out.setdefault(key, item[field_name])
    if "title" not in out and (title := root.findtext(".//title")):
        out["title"] = title.strip()
    return {k: v for k, v in out.items() if v}


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return str(value)


def _no_alias_loader() -> Any:
    """yaml's SafeLoader without aliases: front matter never needs them, and a few hundred bytes
    of nested aliases expand to megabytes (a "billion laughs")."""
    import yaml

    class NoAliasLoader(yaml.SafeLoader):
        def fetch_alias(self) -> None:
            raise yaml.YAMLError("YAML aliases (*name) are not allowed in article metadata")

    return NoAliasLoader


class _SafeYAML:
    """python-frontmatter's YAML handler, loading with ``_no_alias_loader``."""

    def __new__(cls) -> Any:
        from frontmatter.default_handlers import YAMLHandler

        class Handler(YAMLHandler):
            def load(self, fm: str, **kwargs: Any) -> Any:
                import yaml

                return yaml.load(fm, Loader=_no_alias_loader())

        return Handler()
