"""Query parameters shared by list endpoints."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from stratabase.exceptions import InvalidInput
from stratabase.pagination import DEFAULT_LIMIT, MAX_LIMIT
from stratabase.schemas.common import MAX_ID

Cursor = Annotated[
    str | None, Query(max_length=1024, description="`next_cursor` of the previous page")
]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="page size")]
Fields = Annotated[
    str | None, Query(max_length=500, description="comma-separated item fields to return")
]
Ids = Annotated[
    str | None, Query(max_length=2000, description="comma-separated ids (batch read, ≤ 100)")
]

DEFAULT = DEFAULT_LIMIT


def parse_ids(ids: str | None) -> list[int] | None:
    if ids is None:
        return None
    try:
        values = [int(part) for part in ids.split(",") if part.strip()]
    except ValueError as exc:
        raise InvalidInput("ids must be comma-separated integers", field="ids") from exc
    if not values or len(values) > MAX_LIMIT or any(not 0 < v <= MAX_ID for v in values):
        raise InvalidInput(f"ids must hold 1 to {MAX_LIMIT} positive integers", field="ids")
    return values


#: A row id in a path: positive and within BIGINT, so no id can overflow the database.
ObjectId = Annotated[int, Path(ge=1, le=MAX_ID)]
