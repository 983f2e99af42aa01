"""Fixtures: every database test runs on SQLite and PostgreSQL, each on its own database.

PostgreSQL tests get a database cloned from a template migrated once per session
(``CREATE DATABASE … TEMPLATE``); SQLite tests get a copy of a migrated file. Redis tests get
their own key prefix and clean up. Without STRATABASE_REQUIRE_SERVICES=1 a missing service
skips its tests with the reason; with it (CI), the run fails.

Where the services are (README "Set up" has the table): STRATABASE_TEST_PG_HOST, _PORT,
_USER (may create databases) and _DB (the existing database we connect to for CREATE/DROP
DATABASE); STRATABASE_TEST_REDIS_URL. Everything a run creates carries its RUN_ID, so two
runs on one server never collide: databases ``sb_tpl_<run>`` and ``sb_<run>_<n>``, Redis keys
under ``sb-test:<run>:<n>:``. Nothing outside those names is created, flushed or dropped.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from stratabase.db import migrate
from stratabase.db.session import Database
from stratabase.settings import Settings, load_settings

REQUIRE_SERVICES = os.environ.get("STRATABASE_REQUIRE_SERVICES") == "1"
PG_HOST = os.environ.get("STRATABASE_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("STRATABASE_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("STRATABASE_TEST_PG_USER", "postgres")
PG_ADMIN_DB = os.environ.get("STRATABASE_TEST_PG_DB", "test")
REDIS_URL = os.environ.get("STRATABASE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

RUN_ID = uuid.uuid4().hex[:8]
_sequence = itertools.count()

BACKENDS = ("sqlite", "postgres")


def unavailable(service: str, reason: object) -> None:
    message = f"{service} is not available: {reason}"
    if REQUIRE_SERVICES:
        pytest.fail(message + " (STRATABASE_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(message)


def pg_url(database: str) -> str:
    return f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


async def _pg_admin(*statements: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, database=PG_ADMIN_DB, timeout=30
    )
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def pg_admin(*statements: str) -> None:
    asyncio.run(_pg_admin(*statements))


async def _migrate(url: str) -> None:
    db = Database(load_settings(database_url=url))
    try:
        await migrate.upgrade(db)
    finally:
        await db.dispose()


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    name = f"sb_tpl_{RUN_ID}"
    try:
        pg_admin(f"CREATE DATABASE {name}")
    except (OSError, Exception) as exc:
        unavailable("PostgreSQL", exc)
    try:
        asyncio.run(_migrate(pg_url(name)))
        yield name
    finally:
        pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    asyncio.run(_migrate(f"sqlite:///{path}"))
    return path


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _new_pg_database(request: pytest.FixtureRequest, template: str | None) -> str:
    name = f"sb_{RUN_ID}_{next(_sequence)}"
    clause = f" TEMPLATE {template}" if template else ""
    try:
        pg_admin(f"CREATE DATABASE {name}{clause}")
    except (OSError, Exception) as exc:
        unavailable("PostgreSQL", exc)
    request.addfinalizer(lambda: pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    return pg_url(name)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated database of its own for this test."""
    if backend == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "stratabase.db"
        shutil.copyfile(template, path)
        return f"sqlite:///{path}"
    return _new_pg_database(request, request.getfixturevalue("pg_template"))


@pytest.fixture
def empty_database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with no schema at all (for migration tests)."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    return _new_pg_database(request, None)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return load_settings(database_url=database_url, redis_url="")


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    """A reachable Redis; skipped (or failed in CI) when there is none."""
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL, socket_connect_timeout=30)
    try:
        await client.ping()
    except Exception as exc:
        await client.aclose()
        unavailable("Redis", exc)
    await client.aclose()
    yield REDIS_URL


@pytest.fixture
async def redis_prefix(redis_url: str) -> AsyncIterator[str]:
    """A key prefix of this test's own; every key under it is removed afterwards."""
    from redis.asyncio import Redis

    prefix = f"sb-test:{RUN_ID}:{next(_sequence)}:"
    yield prefix
    client = Redis.from_url(redis_url)
    try:
        async for key in client.scan_iter(match=prefix + "*", count=500):
            await client.unlink(key)
    finally:
        await client.aclose()
