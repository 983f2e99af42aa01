"""Organizations, users (with the demo logins) and the social graph: follows, blocks, mutes."""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterator
from functools import cache
from typing import Any

from argon2 import Type
from argon2.low_level import hash_secret

from stratabase.seed.context import DAY, Context, TableData, role_of, skewed

#: (email, username, display name, password) of the documented demo logins (README).
DEMO_LOGINS = (
    ("admin@stratabase.dev", "admin", "Ada Admin", "admin-demo-pass"),
    ("moderator@stratabase.dev", "moderator", "Moe Moderator", "moderator-demo-pass"),
    ("writer@stratabase.dev", "writer", "Wren Writer", "writer-demo-pass"),
    ("reader@stratabase.dev", "reader", "Remy Reader", "reader-demo-pass"),
)
#: Every other seeded user signs in with this password.
SHARED_PASSWORD = "stratabase-demo"
TIMEZONES = (
    "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles",
    "America/Toronto", "America/Mexico_City", "America/Bogota", "America/Lima",
    "America/Sao_Paulo", "America/Argentina/Buenos_Aires", "Europe/London", "Europe/Berlin",
    "Africa/Cairo", "Asia/Kolkata", "Asia/Tokyo", "Australia/Sydney", "UTC",
)  # fmt: skip
PLANS = ("free", "free", "pro", "enterprise")
USER_COLUMNS = (
    "id", "email", "username", "name", "avatar_url", "bio", "timezone", "role", "status",
    "password_hash", "organization_id", "created_at", "updated_at",
)  # fmt: skip


#: argon2id cost for seeded hashes. The demo passwords are published in the README, so
#: production cost would protect nothing and cost seconds per seed; the encoded parameters
#: let an auth layer's ``check_needs_rehash`` upgrade a hash at its first sign-in.
SEED_HASH_COST = {"time_cost": 1, "memory_cost": 8 * 1024, "parallelism": 1}


@cache
def password_hash(password: str, seed: int) -> str:
    """argon2id with a salt derived from the seed: hashed once, then reused for every user."""
    salt = hashlib.sha256(f"stratabase-seed:{seed}:{password}".encode()).digest()[:16]
    return hash_secret(
        password.encode(), salt, hash_len=32, type=Type.ID, **SEED_HASH_COST
    ).decode()


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum())


@cache
def name_pools(seed: int) -> tuple[list[str], list[str]]:
    """First and last names from Faker (fixed seed), across the hemisphere's locales."""
    from faker import Faker  # a heavy import: only seeding needs it

    fake = Faker(["en_US", "es_MX", "pt_BR", "fr_CA", "en_CA"])
    fake.seed_instance(seed)
    firsts = sorted({fake.first_name() for _ in range(600)})
    lasts = sorted({fake.last_name() for _ in range(600)})
    return [n for n in firsts if _ascii(n)], [n for n in lasts if _ascii(n)]


def organizations(ctx: Context) -> TableData:
    """Organizations with Faker-made names, the same for one seed."""
    from faker import Faker

    rng = ctx.rng("organizations")
    fake = Faker("en_US")
    fake.seed_instance(ctx.seed)
    count = ctx.organizations

    def rows() -> Iterator[tuple[Any, ...]]:
        for index in range(count):
            oid = ctx.org_id(index)
            name = fake.company()
            created = ctx.clock.at(-500 * DAY + index * 60)
            plan = PLANS[rng.randrange(len(PLANS))]
            quota = {"free": 100_000, "pro": 2_000_000, "enterprise": 20_000_000}[plan]
            yield (oid, name, f"{_ascii(name)[:80]}-{oid}", plan, quota, created, created)

    columns = ("id", "name", "slug", "plan", "token_quota", "created_at", "updated_at")
    return TableData("organizations", columns, count, rows())


