"""A deleted row's id is never given to another row (SQLite AUTOINCREMENT; PostgreSQL
identities never go back), so a cached or bookmarked id never names another thing."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, insert, select, text

from stratabase.auth.principal import Principal
from stratabase.cache import memory_cache
from stratabase.content import service
from stratabase.db.base import IdMixin, metadata
from stratabase.db.session import Database
from stratabase.enums import Role, UserStatus
from stratabase.models.accounts import User
from stratabase.schemas.content import PostCreate


async def _user(db: Database) -> int:
    tag = uuid.uuid4().hex[:10]
    row = {"email": f"u{tag}@example.com", "username": f"u{tag}"}
    return int(
        await db.transaction(lambda s: s.scalar(insert(User).values(**row).returning(User.id)))
    )


async def test_a_deleted_posts_id_is_not_given_to_the_next_post(db: Database) -> None:
    cache = memory_cache()
    author = Principal(user_id=await _user(db), role=Role.USER, status=UserStatus.ACTIVE)
    first = await service.create_post(db, cache, author, PostCreate(kind="note", title="one"))
    await service.delete_post(db, cache, author, first["id"])
    second = await service.create_post(db, cache, author, PostCreate(kind="note", title="two"))
    assert second["id"] > first["id"]


async def test_a_deleted_users_id_is_not_given_to_the_next_user(db: Database) -> None:
    gone = await _user(db)
    await db.transaction(lambda s: s.execute(delete(User).where(User.id == gone)))
    assert await _user(db) > gone


async def test_every_table_with_a_surrogate_id_is_autoincrement(db: Database) -> None:
    """On the migrated SQLite schema (the migration rebuilt the tables 0001 made)."""
    tables = {mapper.local_table.name for mapper in _id_mappers()}
    assert {"users", "posts", "comments", "media", "ledger_transfers", "jobs"} <= tables
    for name in tables:
        assert metadata.tables[name].dialect_options["sqlite"]["autoincrement"] is True
    if db.backend != "sqlite":
        return
    async with db.engine.connect() as conn:
        rows = await conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type='table'"))
        schema = dict(rows.all())
    missing = sorted(name for name in tables if "AUTOINCREMENT" not in schema[name])
    assert missing == []


def _id_mappers() -> list:  # type: ignore[type-arg]
    import stratabase.models  # noqa: F401  (every mapping registered)
    from stratabase.db.base import Base

    return [m for m in Base.registry.mappers if issubclass(m.class_, IdMixin)]


async def test_switch_theme_gives_content_ids_never_used_before(db: Database) -> None:
    """A user's post, then switch-theme: no new post takes its id, or an old theme's id."""
    from stratabase.models.content import Post
    from stratabase.seed import orchestrator
    from stratabase.seed.sizes import SIZES

    await orchestrator.seed(db, size=SIZES["tiny"])
    cache = memory_cache()
    author = Principal(user_id=1, role=Role.USER, status=UserStatus.ACTIVE)
    mine = await service.create_post(db, cache, author, PostCreate(kind="note", title="mine"))
    await service.delete_post(db, cache, author, mine["id"])
    async with db.engine.connect() as conn:
        before = set((await conn.execute(select(Post.id))).scalars())
    await orchestrator.switch_theme(db, "science")
    async with db.engine.connect() as conn:
        after = set((await conn.execute(select(Post.id))).scalars())
    assert len(after) == len(before)
    assert min(after) > mine["id"] > max(before)
