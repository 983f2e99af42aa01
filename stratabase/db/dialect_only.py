"""Schema items one backend declares and the other enforces its own way.

The ledger's foreign keys exist on SQLite only: on PostgreSQL statement-level triggers
(migration 0005) check a whole batch's references in one query, where a foreign key checks
row by row. The models still declare the keys (SQLite needs them; the ORM reads them), so
everything that turns models into DDL or compares them with a database asks here first:
``create_all`` (through ``ddl_if``), ``alembic check`` and the seed loader.
"""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import Index
from sqlalchemy.sql.schema import Constraint

Item = TypeVar("Item", bound=Constraint | Index)

_KEY = "only_on_dialect"


def only_on(dialect: str, item: Item) -> Item:
    """Declare ``item`` for the ``dialect`` backend alone."""
    item.info[_KEY] = dialect
    item.ddl_if(dialect=dialect)
    return item


def declared_on(item: object, dialect: str) -> bool:
    """Whether the database of ``dialect`` holds ``item`` as the models declare it."""
    info = getattr(item, "info", None) or {}
    wanted = info.get(_KEY)
    return wanted is None or wanted == dialect
