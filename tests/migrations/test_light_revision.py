"""``db/revision.py`` answers "is the database at head?" without Alembic: it must give
Alembic's answers, and hand anything unusual back to Alembic."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from stratabase.db import migrate, revision
from stratabase.db.session import Database
from stratabase.exceptions import MigrationError
from stratabase.seed import orchestrator
from stratabase.settings import load_settings


def test_the_scripts_give_alembics_head_and_revisions() -> None:
    found = revision.scripts()
    assert found is not None, "a migration script is not in the plain revision = '…' form"
    known, head = found
    script = ScriptDirectory.from_config(migrate.alembic_config())
    assert head == migrate.head_revision() == revision.head_revision()
    assert known == {rev.revision for rev in script.walk_revisions()}


def test_scripts_in_another_form_are_left_to_alembic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "0001_a.py").write_text('revision = "0001"\ndown_revision = None\n')
    (tmp_path / "0002_b.py").write_text('revision = "0002"\ndown_revision = ("0001",)\n')
    monkeypatch.setattr(revision, "VERSIONS", tmp_path)
    revision.scripts.cache_clear()
    try:
        assert revision.scripts() is None
        assert revision.head_revision() == migrate.head_revision()  # Alembic's, not "0002"
    finally:
        revision.scripts.cache_clear()


@pytest.fixture
async def empty_db(empty_database_url: str) -> AsyncIterator[Database]:
    database = Database(load_settings(database_url=empty_database_url, redis_url=""))
    yield database
    await database.dispose()


async def test_current_revision_is_what_alembic_reads(empty_db: Database) -> None:
    assert await revision.current_revision(empty_db) is None
    with pytest.raises(MigrationError, match="revision none, not"):
        await orchestrator.ensure_ready(empty_db)
    await migrate.upgrade(empty_db, "0008")
    assert await revision.current_revision(empty_db) == "0008"
    with pytest.raises(MigrationError, match="revision 0008, not"):
        await orchestrator.ensure_ready(empty_db)
    await migrate.upgrade(empty_db)
    assert await revision.current_revision(empty_db) == migrate.head_revision()
    await orchestrator.ensure_ready(empty_db)


async def test_an_unknown_revision_is_refused_in_alembics_words(db: Database) -> None:
    async with db.begin() as session:
        await session.execute(text("UPDATE alembic_version SET version_num = 'ffff'"))
    with pytest.raises(MigrationError, match="does not know"):
        await revision.current_revision(db)
    with pytest.raises(MigrationError, match="does not know"):
        await orchestrator.ensure_ready(db)
