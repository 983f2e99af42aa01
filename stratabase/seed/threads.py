"""Comment threads, likes, per-post statistics and highlights — counts equal the rows.

Likes are planned before comments are emitted, so each comment carries its exact
``like_count`` and each post's ``post_stats`` row its exact comment and like counts.
A target's k-th like comes from user ``(start + k * stride) mod users``: distinct users
per target without remembering pairs, which keeps a two-million-like plan small.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from stratabase.seed.content import ContentState
from stratabase.seed.context import DAY, Context, TableData, skewed

#: Share of likes that go to posts; the rest go to comments.
POST_LIKE_SHARE = 0.75
MAX_DEPTH = 4
COMMENT_COLUMNS = (
    "id", "post_id", "author_id", "parent_id", "root_id", "depth", "body", "like_count",
    "deleted_at", "created_at", "updated_at",
)  # fmt: skip


@dataclass
class LikePlan:
    """For each like: its target index and its rank among that target's likes."""

    post_target: array = field(default_factory=lambda: array("l"))  # type: ignore[type-arg]
    post_rank: array = field(default_factory=lambda: array("l"))  # type: ignore[type-arg]
    comment_target: array = field(default_factory=lambda: array("l"))  # type: ignore[type-arg]
    comment_rank: array = field(default_factory=lambda: array("l"))  # type: ignore[type-arg]
    post_counts: array = field(default_factory=lambda: array("l"))  # type: ignore[type-arg]
    comment_counts: array = field(default_factory=lambda: array("l"))  # type: ignore[type-arg]


def _stride(users: int) -> int:
    for stride in (7919, 104_729, 15_485_863, 1):
        if math.gcd(stride, users) == 1:
            return stride % users or 1
    return 1


def _plan(rng_random: Any, pick: Any, n: int, likes: int, users: int) -> tuple[array, ...]:  # type: ignore[type-arg]
    counts = array("l", bytes(8 * n))
    targets, ranks = array("l"), array("l")
    capacity = n * users
    likes = min(likes, capacity)
    for _ in range(likes):
        t = pick()
        while counts[t] >= users:
            t = (t + 1) % n
        ranks.append(counts[t])
        counts[t] += 1
        targets.append(t)
    return targets, ranks, counts


def plan_likes(ctx: Context, state: ContentState, comments: int) -> LikePlan:
    """Which posts and comments get how many likes (skewed: a few get most), planned
    before the rows so comment and post counters match the likes written."""
    rng = ctx.rng("likes", themed=True)
    total = ctx.size.likes
    on_posts = int(total * POST_LIKE_SHARE) if comments else total
    plan = LikePlan()
    plan.post_target, plan.post_rank, plan.post_counts = _plan(
        rng.random, skewed(rng, state.posts), state.posts, on_posts, ctx.users
    )
    if comments:
        plan.comment_target, plan.comment_rank, plan.comment_counts = _plan(
            rng.random, skewed(rng, comments), comments, total - on_posts, ctx.users
        )
    return plan


@dataclass
class ThreadState:
    """Comment facts recorded while comments are emitted (for likes and statistics)."""

    created: array = field(default_factory=lambda: array("l"))  # type: ignore[type-arg]
    per_post: array = field(default_factory=lambda: array("l"))  # type: ignore[type-arg]


def comments(ctx: Context, state: ContentState, likes: LikePlan, threads: ThreadState) -> TableData:
    """The comment threads, recording into ``threads`` what likes and stats need."""
    rng = ctx.rng("comments", themed=True)
    rand = rng.random
    total = ctx.size.comments
    post_pick = skewed(rng, state.posts)
    lines = ctx.theme.comments
    n_lines, users = len(lines), ctx.users
    at, ubase = ctx.clock.at, ctx.user_id(0)  # user_id(i) == ubase + i, inlined: hot loop
    cbase, pbase = ctx.start.offset("comments"), ctx.start.offset("posts")
    threads.per_post = array("l", bytes(8 * state.posts))

    def rows() -> Iterator[tuple[Any, ...]]:
        last = array("l", [-1]) * state.posts
        parent_of, root_of, depth_of = array("l"), array("l"), bytearray()
        created_of, per_post, like_counts = threads.created, threads.per_post, likes.comment_counts
        post_created = state.created
        for index in range(total):
            p = post_pick()
            prev = last[p]
            parent = root = -1
            depth = 0
            if prev >= 0 and rand() < 0.45:
                parent = prev if depth_of[prev] < MAX_DEPTH else parent_of[prev]
                root = root_of[parent] if root_of[parent] >= 0 else parent
                depth = depth_of[parent] + 1
                created = min(0, created_of[parent] + 60 + int(rand() * 2 * DAY))
            else:
                created = min(0, post_created[p] + 300 + int(rand() * 20 * DAY))
            last[p] = index
            parent_of.append(parent)
            root_of.append(root)
            depth_of.append(depth)
            created_of.append(created)
            per_post[p] += 1
            stamp = at(created)
            yield (
                cbase + index + 1, pbase + p + 1, ubase + int(rand() * users),
                None if parent < 0 else cbase + parent + 1, None if root < 0 else cbase + root + 1,
                depth, lines[int(rand() * n_lines)], like_counts[index] if like_counts else 0,
                at(created + 3600) if rand() < 0.02 else None, stamp, stamp,
            )  # fmt: skip

    return TableData("comments", COMMENT_COLUMNS, total, rows())


