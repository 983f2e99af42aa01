"""Index usage (PostgreSQL's ``pg_stat_user_indexes``) and index suggestions for the
statements of the slow-query log, as the seeds' ``getCommonIndexes`` did.

The suggestion is a heuristic, not a planner: the columns a slow statement filters or
sorts on (``table.column = ?``, ``IN``, ranges, ``ORDER BY``) that lead no index of their
table. Read them with ``EXPLAIN`` before creating one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import text

from stratabase.db.session import Database
from stratabase.observability.slowlog import SlowQuery

__all__ = ["IndexSuggestion", "IndexUsage", "index_usage", "suggest_indexes"]

#: ``table.column <op>`` in a WHERE/ON clause, or ``ORDER BY table.column``.
_PREDICATE = re.compile(
    r'"?(\w+)"?\."?(\w+)"?\s*(?:=|<>|!=|<=|>=|<|>|\bIN\b|\bLIKE\b|\bIS\b|\bBETWEEN\b)',
    re.IGNORECASE,
)
_ORDER_BY = re.compile(r'ORDER BY\s+"?(\w+)"?\."?(\w+)"?', re.IGNORECASE)
_INDEX_COLUMNS = re.compile(r"\((.*)\)")


@dataclass(frozen=True)
class IndexUsage:
    """One index: how often the planner used it and how big it is."""

    table: str
    index: str
    scans: int
    tuples_read: int
    size_bytes: int


@dataclass(frozen=True)
class IndexSuggestion:
    """An index that would lead with a column a slow statement filters or sorts on."""

    table: str
    column: str
    statement: str
    total_ms: float
    ddl: str


async def index_usage(db: Database) -> list[IndexUsage]:
    """Every index of the current schema, least used first (PostgreSQL only: ValueError on
    SQLite, which keeps no index statistics)."""
    if db.backend != "postgres":
        raise ValueError("index usage needs PostgreSQL: SQLite keeps no index statistics")
    statement = text(
        "SELECT relname, indexrelname, idx_scan, idx_tup_read,"
        " pg_relation_size(indexrelid) FROM pg_stat_user_indexes"
        " WHERE schemaname = current_schema() ORDER BY idx_scan, relname, indexrelname"
    )
    async with db.session() as session:
        rows = (await session.execute(statement)).all()
    return [
        IndexUsage(str(table), str(index), int(scans), int(read), int(size))
        for table, index, scans, read, size in rows
    ]


async def _leading_columns(db: Database) -> dict[str, set[str]]:
    statement = text(
        "SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
    )
    async with db.session() as session:
        rows = (await session.execute(statement)).all()
    leading: dict[str, set[str]] = {}
    for table, definition in rows:
        match = _INDEX_COLUMNS.search(str(definition))
        if match:
            first = match.group(1).split(",")[0].strip().strip('"').split(" ")[0]
            leading.setdefault(str(table), set()).add(first)
    return leading


def candidate_columns(sql: str) -> list[tuple[str, str]]:
    """``(table, column)`` pairs a statement filters or sorts on, in order, once each."""
    seen: list[tuple[str, str]] = []
    for pattern in (_PREDICATE, _ORDER_BY):
        for table, column in pattern.findall(sql):
            pair = (table.lower(), column.lower())
            if pair not in seen:
                seen.append(pair)
    return seen


async def suggest_indexes(db: Database, statements: list[SlowQuery]) -> list[IndexSuggestion]:
    """For each slow statement (worst first), the columns it filters or sorts on that lead
    no index of their table (PostgreSQL only)."""
    if db.backend != "postgres":
        raise ValueError("index suggestions need PostgreSQL: SQLite keeps no index statistics")
    leading = await _leading_columns(db)
    suggestions: list[IndexSuggestion] = []
    done: set[tuple[str, str]] = set()
    for slow in statements:
        for table, column in candidate_columns(slow.query):
            if table not in leading or column in leading[table] or (table, column) in done:
                continue
            done.add((table, column))
            suggestions.append(
                IndexSuggestion(
                    table=table,
                    column=column,
                    statement=slow.query,
                    total_ms=slow.total_ms,
                    ddl=f"CREATE INDEX CONCURRENTLY ix_{table}_{column} ON {table} ({column});",
                )
            )
    return suggestions
