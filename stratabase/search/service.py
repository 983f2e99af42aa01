"""Ranked search over posts or users, with highlighted snippets.

PostgreSQL: ``websearch_to_tsquery`` against the GIN-indexed tsvector, ranked by
``ts_rank_cd`` (title weighted above body). SQLite: the same websearch syntax parsed here
and turned into an all-quoted FTS5 ``MATCH`` on the ``search_fts`` index, ranked by bm25
(title weighted above body; see :mod:`stratabase.search.fts`). Rank is an integer on both,
so ``(rank, id)`` keyset cursors are exact. Any query string gives results or a 422 (empty,
too long): a parse can never fail, because our parser accepts everything, PostgreSQL's
websearch parser never raises, and FTS5 only ever sees quoted strings.
"""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import ColumnElement, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import BigInteger

from stratabase.auth.principal import Principal
from stratabase.cache import Cache
from stratabase.cache.keys import SEARCH, TAG_SEARCH
from stratabase.content import queries as content_queries
from stratabase.db.session import Database
from stratabase.enums import UserStatus
from stratabase.exceptions import InvalidInput
from stratabase.feeds import pages
from stratabase.models import Post, SearchDocument, User
from stratabase.pagination import CursorCodec, Page, after
from stratabase.search import fts
from stratabase.search.index import TS_CONFIG, dialect_name
from stratabase.search.text import (
    MAX_QUERY_LENGTH,
    ParsedQuery,
    clean_query,
    parse_query,
    snippet,
    strip_accents,
)
from stratabase.social.queries import hidden_authors

Kind = Literal["posts", "users"]


def _postgres_match(text: str) -> tuple[ColumnElement[bool], ColumnElement[Any]]:
    query = func.websearch_to_tsquery(TS_CONFIG, strip_accents(text))
    rank = cast(func.ts_rank_cd(SearchDocument.vector, query) * 1_000_000, BigInteger)
    return SearchDocument.vector.op("@@")(query), rank


def validate_query(text: str) -> str:
    cleaned = clean_query(text)
    if not cleaned:
        raise InvalidInput("the search query is empty", field="q")
    if len(cleaned) > MAX_QUERY_LENGTH:
        raise InvalidInput(f"the search query is longer than {MAX_QUERY_LENGTH}", field="q")
    return cleaned


async def search(
    db: Database,
    viewer: Principal | None,
    text: str,
    *,
    kind: Kind,
    codec: CursorCodec,
    cursor: str | None,
    limit: int,
    cache: Cache | None = None,
) -> Page[dict[str, Any]]:
    """A page of ranked hits. Pages are cached per (kind, normalised query, cursor, limit,
    viewer class) with the tag ``search``, which every write of an indexed post and every
    sign-up and account status change invalidate after commit, and the viewer's
    ``feed:<id>``; post stats and the viewer's like are read fresh. Only active accounts
    are found (suspended and deleted ones are not). Nothing is cached without ``cache``."""
    cleaned = validate_query(text)
    parsed = parse_query(cleaned)
    if parsed.empty:  # only punctuation or only exclusions: nothing can rank
        return Page([], None)

    async def load() -> dict[str, Any]:
        return await _search_page(db, viewer, cleaned, parsed, kind, codec, cursor, limit)

    if cache is None:
        page = await load()
    else:
        key = pages.page_key(SEARCH, kind, viewer, cleaned, cursor, limit)
        tags = [TAG_SEARCH, *pages.viewer_tags(viewer)]
        page = await pages.cached_page(cache, key, load, tags)
    if kind == "users":
        return Page(page["items"], page["next"])
    items = page["items"]
    posts = await pages.with_extras(db, viewer, [item["post"] for item in items])
    for item, post in zip(items, posts, strict=True):
        item["post"] = post
    return Page(items, page["next"])


async def _search_page(
    db: Database,
    viewer: Principal | None,
    cleaned: str,
    parsed: ParsedQuery,
    kind: Kind,
    codec: CursorCodec,
    cursor: str | None,
    limit: int,
) -> dict[str, Any]:
    """``{"items": hits, "next": cursor}``; post hits carry bodies without stats."""
    async with db.session() as session:
        # A different index, not a spelling: tsvector + GIN on PostgreSQL, FTS5 on SQLite.
        on_postgres = dialect_name(session) == "postgresql"
        if on_postgres:
            matches, rank = _postgres_match(cleaned)
        else:
            expression = fts.match_expression(parsed)
            if expression is None:  # nothing the index can hold (e.g. only underscores)
                return {"items": [], "next": None}
            matches, rank = fts.match(expression)
        rank = rank.label("search_rank")
        statement = select(SearchDocument, rank).where(SearchDocument.kind == kind[:-1], matches)
        if not on_postgres:
            statement = statement.join(fts.fts_table, fts.fts_table.c.rowid == SearchDocument.id)
        if kind == "users":  # suspended and deleted accounts are not found
            statement = statement.where(
                SearchDocument.ref_id.in_(select(User.id).where(User.status == UserStatus.ACTIVE))
            )
        elif viewer is not None:
            statement = statement.where(
                ~SearchDocument.ref_id.in_(select(Post.id).where(hidden_authors(viewer.user_id)))
            )
        cursor_kind = f"search:{kind}:{cleaned}"
        if cursor:
            values = codec.decode(cursor_kind, cursor, 2)
            statement = statement.where(
                after((rank, SearchDocument.ref_id), values, descending=True)
            )
        rows = (
            await session.execute(
                statement.order_by(rank.desc(), SearchDocument.ref_id.desc()).limit(limit + 1)
            )
        ).all()
        more = len(rows) > limit
        rows = list(rows[:limit])
        items = await _hydrate(session, kind, rows, parsed, viewer)
    next_cursor = (
        codec.encode(cursor_kind, [int(rows[-1][1]), rows[-1][0].ref_id]) if more else None
    )
    return {"items": items, "next": next_cursor}


async def _hydrate(
    session: AsyncSession,
    kind: Kind,
    rows: list[Any],
    parsed: ParsedQuery,
    viewer: Principal | None,
) -> list[dict[str, Any]]:
    ids = [doc.ref_id for doc, _ in rows]
    if kind == "posts":
        posts = await content_queries.posts_by_ids(session, ids, viewer)
        by_id = {p["id"]: p for p in await pages.json_bodies(session, posts)}
    else:
        users = await session.scalars(select(User).where(User.id.in_(ids)))
        by_id = {u.id: content_queries.public_user(u) for u in users}
    results = []
    for doc, rank in rows:
        item = by_id.get(doc.ref_id)
        if item is None:
            continue
        results.append(
            {
                "type": kind[:-1],
                "id": doc.ref_id,
                "rank": int(rank),
                "title": snippet(doc.title, parsed, width=40),
                "snippet": snippet(doc.body, parsed),
                "post": item if kind == "posts" else None,
                "user": item if kind == "users" else None,
            }
        )
    return results
