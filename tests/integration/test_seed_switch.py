"""``switch-theme`` swaps the themed content and keeps people, wallets and the ledger."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from sqlalchemy import select, text

from stratabase.db import migrate
from stratabase.db.base import metadata
from stratabase.db.session import Database
from stratabase.exceptions import Conflict
from stratabase.seed import loader, orchestrator
from stratabase.seed.digest import _normal
from stratabase.seed.generator import PEOPLE_TABLES
from stratabase.seed.sizes import SIZES
from stratabase.seed.theme import UnknownTheme, load_theme


async def _dump(db: Database, names: tuple[str, ...]) -> str:
    digest = hashlib.sha256()
    async with db.engine.connect() as conn:
        for name in names:
            table = metadata.tables[name]
            rows = await conn.execute(select(table).order_by(*table.primary_key.columns))
            for row in rows:
                digest.update(json.dumps([_normal(v) for v in row], default=str).encode())
    return digest.hexdigest()


async def _scalar(db: Database, sql: str) -> Any:
    async with db.engine.connect() as conn:
        return (await conn.execute(text(sql))).scalar_one()


@pytest.mark.parametrize("rebuild_min_rows", [loader.REBUILD_MIN_ROWS, 0])
async def test_switch_keeps_users_wallets_and_ledger(
    db: Database, monkeypatch: pytest.MonkeyPatch, rebuild_min_rows: int
) -> None:
    monkeypatch.setattr(loader, "REBUILD_MIN_ROWS", rebuild_min_rows)
    await orchestrator.seed(db, theme="politics", size=SIZES["tiny"], seed=11)
    people = await _dump(db, PEOPLE_TABLES)
    posts = await _scalar(db, "SELECT count(*) FROM posts")

    result = await orchestrator.switch_theme(db, "tech")

    assert result.extra["previous_theme"] == "politics"
    assert await _dump(db, PEOPLE_TABLES) == people
    assert await _scalar(db, "SELECT count(*) FROM posts") == posts
    tech = {c.slug for c in load_theme("tech").categories}
    async with db.engine.connect() as conn:
        slugs = {row[0] for row in await conn.execute(text("SELECT slug FROM categories"))}
    assert slugs == tech
    assert await _scalar(db, "SELECT count(DISTINCT theme) FROM categories") == 1
    mismatched = (
        "SELECT count(*) FROM post_stats s WHERE s.likes <> (SELECT count(*) FROM likes l "
        "WHERE l.target_type = 'post' AND l.target_id = s.post_id) OR s.comments <> "
        "(SELECT count(*) FROM comments c WHERE c.post_id = s.post_id)"
    )
    assert await _scalar(db, mismatched) == 0
    assert (await orchestrator.stats(db)).theme == "tech"
    await migrate.check(db)
    async with db.begin() as session:  # new rows get fresh ids after the explicit ones
        await session.execute(text("INSERT INTO tags (name, slug) VALUES ('extra', 'extra')"))


async def test_switch_needs_a_seeded_database_and_a_known_theme(db: Database) -> None:
    with pytest.raises(Conflict, match="stratabase seed"):
        await orchestrator.switch_theme(db, "science")
    with pytest.raises(UnknownTheme, match="politics"):
        await orchestrator.switch_theme(db, "gardening")
