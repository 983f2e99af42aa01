"""Migration 0008 rebuilds SQLite's tables as AUTOINCREMENT without losing a row, an index
or a trigger, and without running the children's ON DELETE actions; down, it undoes that."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from stratabase.db import migrate
from stratabase.db.session import Database
from stratabase.seed import orchestrator
from stratabase.seed.sizes import SIZES
from stratabase.settings import load_settings

BEFORE = "0007"
REBUILD = "0008"


async def _snapshot(db: Database) -> tuple[dict[str, int], set[tuple[str, str]], dict[str, str]]:
    async with db.engine.connect() as conn:
        objects = (await conn.execute(text("SELECT type, name, sql FROM sqlite_master"))).all()
        tables = [name for kind, name, _ in objects if kind == "table"]
        counts = {
            name: int((await conn.execute(text(f'SELECT count(*) FROM "{name}"'))).scalar_one())
            for name in tables
            if not name.startswith("sqlite_")
        }
        broken = (await conn.execute(text("PRAGMA foreign_key_check"))).all()
    assert broken == []
    others = {(kind, sql) for kind, _, sql in objects if kind in ("index", "trigger") and sql}
    return counts, others, {name: sql for kind, name, sql in objects if kind == "table"}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_rebuild_keeps_rows_indexes_and_triggers(empty_database_url: str) -> None:
    db = Database(load_settings(database_url=empty_database_url))
    try:
        await migrate.upgrade(db)
        await orchestrator.seed(db, size=SIZES["tiny"])
        assert await migrate.downgrade(db, BEFORE) == BEFORE
        counts, others, tables = await _snapshot(db)
        assert counts["posts"] > 0 and counts["comments"] > 0 and counts["ledger_entries"] > 0
        assert not any("AUTOINCREMENT" in sql for sql in tables.values())

        await migrate.upgrade(db, REBUILD)
        after_counts, after_others, after_tables = await _snapshot(db)
        assert {k: v for k, v in after_counts.items() if k != "sqlite_sequence"} == counts
        assert after_others == others
        assert "AUTOINCREMENT" in after_tables["posts"]
        async with db.engine.connect() as conn:
            seq = await conn.execute(text("SELECT seq FROM sqlite_sequence WHERE name='posts'"))
            top = await conn.execute(text("SELECT max(id) FROM posts"))
            assert seq.scalar_one() == top.scalar_one()
        await migrate.upgrade(db)
        await migrate.check(db)
    finally:
        await db.dispose()
