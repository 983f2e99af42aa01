"""Session scopes owned by services: reads, one-shot transactions, retried transactions.

``Database.transaction(work)`` is the Python form of the seeds' ``withTransaction``: it runs
``work(session)`` in a transaction, commits, rolls back on error, retries the whole unit on
serialization failure, deadlock or SQLITE_BUSY (bounded, with jittered backoff), translates
integrity errors into domain errors, and runs the *after-commit* hooks registered with
:func:`after_commit` only once the commit has succeeded.

A connection lost mid-statement (server restarted, backend terminated, network reset) is
:class:`DatabaseUnavailable` (HTTP 503), never a raw driver error, in every scope. An
idempotent unit (``write=False``, or ``idempotent=True``) is run once more on a fresh
connection first: SQLAlchemy has then invalidated the pool, so the retry does not pick
another connection that died with the same server. A write in flight is not retried: its
outcome is the caller's to decide.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.db.engine import Engines
from stratabase.db.errors import is_retryable
from stratabase.exceptions import DatabaseUnavailable, StratabaseError
from stratabase.settings import Settings

logger = logging.getLogger("stratabase.db")

T = TypeVar("T")
AfterCommitHook = Callable[[], Awaitable[None] | None]

_AFTER_COMMIT = "stratabase_after_commit"
_DATABASE = "stratabase_database"
_in_sqlite_write: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "stratabase_in_sqlite_write", default=False
)

#: Backoff between retried attempts: base * 2**attempt, capped, with full jitter.
RETRY_BASE_SECONDS = 0.005
RETRY_CAP_SECONDS = 0.25


class Wakeups:
    """Events to set after a commit that made work for someone in this process (the job
    workers on this database). Owned by the ``Database``, so there is no process registry."""

    def __init__(self) -> None:
        self._events: set[asyncio.Event] = set()

    def subscribe(self, event: asyncio.Event) -> None:
        """Be woken when a transaction of this database enqueues jobs."""
        self._events.add(event)

    def unsubscribe(self, event: asyncio.Event) -> None:
        """Stop being woken."""
        self._events.discard(event)

    def wake(self) -> None:
        """Wake every subscriber (after a commit that enqueued jobs)."""
        for event in list(self._events):
            event.set()


def database_of(session: AsyncSession) -> Database | None:
    """The ``Database`` that opened ``session`` (None for a session made elsewhere)."""
    found = session.info.get(_DATABASE)
    return found if isinstance(found, Database) else None


def after_commit(session: AsyncSession, hook: AfterCommitHook) -> None:
    """Run ``hook`` after this session's transaction commits; never if it rolls back."""
    session.info.setdefault(_AFTER_COMMIT, []).append(hook)


async def _run_hooks(hooks: list[AfterCommitHook]) -> None:
    for hook in hooks:
        try:
            outcome = hook()
            if inspect.isawaitable(outcome):
                await outcome
        except Exception:  # the data is committed: a hook's failure must not undo that
            logger.exception("after-commit hook %r failed", hook)


class ConnectionLost(DatabaseUnavailable):
    """The connection to the database was lost during the transaction."""


def _lost(exc: BaseException) -> ConnectionLost:
    return ConnectionLost(f"lost the database connection: {type(_driver(exc)).__name__}")


def _driver(exc: BaseException) -> BaseException:
    return getattr(exc, "orig", None) or exc


def is_disconnect(exc: BaseException) -> bool:
    """True when ``exc`` means the connection is gone (not that a statement was refused)."""
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        orig = exc.orig
        candidates = [orig, orig.__cause__ if orig is not None else None]
    else:
        candidates = [exc]  # raised by code that talks to the driver's connection directly
    for candidate in candidates:
        if candidate is None:
            continue
        if isinstance(exc, DBAPIError) and isinstance(candidate, ConnectionError):
            return True  # reset, refused, broken pipe under the driver
        if not type(candidate).__module__.startswith("asyncpg"):
            continue
        name = type(candidate).__name__
        if name in _DISCONNECT_ERRORS:
            return True
        if name == "InterfaceError" and "connection is closed" in str(candidate):
            return True
    return False


#: asyncpg's errors for a connection that is gone (by name: asyncpg is optional on SQLite).
_DISCONNECT_ERRORS = frozenset(
    {
        "ConnectionDoesNotExistError",  # closed in the middle of an operation
        "ConnectionFailureError",  # SQLSTATE class 08
        "AdminShutdownError",  # 57P01: terminated by an administrator or a shutdown
        "CrashShutdownError",  # 57P02
        "CannotConnectNowError",  # 57P03: starting up or shutting down
    }
)


