"""One article per file: plain text (tagesschau exports), Markdown with front matter, HTML pages."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from index.loaders.base import TITLE_MAX_CHARS, ItemError, LoadResult, Reading, guard, stand
from index.models import Article

if TYPE_CHECKING:
    import yaml


def load_text(reader: Reading, text: str, origin: str, meta: Mapping[str, object] | None) -> Iterator[LoadResult]:
    yield guard(origin, lambda: parse_text(reader, text, origin, meta))


def load_markdown(reader: Reading, text: str, origin: str, meta: Mapping[str, object] | None) -> Iterator[LoadResult]:
    yield guard(origin, lambda: parse_markdown(reader, text, origin, meta))


def load_html(reader: Reading, text: str, origin: str, meta: Mapping[str, object] | None) -> Iterator[LoadResult]:
    yield guard(origin, lambda: parse_html(reader, text, origin, meta))


def parse_text(reader: Reading, text: str, origin: str, meta: Mapping[str, object] | None = None) -> Article:
    """Plain text shaped like a tagesschau export: title, "Stand: ...", lead and body."""
    lines = text.strip().splitlines()
    if not lines:
        raise ItemError("empty file")
    head, rest = lines[0].strip(), lines[1:]
    record: dict[str, object] = {}
    # "Stand:" may share the title line or stand on the second one.
    for candidate in (head, rest[0] if rest else ""):
        found = stand(candidate, reader.tz)
        if found is None:
            continue
        updated, match = found
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
        raise ItemError("no article text after the title")
    return reader.article_from_record({**record, **(meta or {})}, origin)


def parse_markdown(reader: Reading, text: str, origin: str, meta: Mapping[str, object] | None = None) -> Article:
    """Markdown with optional YAML front matter; headings stay headings."""
    import frontmatter
    from markdown_it import MarkdownIt

    try:
        post = frontmatter.loads(text, handler=SafeYAML())
    except Exception as exc:  # yaml raises many types; all mean "front matter is broken"
        raise ItemError(f"front matter does not parse: {exc}") from exc
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
    return reader.article_from_record(record, origin)


def parse_html(
    reader: Reading, html: str, origin: str, meta: Mapping[str, object] | None = None, url: str | None = None
) -> Article:
    """An article page: main text (trafilatura), title, dates, author and canonical URL."""
    import trafilatura

    doc: Any = trafilatura.bare_extraction(
        html, url=url, with_metadata=True, include_formatting=True, include_comments=False
    )
    if doc is None or not (doc.text or "").strip():
        raise ItemError("no article text found in the HTML page")
    page = _html_meta(html)
    title = doc.title or page.get("title")
    lines = [
        line for line in doc.text.splitlines() if line.strip() and line.lstrip("# ").strip() != (title or "").strip()
    ]
    record: dict[str, object] = {
        "title": title,
        "text": "\n".join(lines),
        "url": page.get("canonical") or doc.url or url,
        "author": doc.author,
        "source": doc.sitename or doc.hostname,
        "published": page.get("published") or doc.date,
        "updated": page.get("modified"),
        "section": (doc.categories or [None])[0] if doc.categories else None,
    }
    if record["updated"] is None and (found := stand(_visible_text(html), reader.tz)):
        record["updated"] = found[0]
    record = {k: v for k, v in record.items() if v}
    return reader.article_from_record({**record, **(meta or {})}, origin)


def html_to_text(html: str) -> str:
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
    return html_to_text(re.sub(r"(?is)<head.*?</head>", "", html))


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


def no_alias_loader() -> type[yaml.SafeLoader]:
    """yaml's SafeLoader without aliases: front matter never needs them, and a few hundred bytes
    of nested aliases expand to megabytes (a "billion laughs")."""
    import yaml

    class NoAliasLoader(yaml.SafeLoader):
        def fetch_alias(self) -> None:
            raise yaml.YAMLError("YAML aliases (*name) are not allowed in article metadata")

    return NoAliasLoader


class SafeYAML:
    """python-frontmatter's YAML handler, loading with ``no_alias_loader``."""

    def __new__(cls) -> Any:
        from frontmatter.default_handlers import YAMLHandler

        class Handler(YAMLHandler):
            def load(self, fm: str, **kwargs: object) -> dict[str, object]:
                import yaml

                return yaml.load(fm, Loader=no_alias_loader())

        return Handler()
