"""Sliding-window rate limits per user (signed in) or per client IP, via ``limits``.

Embedded mode keeps the windows in process memory; with ``settings.redis_url`` they live in
Redis (under ``settings.redis_prefix``), shared by every API process. The moving-window
strategy is an exact sliding log: a burst at a window edge cannot double the rate.
Sign-in and sign-up are limited per IP and much more strictly than reads, to slow down
password guessing; sign-in attempts are also limited per account (``login``), whatever the
IPs they come from. The rates are settings (``STRATABASE_RATE_LIMIT_<SCOPE>``).

**Redis down.** A limiter must never take the API down with it. Calls to Redis go through
a :class:`~stratabase.cache.breaker.CircuitBreaker` of the limiter's own, over a pool with
short socket timeouts and no hidden retries: a failed or slow call counts against the
breaker (a timeout opens it at once) and the request is limited in process memory
instead; once the circuit is open no request calls Redis at all (one background PING per
cooldown is the trial) until Redis answers again, and the shared windows resume. While
the circuit is open each process enforces the limits on its own (with N processes a client
may get up to N times the rate): we chose degraded limits over none (which would open the
door to password guessing) and over refusing every request (which is what an outage of a
*helper* must not do). Health reports the limiter as degraded meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from dataclasses import dataclass, fields
from typing import Any, Literal

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from stratabase.cache.breaker import CircuitBreaker
from stratabase.cache.redis import connect
from stratabase.settings import Settings

Scope = Literal["auth", "write", "read", "login", "report"]

#: Seconds a limiter call to Redis may take (connect or answer) before the request is
#: limited in memory instead; Redis answers in well under a millisecond when healthy.
SOCKET_TIMEOUT = 0.25


@dataclass(frozen=True)
class RateLimits:
    """Limits per scope, in ``limits`` notation (``"10/minute"``); None disables a scope.

    A scope is one field here (and one name in :data:`Scope`); its setting is
    ``STRATABASE_RATE_LIMIT_<SCOPE>`` when there is one, else the default below applies.
    """

    auth: str | None = "10/minute"
    write: str | None = "120/minute"
    read: str | None = "1200/minute"
    #: Sign-in attempts per account (identity ``account:…``); a success clears the count.
    login: str | None = "10 per 15 minutes"
    #: Moderation reports filed per user.
    report: str | None = "20/hour"

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimits:
        """The settings' ``rate_limit_*`` values; an empty one switches that limit off."""
        default = cls()
        values: dict[str, str | None] = {
            item.name: getattr(settings, f"rate_limit_{item.name}", getattr(default, item.name))
            or None
            for item in fields(cls)
        }
        return cls(**values)


@dataclass(frozen=True)
class Verdict:
    """One request's answer: allowed or not, and the headers that tell the client."""

    allowed: bool
    limit: int
    remaining: int
    #: Seconds until a request would be allowed again (0 when allowed).
    retry_after: int


def _pool_exhausted(exc: BaseException) -> bool:
    return isinstance(exc, RedisConnectionError) and (
        isinstance(exc.__cause__, asyncio.TimeoutError) or "No connection available" in str(exc)
    )