def likes_table(
    ctx: Context, state: ContentState, plan: LikePlan, threads: ThreadState
) -> TableData:
    """The likes of the plan, each dated after what it likes."""
    rng = ctx.rng("like_times", themed=True)
    rand = rng.random
    users = ctx.users
    start_mult, stride = 104_723, _stride(users)
    at, ubase = ctx.clock.at, ctx.user_id(0)  # user_id(i) == ubase + i, inlined: hot loop
    pbase, cbase = ctx.start.offset("posts"), ctx.start.offset("comments")
    count = len(plan.post_target) + len(plan.comment_target)

    def rows() -> Iterator[tuple[Any, ...]]:
        for kind, targets, ranks, created, base in (
            ("post", plan.post_target, plan.post_rank, state.created, pbase),
            ("comment", plan.comment_target, plan.comment_rank, threads.created, cbase),
        ):
            for t, k in zip(targets, ranks, strict=True):
                user = (t * start_mult + k * stride) % users
                yield (ubase + user, kind, base + t + 1, at(min(0, created[t] + int(rand() * DAY))))

    columns = ("user_id", "target_type", "target_id", "created_at")
    return TableData("likes", columns, count, rows())


def post_stats(
    ctx: Context, state: ContentState, plan: LikePlan, threads: ThreadState
) -> TableData:
    """Post counters agreeing with the likes and comments written; views are derived."""
    rng = ctx.rng("post_stats", themed=True)
    rand = rng.random
    at, pbase = ctx.clock.at, ctx.start.offset("posts")
    updated = at(0)

    def rows() -> Iterator[tuple[Any, ...]]:
        for index in range(state.posts):
            likes = plan.post_counts[index]
            replies = threads.per_post[index]
            views = likes * 20 + replies * 5 + int(rand() * 200)
            yield (pbase + index + 1, views, likes, likes // 4, replies, updated)

    columns = ("post_id", "views", "likes", "shares", "comments", "updated_at")
    return TableData("post_stats", columns, state.posts, rows())


def highlights(ctx: Context, state: ContentState) -> TableData:
    """Readers' highlights: spans of a post's paragraphs, some with a note."""
    rng = ctx.rng("highlights", themed=True)
    rand = rng.random
    count = max(1, state.posts // 10)
    at, uid, pbase = ctx.clock.at, ctx.user_id, ctx.start.offset("posts")
    hbase = ctx.start.offset("highlights")
    notes = (None, None, "Worth rereading.", "Key point.", "Disagree with this.")

    def rows() -> Iterator[tuple[Any, ...]]:
        for index in range(count):
            p = int(rand() * state.posts)
            body = state.bodies[state.kind[p]][state.body[p]]
            block, text = body.paragraphs[int(rand() * len(body.paragraphs))]
            start = int(rand() * (len(text) // 2))
            end = min(len(text), start + 20 + int(rand() * 120))
            yield (
                hbase + index + 1, uid(int(rand() * ctx.users)), pbase + p + 1, block, start,
                end, text[start:end], notes[int(rand() * len(notes))],
                at(min(0, state.created[p] + DAY)),
            )  # fmt: skip

    columns = (
        "id", "user_id", "post_id", "block_index", "start_offset", "end_offset", "text", "note",
        "created_at",
    )  # fmt: skip
    return TableData("highlights", columns, count, rows())
