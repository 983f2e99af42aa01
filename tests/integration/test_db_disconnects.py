"""Connections lost mid-statement: 503, reads run again, the pool heals; never a raw 500.

The backends of the test's own database are terminated from an admin connection
(``pg_terminate_backend``); the shared server keeps running.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.api.app import create_app
from stratabase.api.deps import DatabaseDep
from stratabase.cache import memory_cache
from stratabase.db.session import ConnectionLost, Database
from stratabase.exceptions import DatabaseUnavailable
from stratabase.settings import Settings
from tests.conftest import PG_ADMIN_DB, PG_HOST, PG_PORT, PG_USER

pytestmark = pytest.mark.parametrize("backend", ["postgres"])  # SQLite has no connection


class Admin:
    """A connection to the admin database that terminates our database's backends."""

    def __init__(self, connection: asyncpg.Connection, database: str) -> None:
        self.connection = connection
        self.database = database

    async def backends(self, where: str = "true") -> list[int]:
        rows = await self.connection.fetch(
            f"SELECT pid FROM pg_stat_activity WHERE datname = $1 AND ({where})", self.database
        )
        return [row["pid"] for row in rows]

    async def wait_for(self, where: str, within: float = 15.0) -> list[int]:
        deadline = time.monotonic() + within
        while not (pids := await self.backends(where)):
            assert time.monotonic() < deadline, f"no backend with {where}"
            await asyncio.sleep(0.02)
        return pids

    async def terminate(self, where: str = "true") -> None:
        """Terminate the matching backends and wait until they are gone."""
        pids = await self.backends(where)
        for pid in pids:
            await self.connection.execute("SELECT pg_terminate_backend($1)", pid)
        deadline = time.monotonic() + 15
        while set(pids) & set(await self.backends()):
            assert time.monotonic() < deadline, "terminated backends did not exit"
            await asyncio.sleep(0.02)


@pytest.fixture
async def admin(settings: Settings) -> AsyncIterator[Admin]:
    connection = await asyncpg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, database=PG_ADMIN_DB, timeout=5
    )
    try:
        yield Admin(connection, str(make_url(settings.database_url).database))
    finally:
        await connection.close()


@pytest.fixture
async def pooled(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings.model_copy(update={"pool_max_size": 3}))
    try:
        yield database
    finally:
        await database.dispose()


async def _fill_pool(db: Database) -> list[Any]:
    """Three connections checked out at once, then idle in the pool; their drivers'."""
    drivers = []
    async with db.session() as one, db.session() as two, db.session() as three:
        for session in (one, two, three):
            await session.execute(text("SELECT 1"))
            raw = await (await session.connection()).get_raw_connection()
            drivers.append(raw.driver_connection)
    return drivers


async def _wait_closed(drivers: list[Any]) -> None:
    """Wait until the driver has read the server's goodbye (the loop must run for it)."""
    deadline = time.monotonic() + 10
    while not all(driver.is_closed() for driver in drivers):
        assert time.monotonic() < deadline, "the driver did not notice"
        await asyncio.sleep(0.01)


async def _one(session: AsyncSession) -> int:
    return int((await session.execute(text("SELECT 1"))).scalar_one())


async def test_pooled_connections_killed_while_idle_are_replaced(
    pooled: Database, admin: Admin
) -> None:
    drivers = await _fill_pool(pooled)
    await admin.terminate()
    await _wait_closed(drivers)
    # every scope works at once, writes included: no request pays for the restart
    async with pooled.session() as session:
        assert await _one(session) == 1
    assert await pooled.transaction(_one) == 1
    async with pooled.session() as one, pooled.session() as two:
        assert await _one(one) + await _one(two) == 2


async def test_a_read_whose_connection_dies_runs_again(pooled: Database, admin: Admin) -> None:
    await _fill_pool(pooled)
    attempts = 0

    async def read(session: AsyncSession) -> int:
        nonlocal attempts
        attempts += 1
        pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        if attempts == 1:  # the server goes away under this read, unnoticed by the driver
            await admin.terminate(f"pid = {int(pid)}")
        return await _one(session)

    assert await pooled.transaction(read, write=False) == 1
    assert attempts == 2


async def test_a_write_in_flight_gets_database_unavailable(pooled: Database, admin: Admin) -> None:
    attempts = 0

    async def write(session: AsyncSession) -> None:
        nonlocal attempts
        attempts += 1
        await session.execute(text("CREATE TABLE lost_write (id int)"))
        await session.execute(text("SELECT pg_sleep(30)"))

    async def kill() -> None:
        await admin.wait_for("query LIKE '%pg_sleep(30)%' AND state = 'active'")
        await admin.terminate()

    killer = asyncio.create_task(kill())
    with pytest.raises(DatabaseUnavailable) as lost:
        await pooled.transaction(write)
    await killer
    assert isinstance(lost.value, ConnectionLost) and attempts == 1  # not run again
    # nothing half-written, and the next transaction gets a fresh connection
    exists = "SELECT to_regclass('lost_write') IS NULL"
    assert await pooled.transaction(lambda s: s.scalar(text(exists)))


async def test_a_read_scope_losing_its_connection_is_database_unavailable(
    pooled: Database, admin: Admin
) -> None:
    async def kill() -> None:
        await admin.wait_for("query LIKE '%pg_sleep(30)%' AND state = 'active'")
        await admin.terminate()

    killer = asyncio.create_task(kill())
    with pytest.raises(DatabaseUnavailable):
        async with pooled.session() as session:
            await session.execute(text("SELECT pg_sleep(30)"))
    await killer
    async with pooled.session() as session:
        assert await _one(session) == 1


async def test_http_answers_503_problem_never_500(
    settings: Settings, pooled: Database, admin: Admin
) -> None:
    app = create_app(settings, database=pooled, cache=memory_cache())

    async def slow_write(db: DatabaseDep) -> dict[str, str]:
        await db.transaction(lambda s: s.execute(text("SELECT pg_sleep(30)")))
        return {}

    async def slow_read(db: DatabaseDep) -> dict[str, str]:
        async with db.session() as session:
            await session.execute(text("SELECT pg_sleep(30)"))
        return {}

    app.add_api_route("/test/slow-write", slow_write, methods=["POST"])
    app.add_api_route("/test/slow-read", slow_read)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        for method, path in (("POST", "/test/slow-write"), ("GET", "/test/slow-read")):
            request = asyncio.create_task(http.request(method, path))
            await admin.wait_for("query LIKE '%pg_sleep(30)%' AND state = 'active'")
            await admin.terminate()
            response = await request
            assert response.status_code == 503, response.text
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.json()["type"].endswith("/database-unavailable")
        # a real route after a restart-like kill of every backend: answered, not 500
        drivers = await _fill_pool(pooled)
        await admin.terminate()
        await _wait_closed(drivers)
        assert (await http.get("/v1/categories")).status_code == 200
