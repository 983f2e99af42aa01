"""Alembic environment: runs on a connection we hand it, or builds one from settings.

``stratabase migrate`` passes its own connection in ``config.attributes["connection"]``;
the ``alembic`` command line (for writing new revisions) falls back to STRATABASE_DATABASE_URL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection

import stratabase.models  # noqa: F401  (registers every table)
from stratabase.db.base import metadata
from stratabase.db.dialect_only import declared_on

config = context.config

#: Tables the database holds that are not models: SQLite's FTS5 search index (``search_fts``)
#: and its shadow tables (``search_fts_data``, ``_idx``, ``_docsize``, ``_config``), created by
#: migration 0003 and kept in step by triggers.
_UNMODELLED_PREFIX = "search_fts"


def _include_name(name: str | None, type_: str, parent_names: Mapping[Any, Any]) -> bool:
    """Keep autogenerate (and so ``alembic check``) away from the unmodelled tables."""
    return not (type_ == "table" and name is not None and name.startswith(_UNMODELLED_PREFIX))


def _include_object(dialect: str) -> Any:
    """Compare only what this backend holds: the ledger's keys exist on SQLite alone."""

    def include(item: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        return reflected or declared_on(item, dialect)

    return include


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=_include_name,
        include_object=_include_object(connection.dialect.name),
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine() -> None:
    from stratabase.db.engine import Engines
    from stratabase.settings import load_settings

    engines = Engines(load_settings())
    try:
        async with engines.engine.connect() as connection:
            await connection.run_sync(_configure)
            await connection.commit()
    finally:
        await engines.dispose()


connection = config.attributes.get("connection")
if connection is not None:
    _configure(connection)
elif context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run `stratabase migrate`")
else:
    asyncio.run(_run_with_own_engine())
