"""Search vectors stay in the row: no TOAST lookup per document a search tests.

Search walks the newest documents of a kind and tests each one's tsvector (see
``stratabase.search.service``). With the seed's realistic vocabulary a post's vector is
1-2.6 KB, past PostgreSQL's 2 KB TOAST threshold, so most were moved out of line and every
test cost a TOAST index lookup and chunk reads (about 3 buffers a row; the walk 2-3x
slower). ``toast_tuple_target`` = 8160 keeps rows up to a page inline (compressed) and
``STORAGE MAIN`` makes the vector the last column to leave the row. Rows written before
this migration keep their layout until rewritten: ``stratabase clean`` (or any seed)
rebuilds the index. SQLite: nothing to do (FTS5 keeps its own index).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 20:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE search_documents SET (toast_tuple_target = 8160)")
    op.execute("ALTER TABLE search_documents ALTER COLUMN vector SET STORAGE MAIN")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE search_documents ALTER COLUMN vector SET STORAGE EXTENDED")
    op.execute("ALTER TABLE search_documents RESET (toast_tuple_target)")
