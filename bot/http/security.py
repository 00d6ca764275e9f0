"""Keys, rate limits and work bounds: who may call, how often, and how much CPU at once."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from limits import RateLimitItem
from limits import parse as parse_rate
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from bot.http.errors import ApiError
from bot.settings import Settings

logger = logging.getLogger(__name__)

T = TypeVar("T")
P = ParamSpec("P")

# ---- keys and rate limits -----------------------------------------------------------------------


@dataclass
class Caller:
    key_id: str  # a short hash of the key: safe for logs and metrics
    admin: bool
    client: str = "unknown"  # the client's address

    @property
    def slot(self) -> str:
        """Whose work a question is: a key and an address (a widget's key is shared by everyone on
        the intranet, so one user's questions must not use up the key for all)."""
        return f"{self.key_id}@{self.client}"


class Guard:
    """Checks keys in constant time (every configured key is compared) and rate-limits per key
    and client address: the widget's key is in every intranet page, so one address flooding it
    must not cost the other addresses their answers."""

    def __init__(self, settings: Settings) -> None:
        self.read = [k.get_secret_value().encode() for k in settings.api_keys]
        self.admin = [k.get_secret_value().encode() for k in settings.admin_keys]
        self.rate = parse_rate(settings.rate_limit)
        self.failed_rate = parse_rate(settings.failed_auth_limit)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def caller(self, key: str | None, *, need_admin: bool, client: str = "unknown") -> Caller:
        """The caller behind ``key``. Wrong keys count against the client's address: guessing
        keys gets 429 after ``NEWSBOT_FAILED_AUTH_LIMIT`` attempts, even with a right one."""
        if not self.limiter.test(self.failed_rate, "failed", client):
            raise self._limited(self.failed_rate, ("failed", client), "wrong API keys from this address")
        if not key:
            raise ApiError(
                401, "unauthorized", "An API key is needed: 'Authorization: Bearer KEY' or 'X-API-Key: KEY'."
            )
        given = key.encode()
        is_admin = _matches(given, self.admin)
        if not (is_admin or _matches(given, self.read)):
            self.limiter.hit(self.failed_rate, "failed", client)
            raise ApiError(401, "unauthorized", "This API key is not valid.")
        if need_admin and not is_admin:
            raise ApiError(403, "forbidden", "Adding and deleting articles needs an admin key (NEWSBOT_ADMIN_KEYS).")
        caller = Caller(hashlib.sha256(given).hexdigest()[:12], is_admin, client)
        if not self.limiter.hit(self.rate, caller.slot):
            raise self._limited(self.rate, (caller.slot,), "requests for this key from this address")
        return caller

    def _limited(self, rate: RateLimitItem, keys: tuple[str, ...], what: str) -> ApiError:
        reset = self.limiter.get_window_stats(rate, *keys).reset_time
        wait = max(1, math.ceil(reset - time.time()))
        return ApiError(
            429, "rate_limited", f"Too many {what} ({rate}); try again in {wait} s.", headers={"Retry-After": str(wait)}
        )


class Workload:
    """Bounds the CPU work of questions and searches: at most ``per_key`` at a time for one key
    (more get 429 at once), at most ``total`` at a time for everyone (more wait their turn, up to
    the request timeout). A request that times out answers 504, but its slot stays taken until
    its thread has finished: a timed-out question still uses the CPU, so it still counts."""

    def __init__(self, per_key: int, total: int) -> None:
        self.per_key = per_key
        self.total = total
        self.busy: dict[str, int] = {}
        self._free: asyncio.Semaphore | None = None  # made in the server's event loop

    async def run(self, caller: Caller, timeout: float, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        if self._free is None:
            self._free = asyncio.Semaphore(self.total)
        free = self._free
        key = caller.slot
        if self.busy.get(key, 0) >= self.per_key:
            raise ApiError(
                429,
                "busy",
                f"You already have {self.per_key} questions in progress; wait for an answer.",
                headers={"Retry-After": "1"},
            )
        self.busy[key] = self.busy.get(key, 0) + 1
        started = time.monotonic()
        try:
            await asyncio.wait_for(free.acquire(), timeout)
        except TimeoutError:
            self._done(key)
            raise _timeout(timeout) from None
        future = asyncio.get_running_loop().run_in_executor(None, functools.partial(fn, *args, **kwargs))

        def finished(_: object) -> None:
            free.release()
            self._done(key)

        future.add_done_callback(finished)
        try:
            return await asyncio.wait_for(asyncio.shield(future), max(0.0, timeout - (time.monotonic() - started)))
        except TimeoutError:
            raise _timeout(timeout) from None

    def _done(self, key: str) -> None:
        self.busy[key] -= 1
        if not self.busy[key]:
            del self.busy[key]


def _timeout(timeout: float) -> ApiError:
    return ApiError(504, "timeout", f"No answer within {timeout:g} s; try a shorter question or again later.")


def _matches(given: bytes, keys: list[bytes]) -> bool:
    found = False
    for key in keys:  # no early exit: the time taken does not depend on which key matched
        found |= hmac.compare_digest(given, key)
    return found
