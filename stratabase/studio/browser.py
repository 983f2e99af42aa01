"""The data browser: every table of the models, read-only, paged by keyset.

Tables, columns, keys and indexes come from the SQLAlchemy metadata, so a new model shows
up without a line here. Rows are paged by primary key, newest first, with the opaque
signed cursors of the rest of the API; filters are equality on indexed columns (a leading
index column, a primary or unique key, a foreign key), so every page is an index range.
A row comes with its relations both ways: the rows its foreign keys point at, and the
tables whose foreign keys point at it (with how many rows, counted up to
:data:`COUNT_CAP`). Secrets (password and token hashes, secret keys) are never sent.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Column, Table, and_, func, select
from sqlalchemy.sql.elements import ColumnElement

import stratabase.models  # noqa: F401  (every table registered on the metadata)
from stratabase.db.base import Base
from stratabase.db.session import Database
from stratabase.exceptions import InvalidInput, NotFound
from stratabase.pagination import CursorCodec, after

#: Rows per page at most.
MAX_LIMIT = 200
#: Related rows are counted up to this many.
COUNT_CAP = 1000
#: Shown instead of a secret.
MASK = "••••••"
#: Column names whose values are secrets (hashes of passwords, tokens, keys).
_SECRET_COLUMN = re.compile(r"(password|secret|token|api_key|_hash$)", re.IGNORECASE)
#: ``system_state`` rows whose key names a secret keep their value hidden.
_SECRET_STATE_KEY = re.compile(r"(secret|key|token|password)", re.IGNORECASE)
#: Query parameters that are not filters.
RESERVED = frozenset({"cursor", "limit"})
_CURSOR_KIND = "studio-rows:"


def _tables() -> dict[str, Table]:
    return {table.name: table for table in Base.metadata.sorted_tables}


def table_of(name: str) -> Table:
    """The table called ``name``; NotFound otherwise."""
    table = _tables().get(name)
    if table is None:
        raise NotFound(f"no table {name!r}", field="table")
    return table


def is_secret(table: Table, column: Column[Any]) -> bool:
    """True when the column's values are never shown."""
    return bool(_SECRET_COLUMN.search(column.name)) and not column.primary_key


def filterable(table: Table) -> set[str]:
    """Columns a filter may use: primary key, leading index and unique columns, foreign
    keys (all indexed in our schema)."""
    names = {column.name for column in table.primary_key.columns}
    for index in table.indexes:
        columns = list(index.columns)
        if columns:
            names.add(columns[0].name)
    for constraint in table.constraints:
        columns = list(getattr(constraint, "columns", []))
        if columns and constraint.__class__.__name__ == "UniqueConstraint":
            names.add(columns[0].name)
    for column in table.columns:
        if column.unique or column.foreign_keys:
            names.add(column.name)
    return {name for name in names if not is_secret(table, table.columns[name])}


def _type_name(column: Column[Any]) -> str:
    try:
        return column.type.python_type.__name__
    except NotImplementedError:
        return type(column.type).__name__.lower()


@dataclass(frozen=True)
class ColumnInfo:
    """One column as the browser shows it."""

    name: str
    type: str
    nullable: bool
    primary_key: bool
    filterable: bool
    secret: bool
    references: str | None

    def as_dict(self) -> dict[str, Any]:
        """JSON for the tables list."""
        return self.__dict__.copy()


def describe(table: Table) -> dict[str, Any]:
    """A table's columns, keys and what can filter it."""
    allowed = filterable(table)
    columns = []
    for column in table.columns:
        target = next(iter(column.foreign_keys), None)
        columns.append(
            ColumnInfo(
                name=column.name,
                type=_type_name(column),
                nullable=bool(column.nullable),
                primary_key=column.primary_key,
                filterable=column.name in allowed,
                secret=is_secret(table, column),
                references=f"{target.column.table.name}.{target.column.name}" if target else None,
            ).as_dict()
        )
    return {
        "name": table.name,
        "primary_key": [column.name for column in table.primary_key.columns],
        "columns": columns,
    }


def catalog() -> list[dict[str, Any]]:
    """Every table, by name."""
    return [describe(table) for _, table in sorted(_tables().items())]


