"""Databases that are not what they should be, seen from the library and the HTTP API.

Read-only SQLite files answer 503 problem+json for writes; embedded commits wait for the
disk; an unset secret key is generated once per database and shared by every process;
``reset`` will not drop a remote database without an explicit confirm.
"""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.api.app import create_app
from stratabase.db.session import Database
from stratabase.exceptions import DatabaseReadOnly, PermissionDenied
from stratabase.models import Category
from stratabase.secret_key import _file_key, ensure_secret_key, key_path
from stratabase.seed import orchestrator
from stratabase.seed.sizes import resolve_size
from stratabase.settings import Settings, load_settings
from tests.acceptance.api_support import NO_LIMITS, assert_problem
from tests.conftest import _pg_admin
from tests.read_only import read_only

sqlite_only = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


ADA = {"email": "ada@example.com", "username": "ada_ro", "password": "correct horse battery"}


def _client(settings: Settings, db: Database) -> httpx.AsyncClient:
    app = create_app(settings, database=db, rate_limits=NO_LIMITS)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@sqlite_only
async def test_embedded_commits_wait_for_the_disk(db: Database) -> None:
    """synchronous=FULL: in WAL mode NORMAL acknowledges commits a power cut can lose."""
    async with db.engine.connect() as conn:
        assert (await conn.exec_driver_sql("PRAGMA synchronous")).scalar_one() == 2  # FULL


async def test_a_writable_database_passes_the_start_check(db: Database) -> None:
    await db.engines.check_writable()
    await db.engines.check_writable()  # the probe left nothing behind


@sqlite_only
async def test_read_only_sqlite_answers_503_for_writes(settings: Settings) -> None:
    path = Path(make_url(settings.database_url).database or "")
    before = Database(settings)
    try:
        async with _client(settings, before) as http:
            signed_up = await http.post("/v1/auth/register", json=ADA)
            assert signed_up.status_code == 201, signed_up.text
    finally:
        await before.dispose()
    with read_only(path):
        db = Database(settings)
        try:
            with pytest.raises(DatabaseReadOnly, match="is read-only"):
                await db.engines.check_writable()
            async with _client(settings, db) as http:
                assert (await http.get("/v1/categories")).status_code == 200  # reads work
                response = await http.post(
                    "/v1/auth/register", json={**ADA, "email": "b@ex.com", "username": "bob_ro"}
                )
                body = assert_problem(response, 503)
                assert body["type"].endswith("/database-read-only")
                assert str(path) in body["detail"]
                login = {"email": ADA["email"], "password": ADA["password"]}
                response = await http.post("/v1/auth/login", json=login)
                assert_problem(response, 503)
        finally:
            await db.dispose()


async def _two_categories(db: Database) -> None:
    async def work(session: AsyncSession) -> None:
        session.add_all(
            [Category(theme="tech", name=name, slug=name.lower()) for name in ("Alpha", "Beta")]
        )

    await db.transaction(work)


async def _first_cursor(settings: Settings) -> str:
    db = Database(settings)
    try:
        async with _client(await ensure_secret_key(db, settings), db) as http:
            page = (await http.get("/v1/categories", params={"limit": 1})).json()
    finally:
        await db.dispose()
    assert page["has_more"], page
    return str(page["next_cursor"])


async def _accepts(settings: Settings, cursor: str) -> bool:
    db = Database(settings)
    try:
        async with _client(await ensure_secret_key(db, settings), db) as http:
            response = await http.get("/v1/categories", params={"limit": 1, "cursor": cursor})
    finally:
        await db.dispose()
    assert response.status_code in (200, 422), response.text
    return response.status_code == 200


async def test_generated_secret_key_is_shared_and_survives_restarts(
    database_url: str, db: Database, backend: str
) -> None:
    """Each ``load_settings`` is what a new process starts from: no key configured."""
    await _two_categories(db)
    fresh = load_settings(database_url=database_url, redis_url="")
    assert not fresh.secret_key_configured
    cursor = await _first_cursor(fresh)
    # Another API process on the same database, and this one restarted: both accept it.
    assert await _accepts(load_settings(database_url=database_url, redis_url=""), cursor)
    assert await _accepts(load_settings(database_url=database_url, redis_url=""), cursor)
    # A configured key wins over the stored one (and so rejects the old cursors).
    configured = load_settings(database_url=database_url, redis_url="", secret_key="k" * 40)
    assert not await _accepts(configured, cursor)
    if backend == "sqlite":
        mode = stat.S_IMODE(key_path(fresh).stat().st_mode)
        assert mode == 0o600, oct(mode)


async def test_reset_will_not_drop_a_remote_database_without_confirm() -> None:
    remote = load_settings(database_url="postgresql://postgres@db.example.invalid/prod")
    db = Database(remote)
    try:
        with pytest.raises(PermissionDenied, match="not a local database"):
            await orchestrator.reset(db)
    finally:
        await db.dispose()


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_a_read_only_postgres_database_is_refused(database_url: str) -> None:
    """A standby (here: default_transaction_read_only) fails the start check and writes."""
    name = make_url(database_url).database
    await _pg_admin(f"ALTER DATABASE {name} SET default_transaction_read_only = on")
    db = Database(load_settings(database_url=database_url, redis_url=""))
    try:
        with pytest.raises(DatabaseReadOnly, match="is read-only"):
            await db.engines.check_writable()
        with pytest.raises(DatabaseReadOnly, match="is read-only"):
            await _two_categories(db)
    finally:
        await db.dispose()


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_reset_keeps_the_generated_key(database_url: str, db: Database) -> None:
    """Servers running through a reset keep their key: a new one would split them."""
    settings = load_settings(database_url=database_url, redis_url="")
    before = await ensure_secret_key(db, settings)
    await orchestrator.reset(db, size=resolve_size("tiny"))
    after = await ensure_secret_key(db, settings)
    assert after.secret_key.get_secret_value() == before.secret_key.get_secret_value()


async def test_concurrent_starts_agree_on_one_key(database_url: str, backend: str) -> None:
    """Several processes starting at once on a fresh database: one key wins, all use it."""
    settings = load_settings(database_url=database_url, redis_url="")
    databases = [Database(settings) for _ in range(6)]
    try:
        if backend == "sqlite":  # the file path: threads stand in for processes
            resolved = await asyncio.gather(
                *(asyncio.to_thread(_file_key, key_path(settings)) for _ in databases)
            )
            keys = {key for key, _ in resolved}
            assert sum(created for _, created in resolved) == 1
        else:
            results = await asyncio.gather(*(ensure_secret_key(db, settings) for db in databases))
            keys = {result.secret_key.get_secret_value() for result in results}
        assert len(keys) == 1
    finally:
        for db in databases:
            await db.dispose()
