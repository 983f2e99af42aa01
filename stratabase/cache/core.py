"""The cache services use: one class over any store, with the stampede and consistency rules.

``SmartCache`` turns a :class:`~stratabase.cache.store.Store` into the
:class:`~stratabase.cache.protocol.Cache` API. How a service caches a read::

    post = await cache.get_or_load(
        POST.key(post_id), lambda: load_post(db, post_id), tags=[tag_post(post_id)]
    )

and how a write path invalidates (only once the transaction has committed)::

    invalidate_tags_after_commit(session, cache, [tag_post(post_id), tag_user(author_id)])

What ``get_or_load`` does, in order:

1. local tier, then Redis; a fresh hit returns a *new* object decoded from bytes;
2. *probabilistic early refresh* (XFetch): a hit close to its expiry refreshes in the
   background with a probability that grows as expiry nears, weighted by how long the
   loader took, so a hot key is reloaded once, before it expires, not by a herd after;
3. a *stale* hit (inside the namespace's ``stale_ttl``) is served while one background
   task refreshes it (stale-while-revalidate);
4. a miss loads through in-process *single-flight* (1000 concurrent misses → 1 load), then a
   *distributed lock* across processes (waiters poll with backoff, holding no connection);
5. the fill is *guarded*: if a write, delete or tag invalidation touched the key while the
   loader ran, the value is returned but not stored;
6. if the load fails and an entry inside its ``error_ttl`` exists, that is served instead
   (serve-stale-on-error); if Redis fails, the value comes from the loader, and Redis is
   not asked again for that read (no guard, lock or fill there: one timeout per read).

Reads made inside an open transaction (``session=`` given and in a transaction) are
returned but never stored: they may see uncommitted data.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from stratabase.cache import codec
from stratabase.cache.codec import Entry
from stratabase.cache.errors import CacheError, CacheUnavailable
from stratabase.cache.keys import NAMESPACES, Namespace, check_key, namespace_of
from stratabase.cache.metrics import Counters, Metrics
from stratabase.cache.singleflight import SingleFlight
from stratabase.cache.store import Store
from stratabase.cache.warming import WarmSpec, warm
from stratabase.exceptions import InvalidInput

if TYPE_CHECKING:
    from stratabase.cache.durable import CacheSync
    from stratabase.db.session import Database

logger = logging.getLogger("stratabase.cache")

Loader = Callable[[], Awaitable[Any] | Any]
_MISSING: Any = object()


def _fills_allowed(session: Any) -> bool:
    return session is None or not session.in_transaction()


def _positive(name: str, value: float | None) -> None:
    if value is not None and not (value > 0 and math.isfinite(value)):
        raise InvalidInput(f"{name} must be a positive number of seconds, not {value!r}")


class SmartCache:
    """A :class:`~stratabase.cache.protocol.Cache` over one store (memory, Redis or both)."""

    def __init__(
        self,
        store: Store,
        *,
        mode: str,
        beta: float = 1.0,
        lock_ttl: float = 10.0,
        lock_wait: float = 5.0,
    ) -> None:
        self.store = store
        #: "memory", "redis" or "two-tier".
        self.mode = mode
        #: XFetch weight; 0 turns probabilistic early refresh off.
        self.beta = beta
        self.lock_ttl = lock_ttl
        self.lock_wait = lock_wait
        #: Expiry is judged by the store's clock (``MemoryStore(clock=…)``), else wall time.
        self._now: Callable[[], float] = getattr(store, "clock", time.time)
        self.metrics = Metrics()
        self._flight: SingleFlight[bytes] = SingleFlight()
        self._local = store.local_tier
        self._remote = store.tier if store.tier != store.local_tier else None
        self._pairs: dict[str, tuple[Counters | None, Counters | None]] = {}
        #: The link to the database (generation checks, invalidation outbox); see bind().
        self.sync: CacheSync | None = None

    # -- the database link ----------------------------------------------------------

    def bind(self, db: Database, **options: Any) -> CacheSync:
        """Tie this cache to the process's database: CLI changes are seen (generation),
        and on two tiers no invalidation is lost to a process death (outbox). Idempotent."""
        from stratabase.cache.durable import CacheSync
        from stratabase.cache.two_tier import TwoTierStore

        if self.sync is None or self.sync.db is not db or options:
            self.sync = CacheSync(db, self, **options)
            if isinstance(self.store, TwoTierStore):
                self.store.attach(self.sync)
        return self.sync

    @property
    def outbox(self) -> CacheSync | None:
        """Where write paths record invalidations durably (two tiers, bound), else None."""
        return self.sync if self.sync is not None and self.store.distributed else None

    def flush_local(self) -> None:
        """Drop this process's in-memory copies (the shared tier is left alone)."""
        from stratabase.cache.memory import MemoryStore
        from stratabase.cache.two_tier import TwoTierStore

        if isinstance(self.store, MemoryStore):
            self.store.flush()
        elif isinstance(self.store, TwoTierStore):
            self.store.local.flush()

    async def _check_generation(self) -> None:
        sync = self.sync
        if sync is not None and sync.due():
            await sync.check()

    # -- metrics --------------------------------------------------------------------

    def _counters(self, key: str) -> tuple[Counters | None, Counters | None]:
        name = key.partition(":")[0]
        pair = self._pairs.get(name)
        if pair is None:
            bucket = name if name in NAMESPACES else "custom"
            pair = (
                self.metrics.bucket(bucket, self._local) if self._local else None,
                self.metrics.bucket(bucket, self._remote) if self._remote else None,
            )
            self._pairs[name] = pair
        return pair

    def _any(self, key: str) -> Counters:
        local, remote = self._counters(key)
        return remote or local  # type: ignore[return-value]

    # -- lookups --------------------------------------------------------------------

    async def _lookup(self, key: str, tags: Sequence[str] = ()) -> tuple[Entry | None, bool]:
        """(entry, found_locally); errors counted and raised."""
        started = time.perf_counter()
        local, remote = self._counters(key)
        entry = self.store.peek(key)
        if entry is not None:
            local.observe(time.perf_counter() - started)  # type: ignore[union-attr]
            return entry, True
        if remote is None:
            return None, False
        try:
            entry = await self.store.fetch(key, tags)
        except CacheError:
            remote.errors += 1
            raise
        remote.observe(time.perf_counter() - started)
        return entry, False

    def _count(self, key: str, found_locally: bool, outcome: str) -> None:
        local, remote = self._counters(key)
        if found_locally:
            counters = local
        else:
            if local is not None and remote is not None:
                local.misses += 1
            counters = remote or local
        assert counters is not None
        setattr(counters, outcome, getattr(counters, outcome) + 1)

    async def get(self, key: str, default: Any = None) -> Any:
        """The fresh value of ``key``, or ``default``. Raises CacheUnavailable, never misses."""
        if self.sync is not None:
            await self._check_generation()
        started = time.perf_counter()
        entry = self.store.peek(key)
        if entry is not None and self._now() < entry.fresh_until:
            value = codec.loads(entry.payload)
            counters = self._counters(key)[0]
            counters.hits += 1  # type: ignore[union-attr]
            counters.observe(time.perf_counter() - started)  # type: ignore[union-attr]
            return value
        entry, local = await self._lookup(key) if entry is None else (None, True)
        if entry is not None and self._now() < entry.fresh_until:
            self._count(key, local, "hits")
            return codec.loads(entry.payload)
        self._count(key, local, "misses")
        return default

    async def exists(self, key: str) -> bool:
        """True when ``key`` holds a fresh value."""
        if self.sync is not None:
            await self._check_generation()
        entry, _ = await self._lookup(key)
        return entry is not None and self._now() < entry.fresh_until

    async def get_many(self, keys: Sequence[str]) -> dict[str, Any]:
        """The fresh values among ``keys`` (missing keys are absent from the result)."""
        if self.sync is not None:
            await self._check_generation()
        now = self._now()
        found: dict[str, Any] = {}
        rest: list[str] = []
        for key in keys:
            entry = self.store.peek(key)
            if entry is not None and now < entry.fresh_until:
                self._count(key, True, "hits")
                found[key] = codec.loads(entry.payload)
            else:
                rest.append(key)
        if rest and self._remote is not None:
            try:
                entries = await self.store.fetch_many(rest)
            except CacheError:
                self._any(rest[0]).errors += 1
                raise
            for key, entry in zip(rest, entries, strict=True):
                if entry is not None and now < entry.fresh_until:
                    self._count(key, False, "hits")
                    found[key] = codec.loads(entry.payload)
                else:
                    self._count(key, False, "misses")
        else:
            for key in rest:
                self._count(key, False, "misses")
        return found

    # -- writes ---------------------------------------------------------------------

    def _entry(
        self,
        ns: Namespace,
        payload: bytes,
        ttl: float | None,
        stale_ttl: float | None = None,
        error_ttl: float | None = None,
        delta: float = 0.0,
    ) -> Entry:
        now = self._now()
        fresh = now + (ns.ttl if ttl is None else ttl)
        stale = fresh + (ns.stale_ttl if stale_ttl is None else stale_ttl)
        hard = stale + (ns.error_ttl if error_ttl is None else error_ttl)
        return Entry(payload, fresh, stale, hard, delta)

    async def set(
        self, key: str, value: Any, *, ttl: float | None = None, tags: Sequence[str] = ()
    ) -> None:
        """Store ``value`` (fresh for ``ttl`` s, default: the namespace's); refuses racing fills."""
        check_key(key)
        _positive("ttl", ttl)
        entry = self._entry(namespace_of(key), codec.dumps(value), ttl)
        try:
            await self.store.write(key, entry, tuple(tags))
        except CacheError:
            self._any(key).errors += 1
            raise
        self._any(key).writes += 1

    async def set_many(
        self, items: Mapping[str, Any], *, ttl: float | None = None, tags: Sequence[str] = ()
    ) -> None:
        """Store several values (each as ``set`` does), with one TTL and the same tags."""
        await asyncio.gather(*(self.set(k, v, ttl=ttl, tags=tags) for k, v in items.items()))

    async def delete(self, *keys: str) -> int:
        """Remove keys (everywhere, and from other processes' local tiers); count removed."""
        for key in keys:
            check_key(key)
        try:
            return await self.store.delete(list(keys))
        except CacheError:
            if keys:
                self._any(keys[0]).errors += 1
            raise

    async def invalidate_tags(self, tags: Iterable[str]) -> None:
        """Make every entry carrying one of ``tags`` a miss: O(1) per tag, whatever the keys."""
        tags = [str(tag) for tag in tags]
        if tags:
            await self.store.invalidate_tags(tags)

    async def clear(self, namespace: str | None = None) -> int:
        """Remove a namespace's entries (all entries when None); SCAN + UNLINK on Redis."""
        return await self.store.clear(namespace)

    async def ttl(self, key: str) -> float | None:
        """Seconds ``key`` stays fresh; None when absent or without expiry."""
        return await self.store.ttl(check_key(key))

    async def expire(self, key: str, seconds: float) -> bool:
        """Give ``key`` a new expiry; False when it is absent."""
        _positive("seconds", seconds)
        return await self.store.expire(check_key(key), seconds)

    async def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int:
        """Atomic counter (expiry set when the counter is created)."""
        _positive("ttl", ttl)
        return await self.store.incr(
            check_key(key), amount, namespace_of(key).ttl if ttl is None else ttl
        )

    async def decr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int:
        """Atomic counter, counted down."""
        return await self.incr(key, -amount, ttl=ttl)

    # -- get_or_load ----------------------------------------------------------------

    async def get_or_load(
        self,
        key: str,
        loader: Loader,
        *,
        ttl: float | None = None,
        tags: Sequence[str] = (),
        stale_ttl: float | None = None,
        error_ttl: float | None = None,
        session: Any = None,
    ) -> Any:
        """The cached value of ``key``, loading (once) and storing it on a miss."""
        if self.sync is not None:
            await self._check_generation()
        started = time.perf_counter()
        entry = self.store.peek(key)
        found_locally = entry is not None
        if found_locally:
            self._counters(key)[0].observe(time.perf_counter() - started)  # type: ignore[union-attr]
        remote = True
        if entry is None:
            check_key(key)
            try:
                entry, found_locally = await self._lookup(key, tags)
            except CacheError:
                entry, remote = None, False
        now = self._now()
        fallback: Entry | None = None
        if entry is not None:
            if now < entry.fresh_until:
                self._count(key, found_locally, "hits")
                if entry.delta > 0 and self.beta > 0 and session is None:
                    gap = -entry.delta * self.beta * math.log(1.0 - random.random())
                    if now + gap >= entry.fresh_until:
                        self._refresh(key, loader, ttl, tags, stale_ttl, error_ttl)
                return codec.loads(entry.payload)
            if now < entry.stale_until:
                self._count(key, found_locally, "stale")
                if session is None:
                    self._refresh(key, loader, ttl, tags, stale_ttl, error_ttl)
                return codec.loads(entry.payload)
            fallback = entry
        self._count(key, found_locally, "misses")
        try:
            if _fills_allowed(session):
                payload, _ = await self._flight.do(
                    key,
                    lambda: self._load(
                        key, loader, ttl, tags, stale_ttl, error_ttl, True, True, remote
                    ),
                )
            else:  # the loader reads through the caller's open transaction: not shared
                payload = await self._load(
                    key, loader, ttl, tags, stale_ttl, error_ttl, False, False
                )
        except Exception:
            if fallback is None:
                raise
            self._count(key, found_locally, "stale")
            logger.warning("serving stale %s: reload failed", key, exc_info=True)
            return codec.loads(fallback.payload)
        return codec.loads(payload)

    def _refresh(
        self,
        key: str,
        loader: Loader,
        ttl: float | None,
        tags: Sequence[str],
        stale_ttl: float | None,
        error_ttl: float | None,
    ) -> None:
        async def work() -> bytes:
            try:
                return await self._load(key, loader, ttl, tags, stale_ttl, error_ttl, True, False)
            except _Skip:
                return b""
            except Exception:
                self._any(key).errors += 1
                logger.warning("background refresh of %s failed", key, exc_info=True)
                raise

        if self._flight.start(key + "\x00refresh", work) is not None:
            self._any(key).refreshes += 1

    async def _load(
        self,
        key: str,
        loader: Loader,
        ttl: float | None,
        tags: Sequence[str],
        stale_ttl: float | None,
        error_ttl: float | None,
        fill: bool,
        wait: bool,
        remote: bool = True,
    ) -> bytes:
        counters = self._any(key)
        guard: Any = None
        token: Any = None
        local_guard = getattr(self.store, "local_guard", None)
        if fill and not remote:  # Redis just failed for this read: a local fill at most
            guard = local_guard(tags) if local_guard is not None else None
        elif fill:
            try:
                guard = await self.store.guard(key, tags)
                if self.store.distributed:
                    token = await self.store.try_lock(key, self.lock_ttl)
                    if token is None:
                        counters.lock_waits += 1
                        if not wait:
                            raise _Skip
                        entry = await self.store.wait_fill(key, tags, self.lock_wait)
                        if entry is not None and self._now() < entry.fresh_until:
                            return entry.payload
                        token = await self.store.try_lock(key, self.lock_ttl)
                    if token is not None and wait:  # filled while we were getting here?
                        entry = await self.store.fetch(key, tags)
                        if entry is not None and self._now() < entry.fresh_until:
                            await self.store.unlock(key, token)
                            return entry.payload
            except CacheError:
                counters.errors += 1
        try:
            started = time.perf_counter()
            value = loader()
            if inspect.isawaitable(value):
                value = await value
            delta = time.perf_counter() - started
            counters.loads += 1
            payload = codec.dumps(value)
            if guard is not None:
                entry = self._entry(namespace_of(key), payload, ttl, stale_ttl, error_ttl, delta)
                try:
                    if await self.store.fill(key, entry, guard):
                        counters.fills += 1
                    else:
                        counters.refused_fills += 1
                except CacheError:
                    counters.errors += 1
            return payload
        finally:
            if token is not None:
                try:
                    await self.store.unlock(key, token)
                except CacheError:
                    counters.errors += 1

    # -- warming, stats, lifecycle ----------------------------------------------------

    async def warm(self, specs: Iterable[WarmSpec], *, concurrency: int = 8) -> int:
        """Load hot keys (at ``up``, after ``clean``); returns how many succeeded."""
        return await warm(self, specs, concurrency=concurrency)

    def stats(self) -> dict[str, Any]:
        """Hits, misses and latencies per namespace and tier, for health."""
        return {
            "mode": self.mode,
            "totals": self.metrics.totals(),
            "namespaces": self.metrics.snapshot(),
            "store": self.store.status(),
        }

    async def close(self) -> None:
        """Release the store's connections and this cache's background tasks."""
        if self.sync is not None:
            await self.sync.close()
        await self._flight.cancel_all()
        await self.store.close()

    async def __aenter__(self) -> SmartCache:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class _Skip(Exception):
    """A background refresh found another process refreshing: nothing to do."""


__all__ = ["CacheUnavailable", "SmartCache", "WarmSpec"]
