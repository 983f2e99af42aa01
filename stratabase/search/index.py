"""Keeping the index in step with the data: called inside the writer's transaction.

A post is searchable while it is published; users are searchable unless deleted. Because
the index row is written by the same transaction as the post or user, a search never sees
a post that was rolled back, and never misses one that was committed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy import bindparam, delete, func, insert, literal, literal_column
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.db import portable
from stratabase.db.types import utcnow
from stratabase.models import SearchDocument
from stratabase.search.text import terms_string

#: PostgreSQL text search configuration: language-neutral (no stemming, no stop words),
#: which suits multilingual community content and matches the SQLite behaviour.
TS_CONFIG = "simple"


def dialect_name(session: AsyncSession) -> str:
    """``postgresql`` or ``sqlite``: which index (tsvector or FTS5) the session writes."""
    return session.get_bind().dialect.name


def block_text(blocks: list[Any]) -> str:
    """The searchable text of a post's content blocks."""
    parts: list[str] = []
    for block in blocks or []:
        if not isinstance(block, dict):
            continue
        for key in ("text", "code", "caption", "alt", "cite"):
            value = block.get(key)
            if isinstance(value, str):
                parts.append(value)
        items = block.get("items")
        if isinstance(items, list):
            parts.extend(item for item in items if isinstance(item, str))
    return "\n".join(parts)


async def upsert(session: AsyncSession, kind: str, ref_id: int, title: str, body: str) -> None:
    """Index or re-index one document (one per kind and id)."""
    values: dict[str, Any] = {
        "kind": kind,
        "ref_id": ref_id,
        "title": title,
        "body": body,
        "title_terms": terms_string(title),
        "body_terms": terms_string(body),
        "updated_at": utcnow(),
    }
    # A separate index, not a spelling: PostgreSQL keeps a tsvector column, SQLite FTS5.
    if dialect_name(session) == "postgresql":
        # Vectors are built from the normalised tokens, so accents never matter.
        values["vector"] = func.setweight(
            func.to_tsvector(TS_CONFIG, literal(values["title_terms"])), literal_column("'A'")
        ).op("||")(
            func.setweight(
                func.to_tsvector(TS_CONFIG, literal(values["body_terms"])), literal_column("'B'")
            )
        )
    replaced = [key for key in values if key not in ("kind", "ref_id")]
    await session.execute(
        portable.upsert(session, SearchDocument, values, on=["kind", "ref_id"], update=replaced)
    )


class IndexDocument(TypedDict):
    """One document as :func:`insert_many`'s statement parameters (``p_`` + column), ready
    for one executemany: a ``TypedDict`` because the driver takes the mapping as is."""

    p_kind: str
    p_ref_id: int
    p_title: str
    p_body: str
    #: Normalised tokens (:func:`~stratabase.search.text.terms_string`): what is matched.
    p_title_terms: str
    p_body_terms: str
    p_updated_at: datetime


def document(kind: str, ref_id: int, title: str, body: str) -> IndexDocument:
    """One document's parameters for :func:`insert_many`."""
    return {
        "p_kind": kind,
        "p_ref_id": ref_id,
        "p_title": title,
        "p_body": body,
        "p_title_terms": terms_string(title),
        "p_body_terms": terms_string(body),
        "p_updated_at": utcnow(),
    }


async def insert_many(session: AsyncSession, documents: list[IndexDocument]) -> None:
    """Bulk insert of new documents (from :func:`document`), one executemany."""
    if not documents:
        return
    vector: Any = None
    if dialect_name(session) == "postgresql":  # the tsvector column (see upsert)
        vector = func.setweight(
            func.to_tsvector(TS_CONFIG, bindparam("p_title_terms")), literal_column("'A'")
        ).op("||")(
            func.setweight(
                func.to_tsvector(TS_CONFIG, bindparam("p_body_terms")), literal_column("'B'")
            )
        )
    statement = insert(SearchDocument).values(
        kind=bindparam("p_kind"),
        ref_id=bindparam("p_ref_id"),
        title=bindparam("p_title"),
        body=bindparam("p_body"),
        title_terms=bindparam("p_title_terms"),
        body_terms=bindparam("p_body_terms"),
        vector=vector,
        updated_at=bindparam("p_updated_at"),
    )
    await session.execute(statement, documents)


def post_document(post: Any) -> IndexDocument:
    """A post's document: its title, and its summary and block text as the body."""
    body = "\n".join(filter(None, [post.summary or "", block_text(post.content_blocks)]))
    return document("post", post.id, post.title, body)


def user_document(user: Any) -> IndexDocument:
    """A user's document: username and name as the title, the bio as the body."""
    return document("user", user.id, f"{user.username} {user.name}", user.bio or "")


async def remove(session: AsyncSession, kind: str, ref_id: int) -> None:
    """Drop a document from the index; nothing happens if it is not there."""
    await session.execute(
        delete(SearchDocument).where(SearchDocument.kind == kind, SearchDocument.ref_id == ref_id)
    )


async def sync_post(session: AsyncSession, post: Any) -> None:
    """Index a published post; drop any other from the index."""
    if str(post.status) == "published":
        body = "\n".join(filter(None, [post.summary or "", block_text(post.content_blocks)]))
        await upsert(session, "post", post.id, post.title, body)
    else:
        await remove(session, "post", post.id)


async def sync_user(session: AsyncSession, user: Any) -> None:
    """Re-index a user after a change; a deleted user leaves the index."""
    if str(user.status) == "deleted":
        await remove(session, "user", user.id)
    else:
        await upsert(session, "user", user.id, f"{user.username} {user.name}", user.bio or "")
