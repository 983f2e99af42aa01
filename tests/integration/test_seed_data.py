"""Seeded data on both backends: deterministic, referentially whole, counts that add up."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import text

from stratabase.db import migrate
from stratabase.db.base import metadata
from stratabase.db.session import Database
from stratabase.exceptions import StratabaseError
from stratabase.seed import loader, orchestrator, seed_if_empty
from stratabase.seed.context import EPOCH, DatetimeClock
from stratabase.seed.digest import NOT_CONTENT, _normal, content_hash
from stratabase.seed.generator import SEEDED_TABLES, Generator
from stratabase.seed.people import DEMO_LOGINS
from stratabase.seed.sizes import SIZES
from stratabase.seed.theme import load_theme

TINY = SIZES["tiny"]
JSON_COLUMNS = {
    (t.name, c.name) for t in metadata.sorted_tables for c in t.columns
    if c.type.__class__.__name__ == "JSON"
}  # fmt: skip


def expected_hash(theme: str, seed: int) -> str:
    """The hash the database must have: the generator's own rows, normalised the same way."""
    generated, rows_by_table = {}, {}
    for data in Generator(load_theme(theme), TINY, seed, DatetimeClock(EPOCH)).tables():
        generated[data.table] = data
        rows_by_table[data.table] = [tuple(row) for row in data.rows]  # in order, as required
    digest = hashlib.sha256()
    for table in metadata.sorted_tables:
        if table.name in NOT_CONTENT:  # derived or operational: not seeded content
            continue
        digest.update(table.name.encode())
        names = [
            c.name for c in table.columns if (table.name, c.name) != ("system_state", "updated_at")
        ]
        if table.name == "system_state":
            rows = [{"key": "theme", "value": {"name": theme, "seed": seed, "size": "tiny"}}]
        elif table.name in generated:
            data = generated[table.name]
            rows = [dict(zip(data.columns, row, strict=True)) for row in rows_by_table[table.name]]
        else:
            rows = []
        for row in rows:
            for name in names:
                if table.c[name].nullable:  # a nullable column the seed leaves out is NULL
                    row.setdefault(name, None)
                if (table.name, name) in JSON_COLUMNS and isinstance(row[name], str):
                    row[name] = json.loads(row[name])
        pk = [c.name for c in table.primary_key.columns]
        for row in sorted(rows, key=lambda r: tuple(r[c] for c in pk)):
            digest.update(
                json.dumps([_normal(row[n]) for n in names], sort_keys=True, default=str).encode()
            )
    return digest.hexdigest()


async def _seed(db: Database, theme: str = "politics", seed: int = 3) -> orchestrator.SeedResult:
    return await orchestrator.seed(db, theme=theme, size=TINY, seed=seed, epoch=EPOCH)


async def _scalar(db: Database, sql: str) -> Any:
    async with db.engine.connect() as conn:
        return (await conn.execute(text(sql))).scalar_one()


async def _rows(db: Database, sql: str) -> list[Any]:
    async with db.engine.connect() as conn:
        return list(await conn.execute(text(sql)))


async def test_same_seed_gives_the_generators_exact_data(db: Database) -> None:
    """Both backends hash to the generator's own hash, hence to each other's."""
    await _seed(db)
    async with db.engine.connect() as conn:
        actual = await content_hash(conn)
    assert actual == expected_hash("politics", 3)
    assert actual != expected_hash("politics", 4)


async def test_counts_add_up_and_threads_are_consistent(db: Database) -> None:
    result = await _seed(db)
    report = await orchestrator.stats(db)
    for table in metadata.sorted_tables:
        assert report.tables[table.name] == await _scalar(
            db, f'SELECT count(*) FROM "{table.name}"'
        )
    for name in SEEDED_TABLES:
        assert report.tables[name] == result.tables[name] > 0, name
    assert report.theme == "politics" and not report.seed_interrupted
    assert report.database_bytes > 0
    checks = {
        "stats comments": "SELECT count(*) FROM post_stats s WHERE s.comments <> "
        "(SELECT count(*) FROM comments c WHERE c.post_id = s.post_id)",
        "stats likes": "SELECT count(*) FROM post_stats s WHERE s.likes <> (SELECT count(*) "
        "FROM likes l WHERE l.target_type = 'post' AND l.target_id = s.post_id)",
        "comment likes": "SELECT count(*) FROM comments c WHERE c.like_count <> (SELECT count(*) "
        "FROM likes l WHERE l.target_type = 'comment' AND l.target_id = c.id)",
        "posts without stats": "SELECT count(*) FROM posts p WHERE NOT EXISTS "
        "(SELECT 1 FROM post_stats s WHERE s.post_id = p.id)",
        "reply thread": "SELECT count(*) FROM comments c JOIN comments p ON p.id = c.parent_id "
        "WHERE c.post_id <> p.post_id OR c.depth <> p.depth + 1 "
        "OR c.root_id <> coalesce(p.root_id, p.id)",
        "top level": "SELECT count(*) FROM comments WHERE parent_id IS NULL AND depth <> 0",
        "dangling post likes": "SELECT count(*) FROM likes l WHERE l.target_type = 'post' "
        "AND NOT EXISTS (SELECT 1 FROM posts p WHERE p.id = l.target_id)",
        "dangling comment likes": "SELECT count(*) FROM likes l WHERE l.target_type = 'comment' "
        "AND NOT EXISTS (SELECT 1 FROM comments c WHERE c.id = l.target_id)",
        "dangling reports": "SELECT count(*) FROM content_reports r WHERE NOT EXISTS ("
        "SELECT 1 FROM posts WHERE r.target_type = 'post' AND id = r.target_id UNION ALL "
        "SELECT 1 FROM comments WHERE r.target_type = 'comment' AND id = r.target_id UNION ALL "
        "SELECT 1 FROM users WHERE r.target_type = 'user' AND id = r.target_id)",
        "episode kind": "SELECT count(*) FROM episodes e JOIN posts p ON p.id = e.post_id "
        "WHERE p.kind <> 'episode'",
        "reviewer role": "SELECT count(*) FROM moderation_reviews r JOIN users u "
        "ON u.id = r.reviewer_id WHERE u.role = 'user'",
        "published date": "SELECT count(*) FROM posts WHERE status = 'draft' "
        "AND published_at IS NOT NULL",
    }
    for name, sql in checks.items():
        assert await _scalar(db, sql) == 0, name
    assert await _scalar(db, "SELECT count(*) FROM comments WHERE depth >= 2") > 0


