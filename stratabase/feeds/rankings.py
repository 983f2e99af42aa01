"""Trending and popular rankings by post kind, computed off the request path.

A *ranking* is the ordered top :data:`RANKING_SIZE` published posts of one list (trending,
or popular over ``days`` days) for one kind (or every kind): ``(post id, author id, score)``
triples, stored in the cache tier under ``ranking:<list>:<kind>`` (namespace ``RANKING``).

- The ``rankings.refresh`` periodic job (:mod:`stratabase.jobs.tasks.rankings`) recomputes
  every precomputed ranking (trending, popular over :data:`POPULAR_WINDOWS` days, for each
  kind and for all kinds) every :data:`REFRESH_SECONDS` = **30 s**, and stores each for
  :data:`MAX_AGE` = 45 s (one late run does not empty it).
- A request whose ranking is missing (no worker running, a cold start, an eviction, an
  uncommon ``days``) computes it itself — once per key, whatever the concurrency (the
  cache's single-flight and lock) — and stores it for :data:`REFRESH_SECONDS`.

**Staleness bound**: a ranking served is never older than :data:`MAX_AGE` (45 s): a new
like, view, comment or post changes the *order and membership* of trending and popular
within 45 s for every reader, its author included (typically within 30 s). What a ranked
page *shows* is fresh: a post edited, hidden, archived or deleted changes (or leaves) the
page at once (its body carries the tag ``post:<id>``), and stats and the viewer's like are
read on every request. Only if the database fails while recomputing is an older ranking
served (up to the namespace's ``error_ttl``) rather than an error.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.cache import Cache
from stratabase.cache.errors import CacheError
from stratabase.cache.keys import RANKING
from stratabase.db.session import Database
from stratabase.db.types import utcnow
from stratabase.enums import PostKind, PostStatus
from stratabase.models import Post, PostStats

logger = logging.getLogger("stratabase.feeds")

#: Seconds between two recomputations by the periodic job (the ``N`` of the docs).
REFRESH_SECONDS = 30
#: A ranking is never served older than this (the job's period plus one late run's slack).
MAX_AGE = RANKING.ttl
#: Posts a ranking holds; paging stops after the last.
RANKING_SIZE = 1_000
#: Popular windows (days) the job precomputes; other windows are computed on demand.
POPULAR_WINDOWS = (1, 7, 30)
#: Trending looks at posts published in this window, at most this many of the newest.
TRENDING_WINDOW = timedelta(days=3)
TRENDING_CANDIDATES = 1_000
#: Hacker-News style gravity: score = engagement / (age_hours + 2) ** GRAVITY.
GRAVITY = 1.5


@dataclass(frozen=True)
class RankedPost:
    """One place in a ranking: enough to filter (author) and to show (score) without a read."""

    post_id: int
    author_id: int
    score: float


@dataclass(frozen=True)
class Ranking:
    """An ordered ranking and when it was computed (the version a cursor is pinned to)."""

    list_name: str
    kind: PostKind | None
    computed_at: datetime
    entries: tuple[RankedPost, ...]

    @property
    def version(self) -> str:
        """The computation time as text: a cursor compares it to detect a newer ranking."""
        return self.computed_at.isoformat()

    def to_json(self) -> dict[str, Any]:
        """The compact cache form (entries as ``[post, author, score]`` triples)."""
        return {
            "list": self.list_name,
            "kind": self.kind.value if self.kind else None,
            "at": self.version,
            "entries": [[e.post_id, e.author_id, e.score] for e in self.entries],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Ranking:
        """Rebuild a ranking from :meth:`to_json`'s form, as read from the cache."""
        return cls(
            list_name=data["list"],
            kind=PostKind(data["kind"]) if data["kind"] else None,
            computed_at=datetime.fromisoformat(data["at"]),
            entries=tuple(RankedPost(int(p), int(a), float(s)) for p, a, s in data["entries"]),
        )


def list_name(days: int | None) -> str:
    """``trending`` (``days`` None) or ``popular:<days>``."""
    return "trending" if days is None else f"popular:{days}"


def ranking_key(days: int | None, kind: PostKind | None) -> str:
    """``ranking:trending:<kind|all>`` or ``ranking:popular:<days>:<kind|all>``."""
    return RANKING.key(list_name(days), kind.value if kind else "all")


