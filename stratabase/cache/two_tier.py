"""Two tiers: this process's memory in front of Redis, kept coherent over pub/sub.

- **Reads** try the local tier, then Redis; a Redis hit is copied into the local tier for at
  most the namespace's ``local_ttl`` and never past the entry's Redis deadline.
- **Writes, deletes, tag invalidations and clears** go to Redis and are published on the
  invalidation channel in the same round trip; every other process drops its local copies
  when the message arrives (its own messages are ignored: it applied them already).
- **A dropped channel flushes the local tier**, and so does every (re)subscription: messages
  lost while it was down cannot leave old copies behind. A hung server keeps its sockets
  open, so the channel PINGs after ``heartbeat`` seconds of silence and counts a PING not
  answered within ``heartbeat_timeout`` as a drop.
- **Redis failing** (any failed call, or the circuit open): the local tier is flushed —
  other processes cannot reach Redis either, so their invalidations would not reach us —
  and until Redis and the channel answer again local copies live at most ``degraded_ttl``
  seconds (default 0: none, every read goes to its loader, so no process serves a value
  another one changed meanwhile). Invalidations are applied locally at once and replayed
  to Redis when the circuit closes.
- A local fill is refused if an invalidation for the key or one of its tags arrived while
  the Redis read was in flight (the memory store's sequence guard).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import secrets
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from stratabase.cache.codec import Entry
from stratabase.cache.durable import BATCH
from stratabase.cache.errors import CacheUnavailable
from stratabase.cache.keys import namespace_of
from stratabase.cache.memory import MemoryStore
from stratabase.cache.redis import RedisStore

if TYPE_CHECKING:
    from stratabase.cache.durable import CacheSync

logger = logging.getLogger("stratabase.cache")

#: Invalidations kept while Redis is down, replayed on recovery; beyond this, clear all.
MAX_PENDING = 10_000
#: A read waits at most this long for the outbox replay, then answers from its loader.
SYNC_WAIT = 0.5
#: Longest a replay of missed invalidations may take before it is abandoned and retried.
REPLAY_TIMEOUT = 5.0
#: Seconds of silence after which the invalidation channel PINGs, and how long the answer
#: may take before the channel is counted as dropped (a hung server).
HEARTBEAT = 1.0
HEARTBEAT_TIMEOUT = 1.0

TwoTierGuard = tuple[tuple[int, int], Any, tuple[str, ...]]


class TwoTierStore:
    """A short-lived local copy over Redis, kept coherent by the invalidation channel."""

    tier = "redis"
    local_tier: str | None = "local"
    distributed = True

    def __init__(
        self,
        local: MemoryStore,
        remote: RedisStore,
        redis_url: str,
        *,
        degraded_ttl: float = 0.0,
        reconnect_max: float = 2.0,
        heartbeat: float = HEARTBEAT,
        heartbeat_timeout: float = HEARTBEAT_TIMEOUT,
    ) -> None:
        self.local = local
        self.remote = remote
        #: Freshness is judged by the local tier's clock (tests pass ``MemoryStore(clock=…)``).
        self.clock = local.clock
        self.redis_url = redis_url
        self.degraded_ttl = degraded_ttl
        self.reconnect_max = reconnect_max
        self.heartbeat = heartbeat
        self.heartbeat_timeout = heartbeat_timeout
        self.sender = secrets.token_hex(6)
        self.channel_ok = False
        self.channel_drops = 0
        self.messages = 0
        self._listener: asyncio.Task[None] | None = None
        self._closing = False
        self._subscribed = asyncio.Event()
        self._pending_keys: set[str] = set()
        self._pending_tags: set[str] = set()
        self._pending_overflow = False
        self._replay: asyncio.Task[None] | None = None
        #: The database outbox (None until the cache is bound to a database): while
        #: ``_synced`` is False, nothing is read from Redis before it has been replayed.
        self.outbox: CacheSync | None = None
        self._synced = True
        self._outages = 0
        self._syncing: asyncio.Task[None] | None = None
        remote.breaker.on_recover(self._schedule_replay)
        remote.breaker.on_failure(self._lost)

    # -- the invalidation channel ---------------------------------------------------

    @property
    def started(self) -> bool:
        """True once the channel listener runs."""
        return self._listener is not None

    def start(self) -> None:
        """Subscribe in the background (idempotent; needs a running event loop)."""
        if self._listener is None and not self._closing:
            self._listener = asyncio.get_running_loop().create_task(self._listen())

    async def wait_subscribed(self, timeout: float = 5.0) -> bool:
        """Start listening and wait (at most ``timeout``) until subscribed; True if so."""
        self.start()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._subscribed.wait()
        return self.channel_ok

    async def _listen(self) -> None:
        delay = 0.05
        while not self._closing:
            # Timeouts bound the connect and its handshake (a hung server accepts the TCP
            # connection and never answers); reads wait per get_message call below.
            client = Redis.from_url(
                self.redis_url,
                socket_connect_timeout=self.heartbeat_timeout,
                socket_timeout=self.heartbeat_timeout,
                socket_keepalive=True,
                retry=Retry(NoBackoff(), 0),
            )
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(self.remote.keys.channel)
                heard = time.monotonic()
                pinged: float | None = None
                while not self._closing:
                    message = await pubsub.get_message(timeout=self.heartbeat_timeout / 2)
                    now = time.monotonic()
                    if message is None:
                        if pinged is not None and now - pinged > self.heartbeat_timeout:
                            raise ConnectionError("no answer to PING: Redis hangs")
                        if pinged is None and now - heard >= self.heartbeat:
                            await pubsub.ping()
                            pinged = now
                        continue
                    heard, pinged = now, None
                    if message["type"] == "subscribe":
                        self.local.flush()  # anything sent while we were away is lost
                        self.channel_ok = True
                        self._subscribed.set()
                        self.remote.breaker.success()
                        delay = 0.05
                    elif message["type"] == "message":
                        self._apply(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.channel_ok:
                    logger.warning("cache invalidation channel dropped: %s", exc)
            finally:
                if self.channel_ok:  # a drop: whatever was sent meanwhile is lost to us
                    self.channel_drops += 1
                    self.local.flush()
                    self._lost()
                # A failed reconnect flushes nothing: the copies made since the drop are
                # degraded ones (short-lived, invalidated locally), and the next
                # subscription flushes anyway.
                self.channel_ok = False
                self._subscribed.clear()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]
                with contextlib.suppress(Exception):
                    await client.aclose()
            if not self._closing:
                await asyncio.sleep(delay)
                delay = min(self.reconnect_max, delay * 2)

    def _apply(self, data: bytes) -> None:
        try:
            message = orjson.loads(data)
        except orjson.JSONDecodeError:
            logger.warning("ignored a malformed cache invalidation message")
            return
        self.messages += 1
        if message.get("s") == self.sender:
            return
        if keys := message.get("k"):
            self.local.drop(keys)
        if tags := message.get("t"):
            self.local.bump_tags(tags)
        if "n" in message:
            self.local.drop_namespace(message["n"])

    def _message(self, **body: Any) -> bytes:
        return orjson.dumps({"s": self.sender, **body})

    # -- pending invalidations while Redis is down ----------------------------------

    def _remember(self, keys: Sequence[str] = (), tags: Sequence[str] = ()) -> None:
        self._pending_keys.update(keys)
        self._pending_tags.update(tags)
        if len(self._pending_keys) + len(self._pending_tags) > MAX_PENDING:
            self._pending_overflow = True
            self._pending_keys.clear()
            self._pending_tags.clear()

    def _schedule_replay(self) -> None:
        if not (self._pending_keys or self._pending_tags or self._pending_overflow):
            return
        if self._replay is None or self._replay.done():
            with contextlib.suppress(RuntimeError):
                self._replay = asyncio.get_running_loop().create_task(self._replay_pending())

    async def _replay_pending(self) -> None:
        keys, tags = list(self._pending_keys), list(self._pending_tags)
        overflow = self._pending_overflow
        self._pending_keys.clear()
        self._pending_tags.clear()
        self._pending_overflow = False
        try:
            if overflow:
                logger.error("too many invalidations lost while Redis was down: clearing cache")
                await self.remote.clear(None)
                await self.remote.publish(self._message(n=None))
            if tags:
                await self.remote.invalidate_tags(tags, publish=self._message(t=tags))
            if keys:
                await self.remote.delete(keys, publish=self._message(k=keys))
        except CacheUnavailable:
            self._remember(keys, tags)
            self._pending_overflow = self._pending_overflow or overflow

    @property
    def pending(self) -> int:
        """Invalidations Redis missed during an outage, still to send."""
        return len(self._pending_keys) + len(self._pending_tags)

    # -- the database outbox: no invalidation lost to a process death ---------------

    def attach(self, outbox: CacheSync) -> None:
        """Replay the outbox before the first Redis read, and after every outage."""
        self.outbox = outbox
        self._synced = False

    @property
    def synced(self) -> bool:
        """False until the outbox was replayed (then Redis may be read)."""
        return self._synced

    def _lost(self) -> None:
        """Redis failed or the channel dropped: writers may have missed Redis meanwhile,
        and their invalidations cannot reach this process: drop the local copies."""
        self._outages += 1
        self.local.flush()
        if self.outbox is not None:
            self._synced = False

    @property
    def coherent(self) -> bool:
        """Do other processes' invalidations reach the local tier now?"""
        breaker = self.remote.breaker
        return self.channel_ok and breaker.closed and breaker.failures == 0

    async def _ensure_synced(self) -> None:
        if not self.remote.available():
            raise CacheUnavailable("Redis is unreachable (cache circuit open)")
        if self._syncing is None or self._syncing.done():
            # A context of its own: the caller may be inside a transaction (SQLite's write
            # lock); the replay must not look nested, and the caller waits a bounded time.
            self._syncing = asyncio.get_running_loop().create_task(
                self._sync(), context=contextvars.Context()
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._syncing), SYNC_WAIT)
        if not self._synced:
            raise CacheUnavailable("invalidations missed while Redis was away are not replayed yet")

    async def _sync(self) -> None:
        outages = self._outages
        try:
            # Bounded: a replay stuck on a call that never returns (a connection handed out
            # while Redis hung) would otherwise keep this process unsynced for good, since
            # a new replay starts only once this one is done.
            async with asyncio.timeout(REPLAY_TIMEOUT):
                await self.replay_outbox()
                if self.pending or self._pending_overflow:
                    await self._replay_pending()
        except CacheUnavailable:
            return
        except TimeoutError:
            logger.warning("cache replay took over %.0f s: abandoned, retried", REPLAY_TIMEOUT)
            return
        except Exception as exc:  # the database: stay unsynced, Redis unread
            logger.warning("cannot replay cache invalidations from the database: %s", exc)
            return
        if outages == self._outages and not (self.pending or self._pending_overflow):
            self.local.flush()  # copies made while out of touch may predate others' writes
            self._synced = True

    async def replay_outbox(self, older_than: float | None = None) -> int:
        """Deliver the outbox rows (all, or those older than ``older_than`` s) to Redis and
        delete them; returns how many rows. Raises CacheUnavailable if Redis fails."""
        if self.outbox is None:
            return 0
        done = 0
        while True:
            ids, tags, keys = await self.outbox.pending(older_than)
            if not ids:
                return done
            if tags:
                self.local.bump_tags(tags)
                await self.remote.invalidate_tags(tags, publish=self._message(t=tags))
            if keys:
                self.local.drop(keys)
                await self.remote.delete(keys, publish=self._message(k=keys))
            await self.outbox.forget(ids)
            done += len(ids)
            logger.info("replayed %d cache invalidations from the database", len(ids))
            if len(ids) < BATCH:  # what live writers add meanwhile, they deliver themselves
                return done

    # -- the Store contract ---------------------------------------------------------

    def peek(self, key: str) -> Entry | None:
        """The local copy (starting the listener on first use)."""
        if self._listener is None:
            self.start()
        return self.local.peek(key)

    def _local_copy(self, key: str, entry: Entry, since: int, epoch: int) -> None:
        if entry.fresh_until == float("inf"):
            return  # bare counters are shared state: never copied
        limit = namespace_of(key).local_ttl if self.coherent else self.degraded_ttl
        if limit <= 0:
            return
        hard = min(entry.hard_until, time.time() + limit)
        local = Entry(
            entry.payload,
            min(entry.fresh_until, hard),
            min(entry.stale_until, hard),
            hard,
            entry.delta,
        )
        self.local.store_checked(key, local, [tag for tag, _ in entry.tags], since, epoch)

    async def fetch(self, key: str, tags: Sequence[str] = ()) -> Entry | None:
        """From Redis (after an outbox replay if due), kept locally for a short while."""
        if not self._synced:
            await self._ensure_synced()
        since, epoch = self.local.mark()
        entry = await self.remote.fetch(key, tags)
        if entry is not None:
            self._local_copy(key, entry, since, epoch)
        return entry

    async def fetch_many(self, keys: Sequence[str]) -> list[Entry | None]:
        """From Redis, as ``fetch`` does, for several keys at once."""
        if not self._synced:
            await self._ensure_synced()
        since, epoch = self.local.mark()
        entries = await self.remote.fetch_many(keys)
        for key, entry in zip(keys, entries, strict=True):
            if entry is not None:
                self._local_copy(key, entry, since, epoch)
        return entries

    def local_guard(self, tags: Sequence[str]) -> TwoTierGuard:
        """A guard for a local-only fill (Redis just failed for this read: not asked again)."""
        return self.local.mark(), None, tuple(tags)

    async def guard(self, key: str, tags: Sequence[str]) -> TwoTierGuard:
        """Both tiers' guards (no Redis guard if Redis is down)."""
        mark = self.local.mark()
        try:
            remote = await self.remote.guard(key, tags)
        except CacheUnavailable:
            remote = None
        return mark, remote, tuple(tags)

    async def fill(self, key: str, entry: Entry, guard: TwoTierGuard) -> bool:
        """Fill Redis unless its guard refuses, then keep a local copy."""
        (since, epoch), remote, tags = guard
        if remote is not None:
            try:
                if not await self.remote.fill(key, entry, remote):
                    return False
            except CacheUnavailable:
                pass  # Redis went away while loading: keep a short local copy
        self._local_copy(key, entry.with_tags(tuple((tag, None) for tag in tags)), since, epoch)
        return True

    async def write(self, key: str, entry: Entry, tags: Sequence[str]) -> None:
        """Write to Redis and tell the others; the local copy is dropped either way."""
        try:
            await self.remote.write(key, entry, tags, publish=self._message(k=[key]))
        except CacheUnavailable:
            self._remember(keys=[key])  # the old value must not outlive the outage
            raise
        finally:
            self.local.drop([key])

    async def delete(self, keys: Sequence[str]) -> int:
        """Drop locally, delete in Redis and tell the others (remembered if Redis is down)."""
        self.local.drop(keys)
        try:
            return await self.remote.delete(keys, publish=self._message(k=list(keys)))
        except CacheUnavailable:
            self._remember(keys=keys)
            raise

    async def invalidate_tags(self, tags: Sequence[str]) -> None:
        """Bump locally and in Redis and tell the others (remembered if Redis is down)."""
        self.local.bump_tags(tags)
        try:
            await self.remote.invalidate_tags(tags, publish=self._message(t=list(tags)))
        except CacheUnavailable:
            self._remember(tags=tags)
            raise

    async def clear(self, namespace: str | None) -> int:
        """Clear both tiers and tell the other processes to clear theirs."""
        self.local.drop_namespace(namespace)
        removed = await self.remote.clear(namespace)
        await self.remote.publish(self._message(n=namespace))
        return removed

    async def ttl(self, key: str) -> float | None:
        """Redis's answer (the local copy's life is shorter by design)."""
        return await self.remote.ttl(key)

    async def expire(self, key: str, seconds: float) -> bool:
        """Re-expire in Redis, drop the local copy and tell the others."""
        self.local.drop([key])
        changed = await self.remote.expire(key, seconds)
        await self.remote.publish(self._message(k=[key]))
        return changed

    async def incr(self, key: str, amount: int, ttl: float) -> int:
        """Counters live in Redis only (never copied locally)."""
        self.local.drop([key])
        return await self.remote.incr(key, amount, ttl)

    async def try_lock(self, key: str, ttl: float) -> Any | None:
        """The load lock, in Redis (it spans processes)."""
        return await self.remote.try_lock(key, ttl)

    async def unlock(self, key: str, token: Any) -> None:
        """Release the Redis load lock."""
        await self.remote.unlock(key, token)

    async def wait_fill(self, key: str, tags: Sequence[str], timeout: float) -> Entry | None:
        """Wait for the lock holder's value in Redis, then keep a local copy."""
        if not self._synced:
            await self._ensure_synced()
        since, epoch = self.local.mark()
        entry = await self.remote.wait_fill(key, tags, timeout)
        if entry is not None:
            self._local_copy(key, entry, since, epoch)
        return entry

    def status(self) -> dict[str, Any]:
        """Both tiers, the channel and the replay state, for health; no I/O."""
        return {
            "local": self.local.status(),
            "redis": self.remote.status(),
            "channel": "up" if self.channel_ok else "down",
            "channel_drops": self.channel_drops,
            "pending_invalidations": self.pending,
            "synced": self._synced,
        }

    async def probe(self) -> dict[str, Any]:
        """Redis's PING."""
        return await self.remote.probe()

    async def close(self) -> None:
        """Stop the listener and replays, drop the local tier."""
        self._closing = True
        for task in (self._listener, self._replay, self._syncing):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self.local.flush()
        await self.remote.close()
