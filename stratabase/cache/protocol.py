"""The ``Cache`` protocol: what services depend on, whichever backend is configured.

Services receive a ``Cache`` (built once by :func:`stratabase.cache.build_cache`) and never
know whether it is the in-process cache (embedded), Redis, or both tiers. Values are JSON
(orjson): dicts, lists, strings, numbers, booleans, None, datetimes; every read returns a new
object. A backend that cannot answer raises :class:`~stratabase.cache.errors.CacheUnavailable`
instead of reporting a miss.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Cache(Protocol):
    """What services depend on: a JSON cache with tags, TTLs and stampede control."""

    #: "memory", "redis" or "two-tier".
    mode: str

    async def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key``, or ``default`` on a miss."""

    async def set(
        self, key: str, value: Any, *, ttl: float | None = None, tags: Sequence[str] = ()
    ) -> None:
        """Store ``value`` (the namespace's TTL unless ``ttl``), invalidated by ``tags``."""

    async def delete(self, *keys: str) -> int:
        """Remove ``keys`` in every tier; returns how many existed."""

    async def exists(self, key: str) -> bool:
        """True when ``key`` holds a fresh value."""

    async def ttl(self, key: str) -> float | None:
        """Seconds ``key`` stays fresh; None when absent or without expiry."""

    async def expire(self, key: str, seconds: float) -> bool:
        """Give ``key`` a new expiry; False when it is absent."""

    async def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int:
        """Atomic counter (expiry set when the counter is created)."""

    async def decr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int:
        """Atomic counter, counted down."""

    async def get_many(self, keys: Sequence[str]) -> dict[str, Any]:
        """The fresh values among ``keys`` (missing keys are absent from the result)."""

    async def set_many(
        self, items: Mapping[str, Any], *, ttl: float | None = None, tags: Sequence[str] = ()
    ) -> None:
        """Store several values (each as ``set`` does), with one TTL and the same tags."""

    async def get_or_load(
        self,
        key: str,
        loader: Callable[[], Awaitable[Any] | Any],
        *,
        ttl: float | None = None,
        tags: Sequence[str] = (),
        stale_ttl: float | None = None,
        error_ttl: float | None = None,
        session: Any = None,
    ) -> Any:
        """The value of ``key``, loaded (once, across processes) and stored on a miss."""

    async def invalidate_tags(self, tags: Iterable[str]) -> None:
        """Make every entry stored under one of ``tags`` a miss, in O(1) per tag."""

    async def clear(self, namespace: str | None = None) -> int:
        """Remove a namespace's entries (all entries when None); returns how many."""

    def stats(self) -> dict[str, Any]:
        """Hits, misses and latencies per namespace and tier, for health."""

    async def close(self) -> None:
        """Release connections and background tasks."""
