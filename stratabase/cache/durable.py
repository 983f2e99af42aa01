"""What the cache keeps in the database, so no invalidation dies with a process.

Two mechanisms, one per failure the in-process state cannot survive:

- **The invalidation outbox** (``cache_invalidations``, two-tier only). A write path's tags
  and keys are inserted *in the write's own transaction*; after commit they go to Redis and
  the row is deleted (in batches). A row left behind means "maybe never delivered": the
  writer died, or Redis was down. Before a process serves anything from Redis — at start-up,
  and again after every connection failure or dropped invalidation channel — it replays
  every row to Redis and deletes them (:meth:`~stratabase.cache.two_tier.TwoTierStore`
  gates its reads on that). Rows older than ``orphan_age`` are also replayed now and then
  by any process, for a writer that died between its commit and its delivery while Redis
  stayed up. Replaying twice is harmless: a tag bumped twice is just a miss.
- **The cache generation** (``cache_generation``, every mode). Commands that change data
  behind the API (``switch-theme``, ``seed --append``, ``clean``, ``ledger mint``) bump it;
  every serving process reads it at most once per ``check_interval`` on a cache read
  (one primary-key SELECT) and flushes its in-process tier when it moved. That is how the
  embedded server, whose cache no other process can reach, sees a CLI change.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.db import portable
from stratabase.db.types import utcnow
from stratabase.models.cache import CacheGeneration, CacheInvalidation

if TYPE_CHECKING:
    from stratabase.cache.core import SmartCache
    from stratabase.db.session import Database

logger = logging.getLogger("stratabase.cache")

#: Default seconds between two generation checks of one process.
CHECK_INTERVAL = 0.5
#: A cache read waits at most this long for a due check, then goes on (the check finishes
#: in the background): a slow or unreachable database never stalls cached reads.
CHECK_WAIT = 0.25
#: Rows this old are replayed by whichever process checks (their writer is gone or stuck).
ORPHAN_AGE = 30.0
ORPHAN_INTERVAL = 10.0
#: Delivered rows are deleted in one statement per this many seconds.
ACK_DELAY = 0.2
#: Rows read per replay round.
BATCH = 1000

Pending = tuple[list[str], list[str], list[str]]  # (row ids, tags, keys)


async def read_generation(session: AsyncSession) -> int:
    """The cache generation (0 before the first bump)."""
    value = await session.scalar(select(CacheGeneration.generation).where(CacheGeneration.id == 1))
    return int(value or 0)


async def bump_generation_in(session: AsyncSession) -> int:
    """Bump the generation in the caller's transaction (seen once it commits)."""
    # A missing row (new or reset database) starts at a random value, never at one a
    # running process may have seen before the reset.
    start = secrets.randbelow(2**62) + 1
    # Core columns: an ORM RETURNING configures every mapper, 50 ms of a CLI command.
    table = CacheGeneration.__table__
    statement = portable.upsert(
        session,
        table,
        {"id": 1, "generation": start, "updated_at": utcnow()},
        on=["id"],
        update=lambda new: {"generation": table.c.generation + 1, "updated_at": new.updated_at},
    ).returning(table.c.generation)
    return int((await session.execute(statement)).scalar_one())


async def bump_generation(db: Database) -> int:
    """Tell every serving process to flush its in-process cache; returns the new generation."""
    return await db.transaction(bump_generation_in)


