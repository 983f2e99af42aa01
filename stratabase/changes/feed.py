"""The change feed of one process: one relay reading the outbox, many subscriptions.

The relay is the only thing that polls the database: it reads ``id > last`` after each
wake-up (this process committed events; ``pg_notify`` says another process did; or the
poll interval passed, which covers a lost notification) and hands each new event to the
subscriptions, which filter it by topic and principal into a bounded queue. A thousand
subscribers cost one query per batch of events, not a thousand.

A subscription that resumes (``after``) is registered with the relay first, at the relay's
position ``L``; the events ``after < id <= L`` are then replayed from the table and the live
ones (all ``> L``) follow. The two ranges are disjoint and adjacent, so there is no gap and
no duplicate at the seam; ids are in commit order (``outbox.py``), so the replay cannot miss
a late commit. A resume point the retention pruned gets one ``Resync`` and continues from
now; a subscription whose queue fills (a client slower than the writes) gets ``Resync`` and
ends rather than growing memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

from stratabase.changes import outbox
from stratabase.changes.outbox import Change
from stratabase.changes.topics import Topics
from stratabase.db.session import Database
from stratabase.settings import Settings

__all__ = ["ChangeFeed", "ChangePage", "Resync", "Subscription"]

logger = logging.getLogger("stratabase.changes")

#: Events read by one relay query, and by one replay query.
BATCH = 500


@dataclass(frozen=True, slots=True)
class Resync:
    """The client must refetch its state: its resume point is gone (``retention``) or it
    could not keep up (``overflow``). ``after`` is where the stream goes on from."""

    reason: Literal["retention", "overflow"]
    after: int


Item = Change | Resync


class Subscription:
    """Events for one client, in id order: the replay first, then live ones."""

    def __init__(self, feed: ChangeFeed, topics: Topics, after: int | None, size: int) -> None:
        self.topics = topics
        self._feed = feed
        self._after = after
        #: None in the queue: the feed stopped (the process is shutting down).
        self._queue: asyncio.Queue[Change | None] = asyncio.Queue(maxsize=size + 1)
        self._size = size
        self._overflowed = False
        self._pending: list[Item] = []
        #: Every event up to here was delivered or does not concern this subscription.
        self.position = 0
        self._replay_from = 0
        self._replay_through = 0
        self.done = False

    # --- relay side ---------------------------------------------------------------------

    def _offer(self, change: Change) -> None:
        if self._overflowed or self.done:
            return
        if not self.topics.admits(change):
            if (
                self._queue.empty()
                and not self._pending
                and self._replay_from >= self._replay_through
            ):
                self.position = max(self.position, change.id)
            return
        if self._queue.qsize() >= self._size:
            self._overflowed = True
            return
        self._queue.put_nowait(change)

    def _close(self) -> None:
        self.done = True
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)

    @property
    def overflowed(self) -> bool:
        """The client fell ``queue_size`` events behind: it gets ``Resync`` and ends."""
        return self._overflowed

    # --- client side --------------------------------------------------------------------

    async def _start(self, relay_position: int) -> None:
        after = self._after
        if after is None:
            self.position = relay_position
            return
        async with self._feed.db.session() as session:
            pruned = await outbox.pruned_through(session)
            newest = await outbox.head(session) if after > relay_position else relay_position
        if after < pruned or after > newest:
            self._pending.append(Resync("retention", relay_position))
            self.position = relay_position
            return
        self.position = after
        self._replay_from, self._replay_through = after, relay_position

    async def _replay_page(self) -> None:
        async with self._feed.db.session() as session:
            rows = await outbox.read_after(
                session, self._replay_from, BATCH, through=self._replay_through
            )
        if len(rows) < BATCH:
            self._replay_from = self._replay_through
        elif rows:
            self._replay_from = rows[-1].id
        self._pending.extend(row for row in rows if self.topics.admits(row))
        if not self._pending:
            self.position = max(self.position, self._replay_from)

    async def next(self, timeout: float | None = None) -> Item | None:
        """The next event or ``Resync``; None if nothing came within ``timeout`` seconds."""
        while not self._pending and self._replay_from < self._replay_through:
            await self._replay_page()
        if self._pending:
            return self._deliver(self._pending.pop(0))
        if self._overflowed and self._queue.empty():
            self.done = True
            return Resync("overflow", self.position)
        if self.done:
            return None
        try:
            if (
                self._overflowed
                or not self._queue.empty()
                or (timeout is not None and timeout <= 0)
            ):
                change = self._queue.get_nowait()  # no timer to arm for what is there already
            else:
                async with asyncio.timeout(timeout):
                    change = await self._queue.get()
        except (TimeoutError, asyncio.QueueEmpty):
            return None
        if change is None:
            return None
        return self._deliver(change)

    def _deliver(self, item: Item) -> Item | None:
        if isinstance(item, Change):
            if item.id <= self.position:
                return None  # already covered by the replay (a client ahead of this relay)
            self.position = item.id
        return item

    def __aiter__(self) -> AsyncIterator[Item]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Item]:
        while not self.done:
            item = await self.next()
            if item is not None:
                yield item
            if isinstance(item, Resync) and item.reason == "overflow":
                return


@dataclass
class ChangePage:
    """One long-poll answer: events in id order and the cursor to ask from next."""

    events: list[Change]
    next_after: int
    resync: Resync | None = None


class ChangeFeed:
    """This process's relay and subscriptions; built and closed by ``Stratabase``."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.position = 0
        self._subscriptions: set[Subscription] = set()
        self._wake = asyncio.Event()
        self._advanced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener: object | None = None
        self._started = asyncio.Lock()
        #: Relay queries run so far (tests check it is one per batch, not per subscriber).
        self.polls = 0

    @property
    def subscribers(self) -> int:
        """How many subscriptions are open in this process (health, metrics, the benchmark)."""
        return len(self._subscriptions)

    async def start(self) -> None:
        """Start the relay (idempotent): from the newest committed event."""
        async with self._started:
            if self._task is not None:
                return
            async with self.db.session() as session:
                self.position = await outbox.head(session)
            self.db.change_wakeups.subscribe(self._wake)
            if self.db.backend == "postgres":
                from stratabase.changes.listener import ChangeListener

                listener = ChangeListener(self.settings.database_url, self._wake)
                await listener.start()
                self._listener = listener
            self._task = asyncio.create_task(self._relay(), name="stratabase-changes-relay")

    async def stop(self) -> None:
        """Stop the relay and the listener; open subscriptions see the end of their stream."""
        self.db.change_wakeups.unsubscribe(self._wake)
        if self._listener is not None:
            from stratabase.changes.listener import ChangeListener

            assert isinstance(self._listener, ChangeListener)
            await self._listener.stop()
            self._listener = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for subscription in list(self._subscriptions):
            subscription._close()
        self._subscriptions.clear()

    def wake(self) -> None:
        """Read the table now (tests, and callers that know events were committed)."""
        self._wake.set()

    async def _relay(self) -> None:
        interval = self.settings.changes_poll_seconds
        failures = 0
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self._catch_up()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the next wake-up or poll tries again from `position`
                if not failures:
                    logger.warning("change relay cannot read the outbox: %s", type(exc).__name__)
                failures += 1
                await asyncio.sleep(min(5.0, interval * failures))

    async def _catch_up(self) -> None:
        while True:
            rows = await outbox.read_new(self.db, self.position, BATCH)
            self.polls += 1
            subscriptions = list(self._subscriptions)  # no await below: one snapshot
            for change in rows:
                self.position = change.id
                for subscription in subscriptions:
                    subscription._offer(change)
            if rows:
                self._advanced.set()
                self._advanced = asyncio.Event()
            if len(rows) < BATCH:
                return

    @contextlib.asynccontextmanager
    async def subscribe(
        self, topics: Topics, *, after: int | None = None
    ) -> AsyncIterator[Subscription]:
        """A subscription to ``topics`` (resuming after ``after``), closed on exit."""
        await self.start()
        subscription = Subscription(self, topics, after, self.settings.changes_queue_size)
        self._subscriptions.add(subscription)  # registered and positioned with no await between
        try:
            await subscription._start(self.position)
            yield subscription
        finally:
            subscription.done = True
            self._subscriptions.discard(subscription)

    async def page(
        self, topics: Topics, *, after: int | None, limit: int, wait: float = 0.0
    ) -> ChangePage:
        """Up to ``limit`` events after ``after``, waiting up to ``wait`` s for the first."""
        events: list[Change] = []
        async with self.subscribe(topics, after=after) as subscription:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + wait
            while len(events) < limit:
                remaining = 0.0 if events else deadline - loop.time()
                item = await subscription.next(timeout=remaining)
                if item is None:
                    if events or remaining <= 0:
                        break
                    continue
                if isinstance(item, Resync):
                    if events:
                        break
                    return ChangePage([], item.after, item)
                events.append(item)
            return ChangePage(events, subscription.position)
