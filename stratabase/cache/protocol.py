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
    #: "memory", "redis" or "two-tier".
    mode: str

    async def get(self, key: str, default: Any = None) -> Any: ...

    async def set(
        self, key: str, value: Any, *, ttl: float | None = None, tags: Sequence[str] = ()
    ) -> None: ...

    async def delete(self, *keys: str) -> int: ...

    async def exists(self, key: str) -> bool: ...

    async def ttl(self, key: str) -> float | None: ...

    async def expire(self, key: str, seconds: float) -> bool: ...

    async def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int: ...

    async def decr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int: ...

    async def get_many(self, keys: Sequence[str]) -> dict[str, Any]: ...

    async def set_many(
        self, items: Mapping[str, Any], *, ttl: float | None = None, tags: Sequence[str] = ()
    ) -> None: ...

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
    ) -> Any: ...

    async def invalidate_tags(self, tags: Iterable[str]) -> None: ...

    async def clear(self, namespace: str | None = None) -> int: ...

    def stats(self) -> dict[str, Any]: ...

    async def close(self) -> None: ...
