"""The one migration history builds exactly the models' schema, down and up, on both backends."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text

from stratabase.db import migrate
from stratabase.db.base import metadata
from stratabase.db.session import Database
from stratabase.exceptions import MigrationError
from stratabase.settings import load_settings


async def _tables(db: Database) -> set[str]:
    """Tables in the database, without Alembic's own and SQLite's FTS5 search index (a
    virtual table and its shadow tables, which are not models)."""
    async with db.engine.connect() as connection:
        names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    return {name for name in names if not name.startswith("search_fts")} - {"alembic_version"}


async def _all_tables(db: Database) -> set[str]:
    async with db.engine.connect() as connection:
        names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    return set(names)


@pytest.fixture
async def empty_db(empty_database_url: str):  # type: ignore[no-untyped-def]
    db = Database(load_settings(database_url=empty_database_url))
    yield db
    await db.dispose()


async def test_upgrade_from_empty_matches_models(empty_db: Database) -> None:
    assert await migrate.current_revision(empty_db) is None
    assert await migrate.upgrade(empty_db) == migrate.head_revision()
    assert await _tables(empty_db) == set(metadata.tables)
    if empty_db.engine.dialect.name == "sqlite":  # the FTS5 index exists beside the models
        assert "search_fts" in await _all_tables(empty_db)
    await migrate.check(empty_db)  # alembic check: no drift between models and schema


async def test_downgrade_to_base_and_up_again(empty_db: Database) -> None:
    await migrate.upgrade(empty_db)
    assert await migrate.downgrade(empty_db, "base") is None
    assert await _all_tables(empty_db) <= {"alembic_version"}  # FTS tables dropped too
    await migrate.upgrade(empty_db)
    await migrate.check(empty_db)


async def test_upgrade_is_idempotent(empty_db: Database) -> None:
    first = await migrate.upgrade(empty_db)
    assert await migrate.upgrade(empty_db) == first


async def test_unknown_revision_gives_a_clear_error(empty_db: Database) -> None:
    await migrate.upgrade(empty_db)
    async with empty_db.engine.begin() as connection:
        await connection.execute(text("UPDATE alembic_version SET version_num = 'ffff9999'"))
    with pytest.raises(MigrationError, match="revision ffff9999, which this version"):
        await migrate.upgrade(empty_db)


async def test_check_detects_drift(empty_db: Database) -> None:
    await migrate.upgrade(empty_db)
    async with empty_db.engine.begin() as connection:
        await connection.execute(text("CREATE TABLE stray (id INTEGER PRIMARY KEY)"))
    with pytest.raises(MigrationError):
        await migrate.check(empty_db)


async def test_search_vectors_stay_inline_on_postgres(empty_db: Database) -> None:
    """Migration 0010: no TOAST lookup per search candidate on PostgreSQL, undone by its
    downgrade; on SQLite (FTS5 indexes apart) it changes nothing and goes down and up."""
    postgres = empty_db.engine.dialect.name == "postgresql"
    layout = text(
        "SELECT c.reloptions, a.attstorage::text FROM pg_class c JOIN pg_attribute a "
        "ON a.attrelid = c.oid WHERE c.relname = 'search_documents' AND a.attname = 'vector'"
    )

    async def read() -> tuple[list[str] | None, str]:
        async with empty_db.engine.connect() as connection:
            options, storage = (await connection.execute(layout)).one()
        return options, storage

    await migrate.upgrade(empty_db)
    if postgres:
        assert await read() == (["toast_tuple_target=8160"], "m")
    assert await migrate.downgrade(empty_db, "0009") == "0009"
    if postgres:
        assert await read() == (None, "x")
    await migrate.upgrade(empty_db)
    await migrate.check(empty_db)
