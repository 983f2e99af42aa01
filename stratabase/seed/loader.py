"""Bulk loading at the speed of the database.

PostgreSQL: one ``COPY`` per table (asyncpg ``copy_records_to_table``, binary), fed by the
generator as it produces rows, so Python encodes while the server writes; timestamps travel
as PostgreSQL's own integers. Into empty tables the secondary indexes, unique constraints,
composite primary keys and foreign keys of the big tables are dropped first and rebuilt
after: one sort per index beats millions of row-by-row index updates and trigger checks.
Foreign keys come back ``NOT VALID`` (so they guard every later write at once) and
:func:`validate_foreign_keys` checks the loaded rows after the commit, two tables at a time,
without blocking readers or writers.
Sequences are moved past the explicit ids. ``stepped.py`` is the variant for big seeds into
an empty PostgreSQL database. SQLite: ``executemany`` in large batches, in one transaction.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Dialect, Index, Table
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.schema import AddConstraint, CreateIndex, ForeignKeyConstraint, UniqueConstraint

from stratabase.db.base import metadata
from stratabase.db.dialect_only import declared_on
from stratabase.seed.context import POSTGRES_EPOCH, TableData
from stratabase.seed.progress import Reporter

#: Rows per ``executemany`` on SQLite and per progress update everywhere.
BATCH = 20_000
#: Tables big enough that rebuilding their indexes and keys after the load pays off.
REBUILD_MIN_ROWS = 5_000
#: SQLite page cache during a load (KiB): big enough to keep the indexes being built hot.
SQLITE_CACHE_KIB = 256 * 1024
#: Bulk sessions: no statement timeout, memory for sorts and joins, asynchronous commit
#: (seed data can be regenerated: a crash right after commit may lose it, never corrupt it).
SESSION_SETTINGS = (
    "statement_timeout = 0",
    "synchronous_commit = off",
    "maintenance_work_mem = '512MB'",
    "work_mem = '256MB'",
)


def _with_progress(
    rows: Iterable[tuple[Any, ...]], reporter: Reporter
) -> Iterator[tuple[Any, ...]]:
    count = 0
    for row in rows:
        yield row
        count += 1
        if count == BATCH:
            reporter.advance(count)
            count = 0
    reporter.advance(count)


@dataclass
class Loaded:
    """Rows loaded per table, and the foreign keys still to validate (PostgreSQL)."""

    tables: dict[str, int]
    unvalidated: list[tuple[str, str]] = field(default_factory=list)


async def load(
    conn: AsyncConnection, tables: Iterable[TableData], reporter: Reporter, *, fresh: bool
) -> Loaded:
    """Load every table in order, inside the caller's transaction."""
    if conn.dialect.name == "postgresql":
        return await _load_postgres(conn, tables, reporter, fresh=fresh)
    return Loaded(await _load_sqlite(conn, tables, reporter, fresh=fresh))


async def driver_connection(conn: AsyncConnection) -> Any:
    """The driver's own connection (asyncpg, aiosqlite) under SQLAlchemy's, for bulk loading."""
    return (await conn.get_raw_connection()).driver_connection


_MICROSECOND = timedelta(microseconds=1)


