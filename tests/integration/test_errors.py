"""Integrity errors become the same domain error on both backends, by constraint name."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.db.session import Database
from stratabase.enums import AccountKind
from stratabase.exceptions import AlreadyExists, InvariantViolation, NotFound
from stratabase.models import Follow, LedgerAccount, Organization, User


def _user(username: str, **extra: object) -> User:
    return User(email=f"{username}@example.com", username=username, name=username, **extra)


async def _insert(db: Database, *objects: object) -> None:
    async def work(session: AsyncSession) -> None:
        for obj in objects:
            session.add(obj)
            await session.flush()

    await db.transaction(work)


async def test_duplicate_email_is_already_exists(db: Database) -> None:
    await _insert(db, _user("alice"))
    with pytest.raises(AlreadyExists) as caught:
        await _insert(db, User(email="alice@example.com", username="alice2", name="A"))
    assert caught.value.constraint == "uq_users_email"
    assert caught.value.field == "email"


async def test_duplicate_composite_key_is_already_exists(db: Database) -> None:
    a, b = _user("a1"), _user("b1")
    await _insert(db, a, b)
    await _insert(db, Follow(follower_id=a.id, followee_id=b.id))
    with pytest.raises(AlreadyExists) as caught:
        await _insert(db, Follow(follower_id=a.id, followee_id=b.id))
    assert caught.value.constraint == "pk_follows"


async def test_missing_reference_is_not_found(db: Database) -> None:
    with pytest.raises(NotFound) as caught:
        await _insert(db, _user("orphan", organization_id=999_999))
    assert caught.value.field == "organization_id"
    assert caught.value.message == "the referenced organization_id does not exist"


async def test_check_constraint_is_invariant_violation(db: Database) -> None:
    user = _user("self")
    await _insert(db, user)
    with pytest.raises(InvariantViolation) as caught:
        await _insert(db, Follow(follower_id=user.id, followee_id=user.id))
    assert caught.value.constraint == "ck_follows_no_self"


async def test_negative_user_balance_is_refused_and_nothing_is_written(db: Database) -> None:
    user = _user("spender")
    await _insert(db, user)
    with pytest.raises(InvariantViolation) as caught:
        await _insert(
            db,
            Organization(name="Side effect", slug="side-effect"),
            LedgerAccount(kind=AccountKind.USER, user_id=user.id, balance=-1),
        )
    assert caught.value.constraint in {
        "ck_ledger_accounts_balance_nonneg",
        "ck_ledger_accounts_available_nonneg",
    }
    async with db.session() as session:
        from sqlalchemy import func, select

        count = (await session.execute(select(func.count()).select_from(Organization))).scalar()
        assert count == 0  # the whole transaction rolled back


async def test_enum_check_refuses_unknown_value_at_the_database(db: Database) -> None:
    from sqlalchemy import text

    await _insert(db, _user("enum"))
    with pytest.raises(InvariantViolation) as caught:
        async with db.begin() as session:
            await session.execute(text("UPDATE users SET role = 'emperor'"))
    assert caught.value.constraint == "ck_users_role"
