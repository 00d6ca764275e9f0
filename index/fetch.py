"""Fetching a feed or a page for ``newsbot ingest URL``, with the limits a server needs:

- a **total deadline** (``timeout``), not one per network step: every read of the socket may
  wait only for the time left, so a server that sends its headers or body a byte a second cannot
  hold an ingest for longer;
- a **streamed size cap**: the body is read in chunks and abandoned past ``max_bytes``, never
  downloaded whole first;
- **no surprise addresses**: every hop, redirects included, must resolve to a public address,
  unless private ones are allowed (``NEWSBOT_FETCH_ALLOW_PRIVATE``, for intranet sources), so
  a page cannot redirect the fetcher to ``127.0.0.1:8000/metrics`` or a cloud metadata address.
  The fetcher connects to the address it checked (``_Guarded``, the connection's network
  backend), so a DNS answer that changes between the check and the connection (DNS rebinding)
  cannot send it elsewhere. Fetches go directly, not through ``HTTP_PROXY``.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import urljoin, urlsplit

import httpcore
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
    transport = httpx.HTTPTransport(verify=_tls(), trust_env=False)
    # httpx takes no network backend, the httpcore pool beneath it does (httpcore's extension point)
    transport._pool = httpcore.ConnectionPool(ssl_context=_tls(), network_backend=_Guarded(deadline, allow_private))
    with httpx.Client(
        timeout=timeout, follow_redirects=False, headers=dict(headers or {}), transport=transport
    ) as client:
        for _ in range(MAX_REDIRECTS + 1):
            _check_target(url)
            try:
                got = _get(client, url, max_bytes, conditional=bool(headers), check_status=check_status)
            except httpx.TimeoutException:
                if time.monotonic() < deadline:
                    raise
                raise FetchError(f"took longer than {timeout:g} s") from None
            if isinstance(got, Fetched):
                return got
            url = got
    raise FetchError(f"more than {MAX_REDIRECTS} redirects")


def _get(client: httpx.Client, url: str, max_bytes: int, *, conditional: bool, check_status: bool) -> Fetched | str:
    """One hop: what came back, or the URL it redirects to."""
    with client.stream("GET", url) as response:
        if response.has_redirect_location:  # (is_redirect is any 3xx, 304 included)
            return urljoin(url, response.headers.get("location", ""))
        if (response.status_code == 304 and conditional) or (not response.is_success and not check_status):
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
        for chunk in response.iter_bytes():  # as the bytes arrive; each read waits only for the time left
            body.extend(chunk)
            if len(body) > max_bytes:
                raise FetchError(f"larger than the limit (more than {max_bytes} bytes)")
        return Fetched(
            str(response.url),
            bytes(body),
            response.headers.get("content-type", ""),
            response.charset_encoding,
            response.status_code,
            _lower(response.headers),
        )


class _Guarded(httpcore.SyncBackend):
    """The network beneath one fetch: it connects only to an address the check allows, the one it
    checked (no second lookup that a rebinding DNS answer could change), and lets no connect or
    read wait past the fetch's deadline."""

    def __init__(self, deadline: float, allow_private: bool) -> None:
        self.deadline = deadline
        self.allow_private = allow_private

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        address = _address(host, port, self.allow_private)
        stream = super().connect_tcp(address, port, _left(timeout, self.deadline), local_address, socket_options)
        return _DeadlineStream(stream, self.deadline)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read waits at most for the time left before the deadline."""

    def __init__(self, stream: httpcore.NetworkStream, deadline: float) -> None:
        self.stream = stream
        self.deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.stream.read(max_bytes, _left(timeout, self.deadline))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.stream.write(buffer, _left(timeout, self.deadline))

    def close(self) -> None:
        self.stream.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        tls = self.stream.start_tls(ssl_context, server_hostname, _left(timeout, self.deadline))
        return _DeadlineStream(tls, self.deadline)

    def get_extra_info(self, info: str) -> object:
        return self.stream.get_extra_info(info)


def _left(timeout: float | None, deadline: float) -> float:
    """The smaller of a step's own timeout and the time left (a hair above 0 once it has passed:
    the step then times out at once)."""
    left = max(deadline - time.monotonic(), 0.001)
    return left if timeout is None else min(timeout, left)


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


def _check_target(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError(f"not an http(s) URL: {url}")


def _address(host: str, port: int, allow_private: bool) -> str:
    """The address to connect to for ``host``: resolved once, every answer checked."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise FetchError(f"cannot resolve {host}: {exc.strerror or exc}") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global and not allow_private:
            raise FetchError(
                f"{host} is a private, loopback or link-local address ({address}); set "
                "NEWSBOT_FETCH_ALLOW_PRIVATE=true to ingest from intranet sources"
            )
    return str(infos[0][4][0])