class RateLimiter:
    """One per app; built lazily so creating an app opens no connection."""

    def __init__(
        self,
        settings: Settings,
        limits: RateLimits | None = None,
        *,
        breaker: CircuitBreaker | None = None,
        socket_timeout: float = SOCKET_TIMEOUT,
    ) -> None:
        self.limits = limits or RateLimits.from_settings(settings)
        self._memory = MovingWindowRateLimiter(MemoryStorage())
        self._client: Redis | None = None
        self._shared: MovingWindowRateLimiter | None = None
        if settings.redis_url:
            self._client = connect(
                settings.redis_url,
                max_connections=max(32, 2 * settings.pool_max_size),
                pool_timeout=socket_timeout,
                socket_timeout=socket_timeout,
                connect_timeout=socket_timeout,
            )
            options: dict[str, Any] = {"connection_pool": self._client.connection_pool}
            storage = RedisStorage(
                "async+" + settings.redis_url,
                implementation="redispy",
                key_prefix=f"{settings.redis_prefix}ratelimit",
                **options,
            )
            self._shared = MovingWindowRateLimiter(storage)
        self.breaker = breaker or CircuitBreaker(name="rate limiter")
        self._items: dict[str, RateLimitItem | None] = {
            item.name: parse(rate) if (rate := getattr(self.limits, item.name)) else None
            for item in fields(self.limits)
        }
        #: Calls sent to Redis, and requests limited in memory because Redis was away.
        self.redis_calls = 0
        self.fallbacks = 0
        self._trial: asyncio.Task[None] | None = None

    @property
    def mode(self) -> str:
        """``memory`` (this process counts) or ``redis`` (all processes share counts)."""
        return "memory" if self._shared is None else "redis"

    def _admit(self) -> bool:
        """May a request call Redis now? Not while the circuit is not closed: then the
        trial is a background PING (once per cooldown), which no request waits for."""
        if self.breaker.closed:
            return True
        if self.breaker.allow() and (self._trial is None or self._trial.done()):
            with contextlib.suppress(RuntimeError):
                self._trial = asyncio.get_running_loop().create_task(
                    self._run_trial(), context=contextvars.Context()
                )
        return False

    async def _run_trial(self) -> None:
        assert self._client is not None
        try:
            await self._client.ping()
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed(exc)
        else:
            self.breaker.success()

    def _failed(self, exc: BaseException) -> None:
        if not _pool_exhausted(exc):  # a busy pool is not a dead Redis
            # a timeout cost its caller the whole timeout: one opens the circuit
            self.breaker.failure(trip=isinstance(exc, RedisTimeoutError | TimeoutError))

    async def hit(self, scope: Scope, identity: str) -> Verdict:
        """Count one request of ``identity`` (``user:42`` or ``ip:1.2.3.4``) in ``scope``."""
        item = self._items[scope]
        if item is None:
            return Verdict(True, 0, 0, 0)
        if self._shared is not None and self._admit():
            self.redis_calls += 1
            try:
                verdict = await self._hit(self._shared, item, scope, identity)
            except (RedisError, OSError, TimeoutError) as exc:
                self._failed(exc)
            else:
                self.breaker.success()
                return verdict
        if self._shared is not None:
            self.fallbacks += 1
        return await self._hit(self._memory, item, scope, identity)

    @staticmethod
    async def _hit(
        strategy: MovingWindowRateLimiter, item: RateLimitItem, scope: str, identity: str
    ) -> Verdict:
        allowed = await strategy.hit(item, scope, identity)
        stats = await strategy.get_window_stats(item, scope, identity)
        retry_after = 0
        if not allowed:
            retry_after = max(1, int(stats.reset_time - time.time()) + 1)
        return Verdict(allowed, item.amount, stats.remaining, retry_after)

    async def forget(self, scope: Scope, identity: str) -> None:
        """Empty ``identity``'s window in ``scope`` (a successful sign-in clears its failures);
        through the breaker like every Redis call, so an outage cannot fail a sign-in."""
        item = self._items[scope]
        if item is None:
            return
        await self._memory.clear(item, scope, identity)
        if self._shared is not None and self._admit():
            try:
                await self._shared.clear(item, scope, identity)
            except (RedisError, OSError, TimeoutError) as exc:
                self._failed(exc)
            else:
                self.breaker.success()

    async def health(self) -> dict[str, Any]:
        """``{"status": "ok" | "degraded", …}``: degraded while limits are per process."""
        if self._client is None:
            return {"status": "ok", "mode": "memory"}
        reachable = False
        if self._admit():
            try:
                await self._client.ping()
            except (RedisError, OSError, TimeoutError) as exc:
                self._failed(exc)
            else:
                self.breaker.success()
                reachable = True
        report: dict[str, Any] = {
            "status": "ok" if reachable and self.breaker.closed else "degraded",
            "mode": "redis",
            "breaker": self.breaker.state,
            "breaker_trips": self.breaker.trips,
            "fallbacks": self.fallbacks,
        }
        if report["status"] != "ok":
            report["error"] = "Redis is unreachable: limits are enforced per process"
        return report

    async def close(self) -> None:
        """Stop the recovery probe and close the Redis connection."""
        if self._trial is not None and not self._trial.done():
            self._trial.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._trial
        if self._client is not None:
            await self._client.aclose()
            await self._client.connection_pool.disconnect()
