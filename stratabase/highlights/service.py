"""Highlights: a user's selection of a post's block, checked against that block's text.

A highlight names a block by its index in the post's ``content_blocks`` and a half-open
range of code points of the block's text: a paragraph's, heading's or quote's ``text``,
a list's items joined by newlines, a code block's ``code``. Images and embeds have no
text to select (422 on ``block_index``). The selected text is stored with the highlight,
so a later edit of the post does not change what the reader marked.

Only the post's readers may highlight it (the post must be visible to them). A reader sees
the text of their own highlights only; everyone else's are counts per block. Only the
owner deletes a highlight; anyone else gets 404, as if it did not exist.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.auth.principal import Principal
from stratabase.chat.keyset import id_page
from stratabase.content.queries import get_visible_post
from stratabase.db.session import Database
from stratabase.exceptions import InvalidInput, NotFound
from stratabase.highlights.schemas import (
    BlockCount,
    HighlightCreate,
    HighlightRead,
    PostHighlights,
)
from stratabase.models import Highlight
from stratabase.pagination import CursorCodec, Page

__all__ = ["block_text", "create", "delete_mine", "list_mine", "post_highlights"]


def block_text(block: Any) -> str | None:
    """The selectable text of a stored block, or None (image, embed, unknown)."""
    if not isinstance(block, dict):
        return None
    kind = block.get("type")
    if kind in ("paragraph", "heading", "quote"):
        text = block.get("text")
    elif kind == "list":
        items = block.get("items")
        text = "\n".join(str(i) for i in items) if isinstance(items, list) else None
    elif kind == "code":
        text = block.get("code")
    else:
        text = None
    return text if isinstance(text, str) and text else None


def _selection(blocks: list[Any], data: HighlightCreate) -> str:
    if data.block_index >= len(blocks):
        raise InvalidInput(
            f"the post has {len(blocks)} blocks; there is no block {data.block_index}",
            field="block_index",
        )
    text = block_text(blocks[data.block_index])
    if text is None:
        raise InvalidInput(
            f"block {data.block_index} has no text to highlight", field="block_index"
        )
    if data.end_offset > len(text):
        raise InvalidInput(
            f"end_offset {data.end_offset} is past the block's {len(text)} characters",
            field="end_offset",
        )
    if data.start_offset >= data.end_offset:
        raise InvalidInput("start_offset must be before end_offset", field="start_offset")
    return text[data.start_offset : data.end_offset]


async def create(
    db: Database, principal: Principal, post_id: int, data: HighlightCreate
) -> HighlightRead:
    """Highlight a passage of a post the caller can see; 422 names the offending field."""
    principal.require_writer()

    async def work(session: AsyncSession) -> HighlightRead:
        post = await get_visible_post(session, post_id, principal)
        blocks = post.content_blocks if isinstance(post.content_blocks, list) else []
        row = Highlight(
            user_id=principal.user_id,
            post_id=post_id,
            block_index=data.block_index,
            start_offset=data.start_offset,
            end_offset=data.end_offset,
            text=_selection(blocks, data),
            note=data.note or None,
        )
        session.add(row)
        await session.flush()
        return HighlightRead.model_validate(row)

    return await db.transaction(work)


async def list_mine(
    db: Database,
    principal: Principal,
    *,
    post_id: int | None,
    codec: CursorCodec,
    cursor: str | None,
    limit: int,
) -> Page[HighlightRead]:
    """The caller's highlights, newest first, optionally of one post."""
    statement = select(Highlight).where(Highlight.user_id == principal.user_id)
    if post_id is not None:
        statement = statement.where(Highlight.post_id == post_id)
    async with db.session() as session:
        page = await id_page(
            session,
            statement,
            Highlight.id,
            kind=f"highlights:{principal.user_id}:{post_id}",
            codec=codec,
            cursor=cursor,
            limit=limit,
            descending=True,
        )
    return Page([HighlightRead.model_validate(h) for h in page.items], page.next_cursor)


async def post_highlights(db: Database, viewer: Principal | None, post_id: int) -> PostHighlights:
    """Counts per block of everyone's highlights of a visible post, and the viewer's own
    with their text (at most 200: the newest)."""
    async with db.session() as session:
        await get_visible_post(session, post_id, viewer)
        rows = await session.execute(
            select(Highlight.block_index, func.count())
            .where(Highlight.post_id == post_id)
            .group_by(Highlight.block_index)
            .order_by(Highlight.block_index)
        )
        blocks = [BlockCount(block_index=b, count=n) for b, n in rows]
        mine: list[HighlightRead] = []
        if viewer is not None:
            own = await session.execute(
                select(Highlight)
                .where(Highlight.post_id == post_id, Highlight.user_id == viewer.user_id)
                .order_by(Highlight.id.desc())
                .limit(200)
            )
            mine = [HighlightRead.model_validate(h) for h in own.scalars()]
    return PostHighlights(
        post_id=post_id, total=sum(b.count for b in blocks), blocks=blocks, mine=mine
    )


async def delete_mine(db: Database, principal: Principal, highlight_id: int) -> None:
    """Delete one of the caller's highlights; NotFound for anyone else's."""
    principal.require_writer()

    async def work(session: AsyncSession) -> None:
        done = await session.execute(
            delete(Highlight).where(
                Highlight.id == highlight_id, Highlight.user_id == principal.user_id
            )
        )
        if not done.rowcount:  # type: ignore[attr-defined]
            raise NotFound(f"highlight {highlight_id} does not exist", field="highlight_id")

    await db.transaction(work)
