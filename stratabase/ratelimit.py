"""Sliding-window rate limits per user (signed in) or per client IP, via ``limits``.

Embedded mode keeps the windows in process memory; with ``settings.redis_url`` they live in
Redis (under ``settings.redis_prefix``), shared by every API process. The moving-window
strategy is an exact sliding log: a burst at a window edge cannot double the rate.
Sign-in and sign-up are limited per IP and much more strictly than reads, to slow down
password guessing; sign-in attempts are also limited per account (``login``), whatever the
IPs they come from.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from limits import parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from stratabase.settings import Settings

Scope = Literal["auth", "write", "read", "login"]


@dataclass(frozen=True)
class RateLimits:
    """Limits per scope, in ``limits`` notation (``"10/minute"``); None disables a scope."""

    auth: str | None = "10/minute"
    write: str | None = "120/minute"
    read: str | None = "1200/minute"
    #: Sign-in attempts per account (identity ``account:…``); a success clears the count.
    login: str | None = "10 per 15 minutes"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    #: Seconds until a request would be allowed again (0 when allowed).
    retry_after: int


class RateLimiter:
    """One per app; built lazily so creating an app opens no connection."""

    def __init__(self, settings: Settings, limits: RateLimits | None = None) -> None:
        self.limits = limits or RateLimits()
        storage: Storage
        if settings.redis_url:
            storage = RedisStorage(
                "async+" + settings.redis_url,
                implementation="redispy",
                key_prefix=f"{settings.redis_prefix}ratelimit",
            )
        else:
            storage = MemoryStorage()
        self.storage = storage
        self.strategy = MovingWindowRateLimiter(storage)
        rates: dict[Scope, str | None] = {
            "auth": self.limits.auth,
            "write": self.limits.write,
            "read": self.limits.read,
            "login": self.limits.login,
        }
        self._items = {scope: parse(rate) if rate else None for scope, rate in rates.items()}

    async def hit(self, scope: Scope, identity: str) -> Verdict:
        """Count one request of ``identity`` (``user:42`` or ``ip:1.2.3.4``) in ``scope``."""
        item = self._items[scope]
        if item is None:
            return Verdict(True, 0, 0, 0)
        allowed = await self.strategy.hit(item, scope, identity)
        stats = await self.strategy.get_window_stats(item, scope, identity)
        retry_after = 0
        if not allowed:
            retry_after = max(1, int(stats.reset_time - time.time()) + 1)
        return Verdict(allowed, item.amount, stats.remaining, retry_after)

    async def forget(self, scope: Scope, identity: str) -> None:
        """Empty ``identity``'s window in ``scope`` (a successful sign-in clears its failures)."""
        item = self._items[scope]
        if item is not None:
            await self.strategy.clear(item, scope, identity)