async def test_every_domain_and_state_is_present(db: Database) -> None:
    await _seed(db)
    expected = {
        "SELECT DISTINCT kind FROM posts": {"article", "note", "video", "episode"},
        "SELECT DISTINCT status FROM jobs": {
            "queued", "running", "succeeded", "failed", "dead", "cancelled"
        },
        "SELECT DISTINCT status FROM payments": {
            "succeeded", "pending", "failed", "refunded", "canceled"
        },
        "SELECT DISTINCT status FROM content_reports": {
            "open", "reviewing", "resolved", "dismissed"
        },
        "SELECT DISTINCT role FROM users": {"admin", "moderator", "user"},
        "SELECT DISTINCT target_type FROM likes": {"post", "comment"},
    }  # fmt: skip
    for sql, values in expected.items():
        assert {row[0] for row in await _rows(db, sql)} == values, sql
    kinds: Counter[str] = Counter()
    for (blocks,) in await _rows(db, "SELECT content_blocks FROM posts"):
        for block in blocks if isinstance(blocks, list) else json.loads(blocks):
            kinds[block["type"]] += 1
    assert set(kinds) == {"paragraph", "heading", "quote", "list", "image", "code", "embed"}


async def test_demo_logins_verify(db: Database) -> None:
    await _seed(db)
    hasher = PasswordHasher()
    for email, _username, _name, password in DEMO_LOGINS:
        rows = await _rows(db, f"SELECT password_hash FROM users WHERE email = '{email}'")
        assert hasher.verify(rows[0][0], password)


async def test_ledger_invariants_hold(db: Database) -> None:
    await _seed(db)
    await orchestrator.seed(db, theme="tech", size=TINY, seed=9, append=True)
    await _assert_ledger_consistent(db)


async def _assert_ledger_consistent(db: Database) -> None:
    assert await _scalar(db, "SELECT sum(balance) FROM ledger_accounts") == 0
    bad = {
        "entries sum": "SELECT count(*) FROM ledger_accounts a WHERE a.balance <> "
        "(SELECT coalesce(sum(amount), 0) FROM ledger_entries e WHERE e.account_id = a.id)",
        "last balance_after": "SELECT count(*) FROM ledger_accounts a WHERE a.balance <> "
        "coalesce((SELECT e.balance_after FROM ledger_entries e WHERE e.account_id = a.id "
        "ORDER BY e.id DESC LIMIT 1), 0)",
        "totals": "SELECT count(*) FROM ledger_accounts a WHERE a.earned_total <> (SELECT "
        "coalesce(sum(amount), 0) FROM ledger_entries e WHERE e.account_id = a.id AND amount > 0)"
        " OR a.spent_total <> (SELECT coalesce(-sum(amount), 0) FROM ledger_entries e "
        "WHERE e.account_id = a.id AND amount < 0)",
        "two entries": "SELECT count(*) FROM ledger_transfers t WHERE (SELECT count(*) FROM "
        "ledger_entries e WHERE e.transfer_id = t.id) <> 2 OR (SELECT sum(amount) FROM "
        "ledger_entries e WHERE e.transfer_id = t.id) <> 0",
        "negative users": "SELECT count(*) FROM ledger_accounts "
        "WHERE kind = 'user' AND balance < 0",
        "wallet per user": "SELECT count(*) FROM users u WHERE NOT EXISTS "
        "(SELECT 1 FROM ledger_accounts a WHERE a.user_id = u.id)",
    }
    for name, sql in bad.items():
        assert await _scalar(db, sql) == 0, name
    assert (
        await _scalar(db, "SELECT balance FROM ledger_accounts WHERE system_code = 'treasury'") < 0
    )


