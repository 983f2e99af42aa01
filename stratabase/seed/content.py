"""Categories, tags, posts of every kind, their tags and media.

Posts are emitted in id order while their facts (kind, time, body, status) are recorded in
compact arrays that comments, likes, statistics and highlights read afterwards.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from stratabase.seed.blocks import KINDS, Body, body_pool, title_pool
from stratabase.seed.context import CONTENT_SPAN, DAY, Context, TableData, dumps, skewed
from stratabase.seed.theme import slugify
from stratabase.seed.vocabulary import vocabulary

STATUSES = ("published", "draft", "archived", "hidden")
MIME = {
    "image": ("image/jpeg", "image/png", "image/webp"),
    "video": ("video/mp4", "video/webm"),
    "audio": ("audio/mpeg", "audio/ogg"),
    "document": ("application/pdf",),
}
POST_COLUMNS = (
    "id", "author_id", "category_id", "kind", "title", "slug", "summary", "content_blocks",
    "status", "metadata", "published_at", "created_at", "updated_at",
)  # fmt: skip
MEDIA_COLUMNS = (
    "id", "post_id", "url", "type", "mime_type", "size_bytes", "width", "height",
    "duration_seconds", "alt", "position", "created_at",
)  # fmt: skip


@dataclass
class Episodes:
    """Which posts are episodes: the last ``total`` posts, ``per_project`` per project."""

    projects: int
    per_project: int

    @property
    def total(self) -> int:
        """How many posts are episodes (all at the end of the id range)."""
        return self.projects * self.per_project


@dataclass
class ContentState:
    """Facts about the posts, recorded while they are emitted, read by later tables."""

    posts: int
    episodes: Episodes
    kind: bytearray = field(default_factory=bytearray)
    status: bytearray = field(default_factory=bytearray)
    body: array = field(default_factory=lambda: array("l"))  # type: ignore[type-arg]
    created: array = field(default_factory=lambda: array("l"))  # type: ignore[type-arg]
    bodies: dict[int, list[Body]] = field(default_factory=dict)
    category_ids: list[int] = field(default_factory=list)
    tag_ids: list[int] = field(default_factory=list)

    def post_id(self, ctx: Context, index: int) -> int:
        """The id the post at ``index`` gets (after any existing posts when appending)."""
        return ctx.start.offset("posts") + index + 1

    def first_episode(self) -> int:
        """The index of the first episode: episodes are the last posts."""
        return self.posts - self.episodes.total


def plan_episodes(ctx: Context) -> Episodes:
    """How many episodes each project gets: as many as the theme has titles for, a quarter of the
    posts at most."""
    projects = ctx.organizations
    longest = max(len(idea.episode_titles) for idea in ctx.theme.projects)
    per_project = min(longest, (ctx.size.posts // 4) // projects)
    return Episodes(projects, per_project)


def categories(ctx: Context, state: ContentState) -> TableData:
    """The theme's categories, reusing those that exist (``--append``), and their ids in
    ``state``."""
    existing = ctx.start.categories
    base = ctx.start.offset("categories")
    new: list[tuple[Any, ...]] = []
    for spec in ctx.theme.categories:
        if spec.slug in existing:
            state.category_ids.append(existing[spec.slug])
            continue
        cid = base + len(new) + 1
        state.category_ids.append(cid)
        created = ctx.clock.at(-CONTENT_SPAN - DAY)
        new.append((cid, ctx.theme.name, spec.name, spec.slug, spec.description, created))
    columns = ("id", "theme", "name", "slug", "description", "created_at")
    return TableData("categories", columns, len(new), iter(new))


def tags(ctx: Context, state: ContentState) -> TableData:
    """The theme's tags, reusing those that exist (a tag is global, shared by themes), and their ids
    in ``state``."""
    existing = ctx.start.tags
    base = ctx.start.offset("tags")
    new: list[tuple[Any, ...]] = []
    for name in ctx.theme.tags:
        slug = slugify(name)
        if slug in existing:
            state.tag_ids.append(existing[slug])
            continue
        tid = base + len(new) + 1
        state.tag_ids.append(tid)
        new.append((tid, name, slug))
    return TableData("tags", ("id", "name", "slug"), len(new), iter(new))


#: Every this many posts one is published in the last :data:`RECENT_SPAN` seconds before
#: the epoch, so popular (7 days) and trending (3 days) have posts on any size of seed.
RECENT_EVERY = 40
RECENT_SPAN = 2 * DAY


def posts(ctx: Context, state: ContentState) -> TableData:
    """The posts, recording in ``state`` the facts later tables need (kind, status, body, time)."""
    rng = ctx.rng("posts", themed=True)
    rand = rng.random
    titles = title_pool(ctx.theme, ctx.seed)
    words = vocabulary(ctx.theme)
    for code, kind in enumerate(KINDS):
        state.bodies[code] = body_pool(ctx.theme, ctx.seed, kind, state.posts, words)
    pools = [state.bodies[code] for code in range(len(KINDS))]
    n_titles = len(titles.titles)
    metas = [dumps({"reading_minutes": m, "source": "seed"}) for m in range(1, 16)]
    author_pick = skewed(rng, ctx.users)
    cats = state.category_ids
    n_cats = len(cats)
    first_episode = state.first_episode()
    per_project = max(1, state.episodes.per_project)
    at, uid, base = ctx.clock.at, ctx.user_id, ctx.start.offset("posts")

    def rows() -> Iterator[tuple[Any, ...]]:
        kind_arr, status_arr, body_arr, created_arr = (
            state.kind, state.status, state.body, state.created
        )  # fmt: skip
        for index in range(state.posts):
            pid = base + index + 1
            r = rand()
            if index >= first_episode:
                kind, status, author = 3, 0, (index - first_episode) // per_project
            else:
                kind = 0 if r < 0.6 else 1 if r < 0.85 else 2
                s = rand()
                status = 0 if s < 0.85 else 1 if s < 0.93 else 2 if s < 0.97 else 3
                author = author_pick()
            pool = pools[kind]
            body_index = int(rand() * len(pool))
            body = pool[body_index]
            created_s = -int(rand() * CONTENT_SPAN)
            if index % RECENT_EVERY == 0 and kind != 3:  # the demo's "this week" is never empty
                created_s, status = created_s // (CONTENT_SPAN // RECENT_SPAN), 0
            created = at(created_s)
            t = int(rand() * n_titles)
            kind_arr.append(kind)
            status_arr.append(status)
            body_arr.append(body_index)
            created_arr.append(created_s)
            yield (
                pid, uid(author), cats[int(r * 7919) % n_cats], KINDS[kind], titles.titles[t],
                f"{titles.slugs[t]}-{pid}", body.summary, body.json, STATUSES[status],
                metas[int(rand() * 15)], created if status != 1 else None, created, created,
            )  # fmt: skip

    return TableData("posts", POST_COLUMNS, state.posts, rows())


def post_tags(ctx: Context, state: ContentState) -> TableData:
    """Zero to three tags per post, spread over the theme's tags."""
    rng = ctx.rng("post_tags", themed=True)
    rand = rng.random
    tag_ids = state.tag_ids
    n = len(tag_ids)
    counts = [(0, 1, 1, 2, 2, 3)[int(rand() * 6)] for _ in range(state.posts)]
    base = ctx.start.offset("posts")

    def rows() -> Iterator[tuple[Any, ...]]:
        for index, count in enumerate(counts):
            pid = base + index + 1
            first = int(rand() * n)
            for j in range(count):
                yield (pid, tag_ids[(first + j * 5) % n])

    return TableData("post_tags", ("post_id", "tag_id"), sum(counts), rows())


