"""Rebuild the whole search index from the posts and users (after a bulk load or seed).

SQLite: bulk inserts through :mod:`stratabase.search.index`, one transaction per chunk (the
FTS5 triggers follow every ``search_documents`` row). PostgreSQL: one set-based transaction
(:func:`_rebuild_postgres`) — documents are normalised in Python chunk by chunk, ``COPY``-ed
into a temporary table and turned into tsvectors in SQL by ``INSERT … SELECT``, while Python
prepares the next chunk; row-by-row inserts with per-row GIN updates took minutes on a
million posts. :func:`reindex_posts` replaces only the post documents, inside the caller's
transaction (``switch-theme``, where the users do not change).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Table, UniqueConstraint, bindparam, delete, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.schema import AddConstraint, CreateIndex

from stratabase.db.session import Database
from stratabase.db.types import UTCDateTime, utcnow
from stratabase.enums import PostStatus, UserStatus
from stratabase.models import Post, SearchDocument, User
from stratabase.search import index
from stratabase.search.text import normalise

CHUNK = 2_000
#: Rows fetched, normalised and copied at a time on PostgreSQL.
PG_CHUNK = 20_000
#: From this many documents the PostgreSQL rebuild drops the GIN and unique indexes and
#: builds them once after the insert (one sort beats a million index updates).
PG_REINDEX_MIN_DOCS = 50_000
_WORD = re.compile(r"\w+", re.UNICODE)
_TEMP = "sb_search_rebuild"
_COLUMNS = ("kind", "ref_id", "title", "body", "title_terms", "body_terms")


async def rebuild(db: Database) -> dict[str, int]:
    """Index every published post and live user; returns how many of each."""
    if db.backend == "postgres":
        return await _rebuild_postgres(db)

    async def clear(session: AsyncSession) -> None:
        await session.execute(delete(SearchDocument))

    await db.transaction(clear)
    counts = {"posts": 0, "users": 0}
    for kind, model, condition in (  # users first: see _SOURCES
        ("users", User, User.status != UserStatus.DELETED),
        ("posts", Post, Post.status == PostStatus.PUBLISHED),
    ):
        last_id = 0
        while True:

            async def chunk(
                session: AsyncSession,
                after: int = last_id,
                kind: str = kind,
                model: Any = model,
                condition: Any = condition,
            ) -> list[int]:
                rows = list(
                    await session.scalars(
                        select(model)
                        .where(condition, model.id > after)
                        .order_by(model.id)
                        .limit(CHUNK)
                    )
                )
                make = index.post_document if kind == "posts" else index.user_document
                await index.insert_many(session, [make(row) for row in rows])
                return [row.id for row in rows]

            ids = await db.transaction(chunk)
            counts[kind] += len(ids)
            if len(ids) < CHUNK:
                break
            last_id = ids[-1]
    return counts


async def reindex_posts(conn: AsyncConnection) -> int:
    """Replace every post document with the published posts', in the caller's transaction;
    returns how many posts it indexed. User documents are left as they are.

    ``switch-theme`` replaces the posts and nothing else: rebuilding only their documents,
    in the transaction that swaps the posts, costs a fraction of a full :func:`rebuild` and
    no search ever sees the old theme's documents next to the new theme's posts. Chunks of
    ``CHUNK`` posts: one SELECT and one ``executemany`` each (normalised with
    :func:`fast_terms`), never a statement per post.
    """
    postgres = conn.dialect.name == "postgresql"
    if postgres:  # as rebuild(): concurrent upserts wait, none is lost or duplicated
        await conn.exec_driver_sql("LOCK TABLE search_documents IN EXCLUSIVE MODE")
    await conn.exec_driver_sql("DELETE FROM search_documents WHERE kind = 'post'")
    vector = _VECTOR.replace("title_terms", ":title_terms").replace("body_terms", ":body_terms")
    insert = text(
        f"INSERT INTO search_documents ({', '.join(_COLUMNS)}, vector, updated_at) VALUES "
        f"(:kind, :ref_id, :title, :body, :title_terms, :body_terms, "
        f"{vector if postgres else 'NULL'}, :updated_at)"
    ).bindparams(bindparam("updated_at", type_=UTCDateTime()))
    page = text(f"{_PUBLISHED_POSTS} AND id > :after ORDER BY id LIMIT {CHUNK}")
    now, after, indexed = utcnow(), 0, 0
    while rows := (await conn.execute(page, {"after": after})).all():
        await conn.execute(insert, _post_documents(rows, now))
        indexed += len(rows)
        if len(rows) < CHUNK:
            break
        after = rows[-1][0]
    return indexed


def _post_documents(rows: Sequence[Any], now: datetime) -> list[dict[str, Any]]:
    """:func:`_post_record` as parameters, each distinct title and body normalised once
    (posts share them: seeded bodies come from a pool, a third as many as posts)."""
    titles: dict[str, str] = {}
    bodies: dict[tuple[Any, Any], tuple[str, str]] = {}
    documents = []
    for ref_id, title, summary, blocks in rows:
        if (title_terms := titles.get(title)) is None:
            title_terms = titles[title] = fast_terms(title)
        key = (summary, blocks) if isinstance(blocks, str | bytes) else None
        if key is None or (body := bodies.get(key)) is None:
            joined = _post_body(summary, blocks)
            body = (joined, fast_terms(joined))
            if key is not None:
                bodies[key] = body
        documents.append(
            {
                "kind": "post",
                "ref_id": ref_id,
                "title": title,
                "body": body[0],
                "title_terms": title_terms,
                "body_terms": body[1],
                "updated_at": now,
            }
        )
    return documents


def fast_terms(text: str) -> str:
    """:func:`stratabase.search.text.terms_string`, with shortcuts for ASCII (no accents to
    strip, ``casefold`` is ``lower``) — the same string, several times faster."""
    if text.isascii():
        return " " + " ".join(_WORD.findall(text.lower())) + " "
    words = [w.lower() if w.isascii() else normalise(w) for w in _WORD.findall(text)]
    return " " + " ".join(w for w in words if w) + " "


def _post_body(summary: str | None, blocks: Any) -> str:
    if isinstance(blocks, str | bytes):
        blocks = orjson.loads(blocks)
    return "\n".join(filter(None, [summary or "", index.block_text(blocks)]))


def _post_record(row: Any) -> tuple[str, int, str, str, str, str]:
    body = _post_body(row[2], row[3])
    return ("post", row[0], row[1], body, fast_terms(row[1]), fast_terms(body))


def _user_record(row: Any) -> tuple[str, int, str, str, str, str]:
    title, body = f"{row[1]} {row[2]}", row[3] or ""
    return ("user", row[0], title, body, fast_terms(title), fast_terms(body))


_PUBLISHED_POSTS = (
    "SELECT id, title, summary, content_blocks FROM posts "
    f"WHERE status = '{PostStatus.PUBLISHED.value}'"
)
#: Users first, then posts, each in id order: document ids grow with the post ids, and the
#: newest post documents sit at the top of the id range, where search walks first.
_SOURCES = (
    (
        "users",
        f"SELECT id, username, name, bio FROM users WHERE status <> '{UserStatus.DELETED.value}' "
        "ORDER BY id",
        _user_record,
    ),
    ("posts", f"{_PUBLISHED_POSTS} ORDER BY id", _post_record),
)
_VECTOR = (
    f"setweight(to_tsvector('{index.TS_CONFIG}', title_terms), 'A') || "
    f"setweight(to_tsvector('{index.TS_CONFIG}', body_terms), 'B')"
)
_MOVE = (
    f"INSERT INTO search_documents ({', '.join(_COLUMNS)}, vector, updated_at) "
    f"SELECT {', '.join(_COLUMNS)}, {_VECTOR}, now() FROM {_TEMP}"
)
_BULK_SETTINGS = (
    "statement_timeout = 0",
    "maintenance_work_mem = '512MB'",
    "work_mem = '256MB'",
)


async def _rebuild_postgres(db: Database) -> dict[str, int]:
    """One writing transaction: writers of ``search_documents`` wait for it (readers too when
    the indexes are rebuilt), so no concurrent upsert is lost or duplicated.

    A second connection streams the rows out with a cursor; each chunk is normalised in
    Python while the server turns the previous chunk into tsvectors (two cores busy)."""
    async with db.engine.connect() as reader, db.begin() as session:
        conn = await session.connection()
        for setting in _BULK_SETTINGS:
            await conn.exec_driver_sql(f"SET LOCAL {setting}")
        await conn.exec_driver_sql("LOCK TABLE search_documents IN EXCLUSIVE MODE")
        reindex = await _many_documents(conn)
        await _clear(conn, reindex=reindex)
        await conn.exec_driver_sql(
            f"CREATE TEMP TABLE {_TEMP} (kind text, ref_id bigint, title text, body text, "
            "title_terms text, body_terms text) ON COMMIT DROP"
        )
        writer = (await conn.get_raw_connection()).driver_connection
        source = (await reader.get_raw_connection()).driver_connection
        counts = {"posts": 0, "users": 0}
        pending: asyncio.Task[None] | None = None
        try:
            async with reader.begin():
                await reader.exec_driver_sql("SET LOCAL statement_timeout = 0")
                for kind, sql, make in _SOURCES:
                    cursor = await source.cursor(sql)
                    while rows := await cursor.fetch(PG_CHUNK):
                        records = [make(row) for row in rows]
                        if pending is not None:
                            await pending
                        pending = asyncio.create_task(_move(writer, records))
                        counts[kind] += len(rows)
            if pending is not None:
                await pending
        finally:
            if pending is not None and not pending.done():
                pending.cancel()
        if reindex:
            await _recreate_indexes(conn)
        await conn.exec_driver_sql("ANALYZE search_documents")
    return counts


async def _move(writer: Any, records: list[tuple[Any, ...]]) -> None:
    """COPY one chunk into the temporary table and from there, vectorised, into the index."""
    await writer.copy_records_to_table(_TEMP, records=records, columns=_COLUMNS)
    await writer.execute(_MOVE)
    await writer.execute(f"TRUNCATE {_TEMP}")


async def _many_documents(conn: AsyncConnection) -> bool:
    """Whether at least PG_REINDEX_MIN_DOCS documents are coming (counting stops there)."""
    found = await conn.exec_driver_sql(
        f"SELECT count(*) FROM (SELECT 1 FROM posts WHERE status = "
        f"'{PostStatus.PUBLISHED.value}' LIMIT {PG_REINDEX_MIN_DOCS}) AS wanted"
    )
    return int(found.scalar_one()) >= PG_REINDEX_MIN_DOCS


def _unique(table: Table) -> list[UniqueConstraint]:
    return sorted(
        (c for c in table.constraints if isinstance(c, UniqueConstraint)),
        key=lambda c: str(c.name),
    )


async def _clear(conn: AsyncConnection, *, reindex: bool) -> None:
    """Empty the index; for big rebuilds also drop its GIN and unique indexes."""
    table: Table = SearchDocument.__table__  # type: ignore[assignment]
    if not reindex:
        await conn.exec_driver_sql("DELETE FROM search_documents")
        return
    await conn.exec_driver_sql("TRUNCATE search_documents")
    for idx in sorted(table.indexes, key=lambda i: str(i.name)):
        await conn.exec_driver_sql(f'DROP INDEX "{idx.name}"')
    for constraint in _unique(table):
        await conn.exec_driver_sql(
            f'ALTER TABLE search_documents DROP CONSTRAINT "{constraint.name}"'
        )


async def _recreate_indexes(conn: AsyncConnection) -> None:
    """Exactly what the model declares, so migrations see no drift."""
    table: Table = SearchDocument.__table__  # type: ignore[assignment]
    for constraint in _unique(table):
        await conn.execute(AddConstraint(constraint))
    for idx in sorted(table.indexes, key=lambda i: str(i.name)):
        await conn.execute(CreateIndex(idx))
