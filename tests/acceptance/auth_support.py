"""Helpers for the sign-in tests: argon2 at a cost the test chooses, a record of every
argon2 verify (with the parameters of the hash it checked), and accounts with a given hash."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from argon2 import Parameters, PasswordHasher, extract_parameters
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stratabase.auth import passwords
from stratabase.db.session import Database
from stratabase.models import User

#: Real argon2id, cheaper than production so a test can afford many checks; a different
#: cost from the seed's (t=1, m=8 MiB, p=1) so an outdated hash is told apart.
TEST_COST: dict[str, int] = {"time_cost": 2, "memory_cost": 16 * 1024, "parallelism": 1}

_names = itertools.count(1)


def use_hasher(monkeypatch: pytest.MonkeyPatch, **cost: int) -> PasswordHasher:
    """Make a hasher with ``cost`` (default TEST_COST) the app's current one for this test."""
    hasher = PasswordHasher(**(cost or TEST_COST))
    monkeypatch.setattr(passwords, "_hasher", lambda: hasher)
    return hasher


def record_verifies(monkeypatch: pytest.MonkeyPatch) -> list[Parameters]:
    """Every argon2 verify from now on, as the parameters of the hash it checked (the real
    verify still runs: this only watches)."""
    seen: list[Parameters] = []
    original = PasswordHasher.verify

    def verify(self: PasswordHasher, hash: str | bytes, password: str | bytes) -> Any:
        seen.append(extract_parameters(hash if isinstance(hash, str) else hash.decode()))
        return original(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", verify)
    return seen


def parameters_of(hasher: PasswordHasher) -> Parameters:
    return extract_parameters(hasher.hash("x"))


async def account(db: Database, password_hash: str | None, email: str | None = None) -> str:
    """An active account with ``password_hash`` inserted directly; returns its email."""
    username = f"signin_{next(_names)}"
    email = email or f"{username}@example.com"

    async def work(session: AsyncSession) -> None:
        session.add(
            User(email=email, username=username, name=username, password_hash=password_hash)
        )

    await db.transaction(work)
    return email


async def stored_hash(db: Database, email: str) -> str | None:
    async with db.session() as session:
        return await session.scalar(select(User.password_hash).where(User.email == email))
