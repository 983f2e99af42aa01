"""Keyset pages ordered by ``id`` alone, for the studio's append-only lists."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.pagination import CursorCodec, Page


async def id_page(
    session: AsyncSession,
    statement: Select[Any],
    id_column: Any,
    *,
    kind: str,
    codec: CursorCodec,
    cursor: str | None,
    limit: int,
    descending: bool,
) -> Page[Any]:
    """One page of ``statement``'s rows (ORM objects) after the cursor's id, by ``id``."""
    if cursor is not None:
        (last,) = codec.decode(kind, cursor, 1)
        if not isinstance(last, int):
            codec.decode(kind, "", 1)  # raises the usual cursor error
        statement = statement.where(id_column < last if descending else id_column > last)
    order = id_column.desc() if descending else id_column.asc()
    rows: Sequence[Any] = (
        (await session.execute(statement.order_by(order).limit(limit + 1))).scalars().all()
    )
    more = len(rows) > limit
    items = list(rows[:limit])
    return Page(items, codec.encode(kind, [items[-1].id]) if more else None)
