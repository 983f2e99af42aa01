"""The same refused write gives the same error on SQLite and PostgreSQL, field and all.

Each test runs one failing operation on both backends, side by side, and compares the whole
outcome: the exception's class, message, field and constraint (service level), or the whole
problem+json body (HTTP). Each also pins the expected field, so two equally vague errors
(``field=None`` on both) cannot pass.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.db.session import Database
from stratabase.enums import AccountKind
from stratabase.exceptions import StratabaseError
from stratabase.models import Comment, Follow, Job, LedgerAccount, Post, User
from stratabase.settings import load_settings
from tests.acceptance.api_support import make_api
from tests.conftest import _new_pg_database

Work = Callable[[AsyncSession], Awaitable[object]]


@pytest.fixture
def both_urls(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> dict[str, str]:
    """A migrated database of each backend, for this test alone."""
    path = tmp_path / "parity.db"
    shutil.copyfile(sqlite_template, path)
    pg = _new_pg_database(request, request.getfixturevalue("pg_template"))
    return {"sqlite": f"sqlite:///{path}", "postgres": pg}


@pytest.fixture
async def both(both_urls: dict[str, str]) -> AsyncIterator[dict[str, Database]]:
    databases = {
        name: Database(load_settings(database_url=url, redis_url=""))
        for name, url in both_urls.items()
    }
    try:
        yield databases
    finally:
        for database in databases.values():
            await database.dispose()


def _user(username: str, **extra: object) -> User:
    return User(email=f"{username}@example.com", username=username, name=username, **extra)


async def _setup(db: Database) -> dict[str, int]:
    """Two users, a post by the first, a comment on it, a ledger account for the second."""

    async def work(session: AsyncSession) -> dict[str, int]:
        alice, bob = _user("alice"), _user("bob")
        session.add_all([alice, bob])
        await session.flush()
        post = Post(author_id=alice.id, kind="article", title="Hello", slug="hello")
        session.add(post)
        await session.flush()
        comment = Comment(post_id=post.id, author_id=bob.id, body="hi")
        account = LedgerAccount(kind=AccountKind.USER, user_id=bob.id)
        session.add_all([comment, account])
        await session.flush()
        return {"alice": alice.id, "bob": bob.id, "post": post.id, "comment": comment.id}

    return await db.transaction(work)


def _describe(exc: StratabaseError) -> dict[str, Any]:
    return {
        "class": type(exc).__name__,
        "code": exc.code,
        "message": exc.message,
        "field": exc.field,
        "constraint": getattr(exc, "constraint", None),
    }


async def _refusal(db: Database, make: Callable[[dict[str, int]], Work]) -> dict[str, Any]:
    ids = await _setup(db)
    with pytest.raises(StratabaseError) as caught:
        await db.transaction(make(ids))
    return _describe(caught.value)


def _add(*build: Callable[[dict[str, int]], object]) -> Callable[[dict[str, int]], Work]:
    def make(ids: dict[str, int]) -> Work:
        async def work(session: AsyncSession) -> None:
            for one in build:
                session.add(one(ids))
                await session.flush()

        return work

    return make


def _run(statement: Callable[[dict[str, int]], Any]) -> Callable[[dict[str, int]], Work]:
    def make(ids: dict[str, int]) -> Work:
        async def work(session: AsyncSession) -> None:
            await session.execute(statement(ids))

        return work

    return make


def _run_many(
    statement: Any, rows: Callable[[dict[str, int]], list[dict[str, Any]]]
) -> Callable[[dict[str, int]], Work]:
    def make(ids: dict[str, int]) -> Work:
        async def work(session: AsyncSession) -> None:
            await session.execute(statement, rows(ids))

        return work

    return make


MISSING = 999_999

CASES: dict[str, tuple[Callable[[dict[str, int]], Work], dict[str, Any]]] = {
    # foreign keys: the child's missing parent, named by the key's column
    "fk-insert-single-key": (
        _add(lambda ids: _user("orphan", organization_id=MISSING)),
        {"class": "NotFound", "field": "organization_id"},
    ),
    "fk-insert-one-of-several-keys": (
        _add(
            lambda ids: Post(
                author_id=ids["alice"], category_id=MISSING, kind="note", title="x", slug="x"
            )
        ),
        {"class": "NotFound", "field": "category_id"},
    ),
    "fk-insert-self-reference": (
        _add(
            lambda ids: Comment(
                post_id=ids["post"],
                author_id=ids["bob"],
                parent_id=MISSING,
                root_id=ids["comment"],
                depth=1,
                body="re",
            )
        ),
        {"class": "NotFound", "field": "parent_id"},
    ),
    "fk-insert-many-rows-second-key-of-two-to-one-table": (
        _run_many(
            insert(Follow),
            lambda ids: [
                {"follower_id": ids["alice"], "followee_id": ids["bob"]},
                {"follower_id": ids["bob"], "followee_id": MISSING},
            ],
        ),
        {"class": "NotFound", "field": "followee_id"},
    ),
    "fk-update-to-missing-parent": (
        _run(lambda ids: update(Post).where(Post.id == ids["post"]).values(category_id=MISSING)),
        {"class": "NotFound", "field": "category_id"},
    ),
    "fk-text-sql-update": (
        _run(lambda ids: text(f"UPDATE comments SET author_id = {MISSING}")),
        {"class": "NotFound", "field": "author_id"},
    ),
    "fk-delete-still-referenced": (
        _run(lambda ids: delete(User).where(User.id == ids["bob"])),
        {"class": "Conflict", "field": "user_id"},
    ),
    # unique keys, by constraint
    "unique-column": (
        _add(lambda ids: User(email="alice@example.com", username="alice2", name="A")),
        {"class": "AlreadyExists", "field": "email", "constraint": "uq_users_email"},
    ),
    "unique-composite-primary-key": (
        _add(
            lambda ids: Follow(follower_id=ids["alice"], followee_id=ids["bob"]),
            lambda ids: Follow(follower_id=ids["alice"], followee_id=ids["bob"]),
        ),
        {"class": "AlreadyExists", "constraint": "pk_follows"},
    ),
    "unique-partial-index": (
        _add(
            lambda ids: Job(task="t", unique_key="once"),
            lambda ids: Job(task="t", unique_key="once"),
        ),
        {
            "class": "AlreadyExists",
            "field": "unique_key",
            "constraint": "uq_jobs_unique_key_active",
        },
    ),
    # checks, by name
    "check": (
        _add(lambda ids: Follow(follower_id=ids["alice"], followee_id=ids["alice"])),
        {"class": "InvariantViolation", "constraint": "ck_follows_no_self"},
    ),
    "check-enum": (
        _run(lambda ids: text("UPDATE users SET role = 'emperor'")),
        {"class": "InvariantViolation", "constraint": "ck_users_role"},
    ),
    # not null, by column
    "not-null": (
        _run(lambda ids: text("INSERT INTO users (username, name) VALUES ('nomail', 'N')")),
        {"class": "InvalidInput", "field": "email"},
    ),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_refused_write_is_the_same_error_on_both_backends(
    both: dict[str, Database], case: str
) -> None:
    make, expected = CASES[case]
    outcomes = {name: await _refusal(db, make) for name, db in both.items()}
    assert outcomes["sqlite"] == outcomes["postgres"]
    assert {key: outcomes["sqlite"][key] for key in expected} == expected


async def test_refused_write_leaves_the_transaction_usable_for_nothing_else(
    both: dict[str, Database],
) -> None:
    """The SQLite probe replays the statement in a savepoint: nothing of it may survive."""
    for db in both.values():
        ids = await _setup(db)

        async def work(session: AsyncSession, ids: dict[str, int] = ids) -> None:
            session.add(Post(author_id=ids["alice"], kind="note", title="kept?", slug="kept"))
            await session.flush()
            await session.execute(
                insert(Follow),
                [
                    {"follower_id": ids["alice"], "followee_id": ids["bob"]},
                    {"follower_id": ids["bob"], "followee_id": MISSING},
                ],
            )

        with pytest.raises(StratabaseError):
            await db.transaction(work)
        async with db.session() as session:
            posts = (await session.execute(text("SELECT count(*) FROM posts"))).scalar()
            follows = (await session.execute(text("SELECT count(*) FROM follows"))).scalar()
        assert (posts, follows) == (1, 0)
        # and the connection is fine afterwards: foreign keys are enforced, not deferred
        with pytest.raises(StratabaseError):
            await db.transaction(_add(lambda ids: _user("again", organization_id=MISSING))(ids))


async def test_problem_body_is_the_same_on_both_backends(both: dict[str, Database]) -> None:
    """Over HTTP: a post in a category that does not exist, and a taken email."""
    bodies: dict[str, list[dict[str, Any]]] = {}
    for name, db in both.items():
        settings = db.settings
        async for api in make_api(settings, db):
            author = await api.user()
            missing = await api.http.post(
                "/v1/posts",
                json={"kind": "note", "title": "x", "category_id": MISSING},
                headers=author.headers,
            )
            assert missing.status_code == 404, missing.text
            await api.http.post(
                "/v1/auth/register",
                json={
                    "email": "taken@example.com",
                    "username": "taken1",
                    "password": "parity check 7!",
                },
            )
            taken = await api.http.post(
                "/v1/auth/register",
                json={
                    "email": "taken@example.com",
                    "username": "taken2",
                    "password": "parity check 7!",
                },
            )
            assert taken.status_code == 409, taken.text
            bodies[name] = [missing.json(), taken.json()]
    assert bodies["sqlite"] == bodies["postgres"]
    assert bodies["sqlite"][0]["errors"] == [
        {"field": "category_id", "message": "the referenced category_id does not exist"}
    ]
    assert bodies["sqlite"][1]["errors"][0]["field"] == "email"
