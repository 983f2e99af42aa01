"""The audit log's hash chain: one chain under concurrent appends, tampering detected
(an edited, a deleted and an inserted row), and on PostgreSQL a trigger refusing changes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from stratabase.audit import record
from stratabase.audit.service import verify
from stratabase.db.session import Database
from stratabase.exceptions import StratabaseError


async def _append(db: Database, count: int, action: str = "test.action") -> None:
    async def work(session):  # type: ignore[no-untyped-def]
        for index in range(count):
            record(session, None, action, "thing", index, {"value": [index, index + 1]})

    await db.transaction(work)


async def _tamper(db: Database, statement: str) -> None:
    """Change the table as a superuser would: with the append-only trigger switched off."""
    postgres = db.backend != "sqlite"
    async with db.engine.begin() as conn:
        if postgres:
            await conn.exec_driver_sql("ALTER TABLE audit_logs DISABLE TRIGGER USER")
        await conn.exec_driver_sql(statement)
        if postgres:
            await conn.exec_driver_sql("ALTER TABLE audit_logs ENABLE TRIGGER USER")


async def _ids(db: Database) -> list[int]:
    async with db.session() as session:
        return list((await session.scalars(text("SELECT id FROM audit_logs ORDER BY id"))).all())


async def test_concurrent_appends_form_one_chain(db: Database) -> None:
    await asyncio.gather(*(_append(db, 3, f"writer.{n}") for n in range(12)))
    report = await verify(db)
    assert report.ok, report.broken
    assert report.checked == 36


async def test_an_edited_row_is_caught(db: Database) -> None:
    await _append(db, 5)
    ids = await _ids(db)
    await _tamper(db, f"UPDATE audit_logs SET action = 'nothing.happened' WHERE id = {ids[2]}")
    report = await verify(db)
    assert report.broken is not None and report.broken.id == ids[2]
    assert "row_hash" in report.broken.reason


async def test_a_deleted_row_is_caught(db: Database) -> None:
    await _append(db, 5)
    ids = await _ids(db)
    await _tamper(db, f"DELETE FROM audit_logs WHERE id = {ids[1]}")
    report = await verify(db)
    assert report.broken is not None and report.broken.id == ids[2]
    assert "prev_hash" in report.broken.reason


async def test_an_inserted_row_is_caught(db: Database) -> None:
    await _append(db, 3)
    await _tamper(
        db,
        "INSERT INTO audit_logs (action, resource_type, changes, created_at, prev_hash,"
        f" row_hash) VALUES ('forged', 'thing', '{{}}', CURRENT_TIMESTAMP,"
        f" '{'a' * 64}', '{'b' * 64}')",
    )
    forged = (await _ids(db))[-1]
    await _append(db, 1)  # the next honest append links to the forged row
    report = await verify(db)
    assert report.broken is not None and report.broken.id == forged


@pytest.mark.parametrize("backend", ["postgres"])
async def test_the_trigger_refuses_update_and_delete(db: Database) -> None:
    await _append(db, 2)
    for statement in ("UPDATE audit_logs SET action = 'x'", "DELETE FROM audit_logs"):
        with pytest.raises((DBAPIError, StratabaseError), match="append-only"):
            async with db.engine.begin() as conn:
                await conn.exec_driver_sql(statement)
    assert len(await _ids(db)) == 2
    assert (await verify(db)).ok


def _cli(database_url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATABASE_")}
    env["STRATABASE_DATABASE_URL"] = database_url
    env["STRATABASE_SLOW_QUERY_MS"] = "60000"
    env["STRATABASE_WARN_QUERY_MS"] = "60000"
    return subprocess.run(
        [sys.executable, "-m", "stratabase", "audit", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_cli_verify_exits_1_naming_the_first_broken_row(
    db: Database, database_url: str
) -> None:
    await _append(db, 4)
    ok = await asyncio.to_thread(_cli, database_url)
    assert ok.returncode == 0, ok.stderr
    assert "audit log ok: 4 sealed row(s)" in ok.stdout
    ids = await _ids(db)
    await _tamper(db, f"UPDATE audit_logs SET changes = '{{}}' WHERE id = {ids[1]}")
    broken = await asyncio.to_thread(_cli, database_url)
    assert broken.returncode == 1
    assert f"audit chain broken at row {ids[1]}" in broken.stderr
