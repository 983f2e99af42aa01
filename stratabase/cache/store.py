"""The storage contract under :class:`~stratabase.cache.core.SmartCache`.

A store keeps entries (bytes + lifetime + tag versions) and knows how to check them; the
cache above it adds serialization, stale handling, single-flight, locks and metrics. Three
stores exist: in-process (:mod:`.memory`), Redis (:mod:`.redis`) and both together
(:mod:`.two_tier`).

The fill protocol is what keeps a slow reader from putting an old value back:
``guard = await store.guard(key, tags)`` is taken *before* the loader reads the database,
and ``await store.fill(key, entry, guard)`` stores the loaded value only if no write,
delete or tag invalidation touched the key since the guard was taken.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from stratabase.cache.codec import Entry


class Store(Protocol):
    """Where a ``SmartCache`` keeps its entries: memory, Redis, or both tiers."""

    #: Metrics tier of values found by :meth:`fetch` ("memory" or "redis").
    tier: str
    #: Metrics tier of values found by :meth:`peek` (None when there is no local tier).
    local_tier: str | None
    #: True when other processes share the data (locks and invalidation messages matter).
    distributed: bool

    def peek(self, key: str) -> Entry | None:
        """The entry in this process's memory, if valid (no I/O)."""

    async def fetch(self, key: str, tags: Sequence[str] = ()) -> Entry | None:
        """The entry beyond the local tier (None for a purely local store)."""

    async def fetch_many(self, keys: Sequence[str]) -> list[Entry | None]:
        """The entries of ``keys`` beyond the local tier, in order (None: a miss)."""

    async def guard(self, key: str, tags: Sequence[str]) -> Any:
        """Snapshot taken before loading; :meth:`fill` checks nothing changed since."""

    async def fill(self, key: str, entry: Entry, guard: Any) -> bool:
        """Store a loaded value unless the key or one of its tags changed since ``guard``."""

    async def write(self, key: str, entry: Entry, tags: Sequence[str]) -> None:
        """Store a value unconditionally (a write path's ``set``)."""

    async def delete(self, keys: Sequence[str]) -> int:
        """Remove ``keys``; returns how many existed."""

    async def invalidate_tags(self, tags: Sequence[str]) -> None:
        """Bump the tags' versions: what was stored under them becomes a miss."""

    async def clear(self, namespace: str | None) -> int:
        """Remove a namespace's entries (all when None); returns how many."""

    async def ttl(self, key: str) -> float | None:
        """Seconds ``key`` stays fresh; None when absent or without expiry."""

    async def expire(self, key: str, seconds: float) -> bool:
        """Give ``key`` a new expiry; False when it is absent."""

    async def incr(self, key: str, amount: int, ttl: float) -> int:
        """Add ``amount`` to a counter, created with expiry ``ttl``."""

    async def try_lock(self, key: str, ttl: float) -> Any | None:
        """An owner token if this caller may load ``key`` (None: someone else is loading)."""

    async def unlock(self, key: str, token: Any) -> None:
        """Release a load lock, if ``token`` still owns it."""

    async def wait_fill(self, key: str, tags: Sequence[str], timeout: float) -> Entry | None:
        """Wait (without holding a connection) for the lock holder's value."""

    def status(self) -> dict[str, Any]:
        """Backend state for health (breaker, channel, counters); no I/O."""

    async def probe(self) -> dict[str, Any]:
        """A round trip to the backing server, for the health report."""

    async def close(self) -> None:
        """Release connections and background tasks."""
