"""argon2id password hashing, run off the event loop (it is deliberately slow)."""

from __future__ import annotations

import asyncio
import contextlib
import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


@functools.cache
def _hasher() -> PasswordHasher:
    # Built on first use, not at import: argon2-cffi's defaults are RFC 9106's low-memory
    # profile (argon2id, t=3, m=64 MiB, p=4).
    return PasswordHasher()


def hash_password_sync(password: str) -> str:
    return _hasher().hash(password)


async def hash_password(password: str) -> str:
    """The argon2id hash to store; the CPU work runs in a worker thread."""
    return await asyncio.to_thread(hash_password_sync, password)


async def verify_password(stored_hash: str | None, password: str) -> bool:
    """True if ``password`` matches; an account without a hash never matches."""
    if not stored_hash:
        # Same cost as a real check, so response time does not reveal which accounts exist.
        await asyncio.to_thread(_dummy_verify, password)
        return False
    try:
        return await asyncio.to_thread(_hasher().verify, stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@functools.cache
def _dummy_hash() -> str:
    return _hasher().hash("stratabase-dummy-password")


def _dummy_verify(password: str) -> None:
    with contextlib.suppress(VerifyMismatchError, VerificationError, InvalidHashError):
        _hasher().verify(_dummy_hash(), password)
