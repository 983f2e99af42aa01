"""Every cache key, namespace, TTL tier and Redis key prefix, in one module.

Logical keys are ``"<namespace>:<id…>"`` (``POST.key(42)`` → ``"post:42"``); the namespace
decides the default TTL, the stale windows, how long the local tier may keep a copy, and the
metrics bucket. Tags are plain strings (``tag_post(42)`` → ``"post:42"``) that a write path
invalidates.

Redis layout under the configured prefix ``P`` (Redis-Cluster-safe: the ``{…}`` hash tag puts a
value, its fill-guard generation and its lock in one slot, so the Lua scripts that touch them
together are legal on a cluster; all tag versions of a prefix share one slot so a single MGET
reads them)::

    P c:{post:42}        the entry (envelope: header + tag versions + orjson payload)
    P g:{post:42}        write generation of the key, checked by fills (stale-fill guard)
    P l:{post:42}        the distributed fill lock (owner token, TTL)
    P t:{P tags}:post:42 the version token of tag ``post:42``
    P inval              pub/sub channel of cross-process invalidations
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from stratabase.exceptions import InvalidInput


class TTL(IntEnum):
    """The general TTL tiers, in seconds."""

    #: Volatile data: search results, hot lists.
    SHORT = 300
    #: Ordinary entity reads: post pages, comment trees.
    MEDIUM = 1800
    #: Slowly changing data: profiles, feeds.
    LONG = 3600
    #: Daily aggregates and sessions.
    VERY_LONG = 86400


@dataclass(frozen=True)
class Namespace:
    """A family of keys sharing lifetime rules and a metrics bucket."""

    name: str
    #: Seconds an entry is fresh.
    ttl: float
    #: After ``ttl``: seconds during which the stale value is served while one task refreshes.
    stale_ttl: float = 0.0
    #: After the stale window: seconds during which the old value is served only if the
    #: reload fails (serve-stale-on-error).
    error_ttl: float = 0.0
    #: At most this many seconds in a process's local tier (never longer than in Redis).
    local_ttl: float = 60.0

    def key(self, *parts: object) -> str:
        """The logical key ``"<name>:<part>:<part>…"``."""
        return self.name + ":" + ":".join(str(part) for part in parts)

    @property
    def hard_ttl(self) -> float:
        """How long the entry physically stays stored."""
        return self.ttl + self.stale_ttl + self.error_ttl


#: Session lookups: never served stale (a revoked session must stop working), short local life.
SESSION = Namespace("session", TTL.VERY_LONG, local_ttl=5.0)
#: User profile with stats.
PROFILE = Namespace("profile", TTL.LONG, stale_ttl=60.0, error_ttl=TTL.SHORT)
#: Post page (post + blocks + stats).
POST = Namespace("post", TTL.MEDIUM, stale_ttl=60.0, error_ttl=TTL.SHORT)
#: A post's counters (views, likes, shares, comments) on the anonymous post page: fresh
#: 30 s (the pace of the ``stats.flush`` of buffered views), never served stale (the bound
#: ``content.counters`` promises), except while the database cannot answer (then up to
#: 5 min rather than failing the page).
POST_STATS = Namespace("poststats", 30.0, error_ttl=TTL.SHORT, local_ttl=30.0)
#: Comment trees of a post.
COMMENTS = Namespace("comments", TTL.SHORT, stale_ttl=30.0, error_ttl=TTL.SHORT)
#: A user's feed: the list of post ids.
FEED = Namespace("feed", TTL.LONG, stale_ttl=60.0, error_ttl=TTL.SHORT)
#: Search result pages.
SEARCH = Namespace("search", TTL.SHORT, stale_ttl=30.0, error_ttl=TTL.SHORT)
#: Platform-wide statistics and aggregates.
ANALYTICS = Namespace("analytics", TTL.VERY_LONG, stale_ttl=TTL.SHORT, error_ttl=TTL.LONG)
#: User interest vectors for recommendations (30 days).
VECTOR = Namespace("vector", 30 * TTL.VERY_LONG)
#: Rate-limit counters: never kept in a local tier (every process must count together).
RATE_LIMIT = Namespace("ratelimit", 60.0, local_ttl=0.0)
#: Trending and popular rankings (``stratabase.feeds.rankings``): recomputed every 30 s by a
#: periodic job, so an entry lives 45 s (never served older) and is not served stale.
RANKING = Namespace("ranking", 45.0, error_ttl=TTL.SHORT, local_ttl=45.0)
#: Anything else; also the metrics bucket of keys whose namespace is not registered.
CUSTOM = Namespace("custom", TTL.MEDIUM)

NAMESPACES: dict[str, Namespace] = {
    ns.name: ns
    for ns in (
        SESSION,
        PROFILE,
        POST,
        POST_STATS,
        COMMENTS,
        FEED,
        SEARCH,
        ANALYTICS,
        VECTOR,
        RATE_LIMIT,
        RANKING,
        CUSTOM,
    )
}

#: Longest time any entry is stored; tag versions live twice that, so a tag version never
#: expires before an entry that carries it (no tag can make another key stale-valid).
MAX_TTL = max(ns.hard_ttl for ns in NAMESPACES.values())
TAG_TTL = 2 * MAX_TTL
#: How long a key's write generation is remembered: a loader slower than this could refill.
GENERATION_TTL = 600


def namespace_of(key: str) -> Namespace:
    """The registered namespace of a logical key, or :data:`CUSTOM`."""
    return NAMESPACES.get(key.partition(":")[0], CUSTOM)


def check_key(key: str) -> str:
    """Refuse keys that cannot be stored safely (empty, or breaking the hash tag)."""
    if not isinstance(key, str) or not key or "{" in key or "}" in key or len(key) > 512:
        raise InvalidInput(f"invalid cache key {str(key)[:80]!r}: 1-512 characters, no braces")
    return key


# -- tags that write paths invalidate ---------------------------------------------------


def tag_post(post_id: object) -> str:
    """The tag of whatever was cached from one post; its writes invalidate it."""
    return f"post:{post_id}"


def tag_user(user_id: object) -> str:
    """The tag of whatever was cached from one user; their writes invalidate it."""
    return f"user:{user_id}"


def tag_feed(user_id: object) -> str:
    """What the user's follows, mutes and blocks change: their home feed and every page
    filtered for them (category feeds, search results seen signed in)."""
    return f"feed:{user_id}"


def tag_category(category_id: object) -> str:
    """The tag of whatever was cached from one category; its writes invalidate it."""
    return f"category:{category_id}"


#: Every cached search result page carries this tag; every write of an indexed post
#: invalidates it.
TAG_SEARCH = "search"
#: Platform statistics.
TAG_STATS = "stats"


def _glob_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)


class RedisKeys:
    """Physical Redis key names under one prefix (see the module docstring)."""

    def __init__(self, prefix: str) -> None:
        if "{" in prefix or "}" in prefix:
            raise InvalidInput("the Redis prefix must not contain braces")
        self.prefix = prefix
        self._data = prefix + "c:{"
        self._gen = prefix + "g:{"
        self._lock = prefix + "l:{"
        self._tag = prefix + "t:{" + prefix + "tags}:"
        self.channel = prefix + "inval"

    def data(self, key: str) -> str:
        """The Redis key of a cache entry."""
        return self._data + key + "}"

    def generation(self, key: str) -> str:
        """The Redis key of an entry's write generation (the fill guard reads it)."""
        return self._gen + key + "}"

    def lock(self, key: str) -> str:
        """The Redis key of an entry's load lock."""
        return self._lock + key + "}"

    def tag(self, tag: str) -> str:
        """The Redis key of a tag's version."""
        return self._tag + tag

    def logical(self, data_key: bytes | str) -> str:
        """The cache key inside a Redis data key (SCAN results)."""
        text = data_key.decode() if isinstance(data_key, bytes) else data_key
        return text[len(self._data) : -1]

    def data_pattern(self, namespace: str | None = None) -> str:
        """SCAN pattern of the entries of one namespace (or of all)."""
        base = _glob_escape(self._data)
        return base + (_glob_escape(namespace) + ":*" if namespace else "*")