def trending_score(
    likes: int, comments: int, views: int, published_at: datetime, now: datetime
) -> float:
    """Engagement decayed by age: newer posts need less engagement to rank as high."""
    age_hours = max(0.0, (now - published_at).total_seconds() / 3600)
    engagement = likes + 2 * comments + views / 10
    return round(engagement / math.pow(age_hours + 2, GRAVITY), 9)


async def compute(
    session: AsyncSession, days: int | None, kind: PostKind | None, now: datetime
) -> Ranking:
    """One ranking, in one statement (index-served: ``ix_posts_status_published_at`` for
    trending's candidates, ``ix_post_stats_likes`` for popular)."""
    published = [Post.status == PostStatus.PUBLISHED]
    if kind is not None:
        published.append(Post.kind == kind)
    entries: list[RankedPost]
    if days is None:
        rows = await session.execute(
            select(
                Post.id,
                Post.author_id,
                Post.published_at,
                PostStats.likes,
                PostStats.comments,
                PostStats.views,
            )
            .join(PostStats, PostStats.post_id == Post.id)
            .where(*published, Post.published_at >= now - TRENDING_WINDOW)
            .order_by(Post.published_at.desc(), Post.id.desc())
            .limit(TRENDING_CANDIDATES)
        )
        scored = [
            RankedPost(
                post_id,
                author_id,
                trending_score(likes, comments, views, published_at or now, now),
            )
            for post_id, author_id, published_at, likes, comments, views in rows
        ]
        scored.sort(key=lambda e: (e.score, e.post_id), reverse=True)
        entries = scored[:RANKING_SIZE]
    else:
        liked = await session.execute(
            select(Post.id, Post.author_id, PostStats.likes)
            .join(PostStats, PostStats.post_id == Post.id)
            .where(*published, Post.published_at >= now - timedelta(days=days))
            .order_by(PostStats.likes.desc(), Post.id.desc())
            .limit(RANKING_SIZE)
        )
        entries = [
            RankedPost(post_id, author_id, float(likes)) for post_id, author_id, likes in liked
        ]
    return Ranking(list_name(days), kind, now, tuple(entries))


async def get(
    db: Database, cache: Cache | None, days: int | None, kind: PostKind | None
) -> Ranking:
    """The current ranking: the job's, else computed here once and stored (see the module
    docstring for the bound)."""

    async def load() -> dict[str, Any]:
        async with db.session() as session:
            return (await compute(session, days, kind, utcnow())).to_json()

    if cache is None:
        return Ranking.from_json(await load())
    key = ranking_key(days, kind)
    data = await cache.get_or_load(key, load, ttl=float(REFRESH_SECONDS))
    parsed = _parsed.get(key)
    if parsed is None or parsed.version != data["at"]:
        parsed = _parsed[key] = Ranking.from_json(data)
    return parsed


#: The last ranking parsed per key in this process: a hit on an unchanged ranking does not
#: rebuild a thousand entries (bounded by the number of keys: kinds x lists).
_parsed: dict[str, Ranking] = {}


def precomputed() -> Iterable[tuple[int | None, PostKind | None]]:
    """Every ``(days, kind)`` the job keeps fresh: trending and the popular windows, for
    each kind and for all kinds."""
    kinds: list[PostKind | None] = [None, *PostKind]
    for days in (None, *POPULAR_WINDOWS):
        for kind in kinds:
            yield days, kind


async def refresh(db: Database, cache: Cache) -> int:
    """Recompute and store every precomputed ranking (one read session, one statement
    each, then one cache write each, in turn on one connection); returns how many were
    stored. A write the cache refuses is skipped: that ranking is computed on demand."""
    now = utcnow()
    targets = list(precomputed())
    async with db.session() as session:
        rankings = [await compute(session, days, kind, now) for days, kind in targets]
    stored = 0
    for (days, kind), ranking in zip(targets, rankings, strict=True):
        try:
            await cache.set(ranking_key(days, kind), ranking.to_json(), ttl=float(MAX_AGE))
        except CacheError:
            logger.warning("ranking %s not stored: the cache refused it", ranking_key(days, kind))
            continue
        stored += 1
    return stored
