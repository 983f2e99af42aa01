"""The in-process store: a bounded LRU of bytes, with TTL, tag versions and fill guards.

It is the embedded mode's cache and the two-tier cache's local tier. Bounded both by the
number of entries and by bytes (payload + key + tags + a fixed per-entry overhead); values
are stored serialized, so every hit decodes a fresh object and no caller can mutate what the
next caller gets.

Versions come from one monotonic sequence: a write, delete or tag invalidation stamps the
key or tag with the next number, and a fill taken at sequence ``s`` is refused if the key or
any of its tags carries a stamp above ``s`` (the stale-fill guard). Tag invalidation is one
dict assignment whatever the number of keys; entries check their tags on read.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from stratabase.cache import codec
from stratabase.cache.codec import Entry
from stratabase.cache.errors import CacheError
from stratabase.cache.keys import check_key, namespace_of

#: Bytes charged per entry on top of its key, payload and tags (the Python objects around them).
ENTRY_OVERHEAD = 160
INFINITY = float("inf")

MemoryGuard = tuple[int, int, tuple[str, ...]]


class MemoryStore:
    """Bounded LRU; single event loop, no locks needed."""

    tier = "memory"
    local_tier: str | None = "memory"
    distributed = False

    def __init__(
        self,
        *,
        max_entries: int = 10_000,
        max_bytes: int = 64 * 1024 * 1024,
        tier: str = "memory",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_entries < 1 or max_bytes < 1:
            raise CacheError("a memory cache needs room for at least one entry")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.tier = tier
        self.local_tier = tier
        #: Wall-clock seconds, as entries' expiry times are; tests pass a clock they move.
        self.clock = clock
        self._data: OrderedDict[str, Entry] = OrderedDict()
        self._sizes: dict[str, int] = {}
        self.bytes = 0
        self.evictions = 0
        self._seq = 0
        #: Bumped by a flush: every guard taken before it is void.
        self._epoch = 0
        self._tags: dict[str, int] = {}
        self._max_tags = max(1024, 4 * max_entries)
        #: Last write stamp per key, oldest first; forgotten stamps raise the floor.
        self._gens: OrderedDict[str, int] = OrderedDict()
        self._gen_floor = 0

    def __len__(self) -> int:
        return len(self._data)

    # -- versions -------------------------------------------------------------------

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def mark(self) -> tuple[int, int]:
        """(sequence, epoch) now: the local part of a fill guard."""
        return self._seq, self._epoch

    def _stamp(self, key: str) -> None:
        self._gens[key] = self._next()
        self._gens.move_to_end(key)
        while len(self._gens) > self._max_tags:
            _, stamp = self._gens.popitem(last=False)
            self._gen_floor = max(self._gen_floor, stamp)

    def _current_tags(self, tags: Sequence[str], since: int | None) -> codec.TagVersions | None:
        """Tag versions to store with an entry; None if one was invalidated after ``since``."""
        if len(self._tags) + len(tags) > self._max_tags:
            self._tags.clear()  # every tagged entry becomes invalid: safe, and bounded
            self._epoch += 1
            if since is not None:
                return None
        versions = []
        for tag in tags:
            version = self._tags.get(tag)
            if version is None:
                version = self._tags[tag] = self._next()
            elif since is not None and version > since:
                return None
            versions.append((tag, version))
        return tuple(versions)

    # -- the LRU --------------------------------------------------------------------

    def peek(self, key: str) -> Entry | None:
        """The entry unless expired or a tag moved (then dropped); marks it recently used."""
        entry = self._data.get(key)
        if entry is None:
            return None
        if self.clock() >= entry.hard_until:
            self._remove(key)
            return None
        if entry.tags:
            current = self._tags
            for tag, version in entry.tags:
                if current.get(tag) != version:
                    self._remove(key)
                    return None
        self._data.move_to_end(key)
        return entry

    def _remove(self, key: str) -> bool:
        if self._data.pop(key, None) is None:
            return False
        self.bytes -= self._sizes.pop(key)
        return True

    def _store(self, key: str, entry: Entry) -> bool:
        size = ENTRY_OVERHEAD + len(key) + len(entry.payload)
        for tag, _ in entry.tags:
            size += len(tag) + 16
        self._remove(key)
        if size > self.max_bytes:
            return False
        self._data[key] = entry
        self._sizes[key] = size
        self.bytes += size
        while len(self._data) > self.max_entries or self.bytes > self.max_bytes:
            oldest, _ = self._data.popitem(last=False)
            self.bytes -= self._sizes.pop(oldest)
            self.evictions += 1
        return True

    def store_checked(
        self, key: str, entry: Entry, tags: Sequence[str], since: int, epoch: int
    ) -> bool:
        """Store ``entry`` unless ``key`` or a tag changed since ``mark()`` gave (since, epoch)."""
        if epoch != self._epoch or self._gens.get(key, self._gen_floor) > since:
            return False
        versions = self._current_tags(tags, since)
        if versions is None or epoch != self._epoch:
            return False
        return self._store(key, entry.with_tags(versions))

    def flush(self) -> None:
        """Drop everything and void every guard taken before now."""
        self._data.clear()
        self._sizes.clear()
        self.bytes = 0
        self._epoch += 1

    def drop(self, keys: Sequence[str]) -> int:
        """Remove ``keys`` and stamp them, so fills guarded before now do not land."""
        removed = 0
        for key in keys:
            removed += self._remove(key)
            self._stamp(key)
        return removed

    def bump_tags(self, tags: Sequence[str]) -> None:
        """New versions for ``tags``: entries stored under the old ones are misses."""
        for tag in tags:
            self._tags[tag] = self._next()

    def drop_namespace(self, namespace: str | None) -> int:
        """Remove a namespace's entries (all when None); fills begun before do not land."""
        if namespace is None:
            count = len(self._data)
            self.flush()
            return count
        prefix = namespace + ":"
        doomed = [key for key in self._data if key.startswith(prefix)]
        for key in doomed:
            self._remove(key)
        self._epoch += 1  # fills that started before the clear must not land after it
        return len(doomed)

    # -- the Store contract ---------------------------------------------------------

    async def fetch(self, key: str, tags: Sequence[str] = ()) -> Entry | None:
        """Nothing beyond this process: always None."""
        return None

    async def fetch_many(self, keys: Sequence[str]) -> list[Entry | None]:
        """Nothing beyond this process: all misses."""
        return [None] * len(keys)

    async def guard(self, key: str, tags: Sequence[str]) -> MemoryGuard:
        """The write sequence and epoch now, to compare with at fill time."""
        seq, epoch = self.mark()
        return seq, epoch, tuple(tags)

    async def fill(self, key: str, entry: Entry, guard: MemoryGuard) -> bool:
        """Store the loaded entry unless the key, a tag or the epoch moved since ``guard``."""
        since, epoch, tags = guard
        return self.store_checked(key, entry, tags, since, epoch)

    async def write(self, key: str, entry: Entry, tags: Sequence[str]) -> None:
        """Store unconditionally, stamping the key (fills in flight will not land)."""
        check_key(key)
        self._stamp(key)
        versions = self._current_tags(tags, None) or ()
        self._store(key, entry.with_tags(versions))

    async def delete(self, keys: Sequence[str]) -> int:
        """Remove ``keys``; returns how many were there."""
        return self.drop(keys)

    async def invalidate_tags(self, tags: Sequence[str]) -> None:
        """Bump the tags' versions."""
        self.bump_tags(tags)

    async def clear(self, namespace: str | None) -> int:
        """Remove a namespace's entries (all when None)."""
        return self.drop_namespace(namespace)

    async def ttl(self, key: str) -> float | None:
        """Seconds the entry stays fresh; None when absent, stale or without expiry."""
        entry = self.peek(key)
        now = self.clock()
        if entry is None or entry.fresh_until == INFINITY or entry.fresh_until <= now:
            return None
        return entry.fresh_until - now

    async def expire(self, key: str, seconds: float) -> bool:
        """Make the entry expire ``seconds`` from now; False when absent."""
        entry = self.peek(key)
        if entry is None:
            return False
        until = self.clock() + seconds
        self._stamp(key)
        self._store(key, Entry(entry.payload, until, until, until, entry.delta, entry.tags))
        return True

    async def incr(self, key: str, amount: int, ttl: float) -> int:
        """Add to an integer entry (created with expiry ``ttl``); CacheError on a non-integer."""
        check_key(key)
        entry = self.peek(key)
        current: Any = 0 if entry is None else codec.loads(entry.payload)
        if isinstance(current, bool) or not isinstance(current, int):
            raise CacheError(f"{key} does not hold an integer")
        value = current + amount
        until = entry.hard_until if entry is not None else self.clock() + ttl
        self._stamp(key)
        self._store(key, Entry(str(value).encode(), until, until, until))
        return value

    async def try_lock(self, key: str, ttl: float) -> Any | None:
        """Always granted: in one process the single-flight already serializes loads."""
        return True  # one process: the single-flight above already serializes loads

    async def unlock(self, key: str, token: Any) -> None:
        """Nothing to release."""
        return None

    async def wait_fill(self, key: str, tags: Sequence[str], timeout: float) -> Entry | None:
        """What is stored now (no other process can be loading)."""
        return self.peek(key)

    def status(self) -> dict[str, Any]:
        """Entries, bytes, their bounds, evictions and tags, for health."""
        return {
            "entries": len(self._data),
            "max_entries": self.max_entries,
            "bytes": self.bytes,
            "max_bytes": self.max_bytes,
            "evictions": self.evictions,
            "tags": len(self._tags),
        }

    async def probe(self) -> dict[str, Any]:
        """Always up: there is no server."""
        return {"status": "ok", "mode": "memory"}

    async def close(self) -> None:
        """Drop everything."""
        self.flush()


def local_ttl(key: str) -> float:
    """Seconds the key's namespace lets a local tier keep it."""
    return namespace_of(key).local_ttl
