"""Big seeds into an empty PostgreSQL database: tables commit one by one while other
connections put back their indexes and keys.

Every seeded table loses its secondary indexes, unique constraints and foreign keys up
front; then each table is copied and committed on its own and handed to the rebuild lanes.
A lane first restores what locks the table whole (composite keys, unique constraints, foreign
keys added ``NOT VALID``), then queues the table's index builds and key validations as
separate steps, which any lane may take: they do not block one another, so one table's
work spreads over every lane. While tables load, one lane runs beside the copy; once the
last table is in, the copy's connection is free and a second lane joins. The tail is
CPU-bound (index builds already use parallel workers), so the second lane gains little:
the whole ``large`` load took 40-46 s with it and 43-47 s without, on 2 cores.

Nothing here can be rolled back as a whole: the caller keeps a seed-in-progress mark
committed until this returns, so an interruption is reported (and ``reset`` suggested),
never hidden.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from stratabase.db.base import metadata
from stratabase.db.errors import sqlstate
from stratabase.seed import loader
from stratabase.seed.context import TableData
from stratabase.seed.progress import Reporter

#: Lanes rebuilding while tables still load (the copy and Python use the other core).
LANES_DURING_LOAD = 1
#: Lanes once every table is in.
LANES_AFTER_LOAD = 2
#: A step that lost a deadlock (two lanes locking two tables in turn) is run again.
_DEADLOCK = "40P01"
_ATTEMPTS = 3


class RebuildLanes:
    """Connections taking rebuild steps from one queue; a failure stops the work."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._queue: asyncio.Queue[loader.Rebuild | str | None] = asyncio.Queue()
        self._lanes: list[asyncio.Task[None]] = []
        self._failure: BaseException | None = None
        self._reporter: Reporter | None = None
        self._steps_left = 0

    def add_lane(self) -> None:
        """Open one more connection taking steps (each lane is one connection)."""
        self._lanes.append(asyncio.create_task(self._lane()))

    def table_loaded(self, table: Table) -> None:
        """Queue ``table``'s keys, indexes and validations, now that its rows are in."""
        plan = loader.rebuild_plan(table, self.engine.dialect)
        self._steps_left += 1 + len(plan.indexes) + len(plan.validations)
        self._queue.put_nowait(plan)

    async def finish(self, reporter: Reporter) -> None:
        """Wait for every step (reporting them), stop the lanes, raise the first failure."""
        reporter.start("indexes and keys", self._steps_left, unit="steps")
        self._reporter = reporter
        done = asyncio.create_task(self._queue.join())
        try:
            while not done.done():
                await asyncio.wait({done, *self._lanes}, timeout=0.5)
                reporter.advance(0)
                if all(lane.done() for lane in self._lanes):
                    break  # every lane died (e.g. cannot connect): nothing will drain the queue
            for _ in self._lanes:
                self._queue.put_nowait(None)
            await asyncio.gather(*self._lanes)
        finally:
            done.cancel()
            self.cancel()
        if self._failure is not None:
            raise self._failure
        if not done.done() or done.cancelled():
            raise RuntimeError("the rebuild lanes stopped with steps left")

    def cancel(self) -> None:
        """Stop every lane now, steps left undone (on failure or interruption)."""
        for lane in self._lanes:
            lane.cancel()

    def raise_if_failed(self) -> None:
        """Stop loading as soon as a step failed: the seed will not complete anyway."""
        if self._failure is not None:
            raise self._failure

    async def _lane(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            for setting in loader.SESSION_SETTINGS:
                await conn.exec_driver_sql(f"SET {setting}")
            while (step := await self._queue.get()) is not None:
                try:
                    if self._failure is None:
                        await self._run(conn, step)
                except Exception as exc:  # reported by finish(); the queue still drains
                    self._failure = exc
                finally:
                    self._queue.task_done()
                    self._steps_left -= 1
                    if self._reporter is not None:
                        self._reporter.advance(1)
            self._queue.task_done()

    async def _run(self, conn: AsyncConnection, step: loader.Rebuild | str) -> None:
        if isinstance(step, str):
            await _execute(conn, step)
            return
        for ddl in step.first:
            await _execute(conn, ddl)
        for ddl in step.indexes + step.validations:
            self._queue.put_nowait(ddl)


async def _execute(conn: AsyncConnection, ddl: str) -> None:
    for attempt in range(_ATTEMPTS):
        try:
            await conn.exec_driver_sql(ddl)
            return
        except Exception as exc:
            if sqlstate(exc) != _DEADLOCK or attempt + 1 == _ATTEMPTS:
                raise


async def load_in_steps(
    engine: AsyncEngine, tables: Iterable[TableData], reporter: Reporter, names: Iterable[str]
) -> dict[str, int]:
    """Copy ``tables`` (all named in ``names``, all empty) and restore their schema."""
    names = list(names)
    loaded: dict[str, int] = {}
    lanes = RebuildLanes(engine)
    try:
        for _ in range(LANES_DURING_LOAD):
            lanes.add_lane()
        async with engine.connect() as conn:
            async with conn.begin():
                for name in names:
                    await loader.drop_secondary(conn, metadata.tables[name])
            raw = await loader.driver_connection(conn)
            for data in tables:
                reporter.start(data.table, data.count)
                async with conn.begin():
                    for setting in loader.SESSION_SETTINGS:
                        await conn.exec_driver_sql(f"SET LOCAL {setting}")
                    await loader.copy_table(raw, data, reporter)
                loaded[data.table] = data.count
                lanes.raise_if_failed()
                lanes.table_loaded(metadata.tables[data.table])
            async with conn.begin():
                await loader.reset_sequences(conn, loaded)
        for name in names:  # tables that came out empty get their indexes back too
            if name not in loaded:
                lanes.table_loaded(metadata.tables[name])
        for _ in range(LANES_AFTER_LOAD - LANES_DURING_LOAD):
            lanes.add_lane()
        await lanes.finish(reporter)
    finally:
        lanes.cancel()
    return loaded
