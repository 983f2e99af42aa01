"""Ranked search over posts or users, with highlighted snippets.

PostgreSQL: ``websearch_to_tsquery`` against the GIN-indexed tsvector, ranked by
``ts_rank_cd`` (title weighted above body). SQLite: the same websearch syntax parsed here
and turned into an all-quoted FTS5 ``MATCH`` on the ``search_fts`` index, ranked by bm25
(title weighted above body; see :mod:`stratabase.search.fts`). Rank is an integer on both,
so ``(rank, id)`` keyset cursors are exact. Any query string gives results or a 422 (empty,
too long): a parse can never fail, because our parser accepts everything, PostgreSQL's
websearch parser never raises, and FTS5 only ever sees quoted strings.

The ordering contract (docs/search.md): search ranks a bounded candidate set, never every
match. The candidates are the :data:`CANDIDATES` newest matches — highest
``search_documents.id``: a document is numbered when it enters the index, and a rebuild
numbers users, then posts, in id order, so after a seed they are the newest posts. Hits are
ordered by rank descending, then id descending; the cursor walks the candidates and there
is no page past them (a query lists at most ``CANDIDATES`` hits). A query with fewer
matches ranks them all.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal, TypedDict, cast

from sqlalchemy import ColumnElement, func, select
from sqlalchemy import cast as sql_cast
from sqlalchemy import text as sql
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import BigInteger

from stratabase.auth.principal import Principal
from stratabase.cache import Cache
from stratabase.cache.keys import SEARCH, TAG_SEARCH
from stratabase.content import queries as content_queries
from stratabase.content.results import PublicUser
from stratabase.db.session import Database
from stratabase.enums import UserStatus
from stratabase.exceptions import InvalidInput
from stratabase.feeds import pages
from stratabase.models import Post, SearchDocument, User
from stratabase.pagination import CursorCodec, Page
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


class SearchHit(TypedDict):
    """One ranked match. A ``TypedDict``, not a class: a page of hits is cached as JSON and
    handed back as is, with only the post's counters and the viewer's like spliced in per
    request (as for post lists), so a cached page costs no conversion.

    ``title`` and ``snippet`` are HTML-escaped, matches in ``<mark>``; ``post`` (a post
    answer as JSON data, see :class:`stratabase.content.results.PostAnswer`) or ``user`` is
    set, by ``type``."""

    #: ``post`` or ``user``.
    type: str
    id: int
    rank: int
    title: str
    snippet: str
    post: pages.PostJson | None
    user: PublicUser | None


class _HitPage(TypedDict):
    """A cached page of hits and its next cursor."""

    items: list[SearchHit]
    next: str | None


#: Ranking looks at most at this many matches: the newest (highest document id, see the
#: module docstring). A query pages through at most this many results.
CANDIDATES = 200
#: PostgreSQL: what a match read through the GIN index costs, in rows of an ordered walk.
GIN_COST_RATIO = 5.0


def validate_query(text: str) -> str:
    """The cleaned query, or :class:`InvalidInput` on field ``q`` if empty or too long."""
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
    exact_counters: bool = False,
) -> Page[SearchHit]:
    """A page of ranked hits. Pages are cached per (kind, normalised query, cursor, limit,
    viewer class) with the tag ``search``, which every write of an indexed post and every
    sign-up and account status change invalidate after commit, and the viewer's
    ``feed:<id>``; post stats and the viewer's like are read fresh. Only active accounts
    are found (suspended and deleted ones are not). Nothing is cached without ``cache``.
    ``exact_counters``: anonymous counters from the database (one statement), not the cache."""
    cleaned = validate_query(text)
    parsed = parse_query(cleaned)
    if parsed.empty:  # only punctuation or only exclusions: nothing can rank
        return Page([], None)

    async def load() -> dict[str, Any]:
        # As JSON data for the page cache, which holds any JSON object.
        return cast(
            dict[str, Any],
            await _search_page(db, viewer, cleaned, parsed, kind, codec, cursor, limit),
        )

    if cache is None:
        page = cast(_HitPage, await load())
    else:
        key = pages.page_key(SEARCH, kind, viewer, cleaned, cursor, limit)
        tags = [TAG_SEARCH, *pages.viewer_tags(viewer)]
        page = cast(_HitPage, await pages.cached_page(cache, key, load, tags))
    if kind == "users":
        return Page(page["items"], page["next"])
    items = page["items"]
    bodies = [item["post"] for item in items if item["post"] is not None]
    posts = await pages.with_extras(db, viewer, bodies, cache=None if exact_counters else cache)
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
) -> _HitPage:
    """``{"items": hits, "next": cursor}``; post hits carry bodies without stats."""
    cursor_kind = f"search:{kind}:{cleaned}"
    position = tuple(codec.decode(cursor_kind, cursor, 2)) if cursor else None

    def scope(ref_id: Any) -> list[ColumnElement[bool]]:
        """Who may be found: active accounts; posts by authors the viewer has not hidden."""
        if kind == "users":  # suspended and deleted accounts are not found
            active = select(User.id).where(User.id == ref_id, User.status == UserStatus.ACTIVE)
            return [active.exists()]  # a key lookup per candidate, never a scan of users
        if viewer is not None:
            return [~ref_id.in_(select(Post.id).where(hidden_authors(viewer.user_id)))]
        return []

    async with db.session() as session:
        # A different index, not a spelling: tsvector + GIN on PostgreSQL, FTS5 on SQLite.
        if dialect_name(session) == "postgresql":
            candidates = await _postgres_candidates(session, cleaned, kind, scope)
        else:
            expression = fts.match_expression(parsed)
            if expression is None:  # nothing the index can hold (e.g. only underscores)
                return {"items": [], "next": None}
            candidates = await _sqlite_candidates(session, expression, kind, scope)
        # (rank, ref_id) descending: the order of the page and of its keyset cursor.
        ordered = sorted(((rank, ref_id) for ref_id, rank in candidates), reverse=True)
        if position is not None:
            ordered = [key for key in ordered if key < position]
        more = len(ordered) > limit
        chosen = ordered[:limit]
        docs = {
            doc.ref_id: doc
            for doc in await session.scalars(
                select(SearchDocument).where(
                    SearchDocument.kind == kind[:-1],
                    SearchDocument.ref_id.in_([ref_id for _, ref_id in chosen]),
                )
            )
        }
        rows = [(docs[ref_id], rank) for rank, ref_id in chosen if ref_id in docs]
        items = await _hydrate(session, kind, rows, parsed, viewer)
    next_cursor = codec.encode(cursor_kind, list(chosen[-1])) if more else None
    return {"items": items, "next": next_cursor}


Scope = Callable[[Any], list[ColumnElement[bool]]]


async def _postgres_candidates(
    session: AsyncSession, cleaned: str, kind: Kind, scope: Scope
) -> list[tuple[int, int]]:
    """``(ref_id, rank)`` of the :data:`CANDIDATES` newest matches.

    Two plans, chosen from the planner's own estimate of the matches (one ``EXPLAIN``, well
    under a millisecond), each bounded. A common query walks the newest post documents by
    id and tests each (about 1.5 µs a row), stopping at the :data:`CANDIDATES`-th match —
    within a window three times what the estimate needs; a rarer one reads its matches from
    the GIN index (about 8 µs each: one heap visit per match). The walk wins when matches
    are dense: ``matches² > CANDIDATES * documents / GIN_COST_RATIO``. If the walk falls
    short (the estimate was high) the GIN plan answers. Users: the GIN index (a name is in
    few accounts). Ranks are computed for the candidates only."""
    query = func.websearch_to_tsquery(TS_CONFIG, strip_accents(cleaned))
    if kind == "posts":
        expected, documents = await _estimates(session, strip_accents(cleaned))
        if expected * expected * GIN_COST_RATIO > CANDIDATES * documents:
            window = int(min(documents, 3 * CANDIDATES * documents / expected)) + CANDIDATES
            recent = (
                select(SearchDocument.id, SearchDocument.ref_id, SearchDocument.vector)
                .where(SearchDocument.kind == "post")
                .order_by(SearchDocument.id.desc())
                .limit(window)
                .subquery()
            )
            found = await _ranked(session, recent, query, scope, order=recent.c.id.desc())
            if len(found) >= CANDIDATES:
                return found
    # id + 0: sorted after the GIN lookup, never an ordered walk over every document
    return await _ranked(
        session,
        SearchDocument,
        query,
        [SearchDocument.kind == kind[:-1], *scope(SearchDocument.ref_id)],
        order=(SearchDocument.id + 0).desc(),
    )


_ESTIMATE = sql(
    "EXPLAIN (FORMAT JSON) "
    "SELECT 1 FROM search_documents WHERE kind = 'post' "
    f"AND vector @@ websearch_to_tsquery('{TS_CONFIG}', :q) "
    "UNION ALL SELECT 1 FROM search_documents WHERE kind = 'post'"
)


async def _estimates(session: AsyncSession, text_query: str) -> tuple[float, float]:
    """The planner's estimates of (matching post documents, post documents)."""
    raw = (await session.execute(_ESTIMATE, {"q": text_query})).scalar_one()
    plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
    rows = [float(part["Plan Rows"]) for part in plan.get("Plans", [])]
    if len(rows) != 2:  # an unexpected plan shape: assume sparse (the GIN plan is exact)
        return 0.0, 1.0
    return rows[0], max(rows[1], 1.0)


