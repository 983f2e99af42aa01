"""Pools of realistic post bodies built from a theme's material.

Serialising a fresh block list per post would dominate a million-post seed, so the
generator builds a pool of bodies per post kind once and posts pick one by index. The pools
grow with the seed (about one body per :data:`POSTS_PER_BODY` posts, at least
:data:`POOL_SIZE`, at most :data:`MAX_POOL_FACTOR` times it), and every body carries a
paragraph of words drawn from the theme's Zipf vocabulary (:mod:`stratabase.seed.vocabulary`),
so a rare word is in a handful of posts and a common one in most, as in real text. Every
block shape the schema documents appears: paragraph, heading, quote, list, image, code, embed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from stratabase.seed.context import dumps
from stratabase.seed.theme import Theme, slugify
from stratabase.seed.vocabulary import Vocabulary, notes, vocabulary

KINDS = ("article", "note", "video", "episode")
POOL_SIZE = {"article": 256, "note": 96, "video": 64, "episode": 64}
#: Posts per pooled body at medium and large sizes (the pools' share of posts).
POSTS_PER_BODY = 4
MAX_POOL_FACTOR = 64
IMAGE_URL = "https://picsum.photos/seed/{key}/1200/800"


@dataclass(frozen=True)
class Body:
    """One pooled post body: JSON text, summary and its paragraphs (for highlights)."""

    json: str
    summary: str
    #: (block index, text) of each paragraph block.
    paragraphs: tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class Titles:
    """Pooled titles with their slug stems; posts add their id to make slugs unique."""

    titles: tuple[str, ...]
    slugs: tuple[str, ...]


def _paragraph(rng: random.Random, theme: Theme) -> dict[str, Any]:
    return {"type": "paragraph", "text": rng.choice(theme.paragraphs)}


def _extra_block(rng: random.Random, theme: Theme, key: str) -> dict[str, Any]:
    kind = rng.choice(("heading", "quote", "list", "image", "code", "embed", "paragraph"))
    if kind == "heading":
        return {"type": "heading", "text": rng.choice(theme.headings), "level": rng.choice((2, 3))}
    if kind == "quote":
        quote = rng.choice(theme.quotes)
        return {"type": "quote", "text": quote.text, "cite": quote.cite}
    if kind == "list":
        items = rng.sample(theme.list_items, min(len(theme.list_items), rng.randint(3, 5)))
        return {"type": "list", "items": items, "ordered": rng.random() < 0.3}
    if kind == "image":
        return _image(rng, theme, key)
    if kind == "code":
        sample = rng.choice(theme.code)
        return {"type": "code", "code": sample.code, "language": sample.language}
    if kind == "embed":
        embed = rng.choice(theme.embeds)
        return {"type": "embed", "url": embed.url, "provider": embed.provider}
    return _paragraph(rng, theme)


def _image(rng: random.Random, theme: Theme, key: str) -> dict[str, Any]:
    topic = rng.choice(theme.topics)
    return {
        "type": "image",
        "url": IMAGE_URL.format(key=key),
        "alt": f"Illustration: {topic}",
        "caption": f"{topic[:1].upper()}{topic[1:]} in {rng.choice(theme.places)}.",
    }


def _blocks(
    rng: random.Random, theme: Theme, kind: str, key: str, generated: str
) -> list[dict[str, Any]]:
    words = {"type": "paragraph", "text": generated}
    if kind == "note":
        return [_paragraph(rng, theme), words]
    if kind == "video":
        embed = rng.choice(theme.embeds)
        return [
            {"type": "embed", "url": embed.url, "provider": embed.provider},
            _paragraph(rng, theme),
            words,
        ]
    blocks = [
        _paragraph(rng, theme),
        words,
        {"type": "heading", "text": theme.headings[0], "level": 2},
    ]
    if kind == "episode":
        blocks.append({"type": "list", "items": rng.sample(theme.list_items, 3), "ordered": True})
    for _ in range(rng.randint(1, 3)):
        blocks.append(_extra_block(rng, theme, f"{key}-{len(blocks)}"))
    if rng.random() < 0.5:
        blocks.append(_paragraph(rng, theme))
    return blocks


def pool_size(kind: str, posts: int) -> int:
    """Bodies pooled for ``kind`` in a seed of ``posts`` posts."""
    base = POOL_SIZE[kind]
    total = sum(POOL_SIZE.values())
    return max(base, min(base * MAX_POOL_FACTOR, base * posts // (POSTS_PER_BODY * total)))


def body_pool(
    theme: Theme, seed: int, kind: str, posts: int = 0, words: Vocabulary | None = None
) -> list[Body]:
    """The pooled bodies of ``kind`` (``words``: the theme's vocabulary, if already built)."""
    rng = random.Random(f"{seed}:{theme.name}:bodies:{kind}")
    # A stream of its own: the words never shift the structure's draws.
    words = words or vocabulary(theme)
    pick = words.picker(random.Random(f"{seed}:{theme.name}:words:{kind}"))
    pool = []
    for index in range(pool_size(kind, posts)):
        blocks = _blocks(rng, theme, kind, f"{theme.name}-{kind}-{index}", notes(rng, pick))
        paragraphs = tuple(
            (i, block["text"]) for i, block in enumerate(blocks) if block["type"] == "paragraph"
        )
        first = paragraphs[0][1]
        summary = first if len(first) <= 160 else first[:157].rsplit(" ", 1)[0] + "…"
        pool.append(Body(dumps(blocks), summary, paragraphs))
    return pool


def title_pool(theme: Theme, seed: int, size: int = 2048) -> Titles:
    """Titles and matching slugs from the theme's patterns, the same for one seed."""
    rng = random.Random(f"{seed}:{theme.name}:titles")
    titles, slugs = [], []
    for _ in range(size):
        title = rng.choice(theme.title_patterns).format(
            topic=rng.choice(theme.topics),
            place=rng.choice(theme.places),
            persona=rng.choice(theme.personas).name,
        )
        title = title[:1].upper() + title[1:]
        titles.append(title[:200])
        slugs.append(slugify(title)[:180])
    return Titles(tuple(titles), tuple(slugs))