def users(ctx: Context) -> TableData:
    """Users created over 400 days, a few suspended or deleted; a fresh seed starts with
    the demo logins and the theme's personas."""
    rng = ctx.rng("users")
    firsts, lasts = name_pools(ctx.seed)
    personas = ctx.theme.personas
    demo = not ctx.start.appending
    shared = password_hash(SHARED_PASSWORD, ctx.seed)
    count, orgs, span = ctx.users, ctx.organizations, 400 * DAY

    def rows() -> Iterator[tuple[Any, ...]]:
        for index in range(count):
            uid = ctx.user_id(index)
            first, last = firsts[rng.randrange(len(firsts))], lasts[rng.randrange(len(lasts))]
            name, bio, pw = f"{first} {last}", None, shared
            username = f"{_ascii(first)[:14]}.{_ascii(last)[:14]}{uid}"
            status = "active"
            if demo and index < len(DEMO_LOGINS):
                email, username, name, secret = DEMO_LOGINS[index]
                pw = password_hash(secret, ctx.seed)
            else:
                p = index - len(DEMO_LOGINS)
                if 0 <= p < len(personas):
                    name, bio = personas[p].name, personas[p].bio
                email = f"{username}@example.com"
                roll = rng.random()
                status = "suspended" if roll < 0.02 else "deleted" if roll < 0.03 else "active"
            created = ctx.clock.at(-span + (span * index) // max(count, 1))
            yield (
                uid, email, username, name, f"https://i.pravatar.cc/150?u={uid}", bio,
                TIMEZONES[rng.randrange(len(TIMEZONES))], role_of(index), status, pw,
                ctx.org_id(index % orgs), created, created,
            )  # fmt: skip

    return TableData("users", USER_COLUMNS, count, rows())


def memberships(ctx: Context) -> TableData:
    """Each user is a member of their home organization (``users.organization_id``): the
    first user of each is its owner (and owns its project), the next its admin, so the
    studio's routes reach every seeded organization."""
    count, orgs, span = ctx.users, ctx.organizations, 400 * DAY

    def rows() -> Iterator[tuple[Any, ...]]:
        for index in range(count):
            role = "owner" if index < orgs else "admin" if index < 2 * orgs else "member"
            created = ctx.clock.at(-span + (span * index) // max(count, 1))  # the user's
            yield (ctx.org_id(index % orgs), ctx.user_id(index), role, created)

    columns = ("organization_id", "user_id", "role", "created_at")
    return TableData("organization_members", columns, count, rows())


def follows(ctx: Context) -> TableData:
    """Each user follows a few others, popular ones more often; no self pairs, no repeats."""
    rng = ctx.rng("follows")
    n = ctx.users
    pick = skewed(rng, n)
    pairs: list[tuple[int, int, int]] = []
    for follower in range(n):
        wanted = min(n - 1, 1 + rng.randrange(9))
        chosen: set[int] = set()
        tries = 0
        while len(chosen) < wanted and tries < wanted * 4:
            tries += 1
            followee = pick() if tries <= wanted * 2 else rng.randrange(n)
            if followee != follower:
                chosen.add(followee)
        for followee in sorted(chosen):
            pairs.append((follower, followee, rng.randrange(300 * DAY)))
    return _pairs(ctx, "follows", ("follower_id", "followee_id", "created_at"), pairs)


def blocks_and_mutes(ctx: Context, table: str) -> TableData:
    """Distinct random pairs of users for ``table`` (``blocks`` or ``mutes``)."""
    rng = ctx.rng(table)
    n = ctx.users
    seen: set[tuple[int, int]] = set()
    pairs: list[tuple[int, int, int]] = []
    for _ in range(max(2, n // 20)):
        a, b = rng.randrange(n), rng.randrange(n)
        if a != b and (a, b) not in seen:
            seen.add((a, b))
            pairs.append((a, b, rng.randrange(300 * DAY)))
    columns = (
        ("blocker_id", "blocked_id", "created_at")
        if table == "blocks"
        else ("muter_id", "muted_id", "created_at")
    )
    return _pairs(ctx, table, columns, pairs)


def _pairs(
    ctx: Context, table: str, columns: tuple[str, ...], pairs: list[tuple[int, int, int]]
) -> TableData:
    def rows() -> Iterator[tuple[Any, ...]]:
        at, uid = ctx.clock.at, ctx.user_id
        for a, b, ago in pairs:
            yield (uid(a), uid(b), at(-ago))

    return TableData(table, columns, len(pairs), rows())
