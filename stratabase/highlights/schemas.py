"""What highlight clients send and get back."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

#: Past the longest block text (a list: 100 items of 2,000 characters).
MAX_OFFSET = 250_000
#: Longest note a highlight may carry.
MAX_NOTE = 2_000


class HighlightCreate(BaseModel):
    """A selection ``[start_offset, end_offset)`` of one block's text (Unicode code points,
    as Python and JavaScript's ``Array.from(text)`` count them), with an optional note."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    block_index: int = Field(ge=0, le=199)
    start_offset: int = Field(ge=0, le=MAX_OFFSET)
    end_offset: int = Field(ge=1, le=MAX_OFFSET)
    note: str | None = Field(default=None, max_length=MAX_NOTE)


class HighlightRead(BaseModel):
    """One of your highlights, with the text it selects."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    post_id: int
    block_index: int
    start_offset: int
    end_offset: int
    text: str
    note: str | None
    created_at: datetime


class BlockCount(BaseModel):
    """How many highlights (everyone's) fall on one block."""

    block_index: int
    count: int


class PostHighlights(BaseModel):
    """A post's highlights as a reader sees them: counts per block for everyone's, the
    text only of the reader's own (``mine`` is empty for anonymous readers)."""

    post_id: int
    total: int
    blocks: list[BlockCount]
    mine: list[HighlightRead]
