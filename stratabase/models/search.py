"""The search index: one row per searchable post or user, written in the same transaction
as the row it describes.

PostgreSQL ranks with the ``vector`` tsvector column (GIN-indexed). SQLite ranks with the
``search_fts`` FTS5 index over the normalised ``title_terms``/``body_terms`` columns, kept in
sync by triggers (migration 0003) and hidden from autogenerate by ``migrations/env.py``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Index, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from stratabase.db.base import Base, IdMixin
from stratabase.db.types import utcnow

#: tsvector on PostgreSQL; unused (NULL) TEXT on SQLite.
SearchVector = TSVECTOR().with_variant(Text(), "sqlite")


class SearchDocument(IdMixin, Base):
    """One searchable post or user (unique per kind and id), with its text vector."""

    __tablename__ = "search_documents"
    __table_args__ = (
        UniqueConstraint("kind", "ref_id"),
        CheckConstraint("kind IN ('post', 'user')", name="kind_known"),
        Index("ix_search_documents_vector", "vector", postgresql_using="gin"),
    )

    #: ``post`` or ``user``.
    kind: Mapped[str] = mapped_column(String(10))
    ref_id: Mapped[int] = mapped_column(BigInteger)
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    #: Space-delimited normalised tokens (casefolded, accents removed), for SQLite matching.
    title_terms: Mapped[str] = mapped_column(Text)
    body_terms: Mapped[str] = mapped_column(Text)
    vector: Mapped[str | None] = mapped_column(SearchVector)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
