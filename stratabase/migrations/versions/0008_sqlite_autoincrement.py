"""SQLite never reuses an id: every table with a surrogate ``id`` becomes AUTOINCREMENT.

Without it SQLite gives the next row ``max(id) + 1``, so deleting the newest post and
creating another gave the new post the old one's id, and a cached or bookmarked id named
another thing. ``AUTOINCREMENT`` can only be declared by ``CREATE TABLE``, so each table is
rebuilt by SQLite's documented procedure (https://sqlite.org/lang_altertable.html, "making
other kinds of table schema changes"): with foreign keys off, create the new table from the
old one's own SQL (only the primary key clause changes), copy the rows, drop the old table,
rename the new one, and recreate its indexes and triggers from their stored SQL. Nothing
else about a table changes, and ``PRAGMA foreign_key_check`` must come back empty.

PostgreSQL is unchanged: identities and sequences never hand out a number twice.

The downgrade drops ``AUTOINCREMENT`` again (``id INTEGER NOT NULL PRIMARY KEY``: the same
rowid table the earlier revisions made).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 17:40:00
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from alembic import op
from sqlalchemy.engine import Connection

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Every table whose primary key is a surrogate ``id`` (the models' ``IdMixin``) at 0007.
TABLES = (
    "organizations",
    "users",
    "sessions",
    "categories",
    "tags",
    "posts",
    "media",
    "comments",
    "highlights",
    "user_events",
    "token_usage_daily",
    "change_events",
    "query_logs",
    "jobs",
    "ledger_accounts",
    "ledger_transfers",
    "ledger_entries",
    "payments",
    "payment_events",
    "content_reports",
    "moderation_reviews",
    "audit_logs",
    "projects",
    "episodes",
    "planning_notes",
    "agent_memories",
    "chat_sessions",
    "chat_messages",
    "search_documents",
)

_ID_COLUMN = re.compile(r"(\(\s*\n?\s*\"?id\"? INTEGER NOT NULL)(\s*,)")
_INLINE_PK = re.compile(r"(\(\s*\n?\s*\"?id\"? INTEGER NOT NULL) PRIMARY KEY(\s*,)")
_TABLE_PK = re.compile(r",\s*CONSTRAINT \"?pk_\w+\"? PRIMARY KEY \(\"?id\"?\)")
_AUTOINCREMENT = " PRIMARY KEY AUTOINCREMENT"


def _with_autoincrement(sql: str) -> str:
    """``id INTEGER NOT NULL, …, CONSTRAINT pk_t PRIMARY KEY (id)`` → ``id … AUTOINCREMENT``."""
    if _AUTOINCREMENT in sql:
        return sql
    if _INLINE_PK.search(sql):  # as this revision's downgrade leaves it
        return _INLINE_PK.sub(rf"\1{_AUTOINCREMENT}\2", sql, count=1)
    sql, columns = _ID_COLUMN.subn(rf"\1{_AUTOINCREMENT}\2", sql, count=1)
    sql, keys = _TABLE_PK.subn("", sql, count=1)
    if columns != 1 or keys != 1:
        raise RuntimeError(f"unexpected table definition, not rebuilt: {sql[:80]}…")
    return sql


def _without_autoincrement(sql: str) -> str:
    return sql.replace(_AUTOINCREMENT, " PRIMARY KEY", 1)


def _rebuild(connection: Connection, table: str, rewrite: Callable[[str], str]) -> None:
    """SQLite's twelve steps for one table (foreign keys are already off)."""
    rows = connection.exec_driver_sql(
        "SELECT type, sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL",
        (table,),
    ).all()
    table_sql = next(sql for kind, sql in rows if kind == "table")
    new_sql = rewrite(table_sql)
    if new_sql == table_sql:
        return
    temporary = f"_sb_rebuild_{table}"
    head, _, rest = new_sql.partition("(")
    if not re.fullmatch(rf"\s*CREATE TABLE \"?{table}\"?\s*", head):
        raise RuntimeError(f"unexpected table definition of {table}: {head!r}")
    connection.exec_driver_sql(f'CREATE TABLE "{temporary}" ({rest}')
    connection.exec_driver_sql(f'INSERT INTO "{temporary}" SELECT * FROM "{table}"')
    connection.exec_driver_sql(f'DROP TABLE "{table}"')
    connection.exec_driver_sql(f'ALTER TABLE "{temporary}" RENAME TO "{table}"')
    for kind, sql in rows:
        if kind in ("index", "trigger"):
            connection.exec_driver_sql(sql)


def _rebuild_all(rewrite: Callable[[str], str]) -> None:
    connection = op.get_bind()
    if connection.dialect.name != "sqlite":
        return
    # PRAGMA foreign_keys is ignored inside a transaction, and with it on, DROP TABLE would
    # run the children's ON DELETE actions: commit what the run has done so far, rebuild in
    # a transaction of our own with foreign keys off, then open a transaction again for the
    # rest of the run (the connection issues BEGIN itself: its driver never does).
    outer = connection.in_transaction()
    if outer:
        connection.exec_driver_sql("COMMIT")
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    connection.exec_driver_sql("PRAGMA legacy_alter_table=ON")
    try:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            for table in TABLES:
                _rebuild(connection, table, rewrite)
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
            if broken:
                raise RuntimeError(f"foreign keys broken by the rebuild: {broken[:5]}")
        except BaseException:
            connection.exec_driver_sql("ROLLBACK")
            raise
        connection.exec_driver_sql("COMMIT")
    finally:
        connection.exec_driver_sql("PRAGMA legacy_alter_table=OFF")
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        if outer:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def upgrade() -> None:
    _rebuild_all(_with_autoincrement)


def downgrade() -> None:
    _rebuild_all(_without_autoincrement)