async def _ranked(
    session: AsyncSession,
    source: Any,
    query: ColumnElement[Any],
    scope: Scope | list[ColumnElement[bool]],
    *,
    order: Any,
) -> list[tuple[int, int]]:
    """``(ref_id, rank)`` of the first :data:`CANDIDATES` matches of ``source`` in ``order``."""
    columns = source.c if hasattr(source, "c") else source
    conditions = scope(columns.ref_id) if callable(scope) else scope
    candidates = (
        select(columns.ref_id, columns.vector)
        .where(columns.vector.op("@@")(query), *conditions)
        .order_by(order)
        .limit(CANDIDATES)
        .subquery()
    )
    rank = sql_cast(func.ts_rank_cd(candidates.c.vector, query) * 1_000_000, BigInteger)
    rows = await session.execute(select(candidates.c.ref_id, rank))
    return [(int(ref_id), int(value)) for ref_id, value in rows]


async def _sqlite_candidates(
    session: AsyncSession, expression: str, kind: Kind, scope: Scope
) -> list[tuple[int, int]]:
    """``(ref_id, rank)`` of the :data:`CANDIDATES` newest matches: FTS5 walks its doclists
    in descending rowid order and stops at the limit; bm25 runs for those rows only."""
    matches, rank = fts.match(expression)
    statement = (
        select(SearchDocument.ref_id, rank)
        .select_from(fts.fts_table)
        .join(SearchDocument, SearchDocument.id == fts.fts_table.c.rowid)
        .where(matches, SearchDocument.kind == kind[:-1], *scope(SearchDocument.ref_id))
        .order_by(fts.fts_table.c.rowid.desc())
        .limit(CANDIDATES)
    )
    return [(int(ref_id), int(value)) for ref_id, value in await session.execute(statement)]


async def _hydrate(
    session: AsyncSession,
    kind: Kind,
    rows: list[Any],
    parsed: ParsedQuery,
    viewer: Principal | None,
) -> list[SearchHit]:
    ids = [doc.ref_id for doc, _ in rows]
    posts: dict[int, pages.PostJson] = {}
    users: dict[int, PublicUser] = {}
    if kind == "posts":
        found = await content_queries.posts_by_ids(session, ids, viewer)
        posts = {p["id"]: p for p in await pages.json_bodies(session, found)}
    else:
        for row in await session.scalars(select(User).where(User.id.in_(ids))):
            users[row.id] = content_queries.public_user(row)
    results: list[SearchHit] = []
    for doc, rank in rows:
        post, user = posts.get(doc.ref_id), users.get(doc.ref_id)
        if post is None and user is None:
            continue
        results.append(
            {
                "type": kind[:-1],
                "id": doc.ref_id,
                "rank": int(rank),
                "title": snippet(doc.title, parsed, width=40),
                "snippet": snippet(doc.body, parsed),
                "post": post,
                "user": user,
            }
        )
    return results
