"""Search index: the ``search_documents`` table, back-filled from the published posts and
live users already in the database, with a GIN index on its tsvector (PostgreSQL) or an FTS5
index over its token columns (SQLite).

SQLite: ``search_fts`` is an external-content FTS5 table over ``search_documents`` kept in step
by triggers, so every write path (the ORM upsert, bulk rebuilds, plain SQL) changes the index
in the writer's own transaction. It indexes ``title_terms``/``body_terms`` (tokens already
normalised by :mod:`stratabase.search.text`), so documents and queries are tokenised alike.
The virtual table and its shadow tables are not models: ``env.py`` hides every name starting
with ``search_fts`` from autogenerate. A later batch (copy-and-move) migration of
``search_documents`` would drop these triggers and must recreate them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 13:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import stratabase.db.types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "search_documents",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("ref_id", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("title_terms", sa.Text(), nullable=False),
        sa.Column("body_terms", sa.Text(), nullable=False),
        sa.Column("vector", postgresql.TSVECTOR().with_variant(sa.Text(), "sqlite"), nullable=True),
        sa.Column("updated_at", stratabase.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('post', 'user')", name=op.f("ck_search_documents_kind_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_documents")),
        sa.UniqueConstraint("kind", "ref_id", name=op.f("uq_search_documents_kind_ref_id")),
    )
    op.create_index(
        "ix_search_documents_vector",
        "search_documents",
        ["vector"],
        unique=False,
        postgresql_using="gin",
    )
    if op.get_bind().dialect.name == "sqlite":
        for statement in _SQLITE_FTS:
            op.execute(statement)
    _backfill()


#: The FTS5 index and the triggers that keep it equal to ``search_documents``. An UPSERT
#: that updates fires the UPDATE trigger; the external-content ``delete`` command needs the
#: old values, which the triggers pass from ``old``.
_SQLITE_FTS = (
    "CREATE VIRTUAL TABLE search_fts USING fts5("
    "title_terms, body_terms, content='search_documents', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER search_fts_after_insert AFTER INSERT ON search_documents BEGIN "
    "INSERT INTO search_fts (rowid, title_terms, body_terms) "
    "VALUES (new.id, new.title_terms, new.body_terms); END",
    "CREATE TRIGGER search_fts_after_delete AFTER DELETE ON search_documents BEGIN "
    "INSERT INTO search_fts (search_fts, rowid, title_terms, body_terms) "
    "VALUES ('delete', old.id, old.title_terms, old.body_terms); END",
    "CREATE TRIGGER search_fts_after_update AFTER UPDATE ON search_documents BEGIN "
    "INSERT INTO search_fts (search_fts, rowid, title_terms, body_terms) "
    "VALUES ('delete', old.id, old.title_terms, old.body_terms); "
    "INSERT INTO search_fts (rowid, title_terms, body_terms) "
    "VALUES (new.id, new.title_terms, new.body_terms); END",
)


def _backfill() -> None:
    """Index what exists already (a no-op on a new database)."""
    from stratabase.search.index import block_text
    from stratabase.search.text import terms_string

    bind = op.get_bind()
    is_pg = bind.dialect.name == "postgresql"
    rows: list[dict[str, object]] = []
    posts = bind.execute(
        sa.text("SELECT id, title, summary, content_blocks FROM posts WHERE status = 'published'")
    ).mappings()
    for post in posts:
        blocks = post["content_blocks"]
        if isinstance(blocks, str):
            import json

            blocks = json.loads(blocks)
        body = "\n".join(filter(None, [post["summary"] or "", block_text(blocks)]))
        rows.append({"kind": "post", "ref_id": post["id"], "title": post["title"], "body": body})
    users = bind.execute(
        sa.text("SELECT id, username, name, bio FROM users WHERE status <> 'deleted'")
    ).mappings()
    for user in users:
        title = f"{user['username']} {user['name']}"
        rows.append(
            {"kind": "user", "ref_id": user["id"], "title": title, "body": user["bio"] or ""}
        )
    if not rows:
        return
    for row in rows:
        row["title_terms"] = terms_string(str(row["title"]))
        row["body_terms"] = terms_string(str(row["body"]))
    vector = (
        "setweight(to_tsvector('simple', :title_terms), 'A') || "
        "setweight(to_tsvector('simple', :body_terms), 'B')"
        if is_pg
        else "NULL"
    )
    bind.execute(
        sa.text(
            "INSERT INTO search_documents "
            "(kind, ref_id, title, body, title_terms, body_terms, vector, updated_at) "
            f"VALUES (:kind, :ref_id, :title, :body, :title_terms, :body_terms, {vector}, "
            "CURRENT_TIMESTAMP)"
        ),
        rows,
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS search_fts_after_{name}")
        op.execute("DROP TABLE IF EXISTS search_fts")
    op.drop_index("ix_search_documents_vector", table_name="search_documents")
    op.drop_table("search_documents")
