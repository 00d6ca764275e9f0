"""``sources.yaml``: the feeds, sitemaps and folders ``newsbot watch`` follows, validated with pydantic.

A bad file is one ``ConfigError`` that names the file, the source and the field of every problem,
so an operator fixes it in one go::

    sources:
      - name: tagesschau
        kind: feed
        url: https://www.tagesschau.de/index~rss2.xml
        interval: 5m
      - name: cms-export
        kind: folder
        path: /srv/cms/export
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.errors import ConfigError

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


def parse_duration(value: object) -> object:
    """``90``, ``"90s"``, ``"5m"``, ``"6h"``, ``"2d"`` -> seconds (other values go on to pydantic)."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError("expected seconds or a duration like '90s', '5m', '6h', '2d'")
        return float(match.group(1)) * _UNITS[match.group(2) or "s"]
    return value


Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]


class _Source(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description="Unique; used in logs and metrics.")
    interval: Duration = Field(300.0, description="Time between polls (a folder: between full rescans).")

    @field_validator("interval")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value < 1:
            raise ValueError("must be at least 1 second")
        return value


class _Remote(_Source):
    url: str = Field(description="The feed or sitemap, http(s).")
    recheck: Duration = Field(
        6 * 3600.0,
        description="Pages first seen less than this long ago are re-checked on every poll (a conditional "
        "request: an unchanged page costs a 304); a correction is re-ingested, a 410 (or a lasting 404) taken down. 0 = never. "
        "A new page that answers 404/410 before it was ever live is tried again within this window.",
    )
    max_pages: int = Field(200, ge=1, description="Pages fetched per poll at most; the rest follow on the next.")
    allow_private: bool = Field(
        False,
        description="This source (an intranet feed or sitemap) and its pages may be on private, loopback or "
        "link-local addresses; every other source stays kept off them (NEWSBOT_FETCH_ALLOW_PRIVATE opens all).",
    )

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("expected an http(s) URL")
        return value


class FeedSource(_Remote):
    """An RSS or Atom feed: its items, or the pages they link to when the item is only a teaser."""

    kind: Literal["feed"]
    fetch_pages: bool | Literal["auto"] = Field(
        "auto", description="true: always fetch the linked page; false: never; auto: when the item is a teaser."
    )
    teaser_chars: int = Field(1000, ge=0, description="auto: an item with less text than this is a teaser.")
    max_items: int = Field(
        200,
        ge=1,
        description="Items with their own text written per poll at most (each is embedded); the rest follow on the "
        "next poll, which comes soon.",
    )


class SitemapSource(_Remote):
    """A sitemap, news sitemap or sitemap index: every listed page, re-fetched when its lastmod changes."""

    kind: Literal["sitemap"]
    on_missing: Literal["keep", "remove"] = Field(
        "keep",
        description="An article the sitemap no longer lists: keep it (news sitemaps list only the last days) or "
        "remove it (a full sitemap of everything that is online).",
    )


class FolderSource(_Source):
    """A directory a CMS exports into: new, changed and deleted files (any format ``ingest`` reads)."""

    kind: Literal["folder"]
    path: Path = Field(description="The directory (relative paths are relative to sources.yaml).")
    settle: Duration = Field(
        2.0,
        description="A file changed less than this long ago is still being written: it is read later (once scans "
        "this far apart find it unchanged, or at once when its modification time is this far in the future).",
    )
    force_polling: bool = Field(False, description="Poll for changes (network shares) instead of OS events.")


Source = Annotated[FeedSource | SitemapSource | FolderSource, Field(discriminator="kind")]


class SourcesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sources: list[Source] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> SourcesFile:
        seen: set[str] = set()
        for source in self.sources:
            if source.name in seen:
                raise ValueError(f"the name '{source.name}' is used twice")
            seen.add(source.name)
        return self


def load_sources(path: Path) -> list[FeedSource | SitemapSource | FolderSource]:
    """The sources in ``path`` (``NEWSBOT_SOURCES_FILE``); ``ConfigError`` naming what is wrong."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such file. List the feeds, sitemaps and folders to follow there (see docs/sources.md), "
            "or point NEWSBOT_SOURCES_FILE at it."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read ({exc}).") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if data is None:
        data = {"sources": []}
    if isinstance(data, list):  # a bare list of sources is fine too
        data = {"sources": data}
    try:
        parsed = SourcesFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: " + "; ".join(_describe(e, data) for e in exc.errors())) from None
    base = path.resolve().parent
    return [
        s.model_copy(update={"path": (base / s.path).resolve()}) if isinstance(s, FolderSource) else s
        for s in parsed.sources
    ]


def _describe(error: ErrorDetails, data: object) -> str:
    """One problem as 'source NAME (sources[N]), field F: message'."""
    loc = list(error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    if len(loc) >= 2 and loc[0] == "sources" and isinstance(loc[1], int):
        n = loc[1]
        raw = data["sources"][n] if isinstance(data, dict) and isinstance(data.get("sources"), list) else None
        name = raw.get("name") if isinstance(raw, dict) else None
        rest = [str(part) for part in loc[2:] if part not in ("feed", "sitemap", "folder")]
        who = f"source '{name}' (sources[{n}])" if name else f"sources[{n}]"
        if error["type"] == "union_tag_invalid" or error["type"] == "union_tag_not_found":
            return f"{who}, field 'kind': expected one of feed, sitemap, folder"
        if error["type"] == "extra_forbidden":
            return f"{who}, field '{'.'.join(rest)}': unknown field"
        return f"{who}, field '{'.'.join(rest)}': {message}" if rest else f"{who}: {message}"
    where = ".".join(str(part) for part in loc)
    return f"{where}: {message}" if where else message
