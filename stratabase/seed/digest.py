"""Read-side views of a database: row counts, size, and a content hash for determinism.

The hash dumps every table ordered by its primary key and normalises each value to the same
Python type on both backends (UTC ISO timestamps, key-sorted JSON, enum values), so equal
data gives an equal hash on SQLite and PostgreSQL.
"""

from __future__ import annotations

import enum
import hashlib
import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from stratabase.db.base import metadata

#: Columns that record when something happened to this database, not what it holds.
_VOLATILE = {("system_state", "updated_at")}
#: Tables derived from the others (rebuilt, backend-specific): not part of the content.
_DERIVED = {"search_documents"}
#: Operational state, not seeded content: the cache's outbox and generation counter.
_OPERATIONAL = {"cache_invalidations", "cache_generation"}
#: Rows of ``system_state`` that belong to the deployment, not to the seed: the generated
#: secret key (stratabase/secret_key.py keeps it there on PostgreSQL).
_DEPLOYMENT_STATE = ("secret_key",)
#: Configuration a migration writes (each plan's limits), not seeded content.
_CONFIGURATION = {"plan_limits"}
#: Every table the content hash leaves out.
NOT_CONTENT = frozenset(_DERIVED | _OPERATIONAL | _CONFIGURATION)


async def row_counts(conn: AsyncConnection) -> dict[str, int]:
    """Rows per table, every table of the models, for the seed report."""
    counts = {}
    for table in metadata.sorted_tables:
        counts[table.name] = int(
            (await conn.execute(select(func.count()).select_from(table))).scalar_one()
        )
    return counts


async def database_bytes(conn: AsyncConnection, database_url: str) -> int:
    """The database's size on disk (on SQLite the file plus its WAL)."""
    if conn.dialect.name == "postgresql":
        result = await conn.execute(text("SELECT pg_database_size(current_database())"))
        return int(result.scalar_one())
    path = Path(conn.engine.url.database or "")
    return sum(
        candidate.stat().st_size for candidate in (path, Path(f"{path}-wal")) if candidate.exists()
    )


def _normal(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    return value


async def content_hash(conn: AsyncConnection) -> str:
    """SHA-256 over every table's rows in primary-key order, normalised across backends."""
    digest = hashlib.sha256()
    for table in metadata.sorted_tables:
        if table.name in NOT_CONTENT:
            continue
        columns = [c for c in table.columns if (table.name, c.name) not in _VOLATILE]
        order = list(table.primary_key.columns) or columns
        query = select(*columns).order_by(*order)
        if table.name == "system_state":
            query = query.where(table.c.key.not_in(_DEPLOYMENT_STATE))
        result = await conn.execute(query)
        digest.update(table.name.encode())
        for row in result:
            values = [_normal(value) for value in row]
            digest.update(json.dumps(values, sort_keys=True, default=str).encode())
    return digest.hexdigest()
