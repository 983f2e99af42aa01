"""The Redis store: redis-py asyncio (+ hiredis), orjson payloads, a fair bounded pool.

- **Pool.** A :class:`~stratabase.cache.pool.FairConnectionPool` sized to the expected
  concurrency: callers queue (FIFO) for a connection for at most ``pool_timeout`` seconds,
  then get
  :class:`CacheUnavailable` — an error, never a silent miss. Socket timeouts bound each
  command; there is no per-call ``asyncio.wait_for`` on the hot path, and redis-py's own
  retries are off (the circuit breaker decides what a failure means).
- **Timeouts.** A healthy Redis answers in well under a millisecond, and a cache call that
  fails costs one database read (the loader), so commands and pool waits give up after
  :data:`SOCKET_TIMEOUT` (0.5 s), connects after :data:`CONNECT_TIMEOUT` (1 s): a hung
  server costs a request that much once, not seconds per call.
- **Breaker.** Connection failures count; three in a row, or one timeout (each one cost the
  caller the whole timeout), open the circuit and every call fails at once, with no I/O.
  The trial call that may close it again is a ``PING`` run in the background once per
  cooldown, never a request's own call: no request waits on a Redis that is known away.
- **Atomic multi-key writes** are Lua scripts over keys of one hash slot (value, generation,
  lock) or of the tag slot, so they stay valid on Redis Cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import itertools
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from stratabase.cache import codec
from stratabase.cache.breaker import CircuitBreaker
from stratabase.cache.codec import Entry
from stratabase.cache.errors import CacheError, CacheUnavailable
from stratabase.cache.keys import GENERATION_TTL, TAG_TTL, RedisKeys, check_key
from stratabase.cache.lock import RedisLock, backoff
from stratabase.cache.pool import CircuitOpen, FairConnectionPool
from stratabase.cache.scripts import DELETE, EXPIRE, FILL, INCR, INVALIDATE, SNAPSHOT, WRITE

INFINITY = float("inf")
#: Seconds a command or a pool checkout may take before the call fails (and the caller
#: reads the database instead). Hundreds of times a healthy round trip, so a busy event
#: loop (a burst of a thousand concurrent calls, a loaded machine) is not taken for a dead
#: server; short enough that a hung server costs a request little.
SOCKET_TIMEOUT = 0.5
#: Seconds a TCP connect may take. A dead server refuses at once and a hung one is accepted
#: by its kernel, so only a partition or a congested loop waits this long: more margin.
CONNECT_TIMEOUT = 1.0


def _evalsha(pipe: Pipeline, script: AsyncScript, keys: list[str], args: list[Any]) -> None:
    pipe.evalsha(script.sha, len(keys), *keys, *args)


RedisGuard = tuple[str, tuple[tuple[str, str], ...]]


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def connect(
    url: str,
    *,
    max_connections: int = 50,
    pool_timeout: float = SOCKET_TIMEOUT,
    socket_timeout: float | None = SOCKET_TIMEOUT,
    connect_timeout: float = CONNECT_TIMEOUT,
) -> Redis:
    """A client over a fair, bounded pool, with socket timeouts and no hidden retries."""
    pool = FairConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=pool_timeout,
        socket_timeout=socket_timeout,
        socket_connect_timeout=connect_timeout,
        socket_keepalive=True,
        retry=Retry(NoBackoff(), 0),
    )
    return Redis(connection_pool=pool)


def _pool_exhausted(exc: BaseException) -> bool:
    return isinstance(exc, RedisConnectionError) and (
        isinstance(exc.__cause__, asyncio.TimeoutError) or "No connection available" in str(exc)
    )


class RedisStore:
    """Entries in Redis, shared by every process: Lua for atomic fills, tags and locks."""

    tier = "redis"
    local_tier: str | None = None
    distributed = True

    def __init__(
        self,
        client: Redis,
        prefix: str,
        *,
        breaker: CircuitBreaker | None = None,
        pool_timeout: float = SOCKET_TIMEOUT,
    ) -> None:
        self.client = client
        self.keys = RedisKeys(prefix)
        self.breaker = breaker or CircuitBreaker()
        self.pool_timeout = pool_timeout
        self._fill = client.register_script(FILL)
        self._write = client.register_script(WRITE)
        self._delete = client.register_script(DELETE)
        self._invalidate = client.register_script(INVALIDATE)
        self._snapshot = client.register_script(SNAPSHOT)
        self._incr = client.register_script(INCR)
        self._expire = client.register_script(EXPIRE)
        self._scripts = (self._write, self._delete, self._snapshot)
        self._scripts_loaded = False
        self._token_base = secrets.token_hex(6)
        self._tokens = itertools.count()
        #: Errors by kind, for the health report.
        self.pool_timeouts = 0
        self.connection_errors = 0
        #: Calls that reached Redis (commands and pipelines; background trials apart), and
        #: trials run while the circuit was open.
        self.calls = 0
        self.trials = 0
        self._trial: asyncio.Task[None] | None = None
        pool = client.connection_pool
        if isinstance(pool, FairConnectionPool):  # queued callers recheck the circuit
            pool.admit = lambda: self.breaker.closed

    def _token(self) -> str:
        """A version token never used before by any process (random base + counter)."""
        return f"{self._token_base}{next(self._tokens):x}"

    # -- error handling -------------------------------------------------------------

    def available(self) -> bool:
        """May a call go to Redis now? Never while the circuit is not closed: then the
        trial is a background PING (once per cooldown), so no caller waits on it."""
        if self.breaker.closed:
            return True
        if self.breaker.allow():
            self._start_trial()
        return False

    def _admit(self) -> bool:
        if self.available():
            self.calls += 1
            return True
        return False

    def _start_trial(self) -> None:
        if self._trial is not None and not self._trial.done():
            return
        with contextlib.suppress(RuntimeError):  # no running loop: the next call starts it
            self._trial = asyncio.get_running_loop().create_task(
                self._run_trial(), context=contextvars.Context()
            )

    async def _run_trial(self) -> None:
        self.trials += 1
        try:
            await self.client.ping()
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed(exc)
        else:
            self.breaker.success()

    def _enter(self) -> None:
        if not self._admit():
            raise CacheUnavailable("Redis is unreachable (cache circuit open)")

    def _failed(self, exc: BaseException) -> CacheError:
        if isinstance(exc, CircuitOpen):
            return CacheUnavailable(str(exc))
        if _pool_exhausted(exc):
            self.pool_timeouts += 1
            return CacheUnavailable(
                f"no Redis connection free within {self.pool_timeout:g}s (pool exhausted)"
            )
        if isinstance(exc, ResponseError):
            self.breaker.success()
            return CacheError(f"Redis refused the command: {exc}")
        self.connection_errors += 1
        self.breaker.failure(trip=isinstance(exc, RedisTimeoutError | TimeoutError))
        return CacheUnavailable(f"Redis is unreachable: {type(exc).__name__}: {exc}")

    async def _pipeline(self, build: Callable[[Pipeline], None]) -> list[Any]:
        """Run a non-transactional pipeline whose scripts are called by SHA."""
        for attempt in (0, 1):
            if not self._scripts_loaded:
                for script in self._scripts:
                    await self._run(self.client.script_load(script.script))
                self._scripts_loaded = True
            pipe = self.client.pipeline(transaction=False)
            build(pipe)
            try:
                return list(await self._run(pipe.execute()))
            except CacheError as exc:
                if attempt or not isinstance(exc.__cause__, NoScriptError):
                    raise
                self._scripts_loaded = False  # the server lost its script cache (restart)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _two(self, first: tuple[Any, ...], second: tuple[Any, ...]) -> tuple[Any, Any]:
        """Two commands in one round trip on one connection (redis-py's ``Pipeline`` object
        costs as much as a second round trip; this does not). Not for Redis Cluster: there
        the two keys live in different slots and a cluster pipeline must be used."""
        pool: Any = self.client.connection_pool
        connection = await pool.get_connection()
        try:
            await connection.send_packed_command(connection.pack_commands([first, second]))
            try:
                one = await connection.read_response()
            except ResponseError:
                await connection.read_response()  # keep the connection in step, then report
                raise
            return one, await connection.read_response()
        except BaseException:
            await connection.disconnect()
            raise
        finally:
            await pool.release(connection)

    async def _run(self, awaitable: Any) -> Any:
        if not self._admit():
            if inspect.iscoroutine(awaitable):
                awaitable.close()
            raise CacheUnavailable("Redis is unreachable (cache circuit open)")
        try:
            result = await awaitable
        except (RedisError, OSError, TimeoutError) as exc:
            raise self._failed(exc) from exc
        self.breaker.success()
        return result

    # -- reads ----------------------------------------------------------------------

    def peek(self, key: str) -> Entry | None:
        """No local tier: always None."""
        return None

    def _entry(self, raw: bytes | None) -> Entry | None:
        if raw is None:
            return None
        entry = codec.decode(raw)
        if entry is None:  # a bare counter
            return Entry(raw, INFINITY, INFINITY, INFINITY)
        return entry

    @staticmethod
    def _valid(entry: Entry, current: dict[str, str]) -> bool:
        return all(current.get(tag) == version for tag, version in entry.tags)

    async def _tag_versions(self, tags: Sequence[str]) -> dict[str, str]:
        values = await self._run(self.client.mget([self.keys.tag(tag) for tag in tags]))
        return {tag: _text(value) for tag, value in zip(tags, values, strict=True)}

    async def fetch(self, key: str, tags: Sequence[str] = ()) -> Entry | None:
        """The entry (one round trip with its tags' versions); None if a tag moved."""
        self._enter()
        try:
            if tags:
                raw, values = await self._two(
                    ("GET", self.keys.data(key)), ("MGET", *[self.keys.tag(tag) for tag in tags])
                )
            else:
                raw = await self.client.get(self.keys.data(key))
        except (RedisError, OSError, TimeoutError) as exc:
            raise self._failed(exc) from exc
        self.breaker.success()
        entry = self._entry(raw)
        if entry is None or not entry.tags:
            return entry
        current = (
            {tag: _text(value) for tag, value in zip(tags, values, strict=True)} if tags else {}
        )
        missing = [tag for tag, _ in entry.tags if tag not in current]
        if missing:
            current.update(await self._tag_versions(missing))
        return entry if self._valid(entry, current) else None

    async def fetch_many(self, keys: Sequence[str]) -> list[Entry | None]:
        """The entries of ``keys`` by one MGET, then their tags' versions by one more."""
        if not keys:
            return []
        raws = await self._run(self.client.mget([self.keys.data(key) for key in keys]))
        entries = [self._entry(raw) for raw in raws]
        tags = sorted({tag for entry in entries if entry for tag, _ in entry.tags})
        if not tags:
            return entries
        current = await self._tag_versions(tags)
        return [e if e is not None and self._valid(e, current) else None for e in entries]

    # -- fills and writes -----------------------------------------------------------

    async def guard(self, key: str, tags: Sequence[str]) -> RedisGuard:
        """The key's write generation and its tags' versions before loading."""
        generation_key = self.keys.generation(key)
        if not tags:
            generation = await self._run(self.client.get(generation_key))
            return _text(generation), ()
        tag_keys = [self.keys.tag(tag) for tag in tags]

        def build(pipe: Pipeline) -> None:
            pipe.get(generation_key)
            _evalsha(pipe, self._snapshot, tag_keys, [self._token(), _ms(TAG_TTL)])

        generation, versions = await self._pipeline(build)
        return _text(generation), tuple(
            (tag, _text(version)) for tag, version in zip(tags, versions, strict=True)
        )

    async def fill(self, key: str, entry: Entry, guard: RedisGuard) -> bool:
        """Store (Lua) unless the key's generation moved since ``guard``."""
        generation, versions = guard
        raw = codec.encode(entry.with_tags(versions))
        ttl = _ms(entry.hard_until - time.time())
        keys = [self.keys.data(key), self.keys.generation(key)]
        return bool(await self._run(self._fill(keys=keys, args=[generation, raw, ttl])))

    async def _snapshot_tags(self, tags: Sequence[str]) -> tuple[tuple[str, str], ...]:
        if not tags:
            return ()
        keys = [self.keys.tag(tag) for tag in tags]
        values = await self._run(self._snapshot(keys=keys, args=[self._token(), _ms(TAG_TTL)]))
        return tuple((tag, _text(value)) for tag, value in zip(tags, values, strict=True))

    async def write(
        self, key: str, entry: Entry, tags: Sequence[str], *, publish: bytes | None = None
    ) -> None:
        """Store unconditionally and bump the key's generation; optionally publish."""
        check_key(key)
        raw = codec.encode(entry.with_tags(await self._snapshot_tags(tags)))
        keys = [self.keys.data(key), self.keys.generation(key)]
        args = [raw, _ms(entry.hard_until - time.time()), GENERATION_TTL * 1000]

        def build(pipe: Pipeline) -> None:
            _evalsha(pipe, self._write, keys, args)
            if publish is not None:
                pipe.publish(self.keys.channel, publish)

        await self._pipeline(build)

    async def delete(self, keys: Sequence[str], *, publish: bytes | None = None) -> int:
        """Delete ``keys`` and bump their generations; optionally publish, one pipeline."""
        if not keys:
            return 0

        def build(pipe: Pipeline) -> None:
            for key in keys:
                pair = [self.keys.data(key), self.keys.generation(key)]
                _evalsha(pipe, self._delete, pair, [GENERATION_TTL * 1000])
            if publish is not None:
                pipe.publish(self.keys.channel, publish)

        results = await self._pipeline(build)
        return sum(int(n) for n in results[: len(keys)])

    async def invalidate_tags(self, tags: Sequence[str], *, publish: bytes | None = None) -> None:
        """Bump the tags' versions (Lua), optionally publishing the invalidation."""
        if not tags:
            return
        keys = [self.keys.tag(tag) for tag in tags]
        args: list[bytes | str | int] = [self._token(), _ms(TAG_TTL), "", b""]
        if publish is not None:
            args[2:] = [self.keys.channel, publish]
        await self._run(self._invalidate(keys=keys, args=args))

    async def publish(self, message: bytes) -> None:
        """Send a message on the invalidation channel."""
        await self._run(self.client.publish(self.keys.channel, message))

    async def clear(self, namespace: str | None) -> int:
        """SCAN + UNLINK the entries of a namespace (never KEYS)."""
        self._enter()
        removed = 0
        try:
            batch: list[bytes] = []
            async for raw_key in self.client.scan_iter(
                match=self.keys.data_pattern(namespace), count=1000
            ):
                batch.append(raw_key)
                if len(batch) >= 500:
                    removed += await self.client.unlink(*batch)
                    batch.clear()
            if batch:
                removed += await self.client.unlink(*batch)
        except (RedisError, OSError, TimeoutError) as exc:
            raise self._failed(exc) from exc
        self.breaker.success()
        return removed

    async def count_by_namespace(self) -> dict[str, int]:
        """Stored entries per namespace, by one SCAN (for ``stratabase cache stats``)."""
        self._enter()
        counts: dict[str, int] = {}
        try:
            async for raw_key in self.client.scan_iter(
                match=self.keys.data_pattern(None), count=1000
            ):
                namespace = self.keys.logical(raw_key).partition(":")[0]
                counts[namespace] = counts.get(namespace, 0) + 1
        except (RedisError, OSError, TimeoutError) as exc:
            raise self._failed(exc) from exc
        return dict(sorted(counts.items()))

    async def server_info(self) -> dict[str, Any]:
        """Redis-wide figures: keyspace hits and misses, memory."""
        info = await self._run(self.client.info())
        return {
            key: info.get(key)
            for key in (
                "redis_version",
                "used_memory_human",
                "maxmemory_policy",
                "keyspace_hits",
                "keyspace_misses",
                "evicted_keys",
                "connected_clients",
            )
        }

    async def ttl(self, key: str) -> float | None:
        """Seconds the entry stays fresh; None when absent, stale or without expiry."""
        raw = await self._run(self.client.get(self.keys.data(key)))
        if raw is None:
            return None
        entry = codec.decode(raw)
        if entry is not None:
            remaining = entry.fresh_until - time.time()
            return remaining if remaining > 0 else None
        ms = await self._run(self.client.pttl(self.keys.data(key)))
        return None if ms < 0 else ms / 1000

    async def expire(self, key: str, seconds: float) -> bool:
        """Make the entry expire ``seconds`` from now (Lua); False when absent."""
        args: list[int | str] = [_ms(seconds), repr(time.time() + seconds)]
        return bool(await self._run(self._expire(keys=[self.keys.data(key)], args=args)))

    async def incr(self, key: str, amount: int, ttl: float) -> int:
        """Add to a counter atomically (Lua), created with expiry ``ttl``."""
        check_key(key)
        result = await self._run(
            self._incr(keys=[self.keys.data(key)], args=[amount, _ms(ttl) if ttl > 0 else 0])
        )
        return int(result)

    # -- locks ----------------------------------------------------------------------

    async def try_lock(self, key: str, ttl: float) -> RedisLock | None:
        """The load lock of ``key`` if free (SET NX PX), else None."""
        lock = RedisLock(self.client, self.keys.lock(key), ttl)
        return lock if await self._run(lock.try_acquire()) else None

    async def unlock(self, key: str, token: Any) -> None:
        """Release the load lock if this caller still owns it."""
        if isinstance(token, RedisLock):
            await self._run(token.release())

    async def wait_fill(self, key: str, tags: Sequence[str], timeout: float) -> Entry | None:
        """Probe for the holder's value with backoff; return early if the lock is gone."""
        deadline = time.monotonic() + timeout
        attempt = 0
        lock_key = self.keys.lock(key)
        while time.monotonic() < deadline:
            await asyncio.sleep(backoff(attempt))
            attempt += 1
            entry = await self.fetch(key, tags)
            if entry is not None:
                return entry
            if not await self._run(self.client.exists(lock_key)):
                return None
        return None

    # -- status ---------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Breaker, pool and call counters, for health; no I/O."""
        pool: Any = self.client.connection_pool
        return {
            "breaker": self.breaker.state,
            "breaker_trips": self.breaker.trips,
            "pool_max": pool.max_connections,
            "pool_in_use": len(getattr(pool, "_in_use_connections", ())),
            "pool_waits": getattr(pool, "waits", 0),
            "pool_waiting": getattr(pool, "waiting", 0),
            "pool_timeouts": self.pool_timeouts,
            "connection_errors": self.connection_errors,
            "calls": self.calls,
            "trials": self.trials,
        }

    async def probe(self) -> dict[str, Any]:
        """A PING for the health report, bounded by the socket timeout (none while open)."""
        started = time.perf_counter()
        try:
            await self._run(self.client.ping())
        except CacheError as exc:
            return {"status": "down", "error": exc.message}
        return {"status": "ok", "latency_ms": round((time.perf_counter() - started) * 1000, 3)}

    async def close(self) -> None:
        """Stop the recovery trial and close the client and its pool."""
        if self._trial is not None and not self._trial.done():
            self._trial.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._trial
        await self.client.aclose()
        await self.client.connection_pool.disconnect()
