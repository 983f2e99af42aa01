"""How much data a seed makes: named sizes, or explicit users and posts.

Everything else (comments, likes, follows, wallets, jobs…) scales from users and posts, so
``--users N --posts N`` gives a consistent dataset of any shape.
"""

from __future__ import annotations

from dataclasses import dataclass

from stratabase.exceptions import InvalidInput

#: Comments and likes per post at every size.
COMMENTS_PER_POST = 2
LIKES_PER_POST = 2


@dataclass(frozen=True)
class Size:
    """The counts that drive the generator. ``name`` is ``custom`` for explicit counts."""

    name: str
    users: int
    posts: int

    @property
    def comments(self) -> int:
        """Comments to generate: a fixed number per post."""
        return self.posts * COMMENTS_PER_POST

    @property
    def likes(self) -> int:
        """Likes to generate: a fixed number per post."""
        return self.posts * LIKES_PER_POST


SIZES: dict[str, Size] = {
    "tiny": Size("tiny", users=24, posts=60),
    "small": Size("small", users=200, posts=1_000),
    "medium": Size("medium", users=10_000, posts=100_000),
    "large": Size("large", users=100_000, posts=1_000_000),
}
DEFAULT_SIZE = "small"
MIN_USERS = 8
MAX_USERS = 10_000_000
MAX_POSTS = 50_000_000


def resolve_size(name: str | None, users: int | None = None, posts: int | None = None) -> Size:
    """A named size, with ``users``/``posts`` overriding its counts when given."""
    chosen = name or DEFAULT_SIZE
    if chosen not in SIZES:
        raise InvalidInput(
            f"unknown size {chosen!r}; choose one of {', '.join(SIZES)}", field="size"
        )
    base = SIZES[chosen]
    if users is None and posts is None:
        return base
    users = base.users if users is None else users
    posts = base.posts if posts is None else posts
    if not MIN_USERS <= users <= MAX_USERS:
        raise InvalidInput(f"--users must be between {MIN_USERS} and {MAX_USERS}", field="users")
    if not 1 <= posts <= MAX_POSTS:
        raise InvalidInput(f"--posts must be between 1 and {MAX_POSTS}", field="posts")
    return Size("custom", users=users, posts=posts)
