"""Bulk loading at the speed of the database.

PostgreSQL: one ``COPY`` per table (asyncpg ``copy_records_to_table``, binary), fed by the
generator as it produces rows, so Python encodes while the server writes. Into empty
tables the secondary indexes, unique constraints, composite primary keys and foreign keys
of the big tables are dropped first and rebuilt after: one sort per index beats millions
of row-by-row index updates and trigger checks. Foreign keys come back ``NOT VALID`` (so
they guard every later write at once) and :func:`validate_foreign_keys` checks the loaded
rows after the commit, two tables at a time, without blocking readers or writers.
Sequences are moved past the explicit ids. :func:`load_in_steps` is the variant for big
seeds into an empty PostgreSQL database (table-by-table commits, indexes rebuilt on a second
connection meanwhile). SQLite: ``executemany`` in large batches, all in one transaction.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Index, Table
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.schema import AddConstraint, CreateIndex, ForeignKeyConstraint, UniqueConstraint

from stratabase.db.base import metadata
from stratabase.seed.context import TableData
from stratabase.seed.progress import Reporter

#: Rows per ``executemany`` on SQLite and per progress update everywhere.
BATCH = 20_000
#: Tables big enough that rebuilding their indexes and keys after the load pays off.
REBUILD_MIN_ROWS = 5_000
#: SQLite page cache during a load (KiB): big enough to keep the indexes being built hot.
SQLITE_CACHE_KIB = 256 * 1024
#: Bulk sessions: no statement timeout, memory for sorts and joins, asynchronous commit
#: (seed data can be regenerated: a crash right after commit may lose it, never corrupt it).
_SESSION_SETTINGS = (
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


async def _driver(conn: AsyncConnection) -> Any:
    return (await conn.get_raw_connection()).driver_connection


async def _load_sqlite(
    conn: AsyncConnection, tables: Iterable[TableData], reporter: Reporter, *, fresh: bool
) -> dict[str, int]:
    """Batched inserts; big empty tables get their indexes (not their keys) after the load."""
    raw = await _driver(conn)
    await raw.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
    loaded: dict[str, int] = {}
    rebuild: list[Table] = []
    for data in tables:
        table = metadata.tables[data.table]
        if fresh and data.count >= REBUILD_MIN_ROWS:
            for index in _indexes(table):
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
        reporter.start("indexes", len(rebuild))
    for table in rebuild:
        for index in _indexes(table):
            await conn.execute(CreateIndex(index))
        reporter.advance(1)
    await raw.execute("PRAGMA cache_size = -2000")  # back to SQLite's default
    return loaded


async def _load_postgres(
    conn: AsyncConnection, tables: Iterable[TableData], reporter: Reporter, *, fresh: bool
) -> Loaded:
    for setting in _SESSION_SETTINGS:
        await conn.exec_driver_sql(f"SET LOCAL {setting}")
    raw = await _driver(conn)
    loaded = Loaded({})
    rebuild: list[Table] = []
    for data in tables:
        table = metadata.tables[data.table]
        if fresh and data.count >= REBUILD_MIN_ROWS:
            await _drop_secondary(conn, table)
            rebuild.append(table)
        reporter.start(data.table, data.count)
        await raw.copy_records_to_table(
            data.table, records=_with_progress(data.rows, reporter), columns=list(data.columns)
        )
        loaded.tables[data.table] = data.count
    if rebuild:
        reporter.start("indexes and keys", len(rebuild))
    for table in rebuild:
        loaded.unvalidated += await _create_secondary(conn, table)
        reporter.advance(1)
    reporter.finish()
    await reset_sequences(conn, loaded.tables)
    return loaded


def _indexes(table: Table) -> list[Index]:
    return sorted(table.indexes, key=lambda index: str(index.name))


def _constraints(table: Table) -> list[ForeignKeyConstraint | UniqueConstraint]:
    """Foreign keys and unique constraints (not the primary key, not CHECKs)."""
    return sorted(
        (c for c in table.constraints if isinstance(c, ForeignKeyConstraint | UniqueConstraint)),
        key=lambda c: str(c.name),
    )


def _composite_key(table: Table) -> bool:
    """Composite primary keys arrive in random order; serial ids arrive sorted (cheap)."""
    return len(table.primary_key.columns) > 1


async def _drop_secondary(conn: AsyncConnection, table: Table) -> None:
    """Drop the indexes, unique constraints and foreign keys of ``table`` (it is empty)."""
    for constraint in _constraints(table):
        await conn.exec_driver_sql(
            f'ALTER TABLE "{table.name}" DROP CONSTRAINT "{constraint.name}"'
        )
    for index in _indexes(table):
        await conn.exec_driver_sql(f'DROP INDEX "{index.name}"')
    if _composite_key(table):
        await conn.exec_driver_sql(
            f'ALTER TABLE "{table.name}" DROP CONSTRAINT "{table.primary_key.name}"'
        )


async def _create_secondary(conn: AsyncConnection, table: Table) -> list[tuple[str, str]]:
    """Recreate exactly what the models declare; returns the foreign keys to validate."""
    if _composite_key(table):
        await conn.execute(AddConstraint(table.primary_key))
    for index in _indexes(table):
        await conn.execute(CreateIndex(index))
    unvalidated = []
    for constraint in _constraints(table):
        ddl = str(AddConstraint(constraint).compile(dialect=conn.dialect))
        if isinstance(constraint, ForeignKeyConstraint):
            await conn.exec_driver_sql(f"{ddl} NOT VALID")
            unvalidated.append((table.name, str(constraint.name)))
        else:
            await conn.exec_driver_sql(ddl)
    return unvalidated


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
                await conn.exec_driver_sql(f'ALTER TABLE "{table}" VALIDATE CONSTRAINT "{name}"')

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


async def load_in_steps(
    engine: AsyncEngine, tables: Iterable[TableData], reporter: Reporter, names: Iterable[str]
) -> dict[str, int]:
    """A big load into empty PostgreSQL tables, overlapped across two connections.

    Every table in ``names`` loses its secondary indexes, unique constraints and foreign keys up
    front; then each table is copied and committed on its own, and a second connection
    rebuilds and validates what that table declares while the next one loads. Nothing here
    can be rolled back as a whole: the caller keeps a seed-in-progress mark committed until
    this returns, so an interruption is reported (and ``reset`` suggested), never hidden.
    """
    names = list(names)
    loaded: dict[str, int] = {}
    ready: asyncio.Queue[Table | None] = asyncio.Queue()

    async def rebuild() -> None:
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            for setting in _SESSION_SETTINGS:
                await conn.exec_driver_sql(f"SET {setting}")
            while (table := await ready.get()) is not None:
                for name, key in await _create_secondary(conn, table):
                    await conn.exec_driver_sql(f'ALTER TABLE "{name}" VALIDATE CONSTRAINT "{key}"')

    builder = asyncio.create_task(rebuild())
    try:
        async with engine.connect() as conn:
            async with conn.begin():
                for name in names:
                    await _drop_secondary(conn, metadata.tables[name])
            raw = await _driver(conn)
            for data in tables:
                reporter.start(data.table, data.count)
                async with conn.begin():
                    for setting in _SESSION_SETTINGS:
                        await conn.exec_driver_sql(f"SET LOCAL {setting}")
                    await raw.copy_records_to_table(
                        data.table,
                        records=_with_progress(data.rows, reporter),
                        columns=list(data.columns),
                    )
                loaded[data.table] = data.count
                ready.put_nowait(metadata.tables[data.table])
            async with conn.begin():
                await reset_sequences(conn, loaded)
        for name in names:  # tables that came out empty get their indexes back too
            if name not in loaded:
                ready.put_nowait(metadata.tables[name])
        reporter.start("indexes and keys", ready.qsize())
        ready.put_nowait(None)
        while not builder.done():
            await asyncio.wait({builder}, timeout=0.5)
            reporter.advance(0)
        await builder
    finally:
        if not builder.done():
            builder.cancel()
    return loaded
