"""The async engine for either backend, configured the way each needs.

SQLite (embedded): WAL, foreign keys on, ``synchronous=FULL``, a busy timeout, and write
transactions opened with ``BEGIN IMMEDIATE`` behind one in-process writer lock, so
concurrent writers in a process queue instead of failing with "database is locked".
PostgreSQL: a bounded pool with an acquire timeout and a server-side statement timeout.
A pooled connection whose socket the server has closed (restart, terminated backend) is
replaced at checkout, for free: the driver already knows it is closed, so no ping is sent.
We do not use ``pool_pre_ping``: it costs a round trip per transaction. A connection that
dies unnoticed fails its first statement; SQLAlchemy then invalidates the whole pool and
``Database.transaction`` runs a read again (see ``db/session.py``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as _AsyncSession

from stratabase.db import faults
from stratabase.db.base import metadata
from stratabase.db.errors import ErrorTranslator
from stratabase.db.monitor import QueryMonitor
from stratabase.exceptions import DatabaseReadOnly, DatabaseUnavailable
from stratabase.settings import Backend, Settings

logger = logging.getLogger("stratabase.db")

#: Execution option read by the SQLite ``begin`` hook: DEFERRED (reads) or IMMEDIATE (writes).
BEGIN_MODE = "stratabase_begin"
SQLITE_BUSY_TIMEOUT_MS = 5_000


def _sqlite_engine(settings: Settings) -> AsyncEngine:
    engine = create_async_engine(
        settings.async_database_url,
        pool_size=settings.pool_max_size,
        max_overflow=0,
        pool_timeout=settings.pool_acquire_timeout,
        pool_recycle=settings.pool_idle_timeout,
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (the driver's implicit BEGIN is always DEFERRED).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA foreign_keys=ON",
            # FULL, not NORMAL: in WAL mode NORMAL acknowledges a commit before it is on
            # disk, so a power cut can lose it — and ledger, payment and account writes
            # were acknowledged to someone. Measured cost: README, "Durability".
            "PRAGMA synchronous=FULL",
            f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
        ):
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Any) -> None:
        mode = connection.get_execution_options().get(BEGIN_MODE, "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _postgres_engine(settings: Settings) -> AsyncEngine:
    server_settings = {"application_name": "stratabase"}
    if settings.statement_timeout_ms:
        server_settings["statement_timeout"] = str(settings.statement_timeout_ms)
    engine = create_async_engine(
        settings.async_database_url,
        pool_size=settings.pool_max_size,
        max_overflow=0,
        pool_timeout=settings.pool_acquire_timeout,
        pool_recycle=settings.pool_idle_timeout,
        pool_pre_ping=False,
        connect_args={
            "server_settings": server_settings,
            "timeout": settings.pool_acquire_timeout,
        },
    )

    @event.listens_for(engine.sync_engine, "checkout")
    def _discard_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        # The pool then opens a fresh connection in its place (a local check, no ping).
        driver = getattr(dbapi_connection, "driver_connection", None)
        if driver is not None and driver.is_closed():
            raise DisconnectionError("the server closed this pooled connection")

    return engine


def _translate_faults(engine: AsyncEngine, settings: Settings) -> None:
    """Connect failures and read-only databases become one-line domain errors (faults.py)."""

    @event.listens_for(engine.sync_engine, "do_connect")
    def _connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        if settings.backend == "sqlite" and (problem := faults.sqlite_open_problem(settings)):
            raise DatabaseUnavailable(
                f"cannot open the SQLite database {faults.describe(settings)}: {problem}"
            )
        try:
            return dialect.connect(*cargs, **cparams)
        except Exception as exc:
            raise faults.connect_failure(exc, settings) from exc

    @event.listens_for(engine.sync_engine, "handle_error")
    def _fault(context: Any) -> None:
        fault = faults.database_fault(context.original_exception, settings)
        if fault is not None:
            raise fault from context.original_exception


class Engines:
    """The engine, its session factories, monitor and error translator: built once per app."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.backend: Backend = settings.backend
        self.engine = (
            _sqlite_engine(settings) if self.backend == "sqlite" else _postgres_engine(settings)
        )
        _translate_faults(self.engine, settings)
        self.monitor = QueryMonitor(
            slow_ms=settings.slow_query_ms,
            warn_ms=settings.warn_query_ms,
            log_parameters=settings.log_level == "DEBUG",
        )
        self.monitor.attach(self.engine.sync_engine)
        self.translator = ErrorTranslator(metadata)
        self.translator.attach(self.engine.sync_engine)
        self.read_sessions = async_sessionmaker(
            self.engine, class_=_AsyncSession, expire_on_commit=False, autoflush=False
        )
        write_engine = (
            self.engine.execution_options(**{BEGIN_MODE: "IMMEDIATE"})
            if self.backend == "sqlite"
            else self.engine
        )
        self.write_sessions = async_sessionmaker(
            write_engine, class_=_AsyncSession, expire_on_commit=False, autoflush=False
        )
        #: Serialises this process's SQLite writers; other processes wait on busy_timeout.
        self.write_lock: asyncio.Lock | None = asyncio.Lock() if self.backend == "sqlite" else None
        #: Tasks currently waiting for a pooled connection (or the SQLite writer lock).
        self.waiting = 0

    async def warm(self) -> None:
        """Open ``pool_min_size`` connections now, so the first requests don't pay for them."""
        target = min(self.settings.pool_min_size, self.settings.pool_max_size)
        connections = [await self.engine.connect() for _ in range(target)]
        for connection in connections:
            await connection.close()

    async def check_writable(self) -> None:
        """Raise DatabaseReadOnly now, at start, rather than on the first request that writes.

        A real write rolled back, not ``os.access``: root ignores file modes, while a
        read-only mount or a standby server refuses everyone.
        """
        async with self.engine.connect() as conn:
            if self.backend == "sqlite":
                await conn.exec_driver_sql("CREATE TABLE _stratabase_write_probe (x INTEGER)")
            else:
                read_only = await conn.exec_driver_sql("SHOW transaction_read_only")
                if read_only.scalar_one() == "on":
                    raise DatabaseReadOnly(
                        f"the database {faults.describe(self.settings)} is read-only "
                        "(a standby, or default_transaction_read_only is on)"
                    )
            await conn.rollback()

    async def dispose(self) -> None:
        """Close every pooled connection; the pool opens new ones on next use."""
        await self.engine.dispose()

    def pool_stats(self) -> dict[str, int]:
        """Pool size, connections checked out, idle and callers waiting, for health."""
        pool: Any = self.engine.pool
        size = int(pool.size()) if hasattr(pool, "size") else 1
        checked_out = int(pool.checkedout()) if hasattr(pool, "checkedout") else 0
        idle = int(pool.checkedin()) if hasattr(pool, "checkedin") else 0
        return {
            "size": size,
            "checked_out": checked_out,
            "idle": idle,
            "waiting": self.waiting,
        }