class CacheSync:
    """One process's link between its cache and the database (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        cache: SmartCache,
        *,
        check_interval: float = CHECK_INTERVAL,
        check_wait: float = CHECK_WAIT,
        orphan_age: float = ORPHAN_AGE,
        orphan_interval: float = ORPHAN_INTERVAL,
        ack_delay: float = ACK_DELAY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.cache = cache
        self.check_interval = check_interval
        self.check_wait = check_wait
        self.orphan_age = orphan_age
        self.orphan_interval = orphan_interval
        self.ack_delay = ack_delay
        self.clock = clock
        #: Monotonic time of the next generation check (0: at the first read).
        self.next_check = 0.0
        self.generation: int | None = None
        #: How many times a moved generation flushed the local tier.
        self.flushes = 0
        self._next_orphans = clock() + orphan_interval
        self._check: asyncio.Task[None] | None = None
        self._orphans: asyncio.Task[None] | None = None
        self._failing = False
        self._acks: set[str] = set()
        self._ack_task: asyncio.Task[None] | None = None

    # -- the generation ---------------------------------------------------------------

    def due(self) -> bool:
        """True when the generation should be read again."""
        return self.clock() >= self.next_check

    async def check(self) -> None:
        """Run the due check (one per process at a time), waiting at most ``check_wait``."""
        if self._check is None or self._check.done():
            self.next_check = self.clock() + self.check_interval
            self._check = asyncio.get_running_loop().create_task(
                self._run_check(),
                context=contextvars.Context(),  # never "inside" the caller's
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._check), self.check_wait)

    async def _run_check(self) -> None:
        try:
            async with self.db.session() as session:
                generation = await read_generation(session)
        except Exception as exc:  # logged once per failing stretch, not every interval
            (logger.debug if self._failing else logger.warning)(
                "cache generation check failed: %s", exc
            )
            self._failing = True
            return
        self._failing = False
        if self.generation is not None and generation != self.generation:
            logger.info("cache generation moved (%s → %s): flushing", self.generation, generation)
            self.flushes += 1
            self.cache.flush_local()
        self.generation = generation
        store = self.cache.store
        replay = getattr(store, "replay_outbox", None)
        # Unsynced, the store replays everything before its next Redis read anyway.
        synced = getattr(store, "synced", False)
        if replay is not None and synced and self.clock() >= self._next_orphans:
            self._next_orphans = self.clock() + self.orphan_interval
            # Its own task: the read that triggered the check never waits on Redis here.
            self._orphans = asyncio.get_running_loop().create_task(
                self._replay_orphans(replay), context=contextvars.Context()
            )

    async def _replay_orphans(self, replay: Any) -> None:
        try:
            await replay(older_than=self.orphan_age)
        except Exception as exc:
            logger.warning("replaying old cache invalidations failed: %s", exc)

    # -- the outbox -------------------------------------------------------------------

    def record(self, session: AsyncSession, tags: Sequence[str], keys: Sequence[str]) -> str:
        """Insert the invalidation in ``session``'s transaction; returns its row id."""
        token = secrets.token_hex(16)
        session.add(
            CacheInvalidation(id=token, tags=list(tags), keys=list(keys), created_at=utcnow())
        )
        return token

    def delivered(self, token: str) -> None:
        """The row's invalidation reached Redis: delete it (batched, best effort)."""
        self._acks.add(token)
        if self._ack_task is None or self._ack_task.done():
            with contextlib.suppress(RuntimeError):
                loop = asyncio.get_running_loop()
                self._ack_task = loop.create_task(
                    self._delete_acked(self.ack_delay), context=contextvars.Context()
                )

    async def _delete_acked(self, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        tokens = list(self._acks)
        self._acks.clear()
        if tokens:
            try:
                await self.forget(tokens)
            except Exception as exc:  # the rows stay: replayed (harmlessly) later
                logger.warning("deleting delivered cache invalidations failed: %s", exc)

    async def pending(self, older_than: float | None = None) -> Pending:
        """Rows not known to be delivered (only those older than ``older_than`` s if given)."""
        statement = select(CacheInvalidation).order_by(CacheInvalidation.created_at).limit(BATCH)
        if older_than is not None:
            cutoff = utcnow() - timedelta(seconds=older_than)
            statement = statement.where(CacheInvalidation.created_at < cutoff)
        async with self.db.session() as session:
            rows = list((await session.execute(statement)).scalars())
        tags = sorted({str(tag) for row in rows for tag in row.tags or ()})
        keys = sorted({str(key) for row in rows for key in row.keys or ()})
        return [row.id for row in rows], tags, keys

    async def forget(self, ids: Iterable[str]) -> None:
        """Delete delivered outbox rows (their invalidations reached Redis)."""
        doomed = list(ids)
        if not doomed:
            return

        async def work(session: AsyncSession) -> None:
            await session.execute(delete(CacheInvalidation).where(CacheInvalidation.id.in_(doomed)))

        await self.db.transaction(work)

    async def close(self) -> None:
        """Stop the checks, then delete the rows already acknowledged."""
        for task in (self._check, self._orphans):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._ack_task is not None and not self._ack_task.done():
            self._ack_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._ack_task
        await self._delete_acked(0)
