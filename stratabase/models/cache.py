"""What the cache needs to survive a process death: durable invalidations and a generation.

``cache_invalidations`` is an outbox: a write path's tags and keys are inserted in the same
transaction as the write, delivered to Redis after commit and then deleted. A row still
present was not (known to be) delivered: the writer died, or Redis was down. Any process
that reaches Redis after an outage, or starts, replays the rows before serving Redis.

``cache_generation`` is one counter that commands outside the serving processes (the CLI)
bump after they change data behind the API; every process checks it now and then and
flushes its in-process tier when it moved.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from stratabase.db.base import Base
from stratabase.db.types import utcnow

#: The cache's own tables: its generation check and outbox replays run at most every 0.5 s
#: per process, not per request, so statement counts per request leave them out.
BOOKKEEPING_TABLES = ("cache_generation", "cache_invalidations")


class CacheInvalidation(Base):
    """Tags and keys to invalidate, written with the change that makes them stale."""

    __tablename__ = "cache_invalidations"
    __table_args__ = (Index("ix_cache_invalidations_created_at", "created_at"),)

    #: Random token chosen by the writer (known before the insert is flushed).
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    keys: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CacheGeneration(Base):
    """The single row (id 1) whose counter the CLI bumps after changing data."""

    __tablename__ = "cache_generation"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    generation: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