def media(ctx: Context, state: ContentState) -> TableData:
    """Videos carry their video; episodes their audio (or image); articles some images."""
    rng = ctx.rng("media", themed=True)
    rand = rng.random
    kinds = [str(kind) for kind in ctx.theme.media_kinds]
    plan: list[int] = []
    for code in state.kind:
        if code == 2 or code == 3:
            plan.append(1)
        elif code == 0:
            r = rand()
            plan.append(2 if r < 0.1 else 1 if r < 0.4 else 0)
        else:
            plan.append(0)
    at, mid = ctx.clock.at, ctx.start.offset("media")
    base = ctx.start.offset("posts")

    def rows() -> Iterator[tuple[Any, ...]]:
        nonlocal mid
        for index, count in enumerate(plan):
            pid = base + index + 1
            code = state.kind[index]
            for position in range(count):
                mid += 1
                if position == 0 and code == 2:
                    kind = "video"
                elif position == 0 and code == 3:
                    kind = "audio" if "audio" in kinds else "image"
                else:
                    kind = kinds[int(rand() * len(kinds))]
                mimes = MIME[kind]
                visual = kind in ("image", "video")
                yield (
                    mid, pid, f"https://cdn.example.com/{ctx.theme.name}/{kind}/{mid}",
                    kind, mimes[int(rand() * len(mimes))], 20_000 + int(rand() * 50_000_000),
                    1280 if visual else None, 720 if visual else None,
                    float(30 + int(rand() * 3600)) if kind in ("video", "audio") else None,
                    f"{kind} for post {pid}", position, at(state.created[index] + 60),
                )  # fmt: skip

    return TableData("media", MEDIA_COLUMNS, sum(plan), rows())