async def test_seed_refuses_a_non_empty_database_without_append(db: Database) -> None:
    await _seed(db)
    with pytest.raises(orchestrator.Conflict, match="--append"):
        await _seed(db, seed=5)
    users = await _scalar(db, "SELECT count(*) FROM users")
    appended = await orchestrator.seed(db, theme="politics", size=TINY, seed=5, append=True)
    assert appended.appended
    assert await _scalar(db, "SELECT count(*) FROM users") == 2 * users
    assert await _scalar(db, "SELECT count(*) FROM categories") == len(
        load_theme("politics").categories
    )
    # New writes after the explicit ids get fresh ids (PostgreSQL sequences were moved).
    async with db.begin() as session:
        await session.execute(text("INSERT INTO tags (name, slug) VALUES ('new tag', 'new-tag')"))


async def test_interrupted_seed_leaves_nothing_behind(db: Database) -> None:
    class Interrupt:
        def start(self, table: str, total: int, unit: str = "rows") -> None:
            if table == "comments":
                raise KeyboardInterrupt

        def advance(self, rows: int) -> None:
            pass

        def finish(self) -> None:
            pass

    with pytest.raises(KeyboardInterrupt):
        await orchestrator.seed(db, size=TINY, seed=3, reporter=Interrupt())
    for name in [*SEEDED_TABLES, "system_state"]:
        assert await _scalar(db, f'SELECT count(*) FROM "{name}"') == 0, name
    await _seed(db)  # nothing half-seeded is in the way


async def test_a_leftover_seed_mark_suggests_reset(db: Database) -> None:
    await orchestrator._mark(db, {"theme": "politics", "started_at": "2026-11-23T10:00:00Z"})
    with pytest.raises(orchestrator.Conflict, match="stratabase reset"):
        await _seed(db)
    assert (await orchestrator.stats(db)).seed_interrupted


async def test_bulk_path_restores_the_declared_schema(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With every table on the drop-and-rebuild path, the schema still matches the models
    and the rebuilt foreign keys refuse a dangling row."""
    monkeypatch.setattr(loader, "REBUILD_MIN_ROWS", 0)
    await _seed(db)
    await migrate.check(db)
    if db.backend == "postgres":
        unvalidated = "SELECT count(*) FROM pg_constraint WHERE NOT convalidated"
        assert await _scalar(db, unvalidated) == 0
    with pytest.raises(StratabaseError):
        async with db.begin() as session:
            await session.execute(
                text(
                    "INSERT INTO comments (post_id, author_id, depth, body, like_count, "
                    "created_at, updated_at) VALUES (999999, 1, 0, 'x', 0, "
                    "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                )
            )


async def test_seed_if_empty_seeds_once(db: Database, settings: Any) -> None:
    """What `stratabase up` calls: seeds an empty database, leaves a seeded one alone."""
    assert await seed_if_empty(db, settings, theme="science", size="tiny")
    users = await _scalar(db, "SELECT count(*) FROM users")
    assert not await seed_if_empty(db, settings, theme="science", size="tiny")
    assert await _scalar(db, "SELECT count(*) FROM users") == users
    assert (await orchestrator.stats(db)).theme == "science"


async def test_stepped_big_seed_path_gives_the_same_data_and_schema(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The table-by-table path big PostgreSQL seeds take (forced here on a tiny seed)."""
    monkeypatch.setattr(orchestrator, "STEPPED_MIN_POSTS", 0)
    await _seed(db)
    async with db.engine.connect() as conn:
        assert await content_hash(conn) == expected_hash("politics", 3)
    await migrate.check(db)
    if db.backend == "postgres":
        unvalidated = "SELECT count(*) FROM pg_constraint WHERE NOT convalidated"
        assert await _scalar(db, unvalidated) == 0
    assert not (await orchestrator.stats(db)).seed_interrupted


@pytest.mark.parametrize("backend", ["postgres"])  # the stepped path is PostgreSQL's
async def test_stepped_path_reports_a_failed_rebuild_and_leaves_the_mark(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step that fails on a rebuild lane stops the seed with the database's error instead
    of hanging or passing, and `reset` is suggested."""
    monkeypatch.setattr(orchestrator, "STEPPED_MIN_POSTS", 0)
    declared = loader.rebuild_plan

    def broken(table: Any, dialect: Any) -> loader.Rebuild:
        plan = declared(table, dialect)
        if table.name == "comments":
            plan.foreign_keys.append(("comments", "fk_test_missing"))
        return plan

    monkeypatch.setattr(loader, "rebuild_plan", broken)
    with pytest.raises(Exception, match="fk_test_missing"):
        await _seed(db)
    assert (await orchestrator.stats(db)).seed_interrupted
    with pytest.raises(orchestrator.Conflict, match="stratabase reset"):
        await _seed(db)
