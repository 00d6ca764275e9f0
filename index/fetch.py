"""Fetching a feed or a page for ``newsbot ingest URL``, with the limits a server needs:

- a **total deadline** (``timeout``), not one per network step: a server that sends a byte a
  second cannot hold an ingest for longer;
- a **streamed size cap**: the body is read in chunks and abandoned past ``max_bytes``, never
  downloaded whole first;
- **no surprise addresses**: every hop, redirects included, must resolve to a public address,
  unless private ones are allowed (``NEWSBOT_FETCH_ALLOW_PRIVATE``, for intranet sources), so
  a page cannot redirect the fetcher to ``127.0.0.1:8000/metrics`` or a cloud metadata address.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import urljoin, urlsplit

import httpx

MAX_REDIRECTS = 5


class FetchError(Exception):
    """Why a URL could not be fetched, in words for the ingest report."""


@dataclass(frozen=True)
class Fetched:
    url: str  # after redirects
    content: bytes
    content_type: str
    encoding: str | None
    status: int = 200  # 304 (not modified) and, with ``check_status=False``, errors come back without a body
    headers: Mapping[str, str] = field(default_factory=dict)  # the response's headers (lower-case names)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        return self.content.decode(self.encoding or "utf-8", errors="replace")


def fetch(
    url: str,
    *,
    timeout: float,
    max_bytes: int,
    allow_private: bool = False,
    headers: Mapping[str, str] | None = None,
    check_status: bool = True,
) -> Fetched:
    """GET ``url`` (following up to ``MAX_REDIRECTS`` redirects, each checked) within the limits.

    ``headers`` go with every hop (``If-None-Match``, ``If-Modified-Since`` for a conditional
    request); a 304 answer comes back as ``Fetched`` with ``status`` 304 and no body. With
    ``check_status=False`` an error status (404, 410, 500, ...) comes back the same way
    instead of raising ``httpx.HTTPStatusError``."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=timeout, follow_redirects=False, headers=dict(headers or {}), verify=_tls()) as client:
        for _ in range(MAX_REDIRECTS + 1):
            _check_target(url, allow_private)
            with client.stream("GET", url) as response:
                if response.has_redirect_location:  # (is_redirect is any 3xx, 304 included)
                    location = response.headers.get("location", "")
                    url = urljoin(url, location)
                    continue
                if (response.status_code == 304 and headers) or (not response.is_success and not check_status):
                    return Fetched(
                        str(response.url),
                        b"",
                        response.headers.get("content-type", ""),
                        None,
                        response.status_code,
                        _lower(response.headers),
                    )
                response.raise_for_status()
                declared = int(response.headers.get("content-length") or 0)
                if declared > max_bytes:
                    raise FetchError(f"larger than the limit ({declared} > {max_bytes} bytes)")
                body = bytearray()
                for chunk in response.iter_bytes():  # as the bytes arrive: the deadline is checked per read
                    body.extend(chunk)
                    if len(body) > max_bytes:
                        raise FetchError(f"larger than the limit (more than {max_bytes} bytes)")
                    if time.monotonic() > deadline:
                        raise FetchError(f"took longer than {timeout:g} s")
                return Fetched(
                    str(response.url),
                    bytes(body),
                    response.headers.get("content-type", ""),
                    response.charset_encoding,
                    response.status_code,
                    _lower(response.headers),
                )
    raise FetchError(f"more than {MAX_REDIRECTS} redirects")


@lru_cache(maxsize=1)
def _tls() -> ssl.SSLContext:
    """One TLS context (certificate verification on) for every fetch: building one reads the CA
    bundle, ~24 ms of CPU, which was most of what a watcher's unchanged-feed poll cost."""
    return ssl.create_default_context(cafile=_ca_file())


def _ca_file() -> str | None:
    try:
        import certifi
    except ImportError:  # the system's store
        return None
    return str(certifi.where())


def _lower(headers: httpx.Headers) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def _check_target(url: str, allow_private: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError(f"not an http(s) URL: {url}")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(
            parts.hostname, parts.port or (443 if parts.scheme == "https" else 80), proto=socket.IPPROTO_TCP
        )
    except OSError as exc:
        raise FetchError(f"cannot resolve {parts.hostname}: {exc.strerror or exc}") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise FetchError(
                f"{parts.hostname} is a private, loopback or link-local address ({address}); set "
                "NEWSBOT_FETCH_ALLOW_PRIVATE=true to ingest from intranet sources"
            )