def _json(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return f"<{len(bytes(value))} bytes>"
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    return str(value)


def render_row(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    """A row as JSON, secrets masked."""
    out: dict[str, Any] = {}
    for column in table.columns:
        value = row.get(column.name)
        if value is not None and is_secret(table, column):
            out[column.name] = MASK
        else:
            out[column.name] = _json(value)
    if table.name == "system_state" and _SECRET_STATE_KEY.search(str(row.get("key", ""))):
        out["value"] = MASK
    return out


def parse_value(table: Table, name: str, raw: str) -> Any:
    """A filter's text as the column's type; InvalidInput naming the column otherwise."""
    column = table.columns[name]
    try:
        kind = column.type.python_type
    except NotImplementedError:
        return raw
    try:
        if kind is bool:
            if raw.lower() not in ("true", "false", "1", "0"):
                raise ValueError(raw)
            return raw.lower() in ("true", "1")
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
        if kind is datetime:
            return datetime.fromisoformat(raw)
        if issubclass(kind, enum.Enum):
            return kind(raw)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"{name}: {raw!r} is not a valid {kind.__name__}", field=name) from exc
    return raw


def _where(table: Table, filters: dict[str, str]) -> list[ColumnElement[bool]]:
    allowed = filterable(table)
    clauses: list[ColumnElement[bool]] = []
    for name, raw in filters.items():
        if name not in table.columns:
            raise InvalidInput(f"{table.name} has no column {name!r}", field=name)
        if name not in allowed:
            raise InvalidInput(f"{name} is not indexed: it cannot filter", field=name)
        clauses.append(table.columns[name] == parse_value(table, name, raw))
    return clauses


@dataclass(frozen=True)
class RowsPage:
    """One page of a table."""

    table: dict[str, Any]
    items: list[dict[str, Any]]
    next_cursor: str | None

    def as_dict(self) -> dict[str, Any]:
        """The JSON the browser reads."""
        return {
            "table": self.table,
            "items": self.items,
            "next_cursor": self.next_cursor,
            "has_more": self.next_cursor is not None,
        }


async def rows(
    db: Database,
    cursors: CursorCodec,
    name: str,
    filters: dict[str, str],
    *,
    cursor: str | None = None,
    limit: int = 50,
) -> RowsPage:
    """A page of ``name``, newest primary key first, filtered by equality."""
    table = table_of(name)
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    keys = list(table.primary_key.columns)
    statement = select(table).where(*_where(table, filters))
    if cursor is not None:
        values = cursors.decode(_CURSOR_KIND + name, cursor, len(keys))
        statement = statement.where(after(keys, values, descending=True))
    statement = statement.order_by(*(key.desc() for key in keys)).limit(limit + 1)
    async with db.session() as session:
        found = [dict(row._mapping) for row in (await session.execute(statement)).all()]
    more = len(found) > limit
    found = found[:limit]
    next_cursor = None
    if more:
        last = found[-1]
        next_cursor = cursors.encode(_CURSOR_KIND + name, [_json(last[k.name]) for k in keys])
    return RowsPage(describe(table), [render_row(table, row) for row in found], next_cursor)


async def row(db: Database, name: str, key: dict[str, str]) -> dict[str, Any]:
    """One row by its primary key, with its relations both ways."""
    table = table_of(name)
    keys = list(table.primary_key.columns)
    missing = [k.name for k in keys if k.name not in key]
    if missing:
        raise InvalidInput(f"give the primary key: {', '.join(missing)}", field=missing[0])
    clauses = [k == parse_value(table, k.name, key[k.name]) for k in keys]
    async with db.session() as session:
        found = (await session.execute(select(table).where(*clauses))).first()
        if found is None:
            raise NotFound(f"no such row in {name}", field=keys[0].name)
        values = dict(found._mapping)
        outgoing = []
        for column in table.columns:
            for fk in column.foreign_keys:
                value = values.get(column.name)
                if value is not None:
                    outgoing.append(
                        {
                            "column": column.name,
                            "table": fk.column.table.name,
                            "target_column": fk.column.name,
                            "value": _json(value),
                        }
                    )
        incoming = []
        for other in _tables().values():
            for fk in other.foreign_keys:
                if fk.column.table is not table or fk.parent.table is not other:
                    continue
                value = values.get(fk.column.name)
                if value is None:
                    continue
                capped = select(fk.parent).where(and_(fk.parent == value)).limit(COUNT_CAP)
                count = await session.scalar(select(func.count()).select_from(capped.subquery()))
                incoming.append(
                    {
                        "table": other.name,
                        "column": fk.parent.name,
                        "value": _json(value),
                        "count": int(count or 0),
                        "capped": int(count or 0) >= COUNT_CAP,
                    }
                )
    incoming.sort(key=lambda r: (-r["count"], r["table"]))
    return {
        "table": describe(table),
        "row": render_row(table, values),
        "outgoing": outgoing,
        "incoming": incoming,
    }


__all__ = ["MASK", "MAX_LIMIT", "RowsPage", "catalog", "describe", "row", "rows", "table_of"]
