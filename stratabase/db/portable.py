"""The few statements whose SQL spelling differs between SQLite and PostgreSQL.

Domain modules build these here instead of asking which backend they run on, so a
difference of spelling (``ON CONFLICT``, ``FOR UPDATE``, ``= ANY(array)``, isolation) is
written once. What stays outside ``db/`` is a backend branch that is a different
algorithm, not a different spelling (e.g. the PostgreSQL ledger batch function).

Locks: SQLite has no row locks; a write transaction there is ``BEGIN IMMEDIATE`` behind
the process's writer lock (:class:`~stratabase.db.session.Database`), which already
excludes every other writer, so the locking helpers are no-ops on SQLite by design.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import BigInteger, ColumnElement, Select, any_, bindparam, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.elements import TextClause

__all__ = [
    "id_in",
    "insert_or_ignore",
    "lock",
    "lock_rows_in_id_order",
    "repeatable_read",
    "upsert",
]

SelectT = TypeVar("SelectT", bound=Select[Any])
#: Rows to insert: one mapping, or a list of them (one multi-row ``INSERT``).
Values = Mapping[str, Any] | Sequence[Mapping[str, Any]]
#: ``ON CONFLICT`` columns, by name or column.
Target = Sequence[Any]
#: ``DO UPDATE SET``: the columns that take the proposed row's value, or a function of the
#: proposed row (``excluded``) giving ``{column: expression}``.
Update = Sequence[str] | Callable[[Any], Mapping[str, Any]]


def _on_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _insert(session: AsyncSession, table: Any) -> Any:
    """The backend's ``INSERT`` construct, the one that knows ``ON CONFLICT``."""
    return (postgresql if _on_postgres(session) else sqlite).insert(table)


def insert_or_ignore(
    session: AsyncSession,
    table: Any,
    values: Values | None = None,
    *,
    on: Target | None = None,
    where: ColumnElement[bool] | TextClause | None = None,
) -> Insert:
    """``INSERT … ON CONFLICT [(on) [WHERE where]] DO NOTHING`` for the session's backend.

    Without ``on`` any unique violation skips the row. A skipped row returns nothing
    from ``RETURNING`` and counts 0 in ``rowcount``. Concurrent inserts of one key leave
    one row and raise nothing: PostgreSQL waits for the first writer, then skips.
    """
    statement = _insert(session, table)
    if values is not None:
        statement = statement.values(values)
    if on is None:
        return statement.on_conflict_do_nothing()  # type: ignore[no-any-return]
    return statement.on_conflict_do_nothing(  # type: ignore[no-any-return]
        index_elements=list(on), index_where=where
    )


def upsert(
    session: AsyncSession,
    table: Any,
    values: Values,
    *,
    on: Target,
    update: Update,
    where: ColumnElement[bool] | TextClause | None = None,
) -> Insert:
    """``INSERT … ON CONFLICT (on) DO UPDATE`` for the session's backend.

    ``update`` names the columns that take the proposed value, or maps each column to an
    expression of the stored row and ``excluded`` (the proposed one), e.g.
    ``lambda new: {"views": PostStats.views + new.views}``. Add ``.returning(…)`` to read
    the row as stored.
    """
    statement = _insert(session, table).values(values)
    excluded = statement.excluded
    set_ = update(excluded) if callable(update) else {name: excluded[name] for name in update}
    return statement.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=list(on), index_where=where, set_=dict(set_)
    )


def lock(query: SelectT, *, skip_locked: bool = False, key_share: bool = False) -> SelectT:
    """``query`` locking the rows it reads until commit (``FOR [NO KEY] UPDATE``).

    ``key_share`` takes the weaker ``FOR NO KEY UPDATE``, which lets other transactions
    insert rows that reference the locked ones; ``skip_locked`` leaves out rows another
    transaction holds. Not rendered on SQLite (see the module docstring).
    """
    return query.with_for_update(skip_locked=skip_locked, key_share=key_share)


async def lock_rows_in_id_order(session: AsyncSession, table: Any, ids: Sequence[int]) -> None:
    """Lock the rows of ``table`` with these ids, in id order, before touching any.

    Writers that all lock in id order cannot deadlock on these rows. On SQLite
    the statement is skipped: the write transaction already excludes every other writer.
    """
    if not ids or not _on_postgres(session):
        return
    column = table.c.id if hasattr(table, "c") else table.id
    await session.execute(
        select(column)
        .where(column.in_(sorted(set(ids))))
        .order_by(column)
        .with_for_update(key_share=True)
    )


async def repeatable_read(session: AsyncSession) -> None:
    """Make the transaction just begun read one snapshot throughout.

    Call before its first query. SQLite needs nothing: a transaction there reads one
    snapshot of the WAL from its first read on.
    """
    if _on_postgres(session):
        await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))


def id_in(session: AsyncSession, column: Any, ids: Sequence[int]) -> ColumnElement[bool]:
    """``column IN ids`` as one parameter on PostgreSQL (``= ANY(:ids)``).

    One array parameter keeps the statement text the same for any number of ids, so
    PostgreSQL can reuse one generic plan; SQLite gets an ordinary ``IN``.
    """
    if _on_postgres(session):
        return column == any_(bindparam("ids", list(ids), type_=ARRAY(BigInteger)))  # type: ignore[no-any-return]
    return column.in_(list(ids))  # type: ignore[no-any-return]
