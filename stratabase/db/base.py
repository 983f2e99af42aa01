"""The declarative base every model maps onto, with predictable constraint names.

Error translation (``db/errors.py``) matches on these names, so they are part of the API:
``uq_<table>_<cols>``, ``ck_<table>_<name>``, ``fk_<table>_<col>_<referred table>``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import MetaData, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from stratabase.db.types import BigIntId, PortableJSON, UTCDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Base(DeclarativeBase):
    """The declarative base: naming convention, UTC timestamps, JSON type map."""

    metadata = metadata
    type_annotation_map = {
        datetime: UTCDateTime(),
        dict[str, Any]: PortableJSON,
        list[Any]: PortableJSON,
    }


class IdMixin:
    """A surrogate ``id`` that is never given to another row.

    SQLite hands a deleted row's id (the largest one, at least) to the next insert unless the
    table is declared ``AUTOINCREMENT``; an id a client cached or bookmarked would then name
    another thing. PostgreSQL identities never go back, so this changes nothing there.
    """

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True, sort_order=-100)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)  # the declarative base builds the table here
        table = cls.__dict__.get("__table__")
        if table is not None:
            table.dialect_kwargs["sqlite_autoincrement"] = True


class CreatedAtMixin:
    """A ``created_at`` set once, in UTC."""

    created_at: Mapped[datetime] = mapped_column(
        default=utcnow, server_default=func.now(), sort_order=100
    )


class TimestampsMixin(CreatedAtMixin):
    """``created_at`` and an ``updated_at`` refreshed on every update."""

    updated_at: Mapped[datetime] = mapped_column(
        default=utcnow, onupdate=utcnow, server_default=func.now(), sort_order=101
    )