def _integer_timestamp(value: Any) -> tuple[int]:
    """``timestamptz`` in the driver's tuple format: microseconds since 2000-01-01 UTC."""
    if value.__class__ is int:
        return (value,)
    return ((value - POSTGRES_EPOCH) // _MICROSECOND,)


def _tuple_timestamp(value: tuple[int]) -> datetime:
    return POSTGRES_EPOCH + value[0] * _MICROSECOND


async def copy_table(raw: Any, data: TableData, reporter: Reporter) -> None:
    """COPY one table; timestamps go as the integers :class:`PostgresClock` makes.

    The codec lives only for the COPY: statements prepared meanwhile would keep it, so
    nothing else runs on the connection until it is reset.
    """
    await raw.set_type_codec(
        "timestamptz",
        schema="pg_catalog",
        encoder=_integer_timestamp,
        decoder=_tuple_timestamp,
        format="tuple",
    )
    try:
        await raw.copy_records_to_table(
            data.table, records=_with_progress(data.rows, reporter), columns=list(data.columns)
        )
    finally:
        await raw.reset_type_codec("timestamptz", schema="pg_catalog")


async def _load_sqlite(
    conn: AsyncConnection, tables: Iterable[TableData], reporter: Reporter, *, fresh: bool
) -> dict[str, int]:
    """Batched inserts; big empty tables get their indexes (not their keys) after the load."""
    raw = await driver_connection(conn)
    await raw.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
    loaded: dict[str, int] = {}
    rebuild: list[Table] = []
    for data in tables:
        table = metadata.tables[data.table]
        if fresh and data.count >= REBUILD_MIN_ROWS:
            for index in _indexes(table, "sqlite"):
                await conn.exec_driver_sql(f'DROP INDEX "{index.name}"')
            rebuild.append(table)
        reporter.start(data.table, data.count)
        columns = ", ".join(f'"{c}"' for c in data.columns)
        marks = ", ".join("?" for _ in data.columns)
        sql = f'INSERT INTO "{data.table}" ({columns}) VALUES ({marks})'
        rows = iter(data.rows)
        total = 0
        while batch := list(itertools.islice(rows, BATCH)):
            await raw.executemany(sql, batch)
            total += len(batch)
            reporter.advance(len(batch))
        loaded[data.table] = total
    if rebuild:
        reporter.start("indexes", len(rebuild), unit="tables")
    for table in rebuild:
        for index in _indexes(table, "sqlite"):
            await conn.execute(CreateIndex(index))
        reporter.advance(1)
    await raw.execute("PRAGMA cache_size = -2000")  # back to SQLite's default
    return loaded


async def _load_postgres(
    conn: AsyncConnection, tables: Iterable[TableData], reporter: Reporter, *, fresh: bool
) -> Loaded:
    for setting in SESSION_SETTINGS:
        await conn.exec_driver_sql(f"SET LOCAL {setting}")
    raw = await driver_connection(conn)
    loaded = Loaded({})
    rebuild: list[Table] = []
    for data in tables:
        table = metadata.tables[data.table]
        if fresh and data.count >= REBUILD_MIN_ROWS:
            await drop_secondary(conn, table)
            rebuild.append(table)
        reporter.start(data.table, data.count)
        await copy_table(raw, data, reporter)
        loaded.tables[data.table] = data.count
    if rebuild:
        reporter.start("indexes and keys", len(rebuild), unit="tables")
    for table in rebuild:
        loaded.unvalidated += await _create_secondary(conn, table)
        reporter.advance(1)
    reporter.finish()
    await reset_sequences(conn, loaded.tables)
    return loaded


def _indexes(table: Table, dialect: str) -> list[Index]:
    """The indexes the database of ``dialect`` holds for ``table``."""
    held = (index for index in table.indexes if declared_on(index, dialect))
    return sorted(held, key=lambda index: str(index.name))


def _constraints(table: Table, dialect: str) -> list[ForeignKeyConstraint | UniqueConstraint]:
    """Foreign keys and unique constraints (not the primary key, not CHECKs) it holds."""
    return sorted(
        (
            c
            for c in table.constraints
            if isinstance(c, ForeignKeyConstraint | UniqueConstraint) and declared_on(c, dialect)
        ),
        key=lambda c: str(c.name),
    )


def _composite_key(table: Table) -> bool:
    """Composite primary keys arrive in random order; serial ids arrive sorted (cheap)."""
    return len(table.primary_key.columns) > 1


async def drop_secondary(conn: AsyncConnection, table: Table) -> None:
    """Drop the indexes, unique constraints and foreign keys of ``table`` (it is empty)."""
    dialect = conn.dialect.name
    for constraint in _constraints(table, dialect):
        await conn.exec_driver_sql(
            f'ALTER TABLE "{table.name}" DROP CONSTRAINT "{constraint.name}"'
        )
    for index in _indexes(table, dialect):
        await conn.exec_driver_sql(f'DROP INDEX "{index.name}"')
    if _composite_key(table):
        await conn.exec_driver_sql(
            f'ALTER TABLE "{table.name}" DROP CONSTRAINT "{table.primary_key.name}"'
        )


@dataclass
class Rebuild:
    """What :func:`drop_secondary` took from a table, as the DDL that puts it back.

    ``first`` runs alone, in order (keys that lock the table whole, foreign keys added
    ``NOT VALID``); then the ``indexes`` and the ``validations`` are independent of one
    another: index builds share their table's lock, and a validation blocks no index build.
    """

    first: list[str]
    indexes: list[str]
    foreign_keys: list[tuple[str, str]]

    @property
    def validations(self) -> list[str]:
        """``VALIDATE CONSTRAINT`` for each foreign key added ``NOT VALID``."""
        return [validate_sql(table, name) for table, name in self.foreign_keys]


def validate_sql(table: str, constraint: str) -> str:
    """The statement that checks a ``NOT VALID`` constraint's existing rows."""
    return f'ALTER TABLE "{table}" VALIDATE CONSTRAINT "{constraint}"'


def rebuild_plan(table: Table, dialect: Dialect) -> Rebuild:
    """Exactly what the models declare for ``table``, beyond its serial primary key."""
    plan = Rebuild([], [], [])
    if _composite_key(table):
        plan.first.append(str(AddConstraint(table.primary_key).compile(dialect=dialect)))
    for constraint in _constraints(table, dialect.name):
        ddl = str(AddConstraint(constraint).compile(dialect=dialect))
        if isinstance(constraint, ForeignKeyConstraint):
            plan.first.append(f"{ddl} NOT VALID")
            plan.foreign_keys.append((table.name, str(constraint.name)))
        else:
            plan.first.append(ddl)
    plan.indexes = [
        str(CreateIndex(index).compile(dialect=dialect)) for index in _indexes(table, dialect.name)
    ]
    return plan


async def _create_secondary(conn: AsyncConnection, table: Table) -> list[tuple[str, str]]:
    """Put back what the models declare; returns the foreign keys still to validate."""
    plan = rebuild_plan(table, conn.dialect)
    for ddl in plan.first + plan.indexes:
        await conn.exec_driver_sql(ddl)
    return plan.foreign_keys


async def validate_foreign_keys(
    engine: AsyncEngine, keys: list[tuple[str, str]], *, workers: int = 2
) -> None:
    """``VALIDATE CONSTRAINT`` each key, ``workers`` at a time, after the load committed."""
    queue = list(keys)

    async def worker() -> None:
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql("SET statement_timeout = 0")
            await conn.exec_driver_sql("SET work_mem = '256MB'")
            while queue:
                table, name = queue.pop(0)
                await conn.exec_driver_sql(validate_sql(table, name))

    await asyncio.gather(*(worker() for _ in range(min(workers, len(keys)))))


async def reset_sequences(conn: AsyncConnection, tables: Iterable[str]) -> None:
    """Move each id sequence past the largest explicit id (PostgreSQL only)."""
    if conn.dialect.name != "postgresql":
        return
    for name in tables:
        table = metadata.tables[name]
        if "id" not in table.c or not table.c.id.autoincrement:
            continue
        await conn.exec_driver_sql(
            f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
            f'coalesce((SELECT max(id) FROM "{name}"), 0) + 1, false)'
        )