class Database:
    """What services receive: the backend, session scopes and the query monitor."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engines = Engines(settings)
        self.backend = self.engines.backend
        self.monitor = self.engines.monitor
        self.translator = self.engines.translator
        #: Who to wake in this process after a commit that enqueued jobs (see jobs/notify.py).
        self.wakeups = Wakeups()
        #: Who to wake in this process after a commit that wrote change events (changes/).
        self.change_wakeups = Wakeups()

    @property
    def engine(self):  # type: ignore[no-untyped-def]
        """The SQLAlchemy engine, for tools that need one directly."""
        return self.engines.engine

    async def dispose(self) -> None:
        """Close the pools; the Database can be used again afterwards."""
        await self.engines.dispose()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A read session; anything left uncommitted is rolled back at the end."""
        async with self.engines.read_sessions() as session:
            await self._connect(session)
            try:
                yield session
            except IntegrityError as exc:
                raise self.translator.translate(exc) from exc
            except Exception as exc:
                if is_disconnect(exc):
                    raise _lost(exc) from exc
                raise

    @asynccontextmanager
    async def begin(self, *, write: bool = True) -> AsyncIterator[AsyncSession]:
        """One transaction attempt: commit on success, roll back on error, then hooks."""
        lock = self.engines.write_lock if write else None
        if lock is not None and _in_sqlite_write.get():
            raise RuntimeError("nested write transaction: pass the open session down instead")
        if lock is not None:
            await self._acquire(lock)
        token = _in_sqlite_write.set(True) if lock is not None else None
        hooks: list[AfterCommitHook] = []
        try:
            factory = self.engines.write_sessions if write else self.engines.read_sessions
            async with factory() as session:
                try:
                    async with session.begin():
                        await self._connect(session)
                        yield session
                except IntegrityError as exc:
                    raise self.translator.translate(exc) from exc
                except Exception as exc:
                    if is_disconnect(exc):
                        raise _lost(exc) from exc
                    raise
                hooks = session.info.pop(_AFTER_COMMIT, [])
        finally:
            if token is not None:
                _in_sqlite_write.reset(token)
            if lock is not None:
                lock.release()
        await _run_hooks(hooks)

    async def transaction(
        self,
        work: Callable[[AsyncSession], Awaitable[T]],
        *,
        write: bool = True,
        retries: int | None = None,
        idempotent: bool | None = None,
    ) -> T:
        """Run ``work`` in a transaction, retrying the whole unit on transient conflicts.

        ``idempotent`` (default: ``not write``) says running ``work`` twice is harmless, so
        a unit whose connection was lost is run once more on a fresh one.
        """
        attempts = (self.settings.transaction_retries if retries is None else retries) + 1
        reconnect = (not write) if idempotent is None else idempotent
        attempt = 0
        while True:
            try:
                async with self.begin(write=write) as session:
                    result = await work(session)
                return result
            except ConnectionLost:
                if not reconnect:
                    raise
                reconnect = False  # once: a second loss means the server is going away
                logger.warning("database connection lost; running the read again")
            except StratabaseError:
                raise
            except DBAPIError as exc:
                if not is_retryable(exc):
                    raise
                if attempt + 1 == attempts:
                    raise DatabaseUnavailable(
                        f"transaction gave up after {attempts} attempts: {type(exc.orig).__name__}"
                    ) from exc
                delay = min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2**attempt)
                attempt += 1
                await asyncio.sleep(random.uniform(0, delay))

    async def _connect(self, session: AsyncSession) -> None:
        """Check out the connection now, counting waiters, so pool pressure is visible."""
        session.info[_DATABASE] = self
        self.engines.waiting += 1
        try:
            await session.connection()
        except PoolTimeout as exc:
            raise DatabaseUnavailable("timed out waiting for a database connection") from exc
        except (OSError, DBAPIError) as exc:
            raise DatabaseUnavailable(f"cannot reach the database: {exc}") from exc
        finally:
            self.engines.waiting -= 1

    async def _acquire(self, lock: asyncio.Lock) -> None:
        self.engines.waiting += 1
        try:
            async with asyncio.timeout(self.settings.pool_acquire_timeout):
                await lock.acquire()
        except TimeoutError as exc:
            raise DatabaseUnavailable("timed out waiting for the SQLite writer lock") from exc
        finally:
            self.engines.waiting -= 1
